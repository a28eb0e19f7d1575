"""The operator server against an attacker: concurrent guessing, malformed input, slow and many
connections. Real TLS, real aiohttp, real SQLite; source addresses are other loopback addresses
(127.0.0.x all reach lo on Linux)."""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
import pytest
from teleop_client import PASSWORDS, connect, login, next_json, pose_msg, until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Strict-Transport-Security", "Referrer-Policy")


def run(coro):
    return asyncio.run(coro)


def client_from(b, address: str) -> aiohttp.ClientSession:
    """A client whose connections come from ``address`` (another loopback address)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=b.ssl, local_addr=(address, 0), limit=0))


def test_a_hundred_guesses_at_once_reach_scrypt_only_as_often_as_allowed(make_bridge):
    b = make_bridge(login_attempts=5, login_window_s=60.0, max_connections_per_address=200)
    book = b.server.operators

    async def attempt(http, password: str) -> int:
        async with http.post(f"{b.base}/api/login", json={"operator": "alice", "password": password}) as r:
            return r.status

    async def go():
        async with client_from(b, "127.0.0.9") as attacker:
            guesses = [f"guess-{i}" for i in range(99)] + [PASSWORDS["alice"]]  # the right one comes last
            statuses = await asyncio.gather(*(attempt(attacker, pw) for pw in guesses))
        assert statuses.count(200) == 0 and statuses.count(401) == 100
        assert book.password_checks == 5  # the other 95 were refused before scrypt ran
        async with client_from(b, "127.0.0.2") as owner:  # the owner, elsewhere, is not locked out
            assert await login(owner, b.base, "alice")
        async with client_from(b, "127.0.0.9") as attacker:  # the attacker still is, right password or not
            assert await attempt(attacker, PASSWORDS["alice"]) == 401

    run(go())
    assert book.password_checks == 6
    rows = b.server.audit.rows("refused_login")
    assert len(rows) == 20 and all(r["peer"] == "127.0.0.9" for r in rows)  # the audit budget per kind and address
    assert b.server.counters["login"] == 101
    assert any("too many failed logins for alice from 127.0.0.9" in r["detail"] for r in rows)


def test_unknown_names_and_malformed_bodies_are_400_or_401_with_an_audit_row(make_bridge):
    b = make_bridge()
    bodies = {
        "deep": b"[" * 50_000,
        "surrogate": b'{"operator": "alice", "password": "\\ud800"}',
        "big int": b'{"operator": "alice", "password": ' + b"9" * 5000 + b"}",
        "not utf-8": b'{"operator": "\xff"}',
    }

    async def go():
        async with b.client() as http:
            for what, body in bodies.items():
                async with http.post(f"{b.base}/api/login", data=body) as r:
                    text = await r.text()
                    assert r.status == 400, what
                    assert (await r.json())["error"] == "expected a JSON object" and "Traceback" not in text
            async with http.post(f"{b.base}/api/login", json={"operator": "mallory", "password": "x"}) as r:
                assert r.status == 401 and (await r.json())["error"] == "login refused"

    run(go())
    assert "http_error" not in b.server.counters  # no 500s
    details = [r["detail"] for r in b.server.audit.rows("refused_http_body")]
    assert len(details) == 4
    assert any("deeper than" in d for d in details) and any("surrogate" in d for d in details)
    (unknown,) = b.server.audit.rows("refused_login")
    assert unknown["operator"] is None and "mallory" in unknown["detail"]


def test_malformed_json_over_the_websocket_is_counted_and_the_lease_kept(make_bridge):
    b = make_bridge(max_bad_messages=5)

    async def go():
        async with b.client() as http:
            ws = await connect(http, b.base, await login(http, b.base, "alice"))
            await ws.send_json({"type": "claim"})
            await until(lambda: b.port.statuses[-1].control == "operator")
            for text in (
                "[" * 10_000,
                '{"type": "resolve", "request_id": "h", "action": "cleared", "note": "\\udc00"}',
            ):
                await ws.send_str(text)
                assert (await next_json(ws, "error"))["error"]
            await ws.send_json(pose_msg((0.0, 1.0, 0.0)))  # still connected and in control
            await until(lambda: len(b.port.targets) == 1)
            await ws.close()
            await until(lambda: b.port.statuses[-1].control == "autonomy", what="release on disconnect")

    run(go())
    assert b.server.counters["message"] == 2
    assert len(b.server.audit.rows("refused_message")) == 2
    assert [r["event"] for r in b.server.audit.rows() if r["event"] in ("claim", "release")] == ["claim", "release"]


def test_errors_carry_the_same_headers_and_no_version(make_bridge):
    b = make_bridge()

    async def go():
        async with b.client() as http:
            token = await login(http, b.base, "alice")
            requests = [
                ("GET", "/", {}, 200),
                ("GET", "/api/state", {}, 401),
                ("GET", "/ws", {"Origin": "https://evil.example"}, 403),
                ("GET", "/nowhere", {}, 404),
                ("GET", "/app/../../etc/passwd", {}, 404),
                ("GET", "/api/handoff/none/image", {"Authorization": f"Bearer {token}"}, 404),
                ("DELETE", "/api/login", {}, 405),
                ("POST", "/api/login", {}, 400),
            ]
            for method, path, headers, status in requests:
                async with http.request(method, f"{b.base}{path}", headers=headers) as r:
                    assert r.status == status, path
                    for name in HEADERS:
                        assert r.headers.get(name), f"{path}: no {name}"
                    assert r.headers.get("Server") == "restock", path
                    if status >= 400:
                        assert "error" in await r.json()

    run(go())
    assert b.server.counters["http"] == 4  # 404 x3 and 405, each audited
    assert len(b.server.audit.rows("refused_http")) == 4


async def _raw_tls(b, address: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(b.base.rsplit(":", 1)[1])
    return await asyncio.open_connection("127.0.0.1", port, ssl=b.ssl, local_addr=(address, 0))


def test_slow_header_and_slow_body_are_cut_off(make_bridge):
    b = make_bridge(read_timeout_s=1.0, body_timeout_s=1.0)

    async def go():
        reader, writer = await _raw_tls(b)
        writer.write(b"GET /api/st")  # half a request line, then nothing
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 20) == b""  # closed by the server
        writer.close()
        reader, writer = await _raw_tls(b)
        head = b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        writer.write(head + b'{"operator": ')  # a body that never comes whole
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 20)
        assert answer.startswith(b"HTTP/1.1 408") and b"Content-Security-Policy" in answer
        writer.close()
        await until(lambda: b.server.limits.open == 0, timeout=20, what="connections released")

    run(go())
    assert b.server.counters["http_body"] == 1


def test_connections_are_capped_per_address_and_the_cap_is_audited(make_bridge):
    b = make_bridge(max_connections_per_address=3, max_connections=100)

    async def go():
        held = [await _raw_tls(b, "127.0.0.5") for _ in range(3)]
        await until(lambda: b.server.limits.by_address("127.0.0.5") == 3)
        reader, writer = await _raw_tls(b, "127.0.0.5")  # the handshake is asyncio's; then closed at once
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 20) == b""
        except (ConnectionError, ssl.SSLError):
            pass  # reset while writing: refused all the same
        writer.close()
        async with b.client() as http, http.get(f"{b.base}/") as r:  # another address is served
            assert r.status == 200
        for _, w in held:
            w.close()
        await until(lambda: b.server.limits.open == 0, timeout=20, what="connections released")

    run(go())
    assert b.server.counters["connection_cap"] == 1
    (row,) = b.server.audit.rows("refused_connection_cap")
    assert row["peer"] == "127.0.0.5" and "cap 3" in row["detail"]


def test_a_request_aiohttp_cannot_parse_is_refused_like_any_other(make_bridge):
    b = make_bridge()

    async def go():
        answers = []
        for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 10_000 + b"\r\n\r\n"):
            reader, writer = await _raw_tls(b)
            writer.write(raw)
            await writer.drain()
            answers.append(await asyncio.wait_for(reader.read(), 20))
            writer.close()
        return answers

    for answer in run(go()):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 400") and body == b'{"error": "malformed request"}'
        for name in (*HEADERS, "Server: restock"):
            assert name.encode() in head
        assert b"aiohttp" not in head and b"GARBAGE" not in answer
    details = [r["detail"] for r in b.server.audit.rows("refused_http_request")]
    assert len(details) == 2 and "BadHttpMethod" in details[0] and "LineTooLong" in details[1]


def test_a_client_that_stops_reading_is_cut_off(make_bridge):
    b = make_bridge(read_timeout_s=1.0)
    port = int(b.base.rsplit(":", 1)[1])

    async def go():
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast: the bridge's buffer next
        sock.bind(("127.0.0.6", 0))
        sock.connect(("127.0.0.1", port))
        _reader, writer = await asyncio.open_connection(sock=sock, ssl=b.ssl, server_hostname="127.0.0.1")
        writer.write(b"GET /app/main.js HTTP/1.1\r\nHost: x\r\n\r\n" * 1500)  # ~16 MB of answers, never read
        await writer.drain()
        await until(lambda: b.server.counters.get("slow_reader", 0) == 1, timeout=60, what="the reader cut off")
        await until(lambda: b.server.limits.open == 0, timeout=20, what="its connection released")
        writer.transport.abort()

    run(go())
    (row,) = b.server.audit.rows("refused_slow_reader")
    assert row["peer"] == "127.0.0.6" and "not reading" in row["detail"]
