"""The app of the multi-worker test: ``fulmen run tests.integration.ratelimit_app:app --workers 2``.

``RATELIMIT_BACKEND`` is ``redis`` (with ``REDIS_URL``) or ``memory``. Every answer, allowed or refused,
carries the worker's pid, so the test sees which workers served it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fulmen import FastAPI, Request
from fulmen.middleware.ratelimit import (
    MemoryBackend,
    RateLimitExceeded,
    RateLimitMiddleware,
    RedisBackend,
)
from fulmen.responses import JSONResponse, Response

backend: Any = (
    RedisBackend(os.environ["REDIS_URL"])
    if os.environ.get("RATELIMIT_BACKEND") == "redis"
    else MemoryBackend()
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with backend:
        yield


def refused(request: Request, exc: RateLimitExceeded) -> Response:
    return JSONResponse({"pid": os.getpid()}, status_code=429, headers=exc.headers)


app = FastAPI(lifespan=lifespan)
app.add_middleware(RateLimitMiddleware, limits="10/minute", backend=backend, exceeded_handler=refused)


@app.get("/pid")
async def pid() -> dict[str, int]:
    return {"pid": os.getpid()}
