"""StreamingResponse on every front door, plus raw-socket checks of the engine's chunked framing, pipelining
order, backpressure and client-disconnect handling."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from fulmen import FastAPI, Request
from fulmen.background import BackgroundTask
from fulmen.responses import PlainTextResponse, Response, StreamingResponse
from tests.engine.conftest import EngineThread, RawConn

pytestmark = pytest.mark.timeout(30)


def _port(client: httpx.Client) -> int:
    port = client.base_url.port
    assert port is not None
    return port


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def read_chunked(conn: RawConn) -> tuple[bytes, list[bytes]]:
    """Read one chunked response from ``conn``: (head, chunks). Asserts exact framing."""
    head = conn.read_head()
    chunks: list[bytes] = []
    while True:
        while b"\r\n" not in conn.buf:
            assert conn._fill(), f"connection closed inside a chunk size line; head={head!r}"
        line, conn.buf = conn.buf.split(b"\r\n", 1)
        size = int(line, 16)
        while len(conn.buf) < size + 2:
            assert conn._fill(), "connection closed inside a chunk"
        data, crlf, conn.buf = conn.buf[:size], conn.buf[size : size + 2], conn.buf[size + 2 :]
        assert crlf == b"\r\n"
        if size == 0:
            return head, chunks
        chunks.append(data)


# -- behaviour through every front door ----------------------------------------------------------------------
def _app(log: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/async")
    async def async_stream() -> Response:
        async def gen() -> AsyncIterator[str | bytes]:
            yield "one,"
            await asyncio.sleep(0.01)
            yield b"two,"
            yield memoryview(b"three")  # type: ignore[misc]

        return StreamingResponse(gen(), media_type="text/csv", headers={"x-kind": "async"})

    @app.get("/sync")
    def sync_stream() -> Response:
        def gen() -> Iterator[bytes]:
            log.append(f"sync-thread:{threading.current_thread().name}")
            yield b"a"
            yield b""  # empty chunks are skipped, not sent as the terminator
            yield b"b"

        return StreamingResponse(gen(), status_code=201)

    @app.get("/with-length")
    async def with_length() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            yield b"12345"
            yield b"67890"

        return StreamingResponse(gen(), headers={"content-length": "10"})

    @app.get("/background")
    async def with_background() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            yield b"body"
            log.append("body-done")

        return StreamingResponse(gen(), background=BackgroundTask(log.append, "background"))

    @app.get("/empty")
    async def empty() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            if False:  # pragma: no cover
                yield b""

        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/no-content")
    async def no_content() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            log.append("204-iterated")
            yield b"never sent"

        return StreamingResponse(gen(), status_code=204)

    @app.api_route("/head", methods=["GET", "HEAD"])
    async def head() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            try:
                log.append("head-iterated")
                yield b"x"
            finally:
                log.append("head-closed")

        return StreamingResponse(gen(), media_type="text/plain")

    @app.get("/big")
    async def big() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            for i in range(200):
                yield bytes([i % 256]) * 40_000

        return StreamingResponse(gen())

    return app


def test_async_iterator_body_and_headers(serve: Callable[..., httpx.Client]) -> None:
    client = serve(_app([]))
    r = client.get("/async")
    assert r.status_code == 200
    assert r.content == b"one,two,three"
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["x-kind"] == "async"


def test_sync_iterator_runs_in_the_thread_pool(serve: Callable[..., httpx.Client]) -> None:
    log: list[str] = []
    client = serve(_app(log))
    r = client.get("/sync")
    assert (r.status_code, r.content) == (201, b"ab")
    assert "content-type" not in r.headers
    assert log == ["sync-thread:" + log[0].split(":", 1)[1]]
    assert log[0].split(":", 1)[1].startswith("fulmen-sync")


def test_app_content_length_is_kept(serve: Callable[..., httpx.Client], front_door: str) -> None:
    client = serve(_app([]))
    r = client.get("/with-length")
    assert r.content == b"1234567890"
    assert r.headers["content-length"] == "10"
    assert "transfer-encoding" not in r.headers


def test_background_runs_after_the_body(serve: Callable[..., httpx.Client]) -> None:
    log: list[str] = []
    client = serve(_app(log))
    assert client.get("/background").content == b"body"
    _wait_for(lambda: "background" in log)
    assert log == ["body-done", "background"]


def test_empty_stream(serve: Callable[..., httpx.Client]) -> None:
    client = serve(_app([]))
    r = client.get("/empty")
    assert (r.status_code, r.content) == (200, b"")


def test_no_body_statuses_do_not_iterate(serve: Callable[..., httpx.Client]) -> None:
    log: list[str] = []
    client = serve(_app(log))
    r = client.get("/no-content")
    assert (r.status_code, r.content) == (204, b"")
    assert "204-iterated" not in log


def test_head_sends_no_body_and_closes_the_iterator(serve: Callable[..., httpx.Client]) -> None:
    log: list[str] = []
    client = serve(_app(log))
    r = client.head("/head")
    assert (r.status_code, r.content) == (200, b"")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert "head-iterated" not in log
    # A GET on the same connection still works after the HEAD.
    assert client.get("/head").content == b"x"


def test_large_stream(serve: Callable[..., httpx.Client]) -> None:
    client = serve(_app([]))
    r = client.get("/big")
    assert len(r.content) == 200 * 40_000
    assert r.content[-1] == 199


def test_plain_responses_are_not_streaming() -> None:
    assert Response.streaming is False
    assert PlainTextResponse("x").streaming is False
    assert StreamingResponse(iter([])).streaming is True
    with pytest.raises(AttributeError):
        _ = StreamingResponse(iter([])).body  # no body, as in Starlette


# -- the engine on the wire ----------------------------------------------------------------------------------
@pytest.fixture
def engine_app() -> Any:
    log: list[str] = []
    app = _app(log)
    started = threading.Event()
    closed = threading.Event()

    @app.get("/forever")
    async def forever() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            try:
                yield b"first"
                started.set()
                while True:
                    await asyncio.sleep(3600)
                    yield b"never"
            finally:
                closed.set()

        return StreamingResponse(gen())

    @app.get("/ticking")
    async def ticking() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            try:
                i = 0
                while True:
                    yield b"tick %d\n" % i
                    i += 1
                    log.append("tick")
                    await asyncio.sleep(0.005)
            finally:
                closed.set()

        return StreamingResponse(gen())

    @app.get("/sync-forever")
    def sync_forever() -> Response:
        def gen() -> Iterator[bytes]:
            try:
                while True:
                    yield b"s" * 1000
                    time.sleep(0.005)
            finally:
                closed.set()

        return StreamingResponse(gen())

    @app.get("/fast")
    async def fast() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            while True:
                log.append("chunk")
                yield b"z" * 65536

        return StreamingResponse(gen())

    @app.get("/fails")
    async def fails() -> Response:
        async def gen() -> AsyncIterator[bytes]:
            yield b"partial"
            raise RuntimeError("boom")

        return StreamingResponse(gen())

    @app.get("/plain")
    async def plain() -> Any:
        return {"plain": True}

    engine = EngineThread(app)
    yield engine, log, started, closed
    engine.stop()


def test_engine_chunked_framing(engine_app: Any) -> None:
    engine, *_ = engine_app
    with RawConn(engine.port) as conn:
        conn.send(b"GET /async HTTP/1.1\r\nHost: t\r\n\r\n")
        head, chunks = read_chunked(conn)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\ntransfer-encoding: chunked" in head
        assert b"content-length" not in head
        assert chunks == [b"one,", b"two,", b"three"]
        # keep-alive: the connection serves the next request
        conn.send(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
        r = conn.read_response()
        assert r.body == b'{"plain":true}'


def test_engine_pipelined_requests_after_a_stream_stay_in_order(engine_app: Any) -> None:
    engine, *_ = engine_app
    with RawConn(engine.port) as conn:
        conn.send(
            b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /async HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /sync HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /with-length HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        assert conn.read_response().body == b'{"plain":true}'
        assert read_chunked(conn)[1] == [b"one,", b"two,", b"three"]
        assert conn.read_response().body == b'{"plain":true}'
        head, chunks = read_chunked(conn)
        assert head.startswith(b"HTTP/1.1 201 ")
        assert chunks == [b"a", b"b"]
        r = conn.read_response()
        assert (r.header("content-length"), r.body) == ("10", b"1234567890")
        assert conn.read_response().body == b'{"plain":true}'


def test_engine_head_then_pipelined_get(engine_app: Any) -> None:
    engine, log, *_ = engine_app
    with RawConn(engine.port) as conn:
        conn.send(b"HEAD /head HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
        head = conn.read_head()
        assert b"transfer-encoding: chunked" in head  # the headers a GET would have; no body follows
        assert conn.read_response().body == b'{"plain":true}'
    assert "head-iterated" not in log


def test_engine_http10_stream_ends_with_close(engine_app: Any) -> None:
    engine, *_ = engine_app
    with RawConn(engine.port) as conn:
        conn.send(b"GET /async HTTP/1.0\r\n\r\n")
        data = conn.read_until_close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head
    assert b"connection: close" in head
    assert body == b"one,two,three"


def test_engine_disconnect_stops_an_idle_stream(engine_app: Any) -> None:
    engine, _, started, closed = engine_app
    conn = RawConn(engine.port)
    conn.send(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.read_head()
    assert started.wait(5)
    conn.close()
    assert closed.wait(5), "the generator's finally did not run after the client left"
    _wait_for(lambda: not engine.connections())


def test_engine_disconnect_stops_a_busy_stream(engine_app: Any) -> None:
    engine, log, _, closed = engine_app
    conn = RawConn(engine.port)
    conn.send(b"GET /ticking HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.read_head()
    _wait_for(lambda: log.count("tick") >= 3)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # RST
    assert closed.wait(5)
    ticks = log.count("tick")
    time.sleep(0.1)
    assert log.count("tick") == ticks, "the generator kept running after the disconnect"


def test_engine_disconnect_closes_a_sync_iterator(engine_app: Any) -> None:
    engine, _, _, closed = engine_app
    conn = RawConn(engine.port)
    conn.send(b"GET /sync-forever HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.read_head()
    conn._fill()
    conn.close()
    assert closed.wait(5), "the sync generator was not closed after the client left"


def test_engine_backpressure_bounds_what_is_produced(engine_app: Any) -> None:
    engine, log, *_ = engine_app
    conn = RawConn(engine.port)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    conn.send(b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.5)  # the client reads nothing: the server must stop producing
    produced = log.count("chunk")
    time.sleep(0.3)
    assert log.count("chunk") == produced, "the generator kept running while the client did not read"
    # Kernel buffers plus one transport high-water mark: far less than unbounded.
    assert produced * 65536 < 64 * 1024 * 1024
    # Reading resumes the stream.
    got = 0
    while got < (produced + 20) * 65536:
        chunk = conn.sock.recv(1 << 20)
        assert chunk
        got += len(chunk)
    assert log.count("chunk") > produced
    conn.close()


def test_engine_error_mid_stream_closes_the_connection(
    engine_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine, *_ = engine_app
    with RawConn(engine.port) as conn:
        conn.send(b"GET /fails HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
        data = conn.read_until_close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    # Truncated: no last chunk, and the pipelined request is not answered.
    assert data.endswith(b"7\r\npartial\r\n")
    assert any("Exception while streaming" in r.message for r in caplog.records)


def test_engine_total_requests_counts_streams(engine_app: Any) -> None:
    engine, *_ = engine_app
    state = engine.server.state
    before = state.total_requests
    with RawConn(engine.port) as conn:
        conn.send(b"GET /async HTTP/1.1\r\nHost: t\r\n\r\n")
        read_chunked(conn)
    _wait_for(lambda: state.total_requests == before + 1)


# -- on the sockets of the engine and of uvicorn (ASGI front door) ------------------------------------------
def test_disconnect_stops_a_stream_whose_request_body_was_never_read(
    serve: Callable[..., httpx.Client], front_door: str
) -> None:
    if front_door == "asgi":
        pytest.skip("needs a socket")
    closed = threading.Event()
    started = threading.Event()
    app = FastAPI()

    @app.post("/events")
    async def events() -> Response:  # the body is never read: the watcher must take it over
        async def gen() -> AsyncIterator[bytes]:
            try:
                yield b"hello"
                started.set()
                await asyncio.sleep(3600)
            finally:
                closed.set()

        return StreamingResponse(gen())

    client = serve(app)
    conn = RawConn(_port(client))
    conn.send(b"POST /events HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
    conn.read_head()
    assert started.wait(5)
    conn.close()
    assert closed.wait(5)


def test_asgi_stream_echoes_the_request_body(serve: Callable[..., httpx.Client]) -> None:
    """The body iterator may read the request body while streaming (the disconnect watcher shares it)."""
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            async for chunk in request.stream():
                yield chunk.upper()

        return StreamingResponse(gen())

    client = serve(app)
    r = client.post("/echo", content=b"abc" * 1000)
    assert r.content == b"ABC" * 1000
