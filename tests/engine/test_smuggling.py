"""RFC 9112 framing: malformed or ambiguous requests get 400 (or 505) and a close, never a second request."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from typing import cast

import pytest

from tests.engine.conftest import TEST_SETTINGS, EngineThread, RawConn, exchange
from tests.engine.sample_app import SampleApp, make_app

#: A request that must never be answered when it follows a rejected one on the same connection.
SMUGGLED = b"GET /fast?tag=smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
POST = b"POST /echo HTTP/1.1\r\nHost: a\r\n"

BAD_REQUESTS = {
    "missing host": b"GET / HTTP/1.1\r\n\r\n",
    "two hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "host with space": b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
    "host with slash": b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
    "host with userinfo": b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
    "cl and te": POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te and cl": POST + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "duplicate cl differing": POST + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "duplicate cl same": POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    "cl list": POST + b"Content-Length: 3, 3\r\n\r\nabc",
    "negative cl": POST + b"Content-Length: -1\r\n\r\n",
    "bad chunk size": POST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "chunk size overflow": POST + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\n",
    "chunk data too long": POST + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
    "te not chunked": POST + b"Transfer-Encoding: gzip\r\n\r\nabc",
    "te chunked twice": POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bare lf request line": b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    "bare lf header": b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n",
    "bare lf chunk": POST + b"Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n",
    "bare cr": b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n  two\r\n\r\n",
    "space before colon": b"GET / HTTP/1.1\r\nHost: a\r\nX-Name : v\r\n\r\n",
    "invalid header name": b"GET / HTTP/1.1\r\nHost: a\r\nX@Name: v\r\n\r\n",
    "empty header name": b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n",
    "control char in value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
    "nul in value": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    "whitespace before first header": b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
    "space in target": b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
    "invalid method": b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
    "bad version": b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    "connect authority": b"CONNECT a:80 HTTP/1.1\r\nHost: a:80\r\n\r\n",
}


@pytest.mark.parametrize("raw", list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS))
def test_rejected_with_400_and_close(engine: EngineThread, raw: bytes) -> None:
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(raw + SMUGGLED)
        r = conn.read_response()
        assert r.status == 400, r
        assert r.header("connection") == "close"
        assert (
            r.header(
                "content-type",
            )
            == "text/plain; charset=utf-8"
        )
        assert r.body.startswith(b"Bad Request")
        assert b"smuggled" not in conn.read_until_close()
    assert _calls(engine) == before  # neither the bad request nor the one behind it reached the app


def test_http2_version_is_505(engine: EngineThread) -> None:
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n" + SMUGGLED)
        r = conn.read_response()
        assert r.status == 505
        assert r.header("connection") == "close"
        assert b"smuggled" not in conn.read_until_close()
    assert _calls(engine) == before


def test_rejection_comes_after_earlier_pipelined_responses(engine: EngineThread) -> None:
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(b"GET /slow?d=0.1&tag=1 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n" + SMUGGLED)
        assert conn.read_response().body == b"slow 1"
        assert conn.read_response().status == 400
        assert b"smuggled" not in conn.read_until_close()
    assert _calls(engine) == before + 1  # only the good request before the bad one


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /fast HTTP/1.0\r\n\r\n",  # HTTP/1.0 needs no Host
        b"GET /fast HTTP/1.1\r\nHost: \r\n\r\n",  # empty Host is valid
        b"GET /fast HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        b"GET /fast HTTP/1.1\r\nHost: example.com:80\r\n\r\n",
        b"GET /fast HTTP/1.1\r\nhOsT: example.com\r\n\r\n",
        b"\r\nGET /fast HTTP/1.1\r\nHost: a\r\n\r\n",  # a leading empty line is tolerated (RFC 9112 2.2)
        b"GET /fast HTTP/1.1\r\nHost: a\r\nX: caf\xe9\r\n\r\n",  # obs-text is allowed in values
    ],
)
def test_valid_edge_cases_are_accepted(port: int, raw: bytes) -> None:
    assert exchange(port, raw).status == 200


def test_chunk_extensions_and_trailers_are_accepted(port: int) -> None:
    r = exchange(
        port,
        POST + b"Transfer-Encoding: chunked\r\n\r\n3;name=v\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
    )
    assert r.status == 200
    assert b'"body":"abc"' in r.body


# -- more framing shapes (abuse suite): each id names the RFC 9112/9110 section that decides the status -----
MORE_BAD_REQUESTS = {
    # Content-Length = 1*DIGIT (RFC 9110 8.6): signs, hex, decimals, inner spaces, lists and empties are 400.
    "9110-8.6 cl plus sign": POST + b"Content-Length: +3\r\n\r\nabc",
    "9110-8.6 cl hex": POST + b"Content-Length: 0x3\r\n\r\nabc",
    "9110-8.6 cl decimal": POST + b"Content-Length: 3.0\r\n\r\nabc",
    "9110-8.6 cl inner space": POST + b"Content-Length: 1 2\r\n\r\n" + b"a" * 12,
    "9110-8.6 cl trailing comma": POST + b"Content-Length: 3,\r\n\r\nabc",
    "9110-8.6 cl empty": POST + b"Content-Length: \r\n\r\n",
    "9110-8.6 cl vertical tab": POST + b"Content-Length: \x0b3\r\n\r\nabc",
    "9110-8.6 cl overflow": POST + b"Content-Length: 99999999999999999999999\r\n\r\n",
    # Transfer-Encoding (RFC 9112 6.1, 6.3): chunked must be final and only once; unknown codings are 400.
    "9112-6.3 te chunked not last": POST + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "9112-6.3 te chunked listed twice": POST + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "9112-6.3 te identity": POST + b"Transfer-Encoding: identity\r\n\r\n",
    "9112-6.3 te xchunked": POST + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "9112-6.3 te chunkedx": POST + b"Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n",
    "9112-6.3 te empty": POST + b"Transfer-Encoding: \r\n\r\n",
    "9112-5.1 te space before colon": POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "9112-5.2 te obs-fold": POST + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "9112-5.2 te obs-fold continuation": POST + b"Transfer-Encoding: x\r\n chunked\r\n\r\n0\r\n\r\n",
    "9112-6.1 te and cl on http/1.0": (
        b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    ),
    # chunk-size = 1*HEXDIG, then CRLF; chunk data is followed by CRLF (RFC 9112 7.1).
    "9112-7.1 chunk size negative": POST + b"Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
    "9112-7.1 chunk size 0x": POST + b"Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
    "9112-7.1 chunk size plus": POST + b"Transfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
    "9112-7.1 chunk size trailing space": POST + b"Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
    "9112-7.1 chunk size leading space": POST + b"Transfer-Encoding: chunked\r\n\r\n 3\r\nabc\r\n0\r\n\r\n",
    "9112-7.1 chunk size empty": POST + b"Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n",
    "9112-7.1 chunk size bare cr": POST + b"Transfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n",
    "9112-7.1 chunk data longer": POST + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n",
    "9112-7.1 chunk data shorter": POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nabc\r\n0\r\n\r\n",
    "9112-7.1.1 chunk ext bare lf": POST + b"Transfer-Encoding: chunked\r\n\r\n3;a=b\nabc\r\n0\r\n\r\n",
    "9112-7.1.1 chunk ext control char": POST
    + b"Transfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n",
    "9112-7.1 last chunk bare lf": POST + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\n",
    "9112-7.1.2 trailer bad name": POST
    + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX Y: z\r\n\r\n",
    "9112-7.1.2 trailer obs-fold": POST
    + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: z\r\n y\r\n\r\n",
    # request-line = method SP request-target SP HTTP-version (RFC 9112 3).
    "9112-3 lowercase method": b"get /fast HTTP/1.1\r\nHost: a\r\n\r\n",
    "9112-3 unknown method": b"FOO /fast HTTP/1.1\r\nHost: a\r\n\r\n",
    "9112-3 tab separator": b"GET\t/fast HTTP/1.1\r\nHost: a\r\n\r\n",
    "9112-3 space after version": b"GET /fast HTTP/1.1 \r\nHost: a\r\n\r\n",
    "9112-2.3 lowercase http": b"GET /fast http/1.1\r\nHost: a\r\n\r\n",
    "9112-2.3 two-digit minor": b"GET /fast HTTP/1.10\r\nHost: a\r\n\r\n",
    "9112-3.2 relative target": b"GET fast HTTP/1.1\r\nHost: a\r\n\r\n",
    "9112-3.2.3 authority-form without connect": b"GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n",
    "9112-3.2.4 asterisk-form without options": b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
    "9112-3.2 nul in target": b"GET /fa\x00st HTTP/1.1\r\nHost: a\r\n\r\n",
    "9112-3.2 del in target": b"GET /fa\x7fst HTTP/1.1\r\nHost: a\r\n\r\n",
    "9112-3.2 raw utf-8 in target": b"GET /fa\xc3\xa9st HTTP/1.1\r\nHost: a\r\n\r\n",
    "9113-3.4 http/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    # field-line = field-name ":" OWS field-value OWS (RFC 9112 5; RFC 9110 5.5).
    "9112-5 no colon": b"GET /fast HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
    "9112-5.1 tab before colon": b"GET /fast HTTP/1.1\r\nHost: a\r\nX\t: v\r\n\r\n",
    "9110-5.5 del in value": b"GET /fast HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n",
    "9112-2.2 cr cr lf": b"GET /fast HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n",
    "9112-5.2 obs-fold with tab": b"GET /fast HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n",
    # Host (RFC 9112 3.2, RFC 9110 7.2): one, valid, also with an absolute-form target.
    "9112-3.2 host space before colon": b"GET /fast HTTP/1.1\r\nHost : a\r\n\r\n",
    "9112-3.2 host bad port": b"GET /fast HTTP/1.1\r\nHost: a:b\r\n\r\n",
    "9112-3.2 host list": b"GET /fast HTTP/1.1\r\nHost: a, b\r\n\r\n",
    "9112-3.2 host unbracketed ipv6": b"GET /fast HTTP/1.1\r\nHost: ::1\r\n\r\n",
    "9112-3.2 host with tab": b"GET /fast HTTP/1.1\r\nHost: a\tb\r\n\r\n",
    "9112-3.2 host two ports": b"GET /fast HTTP/1.1\r\nHost: a:1:2\r\n\r\n",
    "9112-3.2 two hosts on http/1.0": b"GET /fast HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
    "9112-3.2.2 absolute-form without host": b"GET http://a/fast HTTP/1.1\r\n\r\n",
}


def _calls(engine: EngineThread) -> int:
    return cast(SampleApp, engine.app).calls


def _assert_closed_with(conn: RawConn, status: int, body_prefix: bytes) -> None:
    r = conn.read_response()
    assert r.status == status, r
    assert r.header("connection") == "close"
    assert r.body.startswith(body_prefix), r.body
    assert conn.read_until_close() == b""  # nothing more: the smuggled request was never parsed


@pytest.mark.parametrize("raw", list(MORE_BAD_REQUESTS.values()), ids=list(MORE_BAD_REQUESTS))
def test_more_framing_errors_are_400_and_never_reach_the_app(engine: EngineThread, raw: bytes) -> None:
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(raw + SMUGGLED)
        _assert_closed_with(conn, 400, b"Bad Request")
    assert _calls(engine) == before  # neither the bad request nor the smuggled one was dispatched


@pytest.mark.parametrize(
    "raw",
    [
        # RFC 9112 6.1: chunked is final, so the framing is known, but gzip isn't a coding we decode: 501.
        POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        POST + b"Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ],
    ids=["9112-6.1 gzip then chunked", "9112-6.1 two te fields"],
)
def test_unsupported_transfer_coding_is_501_and_close(engine: EngineThread, raw: bytes) -> None:
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(raw + SMUGGLED)
        _assert_closed_with(conn, 501, b"Not Implemented")
    assert _calls(engine) == before


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),  # RFC 9110 15.6.6
        (b"GET /fast\r\n\r\n", 505),  # an HTTP/0.9 simple request
        (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 400),  # llhttp knows no 3.x: an invalid version
    ],
    ids=["9110-15.6.6 http/0.9", "9110-15.6.6 no version", "9112-2.3 http/3.0"],
)
def test_unsupported_versions(engine: EngineThread, raw: bytes, status: int) -> None:
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(raw + SMUGGLED)
        r = conn.read_response()
        assert r.status == status and r.header("connection") == "close"
        assert conn.read_until_close() == b""
    assert _calls(engine) == before


def test_transfer_encoding_on_http10_is_answered_then_closed(engine: EngineThread) -> None:
    # RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing: close after processing it.
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(
            b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + SMUGGLED
        )
        r = conn.read_response()
        assert r.status == 200 and r.header("connection") == "close"
        assert json.loads(r.body)["body"] == "abc"
        assert conn.read_until_close() == b""
    assert _calls(engine) == before + 1


# Shapes the grammar allows: each is exactly one request whose body ends where the framing says, so the
# request after it is parsed as the second request (the boundary is in the right place).
FRAMED_CORRECTLY = {
    "9110-8.6 cl leading zeros": (POST + b"Content-Length: 003\r\n\r\nabc", "abc"),
    "9110-5.5 cl surrounded by ows": (POST + b"Content-Length: \t3 \r\n\r\nabc", "abc"),
    "9110-5.1 te name and value case-insensitive": (
        POST + b"TRANSFER-ENCODING: CHUNKED\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "abc",
    ),
    "9112-7.1 chunk size leading zeros": (
        POST + b"Transfer-Encoding: chunked\r\n\r\n003\r\nabc\r\n0\r\n\r\n",
        "abc",
    ),
    "9112-7.1 chunk size upper hex": (
        POST + b"Transfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
        "0123456789",
    ),
    "9112-6.3 get with content-length": (
        b"GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        "abc",
    ),
}


@pytest.mark.parametrize(("raw", "body"), list(FRAMED_CORRECTLY.values()), ids=list(FRAMED_CORRECTLY))
def test_valid_framing_puts_the_boundary_in_the_right_place(
    engine: EngineThread, raw: bytes, body: str
) -> None:
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(raw + b"GET /fast?tag=next HTTP/1.1\r\nHost: a\r\n\r\n")
        assert json.loads(conn.read_response().body)["body"] == body
        assert conn.read_response().body == b"fast next"
    assert _calls(engine) == before + 2


def test_content_length_shorter_than_the_data_leaves_the_rest_as_the_next_request(
    engine: EngineThread,
) -> None:
    # RFC 9112 6.3: the length decides; the leftover "de" makes the next request line invalid -> 400.
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(POST + b"Content-Length: 3\r\n\r\nabcde" + SMUGGLED)
        assert json.loads(conn.read_response().body)["body"] == "abc"
        _assert_closed_with(conn, 400, b"Bad Request")
    assert _calls(engine) == before + 1


@pytest.mark.parametrize(
    ("target", "host"),
    [
        (b"http://other.example/echo?q=1", "other.example"),
        (b"http://other.example:8081/echo?q=1", "other.example:8081"),
        (b"http://[::1]:8081/echo?q=1", "[::1]:8081"),
    ],
)
def test_absolute_form_target_wins_over_host(engine: EngineThread, target: bytes, host: str) -> None:
    # RFC 9112 3.2.2: with an absolute-form target the server uses the target's authority and ignores the Host
    # field (not compared, not rejected): the app sees the target's host as its one Host header.
    r = exchange(engine.port, b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    data = json.loads(r.body)
    assert (r.status, data["path"], data["query"]) == (200, "/echo", "q=1")
    assert [v for k, v in data["headers"] if k == "host"] == [host]


def test_asterisk_form_is_accepted_for_options(engine: EngineThread) -> None:
    # RFC 9112 3.2.4: "OPTIONS *" is the one request the asterisk-form is for; it reaches the app (404 here).
    with RawConn(engine.port) as conn:
        assert conn.request("OPTIONS", "*").status == 404
        assert conn.request("GET", "/fast").body == b"fast"


def test_truncated_chunked_body_then_eof_is_never_dispatched(engine: EngineThread) -> None:
    # RFC 9112 8: an incomplete message is not a request; the server may just close.
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(POST + b"Transfer-Encoding: chunked\r\n\r\n5\r\nab")
        conn.sock.shutdown(socket.SHUT_WR)
        assert conn.read_until_close() == b""
    assert _calls(engine) == before


def test_truncated_chunked_body_times_out_with_408(engine: EngineThread) -> None:
    # RFC 9110 15.5.9: 408 when the rest of the message doesn't come; the smuggled bytes never arrive first.
    before = _calls(engine)
    with RawConn(engine.port) as conn:
        conn.send(POST + b"Transfer-Encoding: chunked\r\n\r\n10\r\nabc")
        _assert_closed_with(conn, 408, b"Request Timeout")
        with contextlib.suppress(OSError):
            conn.send(SMUGGLED)  # too late: the connection is closed
    assert _calls(engine) == before


@pytest.mark.parametrize(
    ("second", "status"),
    [
        (b"GET / Hxx", 400),  # RFC 9112 3: a broken request line, while the head is being received
        (POST + b"Content-Length: 999999\r\n\r\n", 413),  # RFC 9110 15.5.14, once its body has begun
    ],
    ids=["400 in the head", "413 in the body"],
)
def test_rejection_behind_a_running_handler_still_closes_the_connection(
    second: bytes, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: the error was written after the running handler's response and the connection half-closed,
    # but the request timer was then re-armed over the linger timer: its 408 came after write_eof
    # ("Cannot call write() after write_eof()") and the server never closed the connection.
    engine = EngineThread(make_app(), **TEST_SETTINGS)
    try:
        with RawConn(engine.port) as conn:
            conn.send(b"GET /slow?d=0.1&tag=1 HTTP/1.1\r\nHost: a\r\n\r\n" + second)
            assert conn.read_response().body == b"slow 1"
            _assert_closed_with(conn, status, b"")
            deadline = time.monotonic() + 3  # the linger timer closes it after 1 s
            while engine.connections():
                assert time.monotonic() < deadline, "the server never closed the connection"
                time.sleep(0.05)
            time.sleep(TEST_SETTINGS["headers_timeout"])  # long enough for a stray request timer to fire
    finally:
        engine.stop()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
