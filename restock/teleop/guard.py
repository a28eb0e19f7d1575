"""What the operator server's connections may take: deadlines, caps per address and in total, headers.

aiohttp closes a connection that has not sent a whole request header within ``keepalive_timeout``
of opening or of its last response (the header read and idle timeout; the body timeout is the
handler's), and limits header lines, fields and body size. It has no cap on connections, no
deadline for a client that stops reading, and its TCPSite gives no TLS handshake deadline:
:class:`GuardedSite` adds them, with an asyncio protocol in front of each aiohttp connection that
refuses an address over its cap (or everyone over the total) before aiohttp sees a byte. After a
flood, free memory is handed back to the OS.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from restock.malloc import release_free_memory

CSP = (
    "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
FLOOD_CONNECTIONS = 64  # open at once: when they are all gone, free memory goes back to the OS
STALLED_BYTES = 64 * 1024  # unsent to a client, all the time for the read timeout: it stopped reading


@dataclass
class ConnectionLimits:
    """Open connections per client address and in total; pure bookkeeping."""

    per_address: int = 16
    total: int = 256
    open: int = 0
    peak: int = 0  # since the last time everyone left
    _by_address: dict[str, int] = field(default_factory=dict)

    def admit(self, address: str) -> str | None:
        """Count a new connection, or say why it is refused."""
        if self.open >= self.total:
            return f"{self.open} connections open (cap {self.total})"
        n = self._by_address.get(address, 0)
        if n >= self.per_address:
            return f"{address} has {n} connections open (cap {self.per_address})"
        self._by_address[address] = n + 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        return None

    def release(self, address: str) -> None:
        n = self._by_address.get(address, 0) - 1
        if n > 0:
            self._by_address[address] = n
        else:
            self._by_address.pop(address, None)
        self.open = max(0, self.open - 1)

    def by_address(self, address: str) -> int:
        return self._by_address.get(address, 0)


class _Gate(asyncio.Protocol):
    """In front of one aiohttp connection: admitted (and then passed through) or closed at once;
    and cut off when its client stops reading, which would otherwise hold the connection (and a
    place under the caps) for ever."""

    def __init__(self, inner: asyncio.Protocol, site: GuardedSite) -> None:
        self.inner = inner
        self.site = site
        self.address: str | None = None
        self.transport: asyncio.WriteTransport | None = None
        self.stalled_since: float | None = None
        self.unsent = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        why = self.site.limits.admit(address)
        if why is not None:
            transport.abort()  # nothing read, nothing written: the cheapest refusal there is
            self.site.refuse("connection_cap", address, why, 503)
            return
        self.address, self.transport = address, transport  # type: ignore[assignment]
        self.site.gates.add(self)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.address is not None:
            self.inner.data_received(data)  # type: ignore[attr-defined]

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.address is not None else None  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        if self.address is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.address is not None:
            self.inner.resume_writing()

    def check_stalled(self, now: float) -> None:
        """Sampled once a second: STALLED_BYTES or more unsent, never less from one sample to the next,
        for the read timeout, is a client that stopped reading; one on a slow link drains some
        between samples. (Sampled, not told: asyncio's sendfile, which aiohttp's static files use,
        takes the transport's pause/resume calls for itself.)"""
        if self.transport is None or self.address is None or self.transport.is_closing():
            return
        unsent, before = self.transport.get_write_buffer_size(), self.unsent
        self.unsent = unsent
        if unsent < STALLED_BYTES or unsent < before:
            self.stalled_since = None
        elif self.stalled_since is None:
            self.stalled_since = now
        elif now - self.stalled_since >= self.site.read_timeout_s:
            why = f"not reading: {unsent} bytes unsent for {now - self.stalled_since:.0f} s"
            self.site.refuse("slow_reader", self.address, why, 408)
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.site.gates.discard(self)
        if self.address is None:
            return
        self.site.limits.release(self.address)
        self.address = None
        self.inner.connection_lost(exc)
        self.site.after_close()


# refuse(kind, address, reason, status) -> what the client is told: the server's one refusal path.
Refuse = Callable[[str, str, str, int], str]


class _Handler(web.RequestHandler):
    """aiohttp's connection handler, but a request it cannot parse (a bad request line, a header too
    long) is answered like every other refusal: through ``refuse``, as JSON with the same headers,
    without echoing the request or naming the server."""

    def __init__(self, manager: web.Server, *, refuse: Refuse, tls: bool, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.refuse = refuse
        self.tls = tls

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp's: too late for an answer
            raise ConnectionError("response already started; cannot send an error")
        why = f"{type(exc).__name__}: {str(exc)[:200]}" if exc is not None else (message or "")[:200]
        kind = "http_request" if status < 500 else "http_error"  # unparsable, or a client gone mid-answer
        public = self.refuse(kind, request.remote or "?", f"HTTP {status}: {why}", status)
        response = web.json_response({"error": public}, status=status)
        security_headers(response, "", self.tls)
        response.force_close()
        return response


class GuardedSite(web.BaseSite):
    """aiohttp's TCPSite with :class:`ConnectionLimits`, ``read_timeout_s`` as the TLS handshake's
    deadline and a stalled reader's, and its own connection handler (``handler_args``:
    RequestHandler's, e.g. keepalive_timeout)."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        limits: ConnectionLimits,
        read_timeout_s: float,
        refuse: Refuse,
        handler_args: dict[str, Any],
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host, self._port = host, port
        self.limits = limits
        self.read_timeout_s = read_timeout_s
        self.refuse = refuse
        self.handler_args = handler_args
        self.gates: set[_Gate] = set()
        self._trim: asyncio.TimerHandle | None = None
        self._watch: asyncio.Task | None = None

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        sockets = self._server.sockets if self._server is not None else ()
        return sockets[0].getsockname()[1] if sockets else self._port

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        tls = {"ssl_handshake_timeout": self.read_timeout_s} if self._ssl_context else {}
        args = {"loop": loop, "refuse": self.refuse, "tls": self._ssl_context is not None, **self.handler_args}
        self._server = await loop.create_server(
            lambda: _Gate(_Handler(server, **args), self),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
            **tls,  # type: ignore[arg-type]
        )
        self._watch = loop.create_task(self._watch_writers())

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        await super().stop()

    async def _watch_writers(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            for gate in list(self.gates):
                gate.check_stalled(loop.time())

    def after_close(self) -> None:
        # The last of a flood gone: its buffers are free but glibc keeps the heap's pages. Once the
        # handshakes begun meanwhile have timed out too (they never reach a gate), they go back to the OS.
        if self.limits.open == 0 and self.limits.peak >= FLOOD_CONNECTIONS:
            self.limits.peak = 0
            if self._trim is not None:
                self._trim.cancel()
            self._trim = asyncio.get_running_loop().call_later(self.read_timeout_s + 1.0, _give_memory_back)


def _give_memory_back() -> None:
    gc.collect()  # a flood's transports and protocols hold each other in cycles: free them first
    release_free_memory()


def security_headers(response: web.StreamResponse, path: str, tls: bool) -> None:
    """The same headers on every response (errors too), and no server name or version."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers["Server"] = "restock"  # aiohttp's default names itself and its version
    if path.startswith("/api/") or response.status >= 400:
        headers["Cache-Control"] = "no-store"
    if tls:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")


class OneLineLog(logging.Filter):
    """aiohttp's own errors (a malformed request line, a header too long) as one line each, at most
    one in ``every`` of a kind: no traceback per request for a client to fill the log with."""

    def __init__(self, every: int = 100) -> None:
        super().__init__()
        self.every = every
        self.seen: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        kind = type(exc).__name__ if exc is not None else record.msg if isinstance(record.msg, str) else "?"
        n = self.seen.get(kind, 0)
        self.seen[kind] = n + 1
        if exc is not None:
            record.msg = f"{record.getMessage()}: {kind}: {str(exc)[:200]}"
            record.args, record.exc_info, record.exc_text = None, None, None
        return n % self.every == 0


class Every:
    """Log the first of a kind of event and then one in ``n`` (a flood must not flood the log)."""

    def __init__(self, n: int = 100) -> None:
        self.n = n
        self.counts: dict[str, int] = {}

    def __call__(self, key: str) -> bool:
        c = self.counts.get(key, 0)
        self.counts[key] = c + 1
        return c % self.n == 0


def one_line(err: BaseException) -> str:
    """An exception as one log line: type, message, and where it was raised."""
    frames = traceback.extract_tb(err.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(err).__name__}: {str(err)[:200]}{where}"


def quiet_server_logger(name: str = "restock.teleop.http") -> logging.Logger:
    """The logger handed to aiohttp's connection handlers (RequestHandler's ``logger``)."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, OneLineLog) for f in logger.filters):
        logger.addFilter(OneLineLog())
    return logger
