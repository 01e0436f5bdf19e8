"""RFC 9112 framing: malformed or ambiguous requests get 400 (or 505) and a close, never a second request."""

from __future__ import annotations

import pytest

from tests.engine.conftest import RawConn, exchange

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
def test_rejected_with_400_and_close(port: int, raw: bytes) -> None:
    with RawConn(port) as conn:
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


def test_http2_version_is_505(port: int) -> None:
    with RawConn(port) as conn:
        conn.send(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n" + SMUGGLED)
        r = conn.read_response()
        assert r.status == 505
        assert r.header("connection") == "close"
        assert b"smuggled" not in conn.read_until_close()


def test_rejection_comes_after_earlier_pipelined_responses(port: int) -> None:
    with RawConn(port) as conn:
        conn.send(b"GET /slow?d=0.1&tag=1 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n" + SMUGGLED)
        assert conn.read_response().body == b"slow 1"
        assert conn.read_response().status == 400
        assert b"smuggled" not in conn.read_until_close()


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
