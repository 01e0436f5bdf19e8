"""The engine under abuse, over real sockets: idle and slowloris connections, stalled bodies, pipelined
floods, a soak of hundreds of connections, graceful shutdown under load, and a worker killed mid-load.

Every test app here records what it was handed, so a test can prove what did (and did not) reach it.
Framing cases (smuggling shapes, malformed request lines and fields) are in test_smuggling.py; single
limits in test_limits.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import selectors
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

import pytest

from fulmen import FastAPI, WebSocket
from fulmen.engine.protocol import _FEED_SLICE
from fulmen.requests import Request
from fulmen.responses import PlainTextResponse, Response
from tests.engine.conftest import EngineThread, RawConn, ServerProcess

SMUGGLED = b"GET /id?i=smuggled HTTP/1.1\r\nHost: a\r\n\r\n"


class RecordingApp:
    """Answers ``/id?i=N[&pad=P]``, ``/slow?i=N&d=S`` and ``POST /echo?i=N``; records every request it gets.

    Each answer starts with ``id=N;`` so a client can match every response to its request.
    """

    def __init__(self) -> None:
        #: (method, target) of every request the engine handed over, in order.
        self.seen: list[tuple[str, str]] = []
        #: "startup", "done N" (a /slow handler finished) and "shutdown", in order.
        self.events: list[str] = []

    async def handle(self, request: Request) -> Response:
        query = request.query_string.decode("latin-1")
        self.seen.append((request.method, request.path + ("?" + query if query else "")))
        params = dict(parse_qsl(query))
        ident = params.get("i", "")
        if request.path == "/id":
            return Response(b"id=%s;" % ident.encode() + b"." * int(params.get("pad", "0")))
        if request.path == "/slow":
            await asyncio.sleep(float(params.get("d", "0.1")))
            self.events.append(f"done {ident}")
            return PlainTextResponse(f"id={ident};")
        if request.path == "/echo":
            body = await request.body()
            return Response(b"id=%s;" % ident.encode() + body)
        return PlainTextResponse("Not Found", status_code=404)

    async def startup(self) -> None:
        self.events.append("startup")

    async def shutdown(self) -> None:
        self.events.append("shutdown")


@pytest.fixture
def app() -> RecordingApp:
    return RecordingApp()


@contextlib.contextmanager
def running(app: RecordingApp, **settings: object) -> Iterator[EngineThread]:
    engine = EngineThread(app, **settings)
    try:
        yield engine
    finally:
        engine.stop()


def _get(ident: object, path: str = "/id", extra: str = "") -> bytes:
    return f"GET {path}?i={ident}{extra} HTTP/1.1\r\nHost: a\r\n\r\n".encode()


def _drain_many(socks: list[socket.socket], timeout: float) -> dict[socket.socket, tuple[bytes, float]]:
    """Read every socket until the server closes it; returns what each got and when it closed."""
    sel = selectors.DefaultSelector()
    got: dict[socket.socket, bytearray] = {}
    closed: dict[socket.socket, tuple[bytes, float]] = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        got[s] = bytearray()
    deadline = time.monotonic() + timeout
    while len(closed) < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(0.05):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                chunk = b""
            if chunk:
                got[s] += chunk
            else:
                sel.unregister(s)
                closed[s] = (bytes(got[s]), time.monotonic())
    sel.close()
    return closed


# -- resource abuse --------------------------------------------------------------------------------------
def test_connections_that_never_send_a_byte_are_closed_after_keep_alive_timeout(app: RecordingApp) -> None:
    with running(app, keep_alive_timeout=0.5, headers_timeout=5.0) as engine:
        start = time.monotonic()
        socks = [socket.create_connection(("127.0.0.1", engine.port)) for _ in range(20)]
        try:
            closed = _drain_many(socks, timeout=5)
        finally:
            for s in socks:
                s.close()
        assert len(closed) == 20, "every silent connection is closed by the server"
        for data, when in closed.values():
            assert data == b""  # closed silently: no request was started, so no 408 (RFC 9112 9.5)
            assert 0.45 <= when - start < 2.0, when - start
        assert engine.connections() == []
    assert app.seen == []


def test_slowloris_many_connections_get_408_while_a_normal_client_is_served(app: RecordingApp) -> None:
    headers_timeout = 1.5
    with running(app, headers_timeout=headers_timeout, keep_alive_timeout=10.0) as engine:
        slow = [socket.create_connection(("127.0.0.1", engine.port)) for _ in range(200)]
        try:
            start = time.monotonic()
            for s in slow:
                s.sendall(b"GET /id?i=slow HTTP/1.1\r\nHost: a\r\n")
            latencies = []
            with RawConn(engine.port) as normal:
                for i in range(12):
                    for s in slow:  # one more header line on each, never the blank line that ends the head
                        with contextlib.suppress(OSError):
                            s.sendall(b"X-Drip-%d: 1\r\n" % i)
                    t0 = time.monotonic()
                    r = normal.request("GET", f"/id?i=n{i}")
                    latencies.append(time.monotonic() - t0)
                    assert r.body == b"id=n%d;" % i
                    time.sleep(0.05)
            closed = _drain_many(slow, timeout=headers_timeout + 5)
        finally:
            for s in slow:
                s.close()
    assert len(closed) == 200
    for data, when in closed.values():
        assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data[:60]
        assert b"\r\nconnection: close\r\n" in data
        assert headers_timeout - 0.05 <= when - start < headers_timeout + 3.0
    assert max(latencies) < 0.5, f"the normal client waited {max(latencies):.3f} s"
    assert [target for _, target in app.seen] == [f"/id?i=n{i}" for i in range(12)]


def test_stalled_body_gets_408_and_nothing_after_it_is_a_request(app: RecordingApp) -> None:
    with running(app, body_timeout=0.5) as engine, RawConn(engine.port) as conn:
        start = time.monotonic()
        conn.send(b"POST /echo?i=stalled HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        r = conn.read_response()
        elapsed = time.monotonic() - start
        assert r.status == 408 and r.header("connection") == "close"  # RFC 9110 15.5.9
        assert 0.45 <= elapsed < 2.0
        with contextlib.suppress(OSError):
            conn.send(b"defghij" + SMUGGLED)  # the rest of the body and a request: both too late
        assert conn.read_until_close() == b""
    # Only the stalled request itself may have reached the app (an engine that streams bodies hands it over
    # before the body is complete); the bytes after it never became a request.
    assert app.seen in ([], [("POST", "/echo?i=stalled")])


def test_pipelined_flood_pauses_reading_then_every_response_comes_back_in_order(app: RecordingApp) -> None:
    n, pad = 3000, 4000  # about 12 MB of responses, more than the kernel buffers, that at first nobody reads
    with running(app) as engine, RawConn(engine.port, timeout=20) as conn:
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        flood = b"".join(_get(i, extra=f"&pad={pad}") for i in range(n))
        sender = threading.Thread(target=conn.send, args=(flood,))
        sender.start()
        time.sleep(0.8)

        def snapshot() -> tuple[bool, int, int]:
            (proto,) = engine.server.state.connections  # type: ignore[union-attr]
            pending = len(proto._waiting) + len(proto._inflight)
            return proto.reading_paused, proto._transport.get_write_buffer_size(), pending

        paused, buffered, pending = engine.call(snapshot)
        handled = len(app.seen)
        time.sleep(0.3)
        assert len(app.seen) == handled, "handlers keep running although nothing is read"
        assert paused, "the server keeps reading although the client reads nothing"
        assert buffered < 512 * 1024, f"the server buffered {buffered} bytes of output"
        # At most max_pipelined_requests parsed ahead, plus what one slice of a read held (_feed_in_slices).
        assert pending <= engine.config.max_pipelined_requests + _FEED_SLICE // len(
            _get(0, extra=f"&pad={pad}")
        )
        # What was answered fits in the kernel's socket buffers (tcp_wmem/tcp_rmem), not in the server.
        assert handled < n, "every request was handled although nothing was read"

        for i in range(n):
            r = conn.read_response()
            assert r.status == 200
            assert r.body == b"id=%d;" % i + b"." * pad, f"response {i} is for another request"
        sender.join(10)
        assert conn.request("GET", "/id?i=last").body == b"id=last;"
    assert [target for _, target in app.seen[:n]] == [f"/id?i={i}&pad={pad}" for i in range(n)]


def test_pipelined_flood_of_tiny_requests_parses_only_a_bounded_number_ahead(app: RecordingApp) -> None:
    # Regression: llhttp parsed a whole read (up to 256 KiB) before the pipeline cap paused reading, so one
    # read of tiny requests queued thousands of parsed requests (~0.7 KiB each: a ~20x memory amplification).
    n = 20000
    request = b"GET /slow?d=0.1 HTTP/1.1\r\nHost: a\r\n\r\n"  # handlers that hold the pipeline full
    with running(app) as engine, RawConn(engine.port, timeout=30) as conn:
        sender = threading.Thread(target=conn.send, args=(request * n,))
        sender.start()
        time.sleep(0.1)
        peak = 0
        cap = engine.config.max_pipelined_requests
        for _ in range(6):

            def queued() -> int:
                (proto,) = engine.server.state.connections  # type: ignore[union-attr]
                return len(proto._waiting) + len(proto._inflight)

            peak = max(peak, engine.call(queued))
            time.sleep(0.05)
        assert cap <= peak <= cap + _FEED_SLICE // len(request), peak
        conn.sock.settimeout(30)
        for _ in range(200):  # it keeps going: the first responses arrive
            assert conn.read_response().body == b"id=;"
    assert len(app.seen) >= 200


def test_pipelined_flood_with_a_reading_client(app: RecordingApp) -> None:
    # Thousands of requests in one write, mixed fast and slow handlers and bodies; read concurrently.
    n = 4000
    parts = []
    for i in range(n):
        if i % 10 == 3:
            parts.append(_get(i, "/slow", "&d=0.001"))
        elif i % 10 == 7:
            parts.append(b"POST /echo?i=%d HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" % i)
        else:
            parts.append(_get(i))
    with running(app) as engine, RawConn(engine.port, timeout=20) as conn:
        sender = threading.Thread(target=conn.send, args=(b"".join(parts),))
        sender.start()
        for i in range(n):
            body = conn.read_response().body
            expected = b"id=%d;" % i + (b"hello" if i % 10 == 7 else b"")
            assert body == expected, f"response {i}: {body[:40]!r}"
        sender.join(10)
    assert len(app.seen) == n


# -- soak --------------------------------------------------------------------------------------------------
@dataclass
class SoakResult:
    ok: int = 0
    mismatched: int = 0
    lost: int = 0


async def _read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    match = re.search(rb"\r\ncontent-length: (\d+)\r\n", head)
    assert head.startswith(b"HTTP/1.1 200 ") and match, head
    return await reader.readexactly(int(match.group(1)))


async def _soak_client(port: int, conn_id: int, requests: int, result: SoakResult) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        sent = 0
        while sent < requests:
            burst = 1 + (conn_id + sent) % 4  # 1 to 4 pipelined requests at a time
            batch = []
            for _ in range(min(burst, requests - sent)):
                ident = f"c{conn_id}-{sent}"
                if sent % 5 == 4:
                    batch.append(
                        (
                            ident,
                            b"POST /echo?i=%s HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"
                            % ident.encode(),
                        )
                    )
                elif sent % 7 == 6:
                    batch.append((ident, _get(ident, "/slow", "&d=0.002")))
                else:
                    batch.append((ident, _get(ident)))
                sent += 1
            writer.write(b"".join(raw for _, raw in batch))
            for ident, raw in batch:
                body = await _read_response(reader)
                want = b"id=%s;" % ident.encode() + (b"ok" if raw.startswith(b"POST") else b"")
                if body == want:
                    result.ok += 1
                else:
                    result.mismatched += 1
    except (ConnectionError, asyncio.IncompleteReadError):
        result.lost += 1
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def test_soak_hundreds_of_connections_thousands_of_requests_none_lost(app: RecordingApp) -> None:
    connections, per_connection = 400, 40  # 16000 requests
    result = SoakResult()

    async def main() -> None:
        await asyncio.gather(*(_soak_client(port, c, per_connection, result) for c in range(connections)))

    with running(app) as engine:
        port = engine.port
        start = time.monotonic()
        asyncio.run(main())
        elapsed = time.monotonic() - start
        state = engine.server.state
        assert state is not None
        answered = engine.call(lambda: state.total_requests)
    total = connections * per_connection
    assert (result.ok, result.mismatched, result.lost) == (total, 0, 0)
    assert len(app.seen) == total and answered == total
    assert elapsed < 20, f"soak took {elapsed:.1f} s"


# -- shutdown and workers --------------------------------------------------------------------------------
def test_graceful_shutdown_finishes_every_in_flight_request_then_runs_lifespan_shutdown(
    app: RecordingApp,
) -> None:
    engine = EngineThread(app, graceful_timeout=5.0)
    conns = [RawConn(engine.port) for _ in range(4)]
    try:
        for k, conn in enumerate(conns):
            conn.send(_get(k, "/slow", "&d=0.6"))
        conns[0].send(_get("4", "/slow", "&d=0.1"))  # pipelined behind request 0 on the same connection
        idle = RawConn(engine.port)
        assert idle.request("GET", "/id?i=idle").body == b"id=idle;"
        time.sleep(0.1)
        stopper = threading.Thread(target=engine.stop)
        stopper.start()
        assert idle.is_closed(timeout=2), "an idle keep-alive connection is closed at once"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", engine.port), timeout=1).close()
        replies = [conn.read_response() for conn in conns]
        replies.append(conns[0].read_response())
        for k, r in enumerate(replies):
            assert (r.status, r.body) == (200, b"id=%d;" % k)
        for r in replies[1:]:  # each connection's last response closes it
            assert r.header("connection") == "close"
        for conn in conns:
            assert conn.read_until_close() == b""
        stopper.join(10)
        assert not stopper.is_alive()
    finally:
        for conn in conns:
            conn.close()
        idle.close()
    assert app.events[0] == "startup" and app.events[-1] == "shutdown"
    assert sorted(app.events[1:-1]) == [f"done {k}" for k in range(5)]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="workers need fork()")
def test_worker_killed_mid_load_is_replaced_and_the_others_keep_serving() -> None:
    server = ServerProcess(
        "tests.engine.sample_app:app",
        "--port",
        "0",
        "--workers",
        "3",
        "--graceful-timeout",
        "2",
        ready=r"starting 3 workers on http://[^:]+:(\d+)",
    )
    held: list[tuple[RawConn, int]] = []
    stop_load = threading.Event()
    load: list[tuple[float, int | None]] = []  # (time, pid) per request on a new connection; None = failed

    def generate_load() -> None:
        while not stop_load.is_set():
            try:
                with RawConn(port, timeout=2) as c:
                    load.append((time.monotonic(), int(c.request("GET", "/pid").body)))
            except (OSError, AssertionError):
                load.append((time.monotonic(), None))

    try:
        port = server.wait_ready()
        deadline = time.monotonic() + 15
        while sum("Fulmen running" in line for line in server.lines) < 3:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.02)
        # Keep-alive connections held open on every worker (SO_REUSEPORT spreads them by their 4-tuple).
        while len({pid for _, pid in held}) < 3:
            assert len(held) < 100, "connections never reached all three workers"
            conn = RawConn(port)
            held.append((conn, int(conn.request("GET", "/pid").body)))
        loader = threading.Thread(target=generate_load)
        loader.start()
        time.sleep(0.5)
        victim = held[0][1]
        start = len(server.lines)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        index = server.wait_for_line(
            r"Worker (\d+) \[pid \d+\] was killed by SIGKILL; restarting", start=start
        ).group(1)
        replacement = int(
            server.wait_for_line(rf"Started worker {index} \[pid (\d+)\]", start=start).group(1)
        )
        assert replacement != victim
        deadline = time.monotonic() + 10
        while replacement not in {pid for _, pid in load}:
            assert time.monotonic() < deadline, "the replacement worker never served a request"
            time.sleep(0.05)
        time.sleep(0.3)
        stop_load.set()
        loader.join(10)

        # Connections held by the killed worker are gone; the ones on the other workers still serve.
        for conn, pid in held:
            if pid == victim:
                with pytest.raises((OSError, ConnectionError, AssertionError)):
                    conn.request("GET", "/pid")
            else:
                assert int(conn.request("GET", "/pid").body) == pid
        failed = [t for t, pid in load if pid is None]
        after = [pid for t, pid in load if t > killed_at]
        print(
            f"\nnew-connection load: {len(load)} requests, {len(failed)} failed, {len(after)} after the kill"
        )
        # Only connections that the killed worker had accepted or queued when it died may fail.
        assert len(failed) <= 3, f"{len(failed)} of {len(load)} requests failed"
        assert all(killed_at - 0.1 <= t for t in failed), "a request failed before the kill"
        assert victim not in after, "the dead worker answered after it was killed"
        assert len([pid for pid in after if pid is not None]) > 20
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0
    finally:
        stop_load.set()
        for conn, _ in held:
            conn.close()
        server.kill()


def test_websocket_frames_in_the_same_large_read_as_the_handshake_are_kept() -> None:
    # A read larger than one parsing slice: the handshake, then a 6000-byte text frame right behind it.
    app = FastAPI()

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(str(len(await ws.receive_text())))
        await ws.close()

    payload = b"w" * 6000
    mask = b"\x01\x02\x03\x04"
    frame = b"\x81\xfe" + len(payload).to_bytes(2, "big") + mask
    frame += bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    handshake = (
        b"GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    engine = EngineThread(app, ws_per_message_deflate=False)
    try:
        with RawConn(engine.port) as conn:
            conn.send(handshake + frame)
            assert conn.read_response(head_only=True).status == 101
            deadline = time.monotonic() + 5
            while b"\x81\x046000" not in conn.buf:  # the echo: a 4-byte text frame "6000"
                assert time.monotonic() < deadline, conn.buf
                conn._fill()
    finally:
        engine.stop()
