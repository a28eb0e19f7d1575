"""The operator console in headless Chromium (Debian's) against two fleet instances: alice logs in on
instance b, sees the handoff a robot raised on instance a (its detail as text, not HTML), claims it,
resolves it; the robot gets the resolution. Bob, of another chain, sees an empty queue."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest
from fleet_helpers import PASSWORD, FleetPair, handoff

from restock import records
from restock.fleet.link import RobotLink
from restock.testing.browser import CHROMIUM, CHROMIUM_ARGS, log_in, new_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@contextmanager
def robot_in_a_thread(
    pair: FleetPair, request: records.HandoffRequest, cost: float = 0.0,
    tick: Callable[[RobotLink], Awaitable[None]] | None = None, **options: object,
) -> Iterator[None]:  # fmt: skip
    """Robot ra1's link on its own loop in a thread, beside the browser's, its handoff acknowledged by
    instance a; ``tick(link)`` runs every 1/30 s until the block ends."""
    linked, stop = threading.Event(), threading.Event()

    async def run() -> None:
        link = pair.link(0, "ra1", **options)
        task = asyncio.create_task(link.run())
        link.send_handoff(request, blocked_sales_per_h=cost)
        while link.outbox or link.connects == 0:
            await asyncio.sleep(0.02)
        linked.set()
        while not stop.is_set():
            if tick is not None:
                await tick(link)
            await asyncio.sleep(1 / 30)
        await link.stop()
        task.cancel()

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    try:
        assert linked.wait(30)
        yield
    finally:
        stop.set()
        thread.join(10)


def test_console_lists_claims_and_resolves(fleet_pair: FleetPair) -> None:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt package chromium; scripts/setup.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip playwright (the test extra)")
    got: list[records.HandoffResolution] = []
    request = handoff("h-console").model_copy(update={"detail": "<img src=x onerror=alert(1)> bottle on its side"})
    with robot_in_a_thread(fleet_pair, request, 4.0, on_resolution=got.append):
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = new_page(browser)
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            log_in(page, fleet_pair.url(1, ""), "alice", PASSWORD)
            row = page.locator("#queue tr[data-request-id='h-console']")
            row.wait_for(timeout=20_000)
            assert "bottle on its side" in row.inner_text() and "<img" in row.inner_text()  # shown as text
            row.locator("button.claim").click()
            page.locator("#queue tr[data-request-id='h-console'] button.resolve").wait_for(timeout=20_000)
            assert "claimed by alice" in page.locator("#queue tr[data-request-id='h-console']").inner_text()
            page.locator("#queue tr[data-request-id='h-console'] select.action").select_option("removed")
            page.locator("#queue tr[data-request-id='h-console'] button.resolve").click()
            page.locator("#status", has_text="resolved h-console").wait_for(timeout=20_000)
            page.locator("#queue tr[data-request-id='h-console']").wait_for(state="detached", timeout=20_000)
            assert "alice" in page.locator("#operators").inner_text()
            other = new_page(browser)
            log_in(other, fleet_pair.url(0, ""), "bob", PASSWORD)
            other.locator("#waits", has_text="0 open").wait_for(timeout=20_000)
            assert other.locator("#queue tbody tr").count() == 0
            assert dialogs == []
            browser.close()
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(r.request_id, r.action, r.operator) for r in got] == [("h-console", "removed", "alice")]


def test_console_shows_the_claimed_robots_camera_through_the_service(fleet_pair: FleetPair) -> None:
    """The robot answers the console's heartbeat with its cameras and streams frames while watched;
    the page decodes them in the operator app's worker and takes them paced (frame_shown)."""
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt package chromium; scripts/setup.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip playwright (the test extra)")
    import numpy as np

    from restock.convert import encode_jpeg
    from restock.teleop.protocol import FrameStamps, pack_frame

    jpeg = encode_jpeg(np.full((48, 64, 3), 120, np.uint8))
    watched: list[str] = []
    replies: list[tuple[str, dict]] = []

    def on_command(operator: str, body: dict) -> None:
        if body.get("type") == "heartbeat":  # as a bridge pushes its state to a new fleet operator
            replies.append((operator, {"type": "state", "cameras": ["cam_left", "cam_right"]}))
        elif body.get("type") == "watch":
            watched.append(body["camera_id"])

    async def tick(link: RobotLink) -> None:  # a camera at 30 Hz while watched
        while replies:
            await link.send_reply(*replies.pop(0))
        if watched:
            t = time.time()
            await link.send_frame(pack_frame(0, int(t * 30), FrameStamps(t, t, t), jpeg))

    with (
        robot_in_a_thread(fleet_pair, handoff("h-camera"), tick=tick, on_command=on_command),
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = new_page(browser)
        log_in(page, fleet_pair.url(0, ""), "alice", PASSWORD)  # the robot's own instance
        page.locator("#queue tr[data-request-id='h-camera'] button.claim").click()
        page.locator("#camera-box").wait_for(state="visible", timeout=20_000)
        deadline = time.monotonic() + 30
        while page.evaluate("window.fleetConsole.framesShown") < 10:  # not wait_for_function: CSP
            assert time.monotonic() < deadline, "no camera frames in the console"
            time.sleep(0.1)
        assert watched[0] == "cam_left" and page.locator("#camera option").all_inner_texts() == [
            "cam_left", "cam_right"
        ]  # fmt: skip
        frame = page.evaluate("window.fleetConsole.frameLog[0]")
        assert frame["capture"] > 0 and frame["arrived"] <= frame["decoded"] <= frame["drawn"]  # the page's clock
        [link] = [k for k in fleet_pair.services[0].links.values() if k.watching]
        assert link.frames_paced  # the worker says when it took each frame
        browser.close()
