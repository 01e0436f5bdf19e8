"""Request.stream() and Python subclasses of Request (which the compiled build must keep honouring)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from fulmen import FastAPI, Request
from fulmen.requests import BodyReader, ClientDisconnect


def _reader(chunks: list[bytes], calls: list[int]) -> BodyReader:
    """A body reader handing out ``chunks`` then b"", counting its calls."""
    pending = list(chunks)

    async def read() -> bytes:
        calls.append(1)
        return pending.pop(0) if pending else b""

    return read


async def _collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in stream]


def test_a_buffered_body_streams_as_one_chunk_every_time() -> None:
    request = Request("POST", b"/", b"", [], body=b"abc")
    assert asyncio.run(_collect(request.stream())) == [b"abc"]
    assert asyncio.run(_collect(request.stream())) == [b"abc"]
    assert asyncio.run(_collect(Request("POST", b"/", b"", [], body=b"").stream())) == []


def test_a_streamed_body_is_read_lazily_and_once() -> None:
    calls: list[int] = []
    request = Request("POST", b"/", b"", [], body=None, read_body=_reader([b"ab", b"cd"], calls))
    stream = request.stream()
    assert calls == []  # nothing is read before the first chunk is asked for
    assert asyncio.run(_collect(stream)) == [b"ab", b"cd"]
    assert len(calls) == 3  # two chunks and the closing b""
    with pytest.raises(RuntimeError, match="Stream consumed"):  # the reader is gone: a body streams once
        asyncio.run(_collect(request.stream()))
    assert asyncio.run(_collect(stream)) == []  # an exhausted iterator stays exhausted
    assert len(calls) == 3


def test_aclose_stops_a_stream_early() -> None:
    calls: list[int] = []
    request = Request("POST", b"/", b"", [], body=None, read_body=_reader([b"a", b"b", b"c"], calls))

    async def first_then_close() -> list[bytes]:
        stream = request.stream()
        first = await stream.__anext__()
        await stream.aclose()  # type: ignore[attr-defined]
        return [first, *[chunk async for chunk in stream]]

    assert asyncio.run(first_then_close()) == [b"a"]
    assert len(calls) == 1


def test_a_reader_error_reaches_the_consumer() -> None:
    async def broken() -> bytes:
        raise ClientDisconnect()

    request = Request("POST", b"/", b"", [], body=None, read_body=broken)
    with pytest.raises(ClientDisconnect):
        asyncio.run(_collect(request.stream()))


class _CountingRequest(Request):
    """A Python subclass: overrides a method Request's own body() calls, and keeps attributes of its own."""

    def stream(self) -> AsyncIterator[bytes]:
        self.streamed = getattr(self, "streamed", 0) + 1
        return super().stream()


def test_python_subclasses_override_request_methods() -> None:
    request = _CountingRequest("POST", b"/", b"", [], body=None, read_body=_reader([b"x", b"y"], []))
    assert asyncio.run(request.body()) == b"xy"
    assert request.streamed == 1  # Request.body() went through the subclass's stream()
    assert request.method == "POST" and request.path == "/"


def test_handlers_read_the_body_with_stream(serve: Callable[..., httpx.Client]) -> None:
    app = FastAPI()

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        sizes = [len(chunk) async for chunk in request.stream()]
        return {"total": sum(sizes), "empty_chunks": sizes.count(0)}

    client = serve(app)
    body = b"0123456789" * 10_000
    assert client.post("/upload", content=body).json() == {"total": len(body), "empty_chunks": 0}
    assert client.post("/upload", content=b"").json() == {"total": 0, "empty_chunks": 0}


def test_body_after_the_stream_was_consumed(serve: Callable[..., httpx.Client], front_door: str) -> None:
    """``body()`` after ``form()`` (or ``stream()``) read a streamed body raises Starlette's "Stream consumed"
    instead of answering b""; on fulmen's engine the body is buffered, so it is still there."""
    app = FastAPI()

    @app.post("/after-form")
    async def after_form(request: Request) -> Any:
        await request.form()
        try:
            return {"body": (await request.body()).decode()}
        except RuntimeError as exc:
            return {"error": str(exc)}

    @app.post("/after-stream")
    async def after_stream(request: Request) -> Any:
        [chunk async for chunk in request.stream()]
        try:
            return {"body": (await request.body()).decode()}
        except RuntimeError as exc:
            return {"error": str(exc)}

    client = serve(app)
    expected = {"body": "k=v"} if front_door == "engine" else {"error": "Stream consumed"}
    assert client.post("/after-form", data={"k": "v"}).json() == expected
    assert client.post("/after-stream", data={"k": "v"}).json() == expected


def test_requests_can_be_weakly_referenced(serve: Callable[..., httpx.Client]) -> None:
    """As Starlette's: libraries keep per-request data in a ``WeakKeyDictionary`` keyed by the request."""
    import weakref

    seen: weakref.WeakKeyDictionary[Request, str] = weakref.WeakKeyDictionary()
    app = FastAPI()

    @app.get("/")
    async def endpoint(request: Request) -> Any:
        seen[request] = "tagged"
        return {"tagged": seen[request], "alive": weakref.ref(request)() is request}

    assert serve(app).get("/").json() == {"tagged": "tagged", "alive": True}
