"""Compressed responses (zstd, Brotli or gzip, whichever the client prefers) and compressed uploads.

Run: python examples/compression.py   (needs `pip install "fulmen[compression]"` for zstd and Brotli), then
    curl -s -H 'Accept-Encoding: zstd' http://127.0.0.1:8000/items -o - | zstd -d
    curl -s -N --compressed http://127.0.0.1:8000/events   # compressed, yet one event a second
    gzip -c items.json | curl -s -H 'Content-Encoding: gzip' --data-binary @- http://127.0.0.1:8000/upload
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from fulmen import FastAPI, Request
from fulmen.middleware.compression import DEFAULT_EXCLUDED_CONTENT_TYPES, CompressionMiddleware
from fulmen.middleware.decompression import RequestDecompressionMiddleware
from fulmen.responses import StreamingResponse

app = FastAPI()


@app.get("/items")
async def items() -> dict[str, Any]:
    return {"items": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(100)]}


@app.get("/events")
async def events() -> StreamingResponse:
    async def ticks() -> AsyncIterator[str]:
        for i in range(10):
            yield f"data: tick {i}\n\n"
            await asyncio.sleep(1)

    return StreamingResponse(ticks(), media_type="text/event-stream")


@app.post("/upload")
async def upload(request: Request) -> dict[str, int]:
    return {"received": len(await request.body())}  # already decoded, limits applied to the decoded size


app.add_middleware(
    CompressionMiddleware,
    minimum_size=500,
    levels={"br": 5},
    # Server-sent events are excluded by default; this app asks for them (each event is flushed at once).
    exclude_content_types=[t for t in DEFAULT_EXCLUDED_CONTENT_TYPES if t != "text/event-stream"],
)
app.add_middleware(RequestDecompressionMiddleware, max_body_size=5 * 1024 * 1024)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
