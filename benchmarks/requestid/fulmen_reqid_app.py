"""E1 (``GET /`` -> static JSON) on fulmen's engine, with or without ``RequestIdMiddleware``.

``python fulmen_reqid_app.py PORT MODE``; MODE is ``plain`` (no middleware), ``reqid`` (the middleware),
``reqid-asgi`` (the middleware plus a pure ASGI pass-through: the stack in ASGI form) or ``mounted`` (the
middleware on a mounted sub-app only: ``/`` must cost what ``plain`` costs). One worker, access log off.
"""

from __future__ import annotations

import sys
from typing import Any

from fulmen import FastAPI
from fulmen.middleware.requestid import RequestIdMiddleware


class PassThrough:
    """A pure ASGI middleware that does nothing (forces the ASGI form of the stack)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def build(mode: str) -> FastAPI:
    """The E1 app for ``mode``."""
    app = FastAPI()
    if mode == "reqid-asgi":
        app.add_middleware(PassThrough)
    if mode in ("reqid", "reqid-asgi"):
        app.add_middleware(RequestIdMiddleware)

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"message": "Hello, World!"}

    if mode == "mounted":
        sub = FastAPI()
        sub.add_middleware(RequestIdMiddleware)

        @sub.get("/")
        async def sub_root() -> dict[str, str]:
            return {"message": "Hello, World!"}

        app.mount("/traced", sub)
    return app


if __name__ == "__main__":
    build(sys.argv[2]).run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
