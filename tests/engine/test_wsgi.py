"""WSGI (PEP 3333) apps on the engine: environ, start_response, write(), close(), streaming, files, Flask.

Everything goes over real sockets to an ``EngineThread`` serving ``WSGIAdapter(app)``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import socket
import struct
import threading
import time
import wsgiref.validate
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fulmen.engine.protocol import HttpProtocol
from fulmen.engine.server import protocol_factory
from fulmen.engine.wsgi_adapter import FileWrapper, InputStream, WSGIAdapter
from tests.engine import wsgi_apps
from tests.engine.conftest import EngineThread, RawConn, RawResponse
from tests.engine.wsgi_apps import closed_event, first_read_event, hello_app, make_flask_app, raw_app


@pytest.fixture(scope="module")
def raw() -> Iterator[EngineThread]:
    server = EngineThread(WSGIAdapter(raw_app), keep_alive_timeout=2.0)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def static_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wsgi") / "payload.bin"
    path.write_bytes(os.urandom(256 * 1024 + 123))
    return path


@pytest.fixture(scope="module")
def flask_app(static_file: Path) -> Any:
    return make_flask_app(static_file)


@pytest.fixture(scope="module")
def flask(flask_app: Any) -> Iterator[EngineThread]:
    server = EngineThread(WSGIAdapter(flask_app))
    yield server
    server.stop()


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request with http.client (handles chunked bodies); returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def read_chunked(conn: RawConn) -> tuple[RawResponse, bytes]:
    """Read a chunked response from a RawConn: (head, decoded body)."""
    response = conn.read_response(head_only=True)
    assert response.header("transfer-encoding") == "chunked", response.raw_head
    parts: list[bytes] = []
    while True:
        while b"\r\n" not in conn.buf:
            assert conn._fill(), "connection closed inside a chunked body"
        size_line, conn.buf = conn.buf.split(b"\r\n", 1)
        size = int(size_line, 16)
        while len(conn.buf) < size + 2:
            assert conn._fill(), "connection closed inside a chunk"
        parts.append(conn.buf[:size])
        conn.buf = conn.buf[size + 2 :]
        if size == 0:
            return response, b"".join(parts)


# -- environ -------------------------------------------------------------------------------------------------
def test_environ_has_every_pep3333_key(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(
            b"POST /environ?a=1&b=%20x HTTP/1.1\r\nHost: example.com:8080\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 3\r\n"
            b"X-Multi: one\r\nX-Multi: two\r\nCookie: a=1\r\nCookie: b=2\r\n"
            b"X_Underscore: dropped\r\nAccept: */*\r\n\r\nabc"
        )
        response = conn.read_response()
        local_host, local_port = conn.sock.getpeername()[:2]
        client_host, client_port = conn.sock.getsockname()[:2]
    env = json.loads(response.body)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/environ"
    assert env["QUERY_STRING"] == "a=1&b=%20x"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "3"
    assert env["SERVER_NAME"] == local_host
    assert env["SERVER_PORT"] == str(local_port)
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == client_host
    assert env["REMOTE_PORT"] == str(client_port)
    assert env["HTTP_HOST"] == "example.com:8080"
    assert env["HTTP_ACCEPT"] == "*/*"
    assert env["HTTP_X_MULTI"] == "one, two"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert "HTTP_X_UNDERSCORE" not in env  # names with "_" are ambiguous with "-": dropped
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.input"] == "InputStream"
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["file_wrapper_is_class"] is True
    assert all(env[f"input_has_{name}"] for name in ("read", "readline", "readlines", "__iter__"))
    assert all(env[f"errors_has_{name}"] for name in ("write", "writelines", "flush"))


def test_content_length_and_type_only_when_sent(raw: EngineThread) -> None:
    status, _, body = request(raw.port, "GET", "/environ")
    env = json.loads(body)
    assert status == 200
    assert "CONTENT_LENGTH" not in env and "CONTENT_TYPE" not in env
    assert env["QUERY_STRING"] == ""


def test_path_info_is_percent_decoded_latin1(raw: EngineThread) -> None:
    # The UTF-8 bytes of "é" and an encoded "/" come out as latin-1 characters (PEP 3333); no normalisation.
    with RawConn(raw.port) as conn:
        for target, expected in [
            ("/path/caf%C3%A9%2Fx/../y", "/path/caf\xc3\xa9/x/../y"),
            ("/path/plain", "/path/plain"),
            ("/path/a%3Fb?c=d", "/path/a?b"),
        ]:
            response = conn.request("GET", target)
            assert json.loads(response.body)["path"] == expected
        response = conn.request("GET", "/%65nviron")
        assert json.loads(response.body)["PATH_INFO"] == "/environ"


def test_script_name_is_the_root_path() -> None:
    server = EngineThread(WSGIAdapter(raw_app), root_path="/mounted")
    try:
        env = json.loads(request(server.port, "GET", "/environ")[2])
        path = json.loads(request(server.port, "GET", "/path/x")[2])
    finally:
        server.stop()
    assert env["SCRIPT_NAME"] == "/mounted"
    assert env["PATH_INFO"] == "/environ"
    assert path == {"path": "/path/x", "script": "/mounted"}


def test_http10_request(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(b"GET /environ HTTP/1.0\r\n\r\n")
        data = conn.read_until_close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert json.loads(body)["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_multiprocess_flag() -> None:
    server = EngineThread(WSGIAdapter(raw_app, multiprocess=True))
    try:
        env = json.loads(request(server.port, "GET", "/environ")[2])
    finally:
        server.stop()
    assert env["wsgi.multiprocess"] is True


def test_wsgi_errors_goes_to_the_error_log(raw: EngineThread, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="fulmen.error"):
        assert request(raw.port, "GET", "/errors-stream")[0] == 200
    assert "a message for the error log" in caplog.text


# -- wsgi.input ----------------------------------------------------------------------------------------------
def test_input_read_all(raw: EngineThread) -> None:
    body = os.urandom(100_000).hex().encode()
    status, _, data = request(raw.port, "POST", "/echo", body=body)
    assert status == 200
    assert json.loads(data)["body"] == body.decode()


def test_input_read_in_pieces(raw: EngineThread) -> None:
    status, _, data = request(raw.port, "POST", "/read-pieces?size=4", body=b"abcdefghij")
    assert status == 200
    assert json.loads(data)["pieces"] == ["abcd", "efgh", "ij"]


@pytest.mark.parametrize("mode", ["readline", "readlines", "iter"])
def test_input_lines(raw: EngineThread, mode: str) -> None:
    status, _, data = request(raw.port, "POST", f"/lines?mode={mode}", body=b"one\ntwo\nthree")
    assert status == 200
    lines = json.loads(data)["lines"]
    if mode == "readline":
        assert lines == ["one\n", "tw", "o\n", "three"]
    else:
        assert lines == ["one\n", "two\n", "three"]


def test_input_chunked_request_body(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        assert json.loads(conn.read_response().body) == {"body": "hello world"}


def test_input_stream_unit_reads() -> None:
    chunks = [b"ab", b"c\nde", b"f\n", b"", b"never"]
    stream = InputStream(b"", iter(chunks).__next__)
    assert stream.read(1) == b"a"
    assert stream.readline() == b"bc\n"
    assert stream.read(2) == b"de"
    assert list(stream) == [b"f\n"]
    assert stream.read() == b""
    assert stream.readline() == b""
    buffered = InputStream(b"x\ny\nz")
    assert buffered.readlines(2) == [b"x\n"]
    assert buffered.read() == b"y\nz"


def test_partial_body_read_keeps_the_connection_usable(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        for _ in range(3):
            response = conn.request("POST", "/partial?n=5", body=b"0123456789" * 100)
            assert response.status == 200
            assert json.loads(response.body) == {"read": "01234"}
        assert conn.request("GET", "/fast").status == 200


def test_body_is_streamed_to_the_app() -> None:
    """The app reads the first bytes before the client sent the rest (needs the engine's streamed bodies)."""
    adapter = WSGIAdapter(raw_app)
    if protocol_factory(adapter) is HttpProtocol:
        pytest.skip("the engine does not stream request bodies yet (streams_request_body is not honoured)")
    server = EngineThread(adapter)
    try:
        with RawConn(server.port) as conn:
            conn.send(
                b"POST /first-chunk HTTP/1.1\r\nHost: t\r\nX-Tag: first-chunk\r\n"
                b"Content-Length: 11\r\n\r\nhello"
            )
            assert first_read_event("first-chunk").wait(5), "the app did not see the first bytes"
            conn.send(b" world")
            response = conn.read_response()
        assert json.loads(response.body) == {"first": "hello", "rest": " world"}
    finally:
        server.stop()


# -- responses -----------------------------------------------------------------------------------------------
def test_list_response_gets_content_length_and_close(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        response = conn.request("GET", "/list", headers={"X-Tag": "list"})
    assert response.status == 200
    assert response.body == b"abc"
    assert response.header("content-length") == "3"
    assert closed_event("list").wait(5)


def test_write_callable_precedes_the_iterable(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(b"GET /write HTTP/1.1\r\nHost: t\r\nX-Tag: write\r\n\r\n")
        _, body = read_chunked(conn)
        assert body == b"written-1 written-2 iter-1 iter-2"
        assert conn.request("GET", "/fast").status == 200  # keep-alive after a chunked response
    assert closed_event("write").wait(5)


def test_write_that_completes_content_length(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        response = conn.request("GET", "/write-complete", headers={"X-Tag": "write-complete"})
    assert response.body == b"written"
    assert response.header("transfer-encoding") is None
    assert closed_event("write-complete").wait(5)


def test_generator_is_streamed_chunked_and_closed(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(b"GET /generator?n=4 HTTP/1.1\r\nHost: t\r\nX-Tag: gen\r\n\r\n")
        head, body = read_chunked(conn)
    assert head.status == 200
    assert body == b"chunk-0;chunk-1;chunk-2;chunk-3;"
    assert closed_event("gen").wait(5)
    started_in, closed_in = wsgi_apps.THREADS["gen"]
    assert started_in == closed_in and closed_in.startswith("fulmen-wsgi-")  # close() in the app's thread


def test_first_chunk_arrives_before_the_generator_ends(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(b"GET /generator?n=2&delay=1.5 HTTP/1.1\r\nHost: t\r\nX-Tag: early\r\n\r\n")
        started = time.monotonic()
        head = conn.read_response(head_only=True)
        while b"chunk-0;" not in conn.buf:
            assert conn._fill()
        assert time.monotonic() - started < 1.0
        assert head.status == 200
    assert closed_event("early").wait(5)


def test_start_response_inside_the_generator(raw: EngineThread) -> None:
    status, headers, body = request(raw.port, "GET", "/lazy-start")
    assert (status, headers["x-lazy"], body) == (201, "yes", b"lazy body")


def test_only_empty_chunks(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        response = conn.request("GET", "/empty-chunks", headers={"X-Tag": "empty"})
    assert (response.status, response.body, response.header("content-length")) == (200, b"", "0")
    assert closed_event("empty").wait(5)


def test_hop_by_hop_headers_are_dropped(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        response = conn.request("GET", "/hop-by-hop")
        assert response.body == b"framed by the engine"
        assert response.header("transfer-encoding") is None and response.header("keep-alive") is None
        assert conn.request("GET", "/fast").status == 200


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(raw: EngineThread, code: int) -> None:
    with RawConn(raw.port) as conn:
        response = conn.request("GET", f"/status?code={code}")
        assert response.status == code
        assert response.header("content-length") is None
        assert conn.request("GET", "/fast").status == 200  # no stray body bytes on the connection


def test_head_request(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        response = conn.request("HEAD", "/list", headers={"X-Tag": "head-list"})
        assert response.status == 200 and response.header("content-length") == "3"
        conn.send(b"HEAD /generator HTTP/1.1\r\nHost: t\r\nX-Tag: head-gen\r\n\r\n")
        streamed = conn.read_response(head_only=True)
        assert streamed.status == 200
        response = conn.request("GET", "/fast")
        assert response.status == 200 and json.loads(response.body) == {"fast": True}
    assert closed_event("head-gen").wait(5)


def test_http10_streamed_response_ends_with_close(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(b"GET /generator?n=3 HTTP/1.0\r\nX-Tag: gen10\r\n\r\n")
        data = conn.read_until_close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert body == b"chunk-0;chunk-1;chunk-2;"


def test_http10_keep_alive(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        for _ in range(2):
            conn.send(b"GET /fast HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            response = conn.read_response()
            assert response.header("connection") == "keep-alive"
            assert json.loads(response.body) == {"fast": True}


def test_keep_alive_and_pipelining(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(
            b"GET /sleep?s=0.3 HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /fast HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi"
        )
        first, second, third = conn.read_response(), conn.read_response(), conn.read_response()
    assert json.loads(first.body)["slept"] is True
    assert json.loads(second.body) == {"fast": True}
    assert json.loads(third.body) == {"body": "hi"}


# -- content-length mismatches -------------------------------------------------------------------------------
def test_short_body_for_content_length_closes(raw: EngineThread, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="fulmen.error"), RawConn(raw.port) as conn:
        conn.send(b"GET /cl-short HTTP/1.1\r\nHost: t\r\nX-Tag: cl-short\r\n\r\n")
        data = conn.read_until_close()
    assert data.endswith(b"only-ten!!")
    assert b"content-length: 100" in data
    assert closed_event("cl-short").wait(5)
    assert "Content-Length" in caplog.text


def test_long_body_is_cut_at_content_length(raw: EngineThread, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="fulmen.error"), RawConn(raw.port) as conn:
        response = conn.request("GET", "/cl-long", headers={"X-Tag": "cl-long"})
        assert response.body == b"abc"
        assert conn.request("GET", "/fast").status == 200
    assert closed_event("cl-long").wait(5)
    assert "more than its Content-Length" in caplog.text


# -- errors --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/error-before-start", "boom before start_response"),
        ("/error-after-start", "boom after start_response"),
        ("/error-first-chunk", "boom before the first chunk"),
        ("/start-twice", "second time without exc_info"),
        ("/no-start", "without calling start_response"),
        ("/bad-status?status=OK+200", "invalid WSGI status line"),
        ("/bad-status?status=2000+OK", "invalid WSGI status line"),
        ("/bad-status?status=101+Switching", "informational"),
        ("/bad-header?kind=crlf", "CR, LF or NUL"),
        ("/bad-header?kind=lf", "CR, LF or NUL"),
        ("/bad-header?kind=name", "invalid WSGI response header name"),
        ("/bad-header?kind=tuple", "is not a (name, value) tuple"),
        ("/bad-header?kind=bytes", "name and value must be str"),
        ("/bad-header?kind=unicode", "not latin-1"),
        ("/str-body", "must produce bytes"),
    ],
)
def test_app_errors_before_the_first_byte_are_500(
    raw: EngineThread, caplog: pytest.LogCaptureFixture, path: str, message: str
) -> None:
    tag = "err-" + path
    with caplog.at_level(logging.ERROR, logger="fulmen.error"), RawConn(raw.port) as conn:
        response = conn.request("GET", path, headers={"X-Tag": tag})
        assert response.status == 500
        assert response.body == b"Internal Server Error"
        assert b"stolen" not in response.raw_head
        assert conn.request("GET", "/fast").status == 200  # the connection survives
    assert message in caplog.text
    if path in ("/error-first-chunk", "/no-start"):
        assert closed_event(tag).wait(5)


def test_system_exit_in_the_app_does_not_stop_the_server(
    raw: EngineThread, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="fulmen.error"):
        with RawConn(raw.port) as conn:
            assert conn.request("GET", "/system-exit").status == 500
        with RawConn(raw.port) as conn:
            conn.send(b"GET /system-exit-late HTTP/1.1\r\nHost: t\r\nX-Tag: exit-late\r\n\r\n")
            data = conn.read_until_close()
        assert data.startswith(b"HTTP/1.1 200 ") and not data.endswith(b"0\r\n\r\n")
        assert closed_event("exit-late").wait(5)
    assert "raised SystemExit" in caplog.text
    assert request(raw.port, "GET", "/fast")[0] == 200


def test_exc_info_replaces_the_response_before_headers_are_sent(raw: EngineThread) -> None:
    status, headers, body = request(raw.port, "GET", "/exc-info")
    assert (status, body) == (503, b"replaced")
    assert "x-replaced" not in headers


@pytest.mark.parametrize("path", ["/error-in-iterable", "/exc-info-late"])
def test_errors_after_bytes_were_sent_truncate(
    raw: EngineThread, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    tag = "late-" + path
    with caplog.at_level(logging.ERROR, logger="fulmen.error"), RawConn(raw.port) as conn:
        conn.send(f"GET {path} HTTP/1.1\r\nHost: t\r\nX-Tag: {tag}\r\n\r\n".encode())
        data = conn.read_until_close()
    assert data.startswith(b"HTTP/1.1 200 ")
    assert not data.endswith(b"0\r\n\r\n")  # no last chunk: the client sees a truncated body
    assert b"never sent" not in data
    assert closed_event(tag).wait(5)
    assert "Exception while streaming" in caplog.text


# -- close() when the client goes away -----------------------------------------------------------------------
def test_close_called_when_the_client_disconnects_mid_stream(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(b"GET /generator?n=50&delay=0.1 HTTP/1.1\r\nHost: t\r\nX-Tag: gone-mid\r\n\r\n")
        conn.read_response(head_only=True)
    assert closed_event("gone-mid").wait(5)
    assert wsgi_apps.PRODUCED["gone-mid"] < 50


def test_close_called_when_the_response_is_never_written(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        # The first chunk is slow; the client resets the connection before the response exists, so the
        # engine drops the response unwritten and the adapter must still stop the app and close().
        conn.send(
            b"GET /generator?n=50&delay=0.05&first_delay=0.3 HTTP/1.1\r\nHost: t\r\nX-Tag: gone-early\r\n\r\n"
        )
        time.sleep(0.05)
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert closed_event("gone-early").wait(5)
    assert wsgi_apps.PRODUCED["gone-early"] < 50


def test_streaming_backpressure(raw: EngineThread) -> None:
    """A client that doesn't read makes the app's thread wait: chunks are not produced ahead without bound."""
    chunks, size = 512, 64 * 1024  # 32 MiB
    with RawConn(raw.port, timeout=10) as conn:
        conn.send(f"GET /big?n={chunks}&chunk={size} HTTP/1.1\r\nHost: t\r\nX-Tag: big\r\n\r\n".encode())
        time.sleep(1.0)
        produced = wsgi_apps.PRODUCED["big"]
        assert produced < chunks // 2, produced
        _, body = read_chunked(conn)
    assert len(body) == chunks * size
    assert closed_event("big").wait(5)


# -- the thread pool -----------------------------------------------------------------------------------------
def test_blocking_app_does_not_freeze_the_loop(raw: EngineThread) -> None:
    results: dict[str, float] = {}

    def slow() -> None:
        status, _, _ = request(raw.port, "GET", "/sleep?s=1.5")
        assert status == 200
        results["slow"] = time.monotonic()

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    status, _, body = request(raw.port, "GET", "/fast")
    results["fast"] = time.monotonic()
    thread.join(10)
    assert status == 200 and json.loads(body) == {"fast": True}
    assert results["fast"] - started < 0.5
    assert results["fast"] < results["slow"]


def test_threads_bound_concurrency() -> None:
    server = EngineThread(WSGIAdapter(raw_app, threads=2))
    try:
        names: list[str] = []

        def call() -> None:
            names.append(json.loads(request(server.port, "GET", "/sleep?s=0.3")[2])["thread"])

        workers = [threading.Thread(target=call) for _ in range(4)]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(10)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert len(names) == 4 and len(set(names)) == 2
    assert 0.55 < elapsed < 3.0  # two rounds of two


def test_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="threads must be at least 1"):
        WSGIAdapter(raw_app, threads=0)


# -- wsgi.file_wrapper ---------------------------------------------------------------------------------------
@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.sendfile

    def counting(out_fd: int, in_fd: int, offset: int | None, count: int) -> int:
        calls.append(count)
        return real(out_fd, in_fd, offset, count)

    monkeypatch.setattr(os, "sendfile", counting)
    return calls


def test_file_wrapper_uses_sendfile(raw: EngineThread, static_file: Path, sendfile_calls: list[int]) -> None:
    with RawConn(raw.port) as conn:
        response = conn.request("GET", f"/file-wrapper?path={static_file}")
        assert response.body == static_file.read_bytes()
        assert response.header("content-length") == str(static_file.stat().st_size)
        skipped = conn.request("GET", f"/file-wrapper?path={static_file}&skip=1000")
        assert skipped.body == static_file.read_bytes()[1000:]
        head = conn.request("HEAD", f"/file-wrapper?path={static_file}")
        assert head.header("content-length") == str(static_file.stat().st_size)
        assert conn.request("GET", "/fast").status == 200
    assert sendfile_calls, "os.sendfile was not used"


def test_file_wrapper_over_a_non_file_is_iterated(raw: EngineThread, sendfile_calls: list[int]) -> None:
    with RawConn(raw.port) as conn:
        conn.send(b"GET /file-wrapper-bytesio HTTP/1.1\r\nHost: t\r\n\r\n")
        _, body = read_chunked(conn)
    assert body == b"0123456789" * 1000
    assert not sendfile_calls


def test_file_wrapper_unit() -> None:
    import io

    closed: list[bool] = []

    class Source(io.BytesIO):
        def close(self) -> None:
            closed.append(True)
            super().close()

    wrapper = FileWrapper(Source(b"abcdefg"), 3)
    assert list(wrapper) == [b"abc", b"def", b"g"]
    wrapper.close()
    assert closed == [True]


# -- wsgiref.validate ----------------------------------------------------------------------------------------
def test_wsgiref_validator_finds_no_violation() -> None:
    server = EngineThread(WSGIAdapter(wsgiref.validate.validator(hello_app)))
    try:
        with RawConn(server.port) as conn:
            assert conn.request("GET", "/").body == b"hello "
            assert conn.request("POST", "/", body=b"body").body == b"hello body"
            assert conn.request("POST", "/stream", body=b"streamed").body == b"hello streamed"
            assert conn.request("HEAD", "/").status == 200
            assert conn.request("GET", "/?q=1", headers={"Cookie": "a=b"}).status == 200
    finally:
        server.stop()


# -- Flask ---------------------------------------------------------------------------------------------------
def test_flask_json(flask: EngineThread, flask_app: Any) -> None:
    status, headers, body = request(flask.port, "GET", "/")
    assert (status, json.loads(body)) == (200, {"message": "Hello, World!"})
    assert headers["content-type"] == "application/json"
    assert headers["x-after"] == "yes"
    # Flask's ordinary response is answered in one piece (first chunk completes its Content-Length).
    assert headers["content-length"] == str(len(body)) and "transfer-encoding" not in headers
    payload = {"name": "Ada", "tags": ["x", "y"]}
    status, _, body = request(
        flask.port,
        "POST",
        "/json",
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert json.loads(body) == {"received": payload, "hook_ran": True}
    assert request(flask.port, "GET", "/users/42")[2] == b'{"id":42,"name":"user"}\n'
    hooks = flask_app.config["hooks"]
    assert "before /json" in hooks and "after /json" in hooks


def test_flask_form(flask: EngineThread) -> None:
    status, _, body = request(
        flask.port,
        "POST",
        "/form",
        body=b"a=1&b=two&b=three",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    assert json.loads(body) == {"fields": {"a": ["1"], "b": ["two", "three"]}}


def test_flask_multipart_upload(flask: EngineThread) -> None:
    content = os.urandom(300_000)
    boundary = "fulmenboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi there\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, data = request(
        flask.port,
        "POST",
        "/upload",
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 200
    assert json.loads(data) == {
        "filename": "data.bin",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "note": "hi there",
    }


def test_flask_large_body(flask: EngineThread) -> None:
    content = os.urandom(5 * 1024 * 1024)
    status, _, data = request(flask.port, "POST", "/data", body=content)
    assert status == 200
    assert json.loads(data) == {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def test_flask_stream_with_context(flask: EngineThread) -> None:
    with RawConn(flask.port) as conn:
        conn.send(b"GET /stream?n=4&prefix=row HTTP/1.1\r\nHost: t\r\n\r\n")
        head, body = read_chunked(conn)
        assert head.status == 200
        assert body == b"row-0\nrow-1\nrow-2\nrow-3\n"
        assert conn.request("GET", "/").status == 200


def test_flask_send_file_uses_sendfile(
    flask: EngineThread, static_file: Path, sendfile_calls: list[int]
) -> None:
    with RawConn(flask.port) as conn:
        response = conn.request("GET", "/file")
        assert response.status == 200
        assert response.body == static_file.read_bytes()
        assert response.header("content-length") == str(static_file.stat().st_size)
        assert conn.request("GET", "/").status == 200
    assert sendfile_calls, "send_file did not go out with os.sendfile"


def test_flask_send_file_range(flask: EngineThread, static_file: Path) -> None:
    status, headers, body = request(flask.port, "GET", "/file", headers={"Range": "bytes=10-19"})
    assert status == 206
    assert body == static_file.read_bytes()[10:20]
    assert headers["content-range"] == f"bytes 10-19/{static_file.stat().st_size}"


def test_flask_errors(flask: EngineThread, caplog: pytest.LogCaptureFixture) -> None:
    status, _, body = request(flask.port, "GET", "/missing")
    assert status == 404 and b"Not Found" in body
    with caplog.at_level(logging.ERROR):
        status, _, _ = request(flask.port, "GET", "/boom")
    assert status == 500
    assert "flask view failed" in caplog.text


def test_flask_head(flask: EngineThread) -> None:
    with RawConn(flask.port) as conn:
        response = conn.request("HEAD", "/")
        assert response.status == 200
        assert int(response.header("content-length") or 0) > 0
        assert conn.request("GET", "/").status == 200


def test_flask_app_is_detected_without_the_adapter(flask_app: Any) -> None:
    """An engine given the Flask app itself serves it through WSGIAdapter (interface auto-detection)."""
    server = EngineThread(flask_app)
    try:
        status, _, body = request(server.port, "GET", "/")
    finally:
        server.stop()
    assert (status, json.loads(body)) == (200, {"message": "Hello, World!"})


# -- the request body on both engine protocols ---------------------------------------------------------------
class BufferedWSGIAdapter(WSGIAdapter):
    """The adapter on the engine's buffered-body protocol (the whole body arrives before the app runs)."""

    streams_request_body = False


def test_buffered_engine_body_reads() -> None:
    adapter = BufferedWSGIAdapter(raw_app)
    assert protocol_factory(adapter) is HttpProtocol
    server = EngineThread(adapter)
    try:
        with RawConn(server.port) as conn:
            assert json.loads(conn.request("POST", "/echo", body=b"buffered").body) == {"body": "buffered"}
            response = conn.request("POST", "/read-pieces?size=4", body=b"abcdefghij")
            assert json.loads(response.body) == {"pieces": ["abcd", "efgh", "ij"]}
            response = conn.request("POST", "/partial?n=2", body=b"xyz" * 100)
            assert json.loads(response.body) == {"read": "xy"}
            response = conn.request("POST", "/lines?mode=iter", body=b"1\n2\n")
            assert json.loads(response.body) == {"lines": ["1\n", "2\n"]}
    finally:
        server.stop()


def test_expect_100_continue(raw: EngineThread) -> None:
    with RawConn(raw.port) as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = conn.read_response(head_only=True)
        assert interim.status == 100
        conn.send(b"hello")
        assert json.loads(conn.read_response().body) == {"body": "hello"}


def test_body_over_the_limit_while_the_app_reads() -> None:
    server = EngineThread(WSGIAdapter(raw_app), max_body_size=1000)
    try:
        with RawConn(server.port) as conn:
            conn.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
            conn.send(b"400\r\n" + b"x" * 1024 + b"\r\n")
            response = conn.read_response()
        assert response.status == 413
    finally:
        server.stop()


def test_config_threads_setting() -> None:
    from fulmen.engine.config import Config, ConfigError
    from fulmen.engine.wsgi_adapter import DEFAULT_THREADS

    assert Config().threads == DEFAULT_THREADS
    with pytest.raises(ConfigError, match="threads must be a positive integer"):
        Config(threads=0)


def test_shutdown_stops_the_threads_and_a_new_server_restarts_them() -> None:
    adapter = WSGIAdapter(raw_app, threads=2)
    for _ in range(2):
        server = EngineThread(adapter)
        try:
            assert request(server.port, "GET", "/fast")[0] == 200
            threads = list(adapter._pool.threads)
            assert len(threads) == 2 and all(thread.is_alive() for thread in threads)
        finally:
            server.stop()
        assert not any(thread.is_alive() for thread in threads)
