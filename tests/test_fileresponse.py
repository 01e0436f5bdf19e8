"""FileResponse on every front door: headers, HEAD, Range (206, multipart/byteranges, 416, 400), If-Range; and
on the engine: zero-copy sendfile, the copy fallback, backpressure, pipelining and disconnects."""

from __future__ import annotations

import email.utils
import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import fulmen.engine.streaming as engine_streaming
from fulmen import FastAPI
from fulmen.background import BackgroundTask
from fulmen.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable, Response
from tests.engine.conftest import EngineThread, RawConn

pytestmark = pytest.mark.timeout(30)

DATA = bytes(range(256)) * 40  # 10240 bytes
BIG = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("files")
    (root / "data.bin").write_bytes(DATA)
    (root / "page.html").write_text("<h1>hi</h1>")
    (root / "notes.txt").write_text("hello")
    (root / "big.bin").write_bytes(BIG)
    (root / "empty.txt").write_bytes(b"")
    (root / "dir").mkdir()
    return root


def _app(files: Path, log: list[str] | None = None) -> FastAPI:
    app = FastAPI()
    sink: list[str] = [] if log is None else log

    @app.api_route("/data", methods=["GET", "HEAD", "POST"])
    async def data() -> Response:
        return FileResponse(files / "data.bin")

    @app.get("/named")
    async def named(name: str = "report.txt", kind: str = "attachment") -> Response:
        return FileResponse(files / "notes.txt", filename=name, content_disposition_type=kind)

    @app.get("/typed")
    async def typed() -> Response:
        return FileResponse(str(files / "data.bin"), media_type="image/png", headers={"x-extra": "1"})

    @app.get("/html")
    async def html() -> Response:
        return FileResponse(files / "page.html")

    @app.get("/status")
    async def status() -> Response:
        return FileResponse(files / "data.bin", status_code=404)

    @app.get("/with-stat")
    async def with_stat() -> Response:
        path = files / "data.bin"
        return FileResponse(path, stat_result=os.stat(path))

    @app.get("/big")
    def big() -> Response:
        return FileResponse(files / "big.bin")

    @app.get("/empty")
    async def empty() -> Response:
        return FileResponse(files / "empty.txt")

    @app.get("/missing")
    async def missing() -> Response:
        return FileResponse(files / "nope.bin")

    @app.get("/a-directory")
    async def a_directory() -> Response:
        return FileResponse(files / "dir")

    @app.get("/background")
    async def background() -> Response:
        return FileResponse(files / "notes.txt", background=BackgroundTask(sink.append, "ran"))

    reused = FileResponse(files / "data.bin")

    @app.get("/reused")
    async def reused_response() -> Response:
        return reused  # one response object for every request, as Starlette allows

    @app.get("/plain")
    async def plain() -> Any:
        return {"plain": True}

    return app


@pytest.fixture
def client(serve: Callable[..., httpx.Client], files: Path) -> httpx.Client:
    return serve(_app(files))


def _etag(path: Path) -> str:
    st = os.stat(path)
    return '"' + hashlib.md5(f"{st.st_mtime}-{st.st_size}".encode()).hexdigest() + '"'


def test_whole_file_and_its_headers(client: httpx.Client, files: Path) -> None:
    r = client.get("/data")
    assert r.status_code == 200
    assert r.content == DATA
    st = os.stat(files / "data.bin")
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == str(len(DATA))
    assert r.headers["last-modified"] == email.utils.formatdate(st.st_mtime, usegmt=True)
    assert r.headers["etag"] == _etag(files / "data.bin")
    assert "content-disposition" not in r.headers


def test_header_order_matches_starlette(client: httpx.Client) -> None:
    r = client.get("/data")
    names = [k.decode().lower() for k, _ in r.headers.raw if k.lower() not in (b"date", b"server")]
    assert names == ["content-type", "accept-ranges", "content-length", "last-modified", "etag"]


def test_media_type_guessing_and_charset(client: httpx.Client) -> None:
    assert client.get("/html").headers["content-type"] == "text/html; charset=utf-8"
    r = client.get("/typed")
    assert r.headers["content-type"] == "image/png"
    assert r.headers["x-extra"] == "1"
    assert client.get("/named").headers["content-type"] == "text/plain; charset=utf-8"


def test_content_disposition(client: httpx.Client) -> None:
    r = client.get("/named")
    assert r.headers["content-disposition"] == 'attachment; filename="report.txt"'
    assert r.content == b"hello"
    r = client.get("/named", params={"name": "résumé 1.txt", "kind": "inline"})
    assert r.headers["content-disposition"] == "inline; filename*=utf-8''r%C3%A9sum%C3%A9%201.txt"


def test_head_sends_headers_only(client: httpx.Client) -> None:
    r = client.head("/data")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(DATA))
    assert client.get("/plain").json() == {"plain": True}  # the connection is still in a good state


def test_stat_result_given(client: httpx.Client) -> None:
    r = client.get("/with-stat")
    assert r.content == DATA
    assert r.headers["content-length"] == str(len(DATA))


def test_empty_file(client: httpx.Client) -> None:
    r = client.get("/empty")
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "0")
    r = client.get("/empty", headers={"range": "bytes=0-"})
    assert (r.status_code, r.headers["content-range"]) == (416, "bytes */0")


def test_big_file(client: httpx.Client) -> None:
    r = client.get("/big")
    assert r.headers["content-length"] == str(len(BIG))
    assert r.content == BIG


def test_missing_file_and_directory_are_500(client: httpx.Client) -> None:
    assert client.get("/missing").status_code == 500
    assert client.get("/a-directory").status_code == 500
    assert client.get("/plain").status_code == 200


def test_background_runs(serve: Callable[..., httpx.Client], files: Path) -> None:
    log: list[str] = []
    client = serve(_app(files, log))
    assert client.get("/background").content == b"hello"
    deadline = time.monotonic() + 5
    while not log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log == ["ran"]


# -- ranges --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=100-", 100, len(DATA)),
        ("bytes=-100", len(DATA) - 100, len(DATA)),
        ("bytes=10-99999", 10, len(DATA)),  # an end past the file is clamped
        ("BYTES = 5-5", 5, 6),
        ("bytes=-999999", 0, len(DATA)),
    ],
)
def test_single_range(client: httpx.Client, spec: str, start: int, end: int) -> None:
    r = client.get("/data", headers={"range": spec})
    assert r.status_code == 206
    assert r.content == DATA[start:end]
    assert r.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert r.headers["content-length"] == str(end - start)
    assert r.headers["content-type"] == "application/octet-stream"


def _parse_multipart(r: httpx.Response) -> list[tuple[str, str, bytes]]:
    ctype = r.headers["content-type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    boundary = ctype.split("=", 1)[1].encode()
    body = r.content
    assert len(body) == int(r.headers["content-length"])
    assert body.endswith(b"--" + boundary + b"--")
    parts = []
    for raw in body[: -len(boundary) - 4].split(b"--" + boundary + b"\r\n")[1:]:
        head, _, data = raw.partition(b"\r\n\r\n")
        assert data.endswith(b"\r\n")
        fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n"))
        parts.append((fields[b"Content-Type"].decode(), fields[b"Content-Range"].decode(), data[:-2]))
    return parts


def test_multiple_ranges(client: httpx.Client) -> None:
    r = client.get("/data", headers={"range": "bytes=0-9, 100-109,-5"})
    assert r.status_code == 206
    size = len(DATA)
    assert _parse_multipart(r) == [
        ("application/octet-stream", f"bytes 0-9/{size}", DATA[0:10]),
        ("application/octet-stream", f"bytes 100-109/{size}", DATA[100:110]),
        ("application/octet-stream", f"bytes {size - 5}-{size - 1}/{size}", DATA[-5:]),
    ]


def test_overlapping_ranges_are_merged(client: httpx.Client) -> None:
    # Merged into one range, the answer is a plain 206 (no multipart), as in Starlette.
    r = client.get("/data", headers={"range": "bytes=50-99,0-59,100-109"})
    assert (r.status_code, r.content) == (206, DATA[0:110])
    assert r.headers["content-range"] == f"bytes 0-109/{len(DATA)}"
    r = client.get("/data", headers={"range": "bytes=0-9,20-29,5-25"})
    assert (r.status_code, r.content) == (206, DATA[0:30])


def test_multiple_ranges_head(client: httpx.Client) -> None:
    r = client.head("/data", headers={"range": "bytes=0-1,5-6"})
    assert r.status_code == 206
    assert r.content == b""
    assert r.headers["content-type"].startswith("multipart/byteranges; boundary=")


def test_unsatisfiable_range_is_416(client: httpx.Client) -> None:
    r = client.get("/data", headers={"range": f"bytes={len(DATA)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(DATA)}"
    assert r.content == b""
    assert client.get("/data", headers={"range": "bytes=-0"}).status_code == 416


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("bytes", "Malformed range header."),
        ("items=0-1", "Only support bytes range"),
        ("bytes=x-y", "Range header: range must be requested"),
        ("bytes=,", "Range header: range must be requested"),
        ("bytes=9-3", "Range header: start must be less than end"),
    ],
)
def test_malformed_range_is_400(client: httpx.Client, spec: str, message: str) -> None:
    r = client.get("/data", headers={"range": spec})
    assert (r.status_code, r.text) == (400, message)


def test_ranges_only_for_get_head_and_200(client: httpx.Client) -> None:
    r = client.post("/data", headers={"range": "bytes=0-9"})
    assert (r.status_code, len(r.content)) == (200, len(DATA))
    r = client.get("/status", headers={"range": "bytes=0-9"})
    assert (r.status_code, len(r.content)) == (404, len(DATA))
    many = "bytes=" + ",".join(f"{i}-{i}" for i in range(101))
    r = client.get("/data", headers={"range": many})
    assert (r.status_code, r.content) == (200, DATA)  # more than max_ranges: the whole file


def test_if_range(client: httpx.Client, files: Path) -> None:
    etag = _etag(files / "data.bin")
    modified = client.get("/data").headers["last-modified"]
    for value in (etag, modified):
        r = client.get("/data", headers={"range": "bytes=0-9", "if-range": value})
        assert (r.status_code, r.content) == (206, DATA[:10])
    for value in ('"other"', "W/" + etag, "Mon, 01 Jan 2001 00:00:00 GMT"):
        r = client.get("/data", headers={"range": "bytes=0-9", "if-range": value})
        assert (r.status_code, r.content) == (200, DATA)


def test_a_response_object_can_be_sent_again(client: httpx.Client) -> None:
    r = client.get("/reused", headers={"range": "bytes=0-9"})
    assert (r.status_code, r.content) == (206, DATA[:10])
    r = client.get("/reused")
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, DATA, str(len(DATA)))
    assert "content-range" not in r.headers
    r = client.get("/reused", headers={"range": "bytes=0-1,4-5"})
    assert [p[2] for p in _parse_multipart(r)] == [DATA[0:2], DATA[4:6]]
    assert client.get("/reused").headers["content-type"] == "application/octet-stream"


def test_parse_range_header_unit() -> None:
    parse = FileResponse.parse_range_header
    assert parse("bytes=0-0,2-3", 10) == [(0, 1), (2, 4)]
    assert parse("bytes=2-3,0-1", 10) == [(0, 4)]  # adjacent ranges merge too, as in Starlette
    assert parse("bytes=0-1, 1-2", 10) == [(0, 3)]
    with pytest.raises(RangeNotSatisfiable):
        parse("bytes=10-", 10)
    with pytest.raises(MalformedRangeHeader):
        parse("bytes=-", 10)


# -- the engine: sendfile, fallback, flow control ------------------------------------------------------------
@pytest.fixture
def engine(files: Path) -> Iterator[EngineThread]:
    server = EngineThread(_app(files))
    yield server
    server.stop()


def test_engine_uses_zero_copy_sendfile(engine: EngineThread, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        calls.append(count)
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(engine_streaming.os, "sendfile", counting)
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as client:
        assert client.get("/big").content == BIG
        assert client.get("/data", headers={"range": "bytes=5-"}).content == DATA[5:]
    assert calls, "os.sendfile was not used"


def test_engine_copy_fallback(engine: EngineThread, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a TLS transport: no zero-copy, the file is read in the thread pool and written in chunks.
    monkeypatch.setattr(engine_streaming, "_plain_socket", lambda transport: False)
    monkeypatch.setattr(engine_streaming.os, "sendfile", None)
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as client:
        assert client.get("/big").content == BIG
        r = client.get("/data", headers={"range": "bytes=1-2,7-8"})
        assert [p[2] for p in _parse_multipart(r)] == [DATA[1:3], DATA[7:9]]


def _read_exactly(conn: RawConn, n: int) -> bytes:
    out = bytearray(conn.buf[:n])
    conn.buf = conn.buf[n:]
    while len(out) < n:
        chunk = conn.sock.recv(min(1 << 20, n - len(out)))
        assert chunk, "connection closed early"
        out += chunk
    return bytes(out)


def test_engine_slow_reader_gets_every_byte(
    engine: EngineThread, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader slower than the disk fills the socket: sendfile gets EAGAIN, chunks go through the transport
    (with backpressure), sendfile resumes when it drains, and the bytes stay in order."""
    huge = os.urandom(24 * 1024 * 1024 + 17)
    (files / "huge.bin").write_bytes(huge)
    copies: list[int] = []
    real_copy = engine_streaming.SocketBodyWriter._copy_chunk

    async def counting_copy(self: Any, file: Any, offset: int, size: int) -> int:
        copies.append(offset)
        return await real_copy(self, file, offset, size)

    monkeypatch.setattr(engine_streaming.SocketBodyWriter, "_copy_chunk", counting_copy)
    app = _app(files)

    @app.get("/huge")
    async def huge_file() -> Response:
        return FileResponse(files / "huge.bin")

    server = EngineThread(app)
    try:
        with RawConn(server.port, timeout=10) as conn:
            conn.send(b"GET /huge HTTP/1.1\r\nHost: t\r\n\r\nGET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.5)  # the server fills the socket, then must wait
            head = conn.read_head()
            assert b"content-length: %d" % len(huge) in head
            assert _read_exactly(conn, len(huge)) == huge
            assert conn.read_response().body == b'{"plain":true}'  # pipelined, in order, after the file
    finally:
        server.stop()
    assert copies, "the socket never filled up: the test did not exercise the fallback"


def test_engine_pipelined_files_and_ranges(engine: EngineThread) -> None:
    with RawConn(engine.port) as conn:
        conn.send(
            b"GET /data HTTP/1.1\r\nHost: t\r\nRange: bytes=0-3\r\n\r\n"
            b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /data HTTP/1.1\r\nHost: t\r\nRange: bytes=99999-\r\n\r\n"
            b"HEAD /data HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /data HTTP/1.1\r\nHost: t\r\n\r\n"
        )
        r = conn.read_response()
        assert (r.status, r.body) == (206, DATA[:4])
        assert conn.read_response().body == b'{"plain":true}'
        assert conn.read_response().status == 416
        r = conn.read_response(head_only=True)
        assert r.header("content-length") == str(len(DATA))
        assert conn.read_response().body == DATA


def test_engine_client_leaving_mid_file(engine: EngineThread) -> None:
    conn = RawConn(engine.port)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    conn.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.read_head()
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()
    deadline = time.monotonic() + 5
    while engine.connections() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not engine.connections()
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as client:
        assert client.get("/plain").status_code == 200


def test_engine_on_the_stdlib_loop_uses_loop_sendfile(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio.base_events

    import fulmen.engine.server as server_module

    calls: list[int] = []
    real = asyncio.base_events.BaseEventLoop.sendfile

    async def counting(
        self: Any, transport: Any, file: Any, offset: int = 0, count: Any = None, **kw: Any
    ) -> Any:
        calls.append(count)
        return await real(self, transport, file, offset, count, **kw)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "sendfile", counting)
    monkeypatch.setattr(server_module, "new_event_loop", asyncio.new_event_loop)
    server = EngineThread(_app(files))
    try:
        assert server.loop is not None and "uvloop" not in type(server.loop).__module__
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as client:
            assert client.get("/big").content == BIG
            assert client.get("/data", headers={"range": "bytes=3-5"}).content == DATA[3:6]
            assert client.get("/plain").json() == {"plain": True}
    finally:
        server.stop()
    assert calls == [len(BIG), 3]
