"""E1 on FastAPI + uvicorn, with or without asgi-correlation-id's ``CorrelationIdMiddleware`` (reference).

``python fastapi_cid_app.py PORT MODE``; MODE is ``plain`` or ``cid``. Needs asgi-correlation-id importable.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root() -> dict[str, str]:
    return {"message": "Hello, World!"}


if __name__ == "__main__":
    if sys.argv[2] == "cid":
        from asgi_correlation_id import CorrelationIdMiddleware

        app.add_middleware(CorrelationIdMiddleware)
    uvicorn.run(
        app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", access_log=False
    )
