"""RequestDecompressionMiddleware through every front door and both stack forms: real encoded bodies in."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from typing import Any

import brotli
import httpx
import pytest
import zstandard
from pydantic import BaseModel

from fulmen import FastAPI, Request
from fulmen.middleware import UNBOUND_APP
from fulmen.middleware.decompression import RequestDecompressionMiddleware
from tests.crosscheck_apps import PassThrough

Serve = Callable[..., httpx.Client]
CODINGS = ["zstd", "br", "gzip"]
PAYLOAD = b'{"name": "widget", "tags": [' + b", ".join(b'"t%d"' % i for i in range(300)) + b"]}"


@pytest.fixture(params=["native", "asgi"])
def mode(request: pytest.FixtureRequest) -> str:
    """The stack form under test."""
    return str(request.param)


def encode(coding: str, data: bytes) -> bytes:
    if coding in ("gzip", "x-gzip"):
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        return c.compress(data) + c.flush()
    if coding == "br":
        out: bytes = brotli.compress(data)
        return out
    return zstandard.ZstdCompressor().compress(data)


class Item(BaseModel):
    name: str
    tags: list[str]


def make_app(mode: str, app_limit: int | None = None, **options: Any) -> FastAPI:
    app = FastAPI(max_body_size=app_limit)
    if mode == "asgi":
        app.add_middleware(PassThrough)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {
            "size": len(body),
            "same": body == PAYLOAD,
            "encoding": request.headers.get("content-encoding"),
            "length": request.headers.get("content-length"),
        }

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, Any]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.post("/items")
    def items(item: Item) -> dict[str, Any]:
        return {"name": item.name, "tags": len(item.tags)}

    @app.post("/small", max_body_size=100)
    async def small(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    app.add_middleware(RequestDecompressionMiddleware, **options)
    return app


@pytest.mark.parametrize("coding", [*CODINGS, "x-gzip"])
def test_encoded_bodies_are_decoded(serve: Serve, mode: str, coding: str) -> None:
    client = serve(make_app(mode))
    body = encode(coding, PAYLOAD)
    r = client.post("/echo", content=body, headers={"Content-Encoding": coding})
    assert r.json() == {"size": len(PAYLOAD), "same": True, "encoding": None, "length": None}
    r = client.post(
        "/items", content=body, headers={"Content-Encoding": coding, "Content-Type": "application/json"}
    )
    assert r.json() == {"name": "widget", "tags": 300}


@pytest.mark.parametrize("coding", CODINGS)
def test_streamed_uploads_are_decoded(serve: Serve, mode: str, coding: str) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB
    body = encode(coding, data)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    r = serve(make_app(mode)).post("/stream", content=chunks(), headers={"Content-Encoding": coding})
    assert r.json() == {"size": len(data)}


def test_plain_and_identity_bodies_pass(serve: Serve, mode: str) -> None:
    client = serve(make_app(mode))
    r = client.post("/echo", content=PAYLOAD)
    assert r.json() == {"size": len(PAYLOAD), "same": True, "encoding": None, "length": str(len(PAYLOAD))}
    r = client.post("/echo", content=PAYLOAD, headers={"Content-Encoding": "identity"})
    assert r.json() == {"size": len(PAYLOAD), "same": True, "encoding": None, "length": None}


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
def test_concatenated_members_are_one_body(serve: Serve, mode: str, coding: str) -> None:
    half = len(PAYLOAD) // 2
    body = encode(coding, PAYLOAD[:half]) + encode(coding, PAYLOAD[half:])
    r = serve(make_app(mode)).post("/echo", content=body, headers={"Content-Encoding": coding})
    assert r.json()["same"] is True
    r = serve(make_app(mode)).post("/echo", content=body + b"junk", headers={"Content-Encoding": coding})
    assert (r.status_code, r.json()) == (400, {"detail": f"Request body is not valid {coding} data"})


@pytest.mark.parametrize("coding", ["deflate", "gzip, br", "compress"])
def test_unsupported_coding_is_415(serve: Serve, mode: str, coding: str) -> None:
    r = serve(make_app(mode)).post("/echo", content=b"xx", headers={"Content-Encoding": coding})
    assert r.status_code == 415
    assert r.json() == {"detail": f"Unsupported Content-Encoding: {coding}. Supported: zstd, br, gzip"}
    assert r.headers["accept-encoding"] == "zstd, br, gzip"


def test_configured_codings_only(serve: Serve) -> None:
    client = serve(make_app("native", encodings=["gzip"]))
    r = client.post("/echo", content=encode("br", PAYLOAD), headers={"Content-Encoding": "br"})
    assert (r.status_code, r.headers["accept-encoding"]) == (415, "gzip")


@pytest.mark.parametrize("coding", CODINGS)
def test_invalid_or_truncated_body_is_400(serve: Serve, mode: str, coding: str) -> None:
    client = serve(make_app(mode))
    r = client.post("/echo", content=b"this is not compressed at all", headers={"Content-Encoding": coding})
    assert (r.status_code, r.json()) == (400, {"detail": f"Request body is not valid {coding} data"})
    truncated = encode(coding, PAYLOAD * 20)[:-20]
    r = client.post("/echo", content=truncated, headers={"Content-Encoding": coding})
    assert (r.status_code, r.json()) == (400, {"detail": f"Request body is not valid {coding} data"})


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """32 MiB of zeros in each coding: a few KB on the wire."""
    zeros = bytes(32 * 1024 * 1024)
    return {coding: encode(coding, zeros) for coding in CODINGS}


@pytest.mark.parametrize("coding", CODINGS)
def test_decompression_bomb_is_413(serve: Serve, mode: str, coding: str, bombs: dict[str, bytes]) -> None:
    body = bombs[coding]
    assert len(body) < 64 * 1024
    client = serve(make_app(mode, max_body_size=1024 * 1024))
    for path in ("/echo", "/stream"):
        r = client.post(path, content=body, headers={"Content-Encoding": coding})
        assert (r.status_code, r.json()) == (413, {"detail": "Content Too Large"})
    ok = encode(coding, bytes(1024 * 1024))  # exactly the limit: accepted
    assert client.post("/stream", content=ok, headers={"Content-Encoding": coding}).json() == {
        "size": 1024 * 1024
    }


@pytest.mark.parametrize("coding", CODINGS)
def test_app_and_route_limits_count_decoded_bytes(serve: Serve, mode: str, coding: str) -> None:
    client = serve(make_app(mode, app_limit=2000, max_body_size=None))
    body = encode(coding, bytes(5000))
    assert len(body) < 2000  # the wire size is within the app's limit; the decoded size is not
    r = client.post("/echo", content=body, headers={"Content-Encoding": coding})
    assert (r.status_code, r.json()) == (413, {"detail": "Content Too Large"})
    r = client.post("/small", content=encode(coding, bytes(101)), headers={"Content-Encoding": coding})
    assert (r.status_code, r.json()) == (413, {"detail": "Content Too Large"})
    r = client.post("/small", content=encode(coding, bytes(100)), headers={"Content-Encoding": coding})
    assert r.json() == {"size": 100}


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"encodings": ["deflate"]}, ValueError, "unknown encoding 'deflate': choose from zstd, br, gzip"),
        ({"encodings": []}, ValueError, "encodings is empty"),
        ({"encodings": "gzip"}, TypeError, "not a str"),
        ({"max_body_size": -1}, ValueError, "max_body_size must be an int >= 0 or None, got -1"),
    ],
)
def test_bad_configuration_is_refused(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        RequestDecompressionMiddleware(UNBOUND_APP, **options)


def test_missing_library_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "brotli", None)  # type: ignore[arg-type]
    with pytest.raises(
        ImportError, match=r'br decompression needs the brotli package: pip install "fulmen\[compression\]"'
    ):
        RequestDecompressionMiddleware(UNBOUND_APP)
    assert list(RequestDecompressionMiddleware(UNBOUND_APP, encodings=["gzip"]).decoders) == ["gzip"]


@pytest.mark.usefixtures("stdlib_zstd_only")
def test_zstd_from_the_standard_library(serve: Serve, bombs: dict[str, bytes]) -> None:
    client = serve(make_app("native", max_body_size=1024 * 1024))
    body = encode("zstd", PAYLOAD) + encode("zstd", b"")  # two frames: one body
    r = client.post("/echo", content=body, headers={"Content-Encoding": "zstd"})
    assert r.json() == {"size": len(PAYLOAD), "same": True, "encoding": None, "length": None}
    r = client.post("/echo", content=bombs["zstd"], headers={"Content-Encoding": "zstd"})
    assert (r.status_code, r.json()) == (413, {"detail": "Content Too Large"})
    r = client.post("/echo", content=encode("zstd", PAYLOAD)[:-5], headers={"Content-Encoding": "zstd"})
    assert (r.status_code, r.json()) == (400, {"detail": "Request body is not valid zstd data"})
