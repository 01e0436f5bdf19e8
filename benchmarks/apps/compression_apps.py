"""Benchmark apps for compression: one ~4 KB JSON answer in fulmen and FastAPI, with and without middleware.

``python compression_apps.py fulmen-engine MIDDLEWARE PORT`` serves fulmen on its engine;
``uvicorn compression_apps:<name>`` serves one of the ASGI apps below (the driver, benchmarks/compression.py,
picks them). ``MIDDLEWARE`` is ``none``, ``compression`` (CompressionMiddleware) or ``gzip`` (GZipMiddleware).
All gzip is at level 6 so the codings are compared at the same work.
"""

from __future__ import annotations

import sys
from typing import Any

#: About 4 KB of JSON: a page of 45 records, the shape of a typical list endpoint.
PAYLOAD = {
    "items": [
        {
            "id": i,
            "name": f"Product number {i}",
            "price": round(9.99 + i * 1.25, 2),
            "tags": ["electronics", "sale"] if i % 2 else ["home"],
            "in_stock": i % 3 != 0,
        }
        for i in range(45)
    ],
    "page": 1,
    "total": 45,
}


def fulmen_app(middleware: str) -> Any:
    from fulmen import FastAPI
    from fulmen.middleware.compression import CompressionMiddleware
    from fulmen.middleware.gzip import GZipMiddleware

    app = FastAPI()

    @app.get("/json")
    async def json() -> dict[str, Any]:
        return PAYLOAD

    @app.get("/small")
    async def small() -> dict[str, str]:
        return {"message": "Hello, World!"}

    if middleware == "compression":
        app.add_middleware(CompressionMiddleware, levels={"gzip": 6})
    elif middleware == "gzip":
        app.add_middleware(GZipMiddleware, compresslevel=6)
    return app


def fastapi_app(middleware: str) -> Any:
    from fastapi import FastAPI
    from fastapi.middleware.gzip import GZipMiddleware

    app = FastAPI()

    @app.get("/json")
    async def json() -> dict[str, Any]:
        return PAYLOAD

    @app.get("/small")
    async def small() -> dict[str, str]:
        return {"message": "Hello, World!"}

    if middleware == "gzip":
        app.add_middleware(GZipMiddleware, compresslevel=6)
    return app


def __getattr__(name: str) -> Any:
    # uvicorn compression_apps:fulmen_compression / fastapi_gzip / fastapi_none ...
    framework, _, middleware = name.partition("_")
    if framework == "fulmen":
        return fulmen_app(middleware)
    if framework == "fastapi":
        return fastapi_app(middleware)
    raise AttributeError(name)


if __name__ == "__main__":
    _, kind, middleware, port = sys.argv
    assert kind == "fulmen-engine"
    fulmen_app(middleware).run(host="127.0.0.1", port=int(port), access_log=False)
