"""The robot's side of the fleet, for a node: a RobotLink on an asyncio loop of its own, in a thread
(or on a loop the node already runs in a thread: the teleop bridge's server's).

An rclpy executor must not run an asyncio loop, and the link must keep going while the node's
callbacks run; so the link lives in a daemon thread and the node calls the thread-safe
:meth:`FleetUplink.submit_handoff` / :meth:`submit_status` / :meth:`submit_reply` /
:meth:`submit_frame` / :meth:`submit_withdrawal`. What comes back is handed over on the uplink's
thread (a node publishes from there; rclpy publishers may be used from any thread): resolutions
through ``on_resolution``, once per request id, an operator's relayed bridge messages through
``on_command(operator, message)``, for the bridge's own rules to judge, and the link coming up or
going through ``on_link(up)``. The link keeps the robot's handoffs while the fleet is out of reach
and resends them. restock.teleop.fleet_side is the bridge's use of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from restock import records
from restock.fleet.link import RobotLink


def client_context(cafile: Path | None = None) -> ssl.SSLContext:
    """TLS for the robot's link: the system's CAs, or the fleet's own CA (a self-signed development one)."""
    ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class FleetUplink:
    def __init__(
        self,
        url: str | Sequence[str],
        credential: str,
        ssl_context: ssl.SSLContext,
        on_resolution: Callable[[records.HandoffResolution], None] | None = None,
        on_command: Callable[[str, dict], None] | None = None,
        on_link: Callable[[bool], None] | None = None,
        **link_options: float,
    ) -> None:
        for u in [url] if isinstance(url, str) else url:
            if not u.startswith("wss://"):
                raise ValueError(f"the fleet link is WSS only, not {u.split(':', 1)[0]}")
        self._args = (url, credential, ssl_context, on_resolution, on_command, on_link)
        self._options = link_options
        self.link: RobotLink | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task | None = None

    def start(self, timeout: float = 5.0, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """On a thread and loop of its own, or on ``loop`` (running in another thread: the bridge's
        server's, so a relayed command reaches the rules without a hop between threads)."""
        ready = threading.Event()
        if loop is not None:

            def begin() -> None:
                self.loop = loop
                self.link = RobotLink(*self._args, **self._options)  # its asyncio.Event belongs to that loop
                self._task = loop.create_task(self.link.run())
                ready.set()

            loop.call_soon_threadsafe(begin)
            if not ready.wait(timeout):
                raise RuntimeError("the fleet uplink did not start")
            return

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            self.link = RobotLink(*self._args, **self._options)  # its asyncio.Event belongs to this loop
            self._task = self.loop.create_task(self.link.run())
            self.loop.call_soon(ready.set)
            try:
                self.loop.run_until_complete(self._task)
            except asyncio.CancelledError:
                pass
            finally:
                self.loop.close()

        self._thread = threading.Thread(target=run, name="fleet-uplink", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the fleet uplink did not start")

    @property
    def connected(self) -> bool:
        return self.link is not None and self.link.connected.is_set()

    def submit_handoff(self, request: records.HandoffRequest, blocked_sales_per_h: float = 0.0) -> None:
        """Thread-safe: queue a handoff for the fleet (sent now if the link is up, else on reconnect)."""
        if self.loop is not None and self.link is not None:
            self.loop.call_soon_threadsafe(self.link.send_handoff, request, blocked_sales_per_h)

    def submit_withdrawal(self, resolution: records.HandoffResolution) -> None:
        """Thread-safe: a handoff the robot resolved itself leaves the fleet's queue."""
        if self.loop is not None and self.link is not None:
            self.loop.call_soon_threadsafe(self.link.send_withdrawal, resolution)

    def submit_status(self, status: dict) -> None:
        if self.loop is not None and self.link is not None:
            asyncio.run_coroutine_threadsafe(self.link.send_status(status), self.loop)

    def submit_reply(self, operator: str, body: dict) -> None:
        """Thread-safe: the bridge's answer to an operator's relayed command."""
        if self.loop is not None and self.link is not None:
            asyncio.run_coroutine_threadsafe(self.link.send_reply(operator, body), self.loop)

    def submit_frame(self, frame: bytes) -> None:
        """Thread-safe: a camera frame for the operators watching (dropped if the last is still going)."""
        if self.loop is not None and self.link is not None:
            asyncio.run_coroutine_threadsafe(self.link.send_frame(frame), self.loop)

    def stop(self, timeout: float = 5.0) -> None:
        if self.loop is not None and self.link is not None and self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.link.stop(), self.loop).result(timeout)
            with contextlib.suppress(RuntimeError):  # the loop may have ended with the link already
                self.loop.call_soon_threadsafe(self._task.cancel)  # type: ignore[union-attr]
        if self._thread is not None:
            self._thread.join(timeout)
