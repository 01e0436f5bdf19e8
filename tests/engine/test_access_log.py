"""The engine's access log: uvicorn-like text lines, JSON lines, the record attributes behind both, and
the settings that turn it off (``--no-access-log``, level above INFO), in-process and by ``fulmen run``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from fulmen import FastAPI, WebSocket
from fulmen.engine import lane
from fulmen.engine.accesslog import FIELDS, JsonAccessFormatter
from fulmen.engine.protocol import HttpProtocol
from fulmen.responses import FileResponse, PlainTextResponse, StreamingResponse
from tests.engine.conftest import EngineThread, RawConn, ServerProcess, exchange

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def make_log_app(file_path: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> PlainTextResponse:
        return PlainTextResponse("hello world")

    @app.get("/slow")
    async def slow() -> PlainTextResponse:
        await asyncio.sleep(0.05)
        return PlainTextResponse("late")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for part in (b"a" * 10, b"b" * 20):
                yield part

        return StreamingResponse(parts(), media_type="text/plain")

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(file_path)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(await websocket.receive_text())
        await websocket.close()

    @app.websocket("/ws-reject")
    async def ws_reject(websocket: WebSocket) -> None:
        await websocket.close()

    return app


@pytest.fixture
def file_path(tmp_path: Path) -> Path:
    path = tmp_path / "data.bin"
    path.write_bytes(b"z" * 5000)
    return path


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """A handler with the JSON formatter on "fulmen.access" for the test (removed afterwards)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonAccessFormatter())
    logger = logging.getLogger("fulmen.access")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "fulmen.access"]


def wait_for_records(caplog: pytest.LogCaptureFixture, count: int) -> list[logging.LogRecord]:
    deadline = time.monotonic() + 5
    while len(access_records(caplog)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return access_records(caplog)


def parse_json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_text_lines_and_record_fields(caplog: pytest.LogCaptureFixture, file_path: Path) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.access")
    engine = EngineThread(make_log_app(file_path), access_log=True)
    try:
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/hello?x=1&y=2", {"User-Agent": "probe/1.0"}).body == b"hello world"
            assert conn.request("HEAD", "/hello").status == 200
            assert conn.request("GET", "/slow").body == b"late"
            assert conn.request("GET", "/missing").status == 404
            local_port = conn.sock.getsockname()[1]
            # With the access log on, connections note each request's start (for duration_ms).
            assert [type(c).__name__ for c in engine.connections()] == ["_RequestTimer"]
    finally:
        engine.stop()
    records = access_records(caplog)
    assert [r.getMessage() for r in records] == [
        f'127.0.0.1:{local_port} - "GET /hello?x=1&y=2 HTTP/1.1" 200',
        f'127.0.0.1:{local_port} - "HEAD /hello HTTP/1.1" 200',
        f'127.0.0.1:{local_port} - "GET /slow HTTP/1.1" 200',
        f'127.0.0.1:{local_port} - "GET /missing HTTP/1.1" 404',
    ]
    first: Any = records[0]
    assert (first.client, first.method, first.path, first.query) == (
        f"127.0.0.1:{local_port}",
        "GET",
        "/hello",
        "x=1&y=2",
    )
    assert (first.http_version, first.status, first.bytes, first.user_agent) == ("1.1", 200, 11, "probe/1.0")
    assert first.outcome is None
    assert isinstance(first.duration_ms, float) and 0 <= first.duration_ms < 1000
    head: Any = records[1]
    assert head.bytes == 0  # HEAD: no body sent
    slow: Any = records[2]
    assert slow.duration_ms >= 40  # the handler slept 50 ms


def test_json_lines(caplog: pytest.LogCaptureFixture, json_lines: io.StringIO, file_path: Path) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.access")
    engine = EngineThread(make_log_app(file_path), access_log=True, access_log_format="json")
    try:
        with RawConn(engine.port) as conn:
            conn.request("GET", "/hello?q=%C3%A9", {"User-Agent": "probe/2.0"})
            local_port = conn.sock.getsockname()[1]
    finally:
        engine.stop()
    (entry,) = parse_json_lines(json_lines)
    assert ISO_UTC.fullmatch(entry.pop("time"))
    duration = entry.pop("duration_ms")
    assert isinstance(duration, float) and duration >= 0
    assert entry == {
        "client": f"127.0.0.1:{local_port}",
        "method": "GET",
        "path": "/hello",
        "query": "q=%C3%A9",
        "http_version": "1.1",
        "status": 200,
        "bytes": 11,
        "user_agent": "probe/2.0",
    }
    assert list(entry) == [f for f in FIELDS if f in entry]  # the documented order


def test_streamed_responses(
    caplog: pytest.LogCaptureFixture, json_lines: io.StringIO, file_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.access")
    engine = EngineThread(make_log_app(file_path), access_log=True)
    try:
        with RawConn(engine.port) as conn:
            conn.send(b"GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            assert conn.read_until_close().endswith(b"a" * 10 + b"\r\n14\r\n" + b"b" * 20 + b"\r\n0\r\n\r\n")
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/file").body == b"z" * 5000
        wait_for_records(caplog, 2)
    finally:
        engine.stop()
    entries = parse_json_lines(json_lines)
    assert [(e["path"], e["status"], e["bytes"]) for e in entries] == [
        ("/stream", 200, None),
        ("/file", 200, 5000),
    ]
    assert all(e["duration_ms"] >= 0 for e in entries)
    messages = [r.getMessage() for r in access_records(caplog)]
    assert messages[0].endswith('"GET /stream HTTP/1.1" 200')
    assert messages[1].endswith('"GET /file HTTP/1.1" 200')


def test_parser_errors_are_logged(
    caplog: pytest.LogCaptureFixture, json_lines: io.StringIO, file_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.access")
    engine = EngineThread(make_log_app(file_path), access_log=True)
    try:
        with RawConn(engine.port) as conn:
            conn.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            assert conn.read_response().status == 400
            local_port = conn.sock.getsockname()[1]
        wait_for_records(caplog, 1)
    finally:
        engine.stop()
    assert [r.getMessage() for r in access_records(caplog)] == [f'127.0.0.1:{local_port} - "-" 400']
    (entry,) = parse_json_lines(json_lines)
    assert (entry["status"], entry["method"], entry["path"], entry["client"]) == (
        400,
        None,
        None,
        f"127.0.0.1:{local_port}",
    )


def test_websocket_outcomes(
    caplog: pytest.LogCaptureFixture, json_lines: io.StringIO, file_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.access")
    engine = EngineThread(make_log_app(file_path), access_log=True)
    try:
        with ws_connect(f"ws://127.0.0.1:{engine.port}/ws?room=1", user_agent_header="wsprobe") as ws:
            ws.send("ping")
            assert ws.recv(timeout=5) == "ping"
        with pytest.raises(InvalidStatus) as refused, ws_connect(f"ws://127.0.0.1:{engine.port}/ws-reject"):
            pass
        assert refused.value.response.status_code == 403
        wait_for_records(caplog, 2)
        with RawConn(engine.port) as conn:  # no Sec-WebSocket-Key: not a valid handshake
            conn.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            assert conn.read_response().status == 400
        wait_for_records(caplog, 3)
    finally:
        engine.stop()
    messages = [r.getMessage() for r in access_records(caplog)]
    assert messages[2].endswith('- "WebSocket /ws" 400')
    assert messages[0].endswith('- "WebSocket /ws?room=1" [accepted]')
    assert messages[1].endswith('- "WebSocket /ws-reject" 403')
    entries = parse_json_lines(json_lines)
    assert [(e["path"], e["query"], e["status"], e["outcome"]) for e in entries] == [
        ("/ws", "room=1", 101, "accepted"),
        ("/ws-reject", "", 403, "rejected"),
        ("/ws", "", 400, "invalid"),
    ]
    assert entries[0]["user_agent"] == "wsprobe"
    assert set(entries[0]) == {"time", *FIELDS}  # the same shape as HTTP lines, plus the outcome


async def plain_asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b"asgi:" + scope["scheme"].encode()
    await send(
        {"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"%d" % len(body))]}
    )
    await send({"type": "http.response.body", "body": body})


def test_asgi_app_lines_are_timed(caplog: pytest.LogCaptureFixture, json_lines: io.StringIO) -> None:
    # An ASGI app is served by the streamed-request-body protocol, which dispatches at the request head.
    caplog.set_level(logging.INFO, logger="fulmen.access")
    engine = EngineThread(plain_asgi_app, access_log=True, interface="asgi")
    try:
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/a").body == b"asgi:http"
            assert conn.request("POST", "/b", body=b"x" * 100).body == b"asgi:http"
        wait_for_records(caplog, 2)
    finally:
        engine.stop()
    entries = parse_json_lines(json_lines)
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/a", 201),
        ("POST", "/b", 201),
    ]
    assert all(isinstance(e["duration_ms"], float) for e in entries)


def test_client_is_the_forwarded_one(caplog: pytest.LogCaptureFixture, file_path: Path) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.access")
    engine = EngineThread(make_log_app(file_path), access_log=True)
    try:
        exchange(engine.port, b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 203.0.113.5\r\n\r\n")
    finally:
        engine.stop()
    assert [r.getMessage() for r in access_records(caplog)] == ['203.0.113.5:0 - "GET /hello HTTP/1.1" 200']


#: The connection classes that read no clock (the lane's in a compiled build: docs/engine.md, "The lane").
UNTIMED = (HttpProtocol, lane._lane.LaneProtocol) if lane.available() else (HttpProtocol,)


def test_no_access_log_writes_nothing_and_skips_timing(
    caplog: pytest.LogCaptureFixture, file_path: Path
) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.access")
    engine = EngineThread(make_log_app(file_path), access_log=False)
    try:
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/hello").status == 200
            assert [type(c) in UNTIMED for c in engine.connections()] == [True]
    finally:
        engine.stop()
    assert not access_records(caplog)


def test_level_above_info_writes_nothing(caplog: pytest.LogCaptureFixture, file_path: Path) -> None:
    caplog.set_level(logging.WARNING, logger="fulmen.access")
    engine = EngineThread(make_log_app(file_path), access_log=True)
    try:
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/hello").status == 200
            assert [type(c) in UNTIMED for c in engine.connections()] == [True]
        assert engine.server.state is not None and engine.server.state.access_log is False
    finally:
        engine.stop()
    assert not access_records(caplog)


# -- through `fulmen run` ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_serving(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def request_fast(port: int) -> int:
    """GET /fast?tag=a on a new connection; returns the client's local port."""
    with RawConn(port) as conn:
        assert conn.request("GET", "/fast?tag=a", {"User-Agent": "cli-probe"}).body == b"fast a"
        return int(conn.sock.getsockname()[1])


def test_cli_text_access_log() -> None:
    server = ServerProcess("tests.engine.sample_app:app", "--port", "0")
    try:
        local_port = request_fast(server.wait_ready())
        server.wait_for_line(re.escape(f'127.0.0.1:{local_port} - "GET /fast?tag=a HTTP/1.1" 200'))
    finally:
        server.kill()


def test_cli_json_access_log() -> None:
    server = ServerProcess("tests.engine.sample_app:app", "--port", "0", "--access-log-format", "json")
    try:
        local_port = request_fast(server.wait_ready())
        line = server.wait_for_line(r'^\{"time":.*"path":"/fast"').string
    finally:
        server.kill()
    entry = json.loads(line)
    assert ISO_UTC.fullmatch(entry["time"])
    assert (entry["client"], entry["method"], entry["query"], entry["status"], entry["bytes"]) == (
        f"127.0.0.1:{local_port}",
        "GET",
        "tag=a",
        200,
        6,
    )
    assert entry["user_agent"] == "cli-probe"
    # The other loggers keep their text format.
    assert any(line.startswith("INFO") and "running on http://" in line for line in server.lines)


def stop(server: ServerProcess) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(15)
    finally:
        server.kill()


def test_cli_no_access_log_writes_none() -> None:
    server = ServerProcess("tests.engine.sample_app:app", "--port", "0", "--no-access-log")
    try:
        request_fast(server.wait_ready())
    finally:
        stop(server)
    assert "Server stopped" in server.output()  # the rest of logging still works
    assert not [line for line in server.lines if "GET /fast" in line], server.output()


def test_cli_log_level_warning_writes_none() -> None:
    port = free_port()  # at WARNING the "running on" banner isn't logged: choose the port up front
    server = ServerProcess("tests.engine.sample_app:app", "--port", str(port), "--log-level", "warning")
    try:
        wait_serving(port)
        request_fast(port)
    finally:
        stop(server)
    assert not [line for line in server.lines if "GET /fast" in line or "running on" in line], server.output()
