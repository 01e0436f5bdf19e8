"""PostgreSQL benchmark app for fulmen: ``fulmen.integrations.postgres``, the way its docs show it.

``python pg_fulmen.py PORT`` serves it on fulmen's engine; ``uvicorn pg_fulmen:app`` serves it through ASGI.
The DSN comes from ``BENCH_PG_DSN`` (benchmarks/postgres.py sets it).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

from fulmen import Depends, FastAPI, HTTPException
from fulmen.integrations.postgres import Postgres

db = Postgres(os.environ["BENCH_PG_DSN"], min_size=10, max_size=10)
app = FastAPI(lifespan=db.lifespan)
Connection = Annotated[Any, Depends(db.connection)]


@app.get("/")
async def root() -> dict[str, str]:
    return {"message": "Hello, World!"}  # no database: must cost what it costs without the integration


@app.get("/users/{user_id}")
async def get_user(user_id: int, conn: Connection):
    row = await conn.fetchrow("SELECT id, name FROM bench_users WHERE id = $1", user_id)
    if row is None:
        raise HTTPException(404, detail="User not found")
    return row


@app.get("/pool/users/{user_id}")
async def get_user_from_pool(user_id: int):
    # No dependency: the pool acquires and releases around the one query.
    row = await db.pool.fetchrow("SELECT id, name FROM bench_users WHERE id = $1", user_id)
    if row is None:
        raise HTTPException(404, detail="User not found")
    return row


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
