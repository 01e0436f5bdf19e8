"""PostgreSQL benchmark app for FastAPI: an asyncpg pool in the lifespan and a ``get_conn`` yield dependency.

What FastAPI users write today (there is no asyncpg page in FastAPI's docs); served by uvicorn.
The DSN comes from ``BENCH_PG_DSN`` (benchmarks/postgres.py sets it).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Request


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["BENCH_PG_DSN"], min_size=10, max_size=10)
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


async def get_conn(request: Request) -> AsyncIterator[Any]:
    async with request.app.state.pool.acquire() as conn:
        yield conn


@app.get("/")
async def root() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/users/{user_id}")
async def get_user(user_id: int, conn: Annotated[Any, Depends(get_conn)]):
    row = await conn.fetchrow("SELECT id, name FROM bench_users WHERE id = $1", user_id)
    if row is None:
        raise HTTPException(404, detail="User not found")
    return row


@app.get("/pool/users/{user_id}")
async def get_user_from_pool(user_id: int, request: Request):
    row = await request.app.state.pool.fetchrow("SELECT id, name FROM bench_users WHERE id = $1", user_id)
    if row is None:
        raise HTTPException(404, detail="User not found")
    return row
