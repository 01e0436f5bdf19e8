"""Every limit answers with its status: 414, 431, 413, 408 (slowloris, stalled body), idle close, 503."""

from __future__ import annotations

import threading
import time

from tests.engine.conftest import TEST_SETTINGS, EngineThread, RawConn, exchange
from tests.engine.sample_app import make_app


def _assert_rejected(conn: RawConn, status: int) -> None:
    r = conn.read_response()
    assert r.status == status, r
    assert r.header("connection") == "close"
    assert r.body  # a short explanation
    assert conn.read_until_close() == b""


def test_url_too_long_is_414(port: int) -> None:
    with RawConn(port) as conn:
        conn.send(b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        _assert_rejected(conn, 414)


def test_url_at_the_limit_is_fine(port: int) -> None:
    path = b"/fast?" + b"a" * (TEST_SETTINGS["max_url_length"] - 6)
    assert exchange(port, b"GET " + path + b" HTTP/1.1\r\nHost: a\r\n\r\n").status == 200


def test_header_bytes_over_limit_is_431(port: int) -> None:
    with RawConn(port) as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"v" * 5000 + b"\r\n\r\n")
        _assert_rejected(conn, 431)


def test_unterminated_header_line_is_bounded(port: int) -> None:
    with RawConn(port) as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ")
        for _ in range(20):
            conn.send(b"v" * 1024)  # never ends the line
        _assert_rejected(conn, 431)


def test_header_count_over_limit_is_431(port: int) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(25))
    with RawConn(port) as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: a\r\n" + headers + b"\r\n")
        _assert_rejected(conn, 431)


def test_content_length_over_limit_is_413_up_front(port: int) -> None:
    with RawConn(port) as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
        _assert_rejected(conn, 413)


def test_chunked_body_over_limit_is_413_while_streaming(port: int) -> None:
    with RawConn(port) as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"
        try:
            for _ in range(6):  # 96 KiB > 64 KiB limit
                conn.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        _assert_rejected(conn, 413)


def test_body_at_the_limit_is_accepted(port: int) -> None:
    body = b"y" * TEST_SETTINGS["max_body_size"]
    with RawConn(port) as conn:
        r = conn.request("POST", "/echo", body=body)
        assert r.status == 200


def test_slowloris_gets_408_while_others_are_served(port: int) -> None:
    with RawConn(port) as slow:
        start = time.monotonic()
        slow.send(b"GET / HTTP/1.1\r\n")
        for i in range(3):
            time.sleep(0.1)
            slow.send(b"X-Drip-%d: 1\r\n" % i)
            # another client is served normally meanwhile
            assert exchange(port, b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n").body == b"fast"
        _assert_rejected(slow, 408)
        elapsed = time.monotonic() - start
    assert TEST_SETTINGS["headers_timeout"] - 0.05 <= elapsed < TEST_SETTINGS["headers_timeout"] + 0.5


def test_idle_keep_alive_connection_is_closed_silently(port: int) -> None:
    with RawConn(port) as conn:
        assert conn.request("GET", "/fast").status == 200
        start = time.monotonic()
        assert conn.read_until_close(timeout=3) == b""
        elapsed = time.monotonic() - start
    assert TEST_SETTINGS["keep_alive_timeout"] - 0.1 <= elapsed < TEST_SETTINGS["keep_alive_timeout"] + 0.5


def test_fresh_silent_connection_is_closed(port: int) -> None:
    with RawConn(port) as conn:
        assert conn.read_until_close(timeout=3) == b""


def test_keep_alive_timer_is_rearmed_by_activity(port: int) -> None:
    with RawConn(port) as conn:
        for _ in range(4):  # 4 x 0.4 s > the 1 s idle timeout, but never idle that long
            time.sleep(0.4)
            assert conn.request("GET", "/fast").status == 200


def test_stalled_body_gets_408(port: int) -> None:
    with RawConn(port) as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        _assert_rejected(conn, 408)


def test_slow_but_moving_body_is_fine(port: int) -> None:
    with RawConn(port) as conn:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n")
        for b in b"abcd":
            time.sleep(0.25)  # total 1 s > body_timeout, but each gap is shorter
            conn.send(bytes([b]))
        assert conn.read_response().status == 200


def test_max_connections_answers_503() -> None:
    engine = EngineThread(make_app(), max_connections=2)
    try:
        with RawConn(engine.port) as a, RawConn(engine.port) as b:
            assert a.request("GET", "/fast").status == 200
            assert b.request("GET", "/fast").status == 200
            with RawConn(engine.port) as c:
                r = c.read_response()
                assert r.status == 503
                assert r.header("connection") == "close"
                assert c.read_until_close() == b""
        # capacity is back once those connections are gone
        deadline = time.monotonic() + 2
        while len(engine.connections()) > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert exchange(engine.port, b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n").status == 200
    finally:
        engine.stop()


def test_concurrent_clients() -> None:
    engine = EngineThread(make_app())
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with RawConn(engine.port) as conn:
                for _ in range(20):
                    assert conn.request("GET", "/slow?d=0.01&tag=x").body == b"slow x"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    finally:
        engine.stop()
    assert not errors
