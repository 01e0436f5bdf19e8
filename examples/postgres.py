"""A small shop on PostgreSQL: a pool opened by the lifespan, a connection and a transaction per request.

Run: POSTGRES_DSN=postgresql://user@localhost/shop python examples/postgres.py
(then curl -X POST localhost:8000/items/1/sell). Importing this module connects to nothing; start-up does,
and fails with a message naming the host, port and database when it can't. See docs/postgres.md.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
import msgspec

from fulmen import Depends, FastAPI, HTTPException
from fulmen.integrations.postgres import Postgres, as_model, as_models

db = Postgres(
    os.environ.get("POSTGRES_DSN", "postgresql://postgres@localhost/postgres"), min_size=1, max_size=10
)

Connection = Annotated[asyncpg.Connection, Depends(db.connection)]
# scope="function": the transaction ends (commits) before the response is sent.
Transaction = Annotated[asyncpg.Connection, Depends(db.transaction, scope="function")]


class Item(msgspec.Struct):
    id: int
    name: str
    stock: int


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with db.lifespan(app):
        async with db.pool.acquire() as conn, conn.transaction():
            # Every worker runs this: the lock makes them take turns (concurrent CREATE TABLE IF NOT EXISTS
            # races in PostgreSQL). Real apps run migrations before starting the server instead.
            await conn.execute("SELECT pg_advisory_xact_lock(42)")
            await conn.execute("CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text, stock int)")
            await conn.execute("CREATE TABLE IF NOT EXISTS sales (item_id int, at timestamptz DEFAULT now())")
            await conn.execute(
                "INSERT INTO items VALUES (1, 'Hammer', 5), (2, 'Nail', 100) ON CONFLICT DO NOTHING"
            )
        yield


app = FastAPI(title="Shop", lifespan=lifespan)


@app.get("/items")
async def list_items(conn: Connection) -> list[Item]:
    return as_models(Item, await conn.fetch("SELECT id, name, stock FROM items ORDER BY id"))


@app.get("/items/{item_id}")
async def read_item(item_id: int, conn: Connection) -> Item:
    item = as_model(Item, await conn.fetchrow("SELECT id, name, stock FROM items WHERE id = $1", item_id))
    if item is None:
        raise HTTPException(404, detail="Item not found")
    return item


@app.post("/items/{item_id}/sell", status_code=204)
async def sell(item_id: int, conn: Transaction) -> None:
    stock = await conn.fetchval("UPDATE items SET stock = stock - 1 WHERE id = $1 RETURNING stock", item_id)
    if stock is None:
        raise HTTPException(404, detail="Item not found")
    if stock < 0:
        raise HTTPException(409, detail="Out of stock")  # rolls back the UPDATE
    await conn.execute("INSERT INTO sales (item_id) VALUES ($1)", item_id)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
