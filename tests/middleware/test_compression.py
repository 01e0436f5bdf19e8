"""CompressionMiddleware through every front door, in both stack forms, decoded with the real libraries.

``native``: every middleware native (a chain of handles). ``asgi``: a pass-through pure ASGI middleware is
installed too, so the stack runs in ASGI form (on the engine through its ASGI adapter). Bodies are read raw
(``iter_raw``: httpx does not decode them) and decompressed here with zlib, brotli and zstandard.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest
import zstandard

from fulmen import FastAPI
from fulmen.middleware import UNBOUND_APP
from fulmen.middleware.compression import CompressionMiddleware
from fulmen.middleware.gzip import GZipMiddleware
from fulmen.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from tests.crosscheck_apps import PassThrough

Serve = Callable[..., httpx.Client]
TEXT = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(100)).encode()
CODINGS = ["zstd", "br", "gzip"]


@pytest.fixture(params=["native", "asgi"])
def mode(request: pytest.FixtureRequest) -> str:
    """The stack form under test."""
    return str(request.param)


def decode(coding: str | None, data: bytes) -> bytes:
    """``data`` decoded with the coding's own library (one-shot)."""
    if coding is None:
        return data
    if coding == "gzip":
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    if coding == "br":
        out: bytes = brotli.decompress(data)
        return out
    assert coding == "zstd"
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


class Incremental:
    """Decodes a body piece by piece, as a browser does, to show each flushed chunk is decodable at once."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        if coding == "gzip":
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "br":
            self._b = brotli.Decompressor()
        else:
            self._d = zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> bytes:
        if self.coding == "gzip":
            return self._z.decompress(data)
        if self.coding == "br":
            out: bytes = self._b.process(data)
            return out
        return self._d.decompress(data)


def fetch(
    client: httpx.Client, path: str, accept: str | list[str] | None, method: str = "GET", **headers: str
) -> tuple[httpx.Response, bytes]:
    """The response and its raw (still encoded) body; ``accept`` None sends no Accept-Encoding at all."""
    request = client.build_request(method, path, headers=headers)
    del request.headers["accept-encoding"]  # httpx's default one
    if isinstance(accept, str):
        request.headers["Accept-Encoding"] = accept
    elif accept is not None:
        request.headers = httpx.Headers(
            [*request.headers.multi_items(), *(("Accept-Encoding", value) for value in accept)]
        )
    response = client.send(request, stream=True)
    try:
        raw = b"".join(response.iter_raw())
    finally:
        response.close()
    return response, raw


def make_app(mode: str, **options: Any) -> FastAPI:
    app = FastAPI()
    if mode == "asgi":
        app.add_middleware(PassThrough)

    @app.get("/text")
    def text() -> Response:
        return PlainTextResponse(TEXT.decode())

    @app.get("/small")
    def small() -> Response:
        return PlainTextResponse("hello")

    @app.get("/json")
    def json() -> Response:
        return JSONResponse(
            {"items": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(80)]}
        )

    @app.get("/png")
    def png() -> Response:
        return Response(b"\x89PNG" * 400, media_type="image/png")

    @app.get("/encoded")
    def encoded() -> Response:
        return PlainTextResponse("e" * 2000, headers={"Content-Encoding": "x-custom"})

    @app.get("/no-transform")
    def no_transform() -> Response:
        return PlainTextResponse(TEXT.decode(), headers={"Cache-Control": "public, no-transform"})

    @app.get("/partial")
    def partial() -> Response:
        return PlainTextResponse(
            TEXT.decode(), status_code=206, headers={"Content-Range": f"bytes 0-{len(TEXT) - 1}/9999"}
        )

    @app.get("/not-modified")
    def not_modified() -> Response:
        return Response(status_code=304, headers={"ETag": '"v1"'})

    @app.get("/etag")
    def etag() -> Response:
        return PlainTextResponse(TEXT.decode(), headers={"ETag": '"v1"', "Vary": "Origin"})

    @app.get("/weak-etag")
    def weak_etag() -> Response:
        return PlainTextResponse(TEXT.decode(), headers={"ETag": 'W/"v1"', "Vary": "accept-encoding"})

    @app.get("/missing")
    def missing() -> None:
        from fulmen import HTTPException

        raise HTTPException(404, "x" * 1000)

    app.add_middleware(CompressionMiddleware, **options)
    return app


# ------------------------------------------------------------------------------------------------------------
# Whole bodies
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("coding", CODINGS)
def test_each_coding_round_trips(serve: Serve, mode: str, coding: str) -> None:
    client = serve(make_app(mode))
    for path in ("/text", "/json"):
        plain = client.get(path, headers={"Accept-Encoding": "identity"})
        r, raw = fetch(client, path, coding)
        assert r.status_code == 200
        assert r.headers["content-encoding"] == coding
        assert r.headers["vary"] == "Accept-Encoding"
        assert r.headers["content-length"] == str(len(raw))
        assert len(raw) < len(plain.content) // 3
        assert decode(coding, raw) == plain.content
        assert r.headers["content-type"] == plain.headers["content-type"]


def test_levels_are_the_ones_asked_for(serve: Serve, mode: str) -> None:
    client = serve(make_app(mode, levels={"gzip": 1, "br": 11, "zstd": 19}))
    assert (
        len(TEXT) < 1 << 13
    )  # so the one-shot window is 2**13 bytes: the output is the library's at that size
    _, raw = fetch(client, "/text", "gzip")
    gz = zlib.compressobj(1, zlib.DEFLATED, 16 + 13)
    assert raw == gz.compress(TEXT) + gz.flush()
    _, raw = fetch(client, "/text", "br")
    assert raw == brotli.compress(TEXT, quality=11, lgwin=13)
    _, raw = fetch(client, "/text", "zstd")
    assert raw == zstandard.ZstdCompressor(level=19).compress(TEXT)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip, deflate, br, zstd", "zstd"),  # a browser: every coding at q=1, the server's order decides
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("GZIP", "gzip"),
        ("zstd;q=0.5, br;q=0.9, gzip;q=0.1", "br"),  # the client's weights first
        ("zstd;q=0, *", "br"),
        ("*", "zstd"),
        ("*;q=0.5, gzip", "gzip"),
        ("br;q=0.5, identity", None),  # identity rated higher than anything offered
        ("gzip;q=1, identity;q=1", "gzip"),  # a tie: compress
        ("*;q=0", None),
        ("identity;q=0", None),  # nothing acceptable at all: identity anyway (RFC 9110 allows ignoring it)
        ("", None),  # empty: no coding wanted
        ("deflate, compress", None),
        ("gzip;q=2, br;q=0.5", "br"),  # an invalid weight drops that element
        (None, None),  # no header: not compressed (clients that decode say so)
        (["br;q=0", "gzip"], "gzip"),  # two header lines are one list
    ],
)
def test_negotiation(serve: Serve, accept: str | list[str] | None, expected: str | None) -> None:
    client = serve(make_app("native"))
    r, raw = fetch(client, "/text", accept)
    assert r.headers.get("content-encoding") == expected
    assert r.headers["vary"] == "Accept-Encoding"
    assert decode(expected, raw) == TEXT
    assert r.headers["content-length"] == str(len(raw))


def test_server_order_is_configurable(serve: Serve) -> None:
    client = serve(make_app("native", encodings=["gzip", "br"]))
    assert fetch(client, "/text", "zstd, br, gzip")[0].headers["content-encoding"] == "gzip"
    assert "content-encoding" not in fetch(client, "/text", "zstd")[0].headers  # zstd is not offered


def test_responses_left_alone(serve: Serve, mode: str) -> None:
    client = serve(make_app(mode))
    every = "zstd, br, gzip"
    r, raw = fetch(client, "/small", every)  # under minimum_size: untouched, and no Vary (as Starlette)
    assert (raw, "content-encoding" in r.headers, "vary" in r.headers) == (b"hello", False, False)
    r, raw = fetch(client, "/png", every)
    assert (raw, r.headers.get("content-encoding")) == (b"\x89PNG" * 400, None)
    r, raw = fetch(client, "/encoded", every)
    assert (raw, r.headers["content-encoding"]) == (b"e" * 2000, "x-custom")
    r, raw = fetch(client, "/no-transform", every)
    assert (raw, r.headers.get("content-encoding")) == (TEXT, None)
    r, raw = fetch(client, "/partial", every)
    assert (r.status_code, raw, r.headers.get("content-encoding")) == (206, TEXT, None)
    r, raw = fetch(client, "/not-modified", every)
    assert (r.status_code, raw, r.headers.get("content-encoding"), r.headers["etag"]) == (
        304,
        b"",
        None,
        '"v1"',
    )


def test_error_responses_are_compressed_too(serve: Serve, mode: str) -> None:
    r, raw = fetch(serve(make_app(mode)), "/missing", "gzip")
    assert (r.status_code, r.headers["content-encoding"]) == (404, "gzip")
    assert decode("gzip", raw) == b'{"detail":"' + b"x" * 1000 + b'"}'


def test_content_type_lists(serve: Serve, mode: str) -> None:
    client = serve(make_app(mode, include_content_types=["application/json"], minimum_size=10))
    assert fetch(client, "/json", "gzip")[0].headers["content-encoding"] == "gzip"
    r, raw = fetch(client, "/text", "gzip")
    assert (raw, r.headers.get("content-encoding")) == (TEXT, None)
    client = serve(make_app(mode, exclude_content_types=["text/*"]))
    assert "content-encoding" not in fetch(client, "/text", "gzip")[0].headers
    assert fetch(client, "/png", "gzip")[0].headers["content-encoding"] == "gzip"  # the defaults replaced


def test_etag_and_vary(serve: Serve, mode: str) -> None:
    client = serve(make_app(mode))
    r, _ = fetch(client, "/etag", "br")
    assert (r.headers["etag"], r.headers["vary"]) == ('W/"v1"', "Origin, Accept-Encoding")
    r, _ = fetch(client, "/etag", "identity")  # not compressed: the strong ETag stays
    assert (r.headers["etag"], r.headers["vary"]) == ('"v1"', "Origin, Accept-Encoding")
    r, _ = fetch(client, "/weak-etag", "br")  # already weak, Vary already names it: unchanged
    assert (r.headers["etag"], r.headers["vary"]) == ('W/"v1"', "accept-encoding")
    client = serve(make_app(mode, weak_etags=False))
    assert fetch(client, "/etag", "br")[0].headers["etag"] == '"v1"'


def test_head(serve: Serve, mode: str) -> None:
    client = serve(make_app(mode))
    get, _ = fetch(client, "/text", "zstd")
    head, raw = fetch(client, "/text", "zstd", method="HEAD")
    assert (head.status_code, raw, head.headers["vary"]) == (200, b"", "Accept-Encoding")
    if mode == "native":  # the body is there: compressed to give HEAD exactly the headers of GET
        assert head.headers["content-encoding"] == "zstd"
        assert head.headers["content-length"] == get.headers["content-length"]
    else:  # an ASGI app sends HEAD no body: the identity representation's headers, as Starlette
        assert "content-encoding" not in head.headers
        assert head.headers["content-length"] == str(len(TEXT))


def test_large_bodies_are_compressed_off_the_loop(serve: Serve, mode: str) -> None:
    app = FastAPI()
    if mode == "asgi":
        app.add_middleware(PassThrough)
    payload = bytes(range(256)) * 2048

    @app.get("/huge")
    def huge() -> Response:
        return Response(payload, media_type="application/octet-stream")

    app.add_middleware(CompressionMiddleware, thread_minimum_size=64 * 1024)
    client = serve(app)
    for coding in CODINGS:
        r, raw = fetch(client, "/huge", coding)
        assert r.headers["content-encoding"] == coding
        assert decode(coding, raw) == payload


def test_inner_gzip_middleware_wins(serve: Serve) -> None:
    """An already gzip'd response (GZipMiddleware inside) is not encoded twice."""
    app = make_app("native")
    app.add_middleware(GZipMiddleware)  # outermost: it skips what CompressionMiddleware encoded
    r, raw = fetch(serve(app), "/text", "br, gzip")
    assert r.headers["content-encoding"] == "br"
    assert decode("br", raw) == TEXT


# ------------------------------------------------------------------------------------------------------------
# Streams and files
# ------------------------------------------------------------------------------------------------------------
def stream_app(mode: str, **options: Any) -> FastAPI:
    app = FastAPI()
    if mode == "asgi":
        app.add_middleware(PassThrough)

    @app.get("/stream")
    def stream() -> Response:
        return StreamingResponse((f"part-{i};" for i in range(300)), media_type="text/plain")

    @app.get("/file")
    def file() -> Response:
        return FileResponse(__file__, media_type="text/plain")

    @app.get("/tiny-file")
    def tiny_file() -> Response:
        return FileResponse(Path(__file__).parent / "__init__.py", media_type="text/plain")

    app.add_middleware(CompressionMiddleware, **options)
    return app


@pytest.mark.parametrize("coding", CODINGS)
def test_streamed_response(serve: Serve, mode: str, front_door: str, coding: str) -> None:
    client = serve(stream_app(mode))
    expected = "".join(f"part-{i};" for i in range(300)).encode()
    r, raw = fetch(client, "/stream", coding)
    assert (r.status_code, r.headers["content-encoding"], r.headers["vary"]) == (
        200,
        coding,
        "Accept-Encoding",
    )
    assert decode(coding, raw) == expected
    if front_door != "asgi":  # the in-process TestClient buffers the body and httpx adds a content-length
        assert "content-length" not in r.headers
    r, raw = fetch(client, "/stream", "identity")
    assert (raw, r.headers.get("content-encoding")) == (expected, None)
    head, raw = fetch(client, "/stream", coding, method="HEAD")
    assert (head.status_code, raw, head.headers["vary"]) == (200, b"", "Accept-Encoding")
    assert head.headers.get("content-encoding") == (coding if mode == "native" else None)  # as test_head


@pytest.mark.parametrize("coding", CODINGS)
def test_file_response(serve: Serve, mode: str, coding: str) -> None:
    client = serve(stream_app(mode))
    content = Path(__file__).read_bytes()
    r, raw = fetch(client, "/file", coding)
    assert (r.status_code, r.headers["content-encoding"]) == (200, coding)
    assert decode(coding, raw) == content
    assert r.headers["etag"].startswith('W/"')
    r, raw = fetch(client, "/file", coding, Range="bytes=10-19")
    assert (r.status_code, raw, r.headers.get("content-encoding")) == (206, content[10:20], None)
    r, raw = fetch(client, "/file", "identity")
    assert (raw, r.headers["content-length"]) == (content, str(len(content)))
    tiny = (Path(__file__).parent / "__init__.py").read_bytes()
    r, raw = fetch(client, "/tiny-file", coding)  # its Content-Length is under minimum_size: sendfile kept
    assert (raw, r.headers.get("content-encoding"), r.headers["content-length"]) == (
        tiny,
        None,
        str(len(tiny)),
    )


@pytest.mark.parametrize("coding", CODINGS)
def test_event_stream_stays_real_time(serve: Serve, front_door: str, mode: str, coding: str) -> None:
    """Asked to compress SSE, each event is flushed: the client decodes it before the next one exists."""
    if front_door == "asgi":
        pytest.skip("the in-process TestClient collects the whole response before returning it")
    app = FastAPI()
    if mode == "asgi":
        app.add_middleware(PassThrough)
    seen = threading.Event()

    @app.get("/events")
    async def events() -> Response:
        async def gen() -> Any:
            yield "data: first\n\n"
            for _ in range(1000):
                if seen.is_set():
                    yield "data: second\n\n"
                    return
                await asyncio.sleep(0.01)
            yield "data: timed-out\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    app.add_middleware(CompressionMiddleware, exclude_content_types=[])
    client = serve(app)
    decoder = Incremental(coding)
    text = b""
    request = client.build_request("GET", "/events", headers={"Accept-Encoding": coding})
    response = client.send(request, stream=True)
    try:
        assert response.headers["content-encoding"] == coding
        for chunk in response.iter_raw():
            text += decoder.feed(chunk)
            if text == b"data: first\n\n":
                seen.set()
    finally:
        response.close()
    assert text == b"data: first\n\ndata: second\n\n"


def test_event_stream_not_compressed_by_default(serve: Serve, mode: str) -> None:
    app = FastAPI()
    if mode == "asgi":
        app.add_middleware(PassThrough)

    @app.get("/events")
    def events() -> Response:
        return StreamingResponse((f"data: {i}\n\n" for i in range(200)), media_type="text/event-stream")

    app.add_middleware(CompressionMiddleware)
    r, raw = fetch(serve(app), "/events", "zstd, br, gzip")
    assert (r.headers.get("content-encoding"), raw[:16]) == (None, b"data: 0\n\ndata: 1")


def test_outer_http_middleware_reads_the_compressed_stream(serve: Serve) -> None:
    app = stream_app("native")

    @app.middleware("http")
    async def collect(request: Any, call_next: Any) -> Response:
        response = await call_next(request)
        if request.url.path != "/stream":
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        return Response(body, headers=dict(response.headers))

    r, raw = fetch(serve(app), "/stream", "br")
    assert r.headers["content-encoding"] == "br"
    assert decode("br", raw) == "".join(f"part-{i};" for i in range(300)).encode()


def test_slow_client_pauses_the_stream(serve: Serve, front_door: str) -> None:
    """Backpressure: while the client reads nothing, the producer is held (the server buffers boundedly)."""
    if front_door != "engine":
        pytest.skip("the engine's flow control is what is tested")
    produced = 0
    total = 400
    chunk = os.urandom(256 * 1024)  # incompressible: the compressed stream is as large as the source

    app = FastAPI()

    @app.get("/flood")
    async def flood() -> Response:
        async def gen() -> Any:
            nonlocal produced
            for _ in range(total):
                produced += 1
                yield chunk

        return StreamingResponse(gen(), media_type="application/octet-stream")

    app.add_middleware(CompressionMiddleware)
    client = serve(app)
    request = client.build_request("GET", "/flood", headers={"Accept-Encoding": "gzip"})
    response = client.send(request, stream=True)
    try:
        raw = response.iter_raw(64 * 1024)
        first = next(raw)
        assert first
        for _ in range(100):  # give the server every chance to run ahead
            if produced >= total:
                break
            threading.Event().wait(0.02)
        assert produced < total  # 100 MB were not compressed into a buffer while the client slept
        decoder = Incremental("gzip")
        size = len(decoder.feed(first)) + sum(len(decoder.feed(piece)) for piece in raw)
        assert size == total * len(chunk) and produced == total
    finally:
        response.close()


# ------------------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"encodings": ["lz4"]}, ValueError, "unknown encoding 'lz4': choose from zstd, br, gzip"),
        ({"encodings": ["gzip", "gzip"]}, ValueError, "lists a coding twice"),
        ({"encodings": []}, ValueError, "encodings is empty"),
        ({"encodings": "gzip"}, TypeError, "not a str"),
        ({"levels": {"gzip": 10}}, ValueError, "gzip level must be an int from 0 to 9, got 10"),
        ({"levels": {"br": -1}}, ValueError, "br level must be an int from 0 to 11"),
        ({"levels": {"zstd": 22}}, ValueError, "zstd level must be an int from -131072 to 19, got 22"),
        ({"levels": {"zstd": "3"}}, ValueError, "got '3'"),
        ({"levels": {"deflate": 1}}, ValueError, "levels has unknown encoding 'deflate'"),
        ({"minimum_size": -1}, ValueError, "minimum_size must be an int >= 0"),
        ({"exclude_content_types": "text/html"}, TypeError, "exclude_content_types must be a sequence"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace("'", "'")):
        CompressionMiddleware(UNBOUND_APP, **options)


def test_bad_configuration_fails_at_start_up() -> None:
    from fulmen.testclient import TestClient

    app = FastAPI()
    app.add_middleware(CompressionMiddleware, encodings=["deflate"])
    with pytest.raises(ValueError, match="unknown encoding 'deflate'"), TestClient(app) as client:
        client.get("/")


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """``without("brotli")`` makes importing that library fail, as when it is not installed."""
    import fulmen.middleware.compression as compression

    monkeypatch.setattr(compression, "_warned", set())

    def hide(module: str) -> None:
        monkeypatch.setitem(sys.modules, module, None)  # type: ignore[arg-type]

    yield hide


def test_missing_library_named_is_an_error(without: Callable[[str], None]) -> None:
    without("brotli")
    with pytest.raises(
        ImportError, match=r'br compression needs the brotli package: pip install "fulmen\[compression\]"'
    ):
        CompressionMiddleware(UNBOUND_APP, encodings=["br", "gzip"])


def test_missing_library_by_default_is_not_offered(
    without: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    without("brotli")
    without("zstandard")
    without("compression.zstd")
    with caplog.at_level(logging.WARNING, logger="fulmen.compression"):
        first = CompressionMiddleware(UNBOUND_APP)
        second = CompressionMiddleware(UNBOUND_APP)
    assert first.encodings == second.encodings == ("gzip",)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2  # once per codec, not once per instance
    assert "zstd is not offered" in messages[0] and "fulmen[compression]" in messages[0]
    assert "br is not offered" in messages[1]


def test_importing_the_middleware_imports_no_library() -> None:
    code = (
        "import sys, fulmen, fulmen.middleware.compression;"
        "print(sorted(m for m in ('brotli', 'zstandard', 'compression.zstd') if m in sys.modules))"
    )
    src = str(Path(__file__).parents[2] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": src},
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("coding", CODINGS)
def test_whole_body_windows_fit_every_size(coding: str) -> None:
    """The one-shot window is sized to the body: every size around the powers of two decodes exactly."""
    from fulmen.middleware._codecs import DEFAULT_LEVELS, build_codec

    codec = build_codec(coding, DEFAULT_LEVELS[coding])
    sizes = {0, 1, 2, 10, 100, 1 << 20, (1 << 22) + 1}
    for bits in range(8, 17):
        sizes |= {
            (1 << bits) - 17,
            (1 << bits) - 16,
            (1 << bits) - 15,
            (1 << bits) - 1,
            1 << bits,
            (1 << bits) + 1,
        }
    for size in sorted(sizes):
        for data in (os.urandom(size), (os.urandom(48) * (size // 48 + 1))[:size]):
            assert decode(coding, codec.compress(data)) == data, size


@pytest.mark.usefixtures("stdlib_zstd_only")
def test_zstd_from_the_standard_library(serve: Serve) -> None:
    app = stream_app("native")
    client = serve(app)
    r, raw = fetch(client, "/file", "zstd")
    assert r.headers["content-encoding"] == "zstd"
    assert decode("zstd", raw) == Path(__file__).read_bytes()
    r, raw = fetch(client, "/stream", "zstd")
    assert decode("zstd", raw) == "".join(f"part-{i};" for i in range(300)).encode()
    from fulmen.middleware._codecs import build_codec

    encoder = build_codec("zstd", 3).encoder()  # each chunk is flushed: decodable as it arrives
    decoder = Incremental("zstd")
    for i in range(5):
        assert decoder.feed(encoder.chunk(b"event %d\n" % i)) == b"event %d\n" % i
