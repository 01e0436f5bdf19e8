"""The logging-middleware recipe: read ``call_next``'s response through ``body_iterator`` and answer anew.

In FastAPI the response ``call_next`` returns is a stream with only ``body_iterator``; code written for it
reads that and builds a new ``Response`` from the bytes. fulmen's ``call_next`` returns the real response,
which has ``body_iterator`` too (the body in one chunk, a file in chunks, a stream as is), so the recipe gives
the same answers on every front door.

No ``from __future__ import annotations`` here: both frameworks must resolve the handlers' annotations.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi
import fastapi.responses
import httpx

import fulmen
import fulmen.responses
from fulmen.testclient import TestClient


def build(fw: Any, data_file: Path, seen: list[bytes]) -> Any:
    responses = fw.responses
    app = fw.FastAPI()

    @app.middleware("http")
    async def log_body(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        body = b""
        async for chunk in response.body_iterator:
            body += chunk
        seen.append(body)
        return responses.Response(
            content=body,
            status_code=response.status_code,
            headers=dict(response.headers),
            media_type=response.media_type,
        )

    @app.get("/json")
    def as_json() -> Any:
        return {"a": 1}

    @app.get("/text")
    def text() -> Any:
        return responses.PlainTextResponse("hello", headers={"x-a": "1"})

    @app.get("/stream")
    def stream() -> Any:
        async def parts() -> Any:
            yield b"a"
            yield b"b"

        return responses.StreamingResponse(parts(), media_type="text/plain")

    @app.get("/file")
    def file() -> Any:
        return responses.FileResponse(data_file, media_type="application/octet-stream")

    @app.get("/empty")
    def empty() -> Any:
        return responses.Response(status_code=204)

    return app


PATHS = ["/json", "/text", "/stream", "/file", "/empty", "/missing"]
_SKIPPED = {"date", "server", "etag", "last-modified", "connection", "keep-alive"}


def _answers(client: Any) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    out = []
    for path in PATHS:
        r = client.get(path)
        headers = sorted((k, v) for k, v in r.headers.items() if k not in _SKIPPED)
        out.append((r.status_code, headers, r.content))
    return out


def test_body_iterator_recipe_as_fastapi(serve: Callable[..., httpx.Client], tmp_path: Path) -> None:
    data_file = tmp_path / "data.bin"
    data_file.write_bytes(bytes(range(256)) * 600)  # 150 KiB: more than one chunk
    seen_fastapi: list[bytes] = []
    with TestClient(build(fastapi, data_file, seen_fastapi)) as reference:
        expected = _answers(reference)
    seen: list[bytes] = []
    got = _answers(serve(build(fulmen, data_file, seen)))
    assert got == expected
    assert seen == seen_fastapi
    assert expected[3][2] == data_file.read_bytes() and expected[0][2] == b'{"a":1}'
