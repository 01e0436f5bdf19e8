"""Cross-check: middleware reading or wrapping ``body_iterator`` of a stream that yields ``str``.

The response-logging recipe (``async for chunk in response.body_iterator: body += chunk``) expects bytes, as
Starlette's ``call_next`` gives them whatever the route's ``StreamingResponse`` yields; so do middleware that
wrap the stream (``response.body_iterator = counted(response.body_iterator)``). Routes here yield ``str``
(hand-made SSE, a sync generator, text without a media type). Checked against FastAPI on every front door.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

import fulmen
import fulmen.responses
from tests.test_crosscheck_fastapi import Answer, Case, assert_same_as_fastapi, fastapi_answers_for


async def events() -> AsyncIterator[str]:
    for i in range(3):
        yield f"data: {i}\n\n"


def lines() -> Iterator[str]:
    yield from ("é\n", "b\n")


def build(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.middleware("http")
    async def log_body(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        if request.url.path.startswith("/counted"):

            async def counted(chunks: Any) -> Any:
                total = 0
                async for chunk in chunks:
                    total += len(chunk)
                    yield chunk
                yield f"[{total} bytes]".encode()

            response.body_iterator = counted(response.body_iterator)
            return response
        body = b""
        async for chunk in response.body_iterator:
            body += chunk
        return fw.Response(
            content=body,
            status_code=response.status_code,
            headers={**dict(response.headers), "x-logged": str(len(body))},
            media_type=response.media_type,
        )

    @app.get("/sse")
    async def sse() -> Any:
        return fw.responses.StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/sync-text")
    def sync_text() -> Any:
        return fw.responses.StreamingResponse(lines(), media_type="text/plain")

    @app.get("/no-media-type")
    async def no_media_type() -> Any:
        return fw.responses.StreamingResponse(events())

    @app.get("/counted")
    async def counted_stream() -> Any:
        return fw.responses.StreamingResponse(lines(), media_type="text/plain")

    return app


CASES: list[Case] = [
    ("sse-str-chunks", "GET", "/sse", {}),
    ("sync-generator-str", "GET", "/sync-text", {}),
    ("no-media-type", "GET", "/no-media-type", {}),
    ("wrapped-iterator", "GET", "/counted", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_body_iterator_gives_bytes_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


class Latin1Stream(fulmen.responses.StreamingResponse):
    charset = "latin-1"


def test_body_iterator_encodes_with_the_charset_and_closes_the_stream() -> None:
    closed: list[bool] = []

    async def chunks() -> AsyncIterator[str]:
        try:
            yield "é"
            yield "never read"
        finally:
            closed.append(True)

    async def read_first() -> bytes:
        iterator = Latin1Stream(chunks(), media_type="text/plain").body_iterator
        async for chunk in iterator:
            await iterator.aclose()  # type: ignore[attr-defined]
            return chunk
        raise AssertionError("no chunk")

    assert asyncio.run(read_first()) == "é".encode("latin-1")
    assert closed == [True]
