"""Rate limiter benchmark app for FastAPI on uvicorn: ``python ratelimit_fastapi.py VARIANT PORT [URL]``.

The peers FastAPI users reach for, on E1 with a limit that never refuses: ``none``, ``slowapi-memory`` and
``slowapi-redis`` (slowapi's ``@limiter.limit`` with its headers on), ``fastapi-limiter`` (fastapi-limiter
0.1.x, Redis, ``Depends(RateLimiter(times=..., seconds=...))``). uvicorn with uvloop + httptools, one worker.
slowapi and fastapi-limiter are not fulmen dependencies: benchmarks/ratelimit.py says how to install them.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, Request, Response


def build(variant: str, redis_url: str | None) -> FastAPI:
    if variant.startswith("slowapi"):
        from slowapi import Limiter, _rate_limit_exceeded_handler
        from slowapi.errors import RateLimitExceeded
        from slowapi.util import get_remote_address

        storage = redis_url if variant.endswith("redis") and redis_url else "memory://"
        limiter = Limiter(key_func=get_remote_address, storage_uri=storage, headers_enabled=True)
        app = FastAPI()
        app.state.limiter = limiter
        app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)  # type: ignore[arg-type]

        @app.get("/")
        @limiter.limit("1000000/second")
        async def root(request: Request, response: Response) -> dict[str, str]:
            return {"message": "Hello, World!"}

        return app

    if variant == "fastapi-limiter":
        import redis.asyncio
        from fastapi_limiter import FastAPILimiter
        from fastapi_limiter.depends import RateLimiter

        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[None]:
            connection = redis.asyncio.from_url(redis_url)
            await FastAPILimiter.init(connection)
            yield
            await FastAPILimiter.close()

        app = FastAPI(lifespan=lifespan)

        @app.get("/", dependencies=[Depends(RateLimiter(times=1_000_000, seconds=1))])
        async def limited_root() -> dict[str, str]:
            return {"message": "Hello, World!"}

        return app

    app = FastAPI()

    @app.get("/")
    async def plain_root() -> dict[str, str]:
        return {"message": "Hello, World!"}

    return app


if __name__ == "__main__":
    variant, port = sys.argv[1], int(sys.argv[2])
    app = build(variant, sys.argv[3] if len(sys.argv) > 3 else None)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )
