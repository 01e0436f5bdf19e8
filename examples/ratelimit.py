"""Rate limiting: an app-wide limit as middleware, tighter limits on one route, per-API-key limits.

Run: python examples/ratelimit.py   (then: for i in 1 2 3 4; do curl -i -X POST localhost:8000/login; done)
With REDIS_URL set (e.g. redis://localhost:6379/0) the counters live in Redis, shared by every worker;
without it, in this process's memory. Importing this module needs no Redis and no redis-py.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fulmen import Depends, FastAPI
from fulmen.middleware.ratelimit import (
    MemoryBackend,
    RateLimit,
    RateLimitMiddleware,
    RedisBackend,
    header_key,
)

REDIS_URL = os.environ.get("REDIS_URL")
# One backend for every limiter of the app (Redis: one connection pool; memory: one table).
backend: Any = RedisBackend(REDIS_URL) if REDIS_URL else MemoryBackend()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with backend:  # Redis: connect at start-up, close the pool at shutdown
        yield


app = FastAPI(lifespan=lifespan)
# openapi=True: every operation but the exempt ones documents the middleware's 429 in /docs.
app.add_middleware(
    RateLimitMiddleware, limits="600/minute", backend=backend, exempt=["/health"], openapi=True
)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/login", dependencies=[Depends(RateLimit("3/minute", "20/hour", backend=backend))])
async def login() -> dict[str, str]:
    return {"token": "..."}


@app.get(
    "/search",
    dependencies=[Depends(RateLimit("30/minute", key=header_key("X-API-Key"), backend=backend))],
)
async def search(q: str = "") -> dict[str, object]:
    return {"q": q, "results": []}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
