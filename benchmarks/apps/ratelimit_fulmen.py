"""Rate limiter benchmark app for fulmen: ``python ratelimit_fulmen.py VARIANT PORT [REDIS_URL]``.

Every variant serves E1 (``GET /`` -> ``{"message": "Hello, World!"}``) on fulmen's engine, one worker, with
a limit so high it never refuses (the cost measured is the check, not the 429):
``none`` (no limiter), ``mw-memory``/``mw-redis`` (RateLimitMiddleware), ``dep-memory``/``dep-redis``
(``Depends(RateLimit(...))`` on the route), ``dep-response`` (the same, the endpoint returning a
``JSONResponse`` itself), ``mw+dep-memory`` (both: one merged set of headers), ``other-route`` (a RateLimit
on another route only).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fulmen import Depends, FastAPI
from fulmen.middleware.ratelimit import MemoryBackend, RateLimit, RateLimitMiddleware, RedisBackend
from fulmen.responses import JSONResponse

LIMIT = "1000000/second"  # never reached: every request is checked and allowed


def build(variant: str, redis_url: str | None) -> FastAPI:
    backend: Any = RedisBackend(redis_url) if variant.endswith("redis") else MemoryBackend()

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with backend:
            yield

    app = FastAPI(lifespan=lifespan)
    route_deps = []
    if variant.startswith("mw"):
        app.add_middleware(RateLimitMiddleware, limits=LIMIT, backend=backend)
    if variant.startswith(("dep-", "mw+dep")):
        route_deps = [Depends(RateLimit(LIMIT, backend=backend))]

    if variant == "dep-response":

        @app.get("/", dependencies=route_deps)
        async def root_response() -> JSONResponse:
            return JSONResponse({"message": "Hello, World!"})

    else:

        @app.get("/", dependencies=route_deps)
        async def root() -> dict[str, str]:
            return {"message": "Hello, World!"}

    if variant == "other-route":

        @app.get("/limited", dependencies=[Depends(RateLimit(LIMIT, backend=backend))])
        async def limited() -> dict[str, str]:
            return {"message": "Hello, World!"}

    return app


if __name__ == "__main__":
    variant, port = sys.argv[1], int(sys.argv[2])
    build(variant, sys.argv[3] if len(sys.argv) > 3 else None).run(
        host="127.0.0.1", port=port, access_log=False
    )
