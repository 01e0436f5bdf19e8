"""Foreign ASGI 3 apps (FastAPI, Starlette, raw callables) on the engine, and the streamed request body.

Real sockets: the engine on a thread (``EngineThread``) or ``fulmen run --interface ...`` in a subprocess.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from fulmen import FastAPI as FulmenAPI
from fulmen.engine.interface import InterfaceError, resolve_interface
from fulmen.requests import Request
from fulmen.responses import PlainTextResponse, Response
from tests.engine import asgi_apps
from tests.engine.asgi_apps import GATE, RECORD
from tests.engine.conftest import EngineThread, RawConn, ServerProcess, exchange
from tests.engine.sample_app import make_app


def fulmen_app() -> Any:
    """A real fulmen app (ASGI-callable, unlike the engine tests' SampleApp)."""
    app = FulmenAPI()

    @app.get("/")
    async def index() -> dict[str, str]:
        return {"hello": "world"}

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return PlainTextResponse(await request.body())

    return app


@pytest.fixture(scope="module")
def fastapi_engine() -> Iterator[EngineThread]:
    engine = EngineThread(asgi_apps.fastapi_app)
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def raw_engine() -> Iterator[EngineThread]:
    engine = EngineThread(asgi_apps.raw_app, max_body_size=200_000, body_timeout=0.8)
    yield engine
    engine.stop()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    RECORD.clear()
    GATE.clear()
    yield
    GATE.set()  # never leave a /gate request hanging


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def read_chunked_until(conn: RawConn, needle: bytes, timeout: float = 5.0) -> bytes:
    """Read from ``conn`` until ``needle`` is in what arrived (the raw chunked stream)."""
    conn.sock.settimeout(timeout)
    while needle not in conn.buf:
        if not conn._fill():
            raise ConnectionError(f"closed before {needle!r}; got {conn.buf!r}")
    return conn.buf


# -- interface selection -------------------------------------------------------------------------------------
def test_auto_detects_each_interface() -> None:
    assert resolve_interface(make_app()) == "fulmen"
    assert resolve_interface(asgi_apps.fastapi_app) == "asgi"
    assert resolve_interface(asgi_apps.starlette_app) == "asgi"
    assert resolve_interface(asgi_apps.raw_app) == "asgi"
    assert resolve_interface(asgi_apps.wsgi_hello) == "wsgi"
    assert resolve_interface(fulmen_app()) == "fulmen"
    assert resolve_interface(fulmen_app(), "asgi") == "asgi"  # a fulmen app through ASGIAdapter


@pytest.mark.parametrize(
    ("app", "interface", "message"),
    [
        (asgi_apps.raw_app, "wsgi", "async callable, not a WSGI app"),
        (asgi_apps.raw_app, "fulmen", "not a fulmen application"),
        (asgi_apps.wsgi_hello, "asgi", "looks like a WSGI app"),
        (asgi_apps.ASGITwoStyle, "auto", "ASGI 2 applications"),
        (asgi_apps.ASGITwoStyle, "asgi", "ASGI 2 applications"),
        (fulmen_app(), "wsgi", "not a WSGI app"),
        (42, "auto", "not callable"),
        (asgi_apps.raw_app, "grpc", "interface must be one of"),
    ],
)
def test_wrong_interface_is_a_clear_startup_error(app: Any, interface: str, message: str) -> None:
    with pytest.raises(InterfaceError, match=message):
        resolve_interface(app, interface)


def test_cli_refuses_a_wrong_interface_with_status_1() -> None:
    server = ServerProcess("tests.engine.asgi_apps:raw_app", "--interface", "wsgi", "--port", "0")
    try:
        assert server.proc.wait(20) == 1
        server.kill()
        assert "async callable, not a WSGI app; use --interface asgi" in server.output()
    finally:
        server.kill()


# -- FastAPI on the engine -----------------------------------------------------------------------------------
def test_fastapi_path_query_body_and_validation(fastapi_engine: EngineThread) -> None:
    with RawConn(fastapi_engine.port) as conn:
        r = conn.request("GET", "/items/7?q=abc")
        assert (r.status, json.loads(r.body)) == (200, {"item_id": 7, "q": "abc"})
        body = json.dumps({"name": "pen", "price": 1.5}).encode()
        r = conn.request("POST", "/items", {"Content-Type": "application/json"}, body)
        assert (r.status, json.loads(r.body)) == (200, {"name": "pen", "price": 1.5, "kind": "created"})
        r = conn.request("POST", "/items", {"Content-Type": "application/json"}, b'{"name": "pen"}')
        assert r.status == 422
        assert json.loads(r.body)["detail"][0]["loc"] == ["body", "price"]
        r = conn.request("GET", "/items/not-a-number")
        assert r.status == 422
        r = conn.request("GET", "/nowhere")
        assert (r.status, json.loads(r.body)) == (404, {"detail": "Not Found"})


def test_fastapi_streaming_response_and_background_task(fastapi_engine: EngineThread) -> None:
    with RawConn(fastapi_engine.port) as conn:
        conn.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        head = conn.read_head()
        assert head.startswith(b"HTTP/1.1 200")
        assert b"transfer-encoding: chunked" in head.lower()
        data = read_chunked_until(conn, b"0\r\n\r\n")
        assert all(f"part {i}\n".encode() in data for i in range(3))
        conn.buf = b""
        r = conn.request("POST", "/background/job1")
        assert (r.status, json.loads(r.body)) == (200, {"scheduled": "job1"})
    assert ("background", "job1") in RECORD.wait_for(lambda items: ("background", "job1") in items)


def test_fastapi_lifespan_state_is_copied_into_each_request(fastapi_engine: EngineThread) -> None:
    with RawConn(fastapi_engine.port) as conn:
        first = json.loads(conn.request("GET", "/state").body)
        second = json.loads(conn.request("GET", "/state").body)
        assert second["count"] == first["count"] + 1  # the same list object (shallow copy)
        r = conn.request("GET", "/state/greeting")
        # the per-request change to state.greeting did not leak into the lifespan state
        assert json.loads(r.body) == {"greeting": "hello from lifespan", "client": "127.0.0.1"}


def test_fastapi_request_stream_sees_the_body_in_chunks(fastapi_engine: EngineThread) -> None:
    with RawConn(fastapi_engine.port) as conn:
        conn.send(b"POST /upload-size HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(4):
            conn.send(chunk(b"x" * 1000))
            time.sleep(0.05)
        conn.send(b"0\r\n\r\n")
        r = conn.read_response()
        result = json.loads(r.body)
        assert result["size"] == 4000
        assert result["chunks"] >= 2  # streamed as it arrived, not buffered into one piece


def test_fastapi_websocket(fastapi_engine: EngineThread) -> None:
    url = f"ws://127.0.0.1:{fastapi_engine.port}/ws"
    with ws_connect(url, subprotocols=["other", "echo.v1"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "echo.v1"
        assert ws.recv(timeout=5) == "welcome: hello from lifespan"  # lifespan state in the websocket scope
        ws.send("ping")
        assert ws.recv(timeout=5) == "echo: ping"
        ws.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "bye now")
    with ws_connect(url) as ws:
        assert ws.recv(timeout=5).startswith("welcome")
        ws.close(code=4100)
    assert RECORD.wait_for(lambda items: ("ws-disconnect", 4100) in items)


def test_fastapi_websocket_denied_before_accept(fastapi_engine: EngineThread) -> None:
    with pytest.raises(InvalidStatus) as denied:
        ws_connect(f"ws://127.0.0.1:{fastapi_engine.port}/ws-deny")
    assert denied.value.response.status_code == 403


def test_starlette_app() -> None:
    engine = EngineThread(asgi_apps.starlette_app)
    try:
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/hello/ann").body == b"hello ann"
            r = conn.request("POST", "/json?x=1", {"Content-Type": "application/json"}, b'{"a": [1, 2]}')
            assert json.loads(r.body) == {"got": {"a": [1, 2]}, "method": "POST", "query": {"x": "1"}}
    finally:
        engine.stop()


def test_a_fulmen_app_served_through_the_asgi_adapter() -> None:
    engine = EngineThread(fulmen_app(), interface="asgi")
    try:
        assert type(engine.server.state.app).__name__ == "ASGIAdapter"  # type: ignore[union-attr]
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/").body == b'{"hello":"world"}'
            r = conn.request("POST", "/echo", body=b"x" * 100_000)
            assert (r.status, len(r.body)) == (200, 100_000)
    finally:
        engine.stop()


# -- the streamed request body -------------------------------------------------------------------------------
def test_app_gets_the_first_chunk_before_the_client_sends_the_rest(raw_engine: EngineThread) -> None:
    with RawConn(raw_engine.port) as conn:
        conn.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"first-part")
        )
        # The app echoed the first chunk while the request body is still open: it was dispatched at the head.
        read_chunked_until(conn, b"first-part")
        conn.send(chunk(b"second-part") + b"0\r\n\r\n")
        data = read_chunked_until(conn, b"\r\n0\r\n\r\n")
        assert data.index(b"first-part") < data.index(b"second-part")
        conn.buf = b""
        assert conn.request("GET", "/after").body == b"GET /after"  # keep-alive goes on


def test_lifespan_unsupported_still_serves(raw_engine: EngineThread) -> None:
    assert exchange(raw_engine.port, b"GET /hi HTTP/1.1\r\nHost: t\r\n\r\n").body == b"GET /hi"


def test_expect_100_continue_is_answered_when_the_app_reads(raw_engine: EngineThread) -> None:
    with RawConn(raw_engine.port) as conn:
        conn.send(b"POST /gate HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        RECORD.wait_for(lambda items: ("/gate", "waiting") in items)
        conn.sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.sock.recv(100)  # the app hasn't asked for the body: no 100 Continue yet
        GATE.set()
        conn.sock.settimeout(5)
        assert conn.read_head() == b"HTTP/1.1 100 Continue"
        assert ("/gate", "reading") in RECORD.items
        conn.send(b"hello")
        assert conn.read_response().body == b"5 bytes"


def test_expect_100_continue_without_reading_closes_after_the_answer(raw_engine: EngineThread) -> None:
    with RawConn(raw_engine.port) as conn:
        conn.send(
            b"POST /no-read HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"
        )
        r = conn.read_response()
        assert r.status == 200  # the final answer, with no 100 Continue before it
        assert r.header("connection") == "close"
        assert conn.is_closed()


def test_unread_body_is_discarded_and_keep_alive_goes_on(raw_engine: EngineThread) -> None:
    with RawConn(raw_engine.port) as conn:
        conn.send(b"POST /no-read HTTP/1.1\r\nHost: t\r\nContent-Length: 150000\r\n\r\n" + b"a" * 1000)
        r = conn.read_response()
        assert r.body == b"answered without reading the body" and r.header("connection") is None
        conn.send(b"b" * 149_000)  # the rest arrives after the answer: dropped
        assert conn.request("GET", "/next").body == b"GET /next"


@pytest.mark.parametrize("path", ["/unsized", "/unsized-stream"])
def test_head_without_a_length_from_the_app_sends_none(raw_engine: EngineThread, path: str) -> None:
    # The GET's length is unknown when the app gives none, so HEAD must not claim "content-length: 0"
    # (RFC 9110 §9.3.2: a HEAD answer's header fields describe the GET's); uvicorn sends neither header.
    with RawConn(raw_engine.port) as conn:
        get = conn.request("GET", path) if path == "/unsized" else None
        assert get is None or (get.body == b"hello" and get.header("content-length") == "5")
        head = conn.request("HEAD", path)
        assert head.status == 200 and head.header("content-type") == "text/plain"
        assert head.header("content-length") is None and head.header("transfer-encoding") is None
        assert conn.request("GET", "/next").body == b"GET /next"  # nothing followed the HEAD's head
    with RawConn(raw_engine.port) as conn:
        conn.send(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        answer = conn.read_until_close()
        framed = b"content-length: 5" in answer or b"transfer-encoding: chunked" in answer
        assert framed and answer.endswith((b"hello", b"5\r\nhello\r\n0\r\n\r\n"))


def test_backpressure_pauses_reading_until_the_app_reads(raw_engine: EngineThread) -> None:
    body = b"z" * 190_000
    with RawConn(raw_engine.port) as conn:
        conn.send(b"POST /gate HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
        RECORD.wait_for(lambda items: ("/gate", "waiting") in items)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        conn.send(body)
        deadline = time.monotonic() + 5
        while not any(c.reading_paused for c in raw_engine.connections()):
            assert time.monotonic() < deadline, "the connection never paused reading"
            time.sleep(0.02)
        GATE.set()
        assert conn.read_response().body == b"190000 bytes"
    seen = RECORD.wait_for(lambda items: any(i[0] == "/gate" and i[1] == "reading" for i in items))
    assert seen


def test_body_over_the_limit_mid_stream_is_413_and_closes(raw_engine: EngineThread) -> None:
    with RawConn(raw_engine.port) as conn:
        conn.send(
            b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"a" * 120_000)
        )
        time.sleep(0.1)  # the app has been dispatched and reads the first chunk
        conn.send(chunk(b"b" * 120_000))
        r = conn.read_response()
        assert r.status == 413
        assert r.header("connection") == "close"
        assert conn.is_closed()
    assert RECORD.wait_for(lambda items: ("/len", "http.disconnect") in items)  # the app saw the error


def test_stalled_body_is_408_and_the_app_sees_a_disconnect(raw_engine: EngineThread) -> None:
    with RawConn(raw_engine.port) as conn:
        conn.send(b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        r = conn.read_response()
        assert r.status == 408
        assert conn.is_closed()
    assert RECORD.wait_for(lambda items: ("/len", "http.disconnect") in items)


def test_client_gone_mid_body_is_http_disconnect(raw_engine: EngineThread) -> None:
    conn = RawConn(raw_engine.port)
    conn.send(b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
    time.sleep(0.1)
    conn.close()
    assert RECORD.wait_for(lambda items: ("/len", "http.disconnect") in items)


def test_disconnect_after_the_body_reaches_a_waiting_app(raw_engine: EngineThread) -> None:
    conn = RawConn(raw_engine.port)
    conn.send(b"GET /disconnect HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.1)
    closed_at = time.monotonic()
    conn.close()
    seen = RECORD.wait_for(lambda items: any(i[:2] == ("/disconnect", "http.disconnect") for i in items))
    assert seen[0][2] - closed_at < 2


def test_pipelined_streamed_requests_answer_in_order(raw_engine: EngineThread) -> None:
    with RawConn(raw_engine.port) as conn:
        conn.send(
            b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n0\r\n\r\n"
            b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        bodies = [conn.read_response().body for _ in range(4)]
    assert bodies == [b"3 bytes in 1 messages", b"slow", b"5 bytes in 1 messages", b"GET /fast"]


def test_small_body_arrives_in_one_message(raw_engine: EngineThread) -> None:
    r = exchange(raw_engine.port, b"POST /len HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd")
    assert r.body == b"4 bytes in 1 messages"
    assert ("/len", [(4, False)]) in RECORD.items


def test_large_body_reaches_the_app_whole(raw_engine: EngineThread) -> None:
    body = bytes(range(256)) * 700
    with RawConn(raw_engine.port) as conn:
        r = conn.request("POST", "/len", body=body)
    assert r.body.startswith(b"179200 bytes in ")


# -- fulmen run --interface ----------------------------------------------------------------------------------
@pytest.mark.parametrize("interface", ["asgi", "auto"])
def test_cli_serves_fastapi(interface: str) -> None:
    server = ServerProcess(
        "tests.engine.asgi_apps:fastapi_app", "--interface", interface, "--port", "0", "--no-access-log"
    )
    try:
        port = server.wait_ready()
        assert json.loads(exchange(port, b"GET /items/3?q=x HTTP/1.1\r\nHost: a\r\n\r\n").body) == {
            "item_id": 3,
            "q": "x",
        }
        with ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
            assert ws.recv(timeout=5) == "welcome: hello from lifespan"
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0
        server.wait_for_line("fastapi lifespan: shutdown")
        assert "fastapi lifespan: startup" in server.output()
    finally:
        server.kill()


def test_cli_lifespan_startup_failed_exits_with_status_3() -> None:
    server = ServerProcess(
        "tests.engine.asgi_apps:failing_lifespan_app", "--interface", "asgi", "--port", "0"
    )
    try:
        assert server.proc.wait(20) == 3
        server.kill()
        assert "database unreachable" in server.output()
    finally:
        server.kill()


def test_malformed_chunk_after_dispatch_is_400_and_the_app_sees_a_disconnect(
    raw_engine: EngineThread,
) -> None:
    with RawConn(raw_engine.port) as conn:
        conn.send(b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"ok"))
        RECORD.wait_for(lambda items: True)
        time.sleep(0.1)
        conn.send(b"zz\r\nnot a chunk size\r\n")
        r = conn.read_response()
        assert r.status == 400
        assert conn.is_closed()
    assert RECORD.wait_for(lambda items: ("/len", "http.disconnect") in items)


def test_limit_broken_while_the_response_streams_closes_the_connection(raw_engine: EngineThread) -> None:
    with RawConn(raw_engine.port) as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"start"))
        read_chunked_until(conn, b"start")  # the response has started: a 413 can't replace it any more
        conn.send(chunk(b"x" * 150_000) + chunk(b"y" * 150_000))
        data = conn.read_until_close()
        assert b"413" not in data.split(b"\r\n", 1)[0]
        assert not data.endswith(b"0\r\n\r\n")  # truncated, not a complete chunked body
    # (the app, blocked in send() on the closed stream, is cancelled); the server goes on serving
    assert exchange(raw_engine.port, b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n").body == b"GET /ok"


def test_only_apps_that_ask_get_the_streaming_connection_class() -> None:
    from fulmen.engine.protocol import HttpProtocol
    from fulmen.engine.server import protocol_factory, served_app
    from fulmen.engine.streamed_body import StreamingBodyProtocol

    assert protocol_factory(served_app(fulmen_app())) is HttpProtocol
    assert protocol_factory(served_app(asgi_apps.raw_app)) is StreamingBodyProtocol
    assert protocol_factory(served_app(fulmen_app(), "asgi")) is StreamingBodyProtocol


def test_eof_after_a_bodiless_request_is_http_disconnect(raw_engine: EngineThread) -> None:
    # A request without a body has no RequestBody: the connection's watch tells the app (as uvicorn does).
    with RawConn(raw_engine.port) as conn:
        conn.send(b"GET /disconnect HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.1)
        assert not any(i[:2] == ("/disconnect", "http.disconnect") for i in RECORD.items)
        conn.sock.shutdown(socket.SHUT_WR)
        assert RECORD.wait_for(lambda items: any(i[:2] == ("/disconnect", "http.disconnect") for i in items))


def test_later_bodiless_request_on_a_keep_alive_connection_sees_the_disconnect(
    raw_engine: EngineThread,
) -> None:
    conn = RawConn(raw_engine.port)
    for path in (b"/a", b"/b"):
        conn.send(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        assert conn.read_response().body == b"GET " + path
    conn.send(b"POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    assert conn.read_response().body == b"POST /c"
    conn.send(b"GET /disconnect HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.1)
    conn.close()
    assert RECORD.wait_for(lambda items: any(i[:2] == ("/disconnect", "http.disconnect") for i in items))
