"""Serve an ASGI application on the engine: ``ASGIAdapter(app).handle(request)`` returns a ``Response``.

The engine calls ``handle(request)`` on whatever it serves. For a fulmen app whose middleware stack contains
an ASGI-only middleware, or for any other ASGI 3 application, this adapter builds the ``http`` scope from the
``Request``, runs the app with ``receive``/``send`` and turns the sent messages into a ``Response``. The
engine picks it once, at start-up (``engine/server.py``); a fulmen app without ASGI middleware never goes
through it.

A body the app sends in one message becomes a plain ``Response``; one sent in several is streamed to the
client as it comes (``StreamingResponse``). Lifespan is not driven through ASGI yet (a fulmen app's own
startup and shutdown run directly).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fulmen.middleware import Message
from fulmen.middleware._asgi import collect_response
from fulmen.requests import Request
from fulmen.responses import Response

_ASGI = {"version": "3.0", "spec_version": "2.4"}


class ASGIAdapter:
    """An object with the engine's ``handle(request)`` interface, running an ASGI app behind it."""

    __slots__ = ("app",)

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    def scope(self, request: Request) -> dict[str, Any]:
        """The ASGI ``http`` scope for ``request`` (``path`` and ``raw_path`` include the root path)."""
        root_path = request.root_path
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": request.http_version,
            "method": request.method,
            "scheme": request.scheme,
            "path": root_path + request.path,
            "raw_path": root_path.encode("utf-8") + request.raw_path if root_path else request.raw_path,
            "query_string": request.query_string,
            "root_path": root_path,
            "headers": request.raw_headers,
            "client": None if request.client is None else tuple(request.client),
            "server": None if request.server is None else tuple(request.server),
            "extensions": {},
        }
        if request.scope_extra:
            scope.update(request.scope_extra)
        return scope

    async def handle(self, request: Request) -> Response:
        """Run the app for ``request``; a streamed body comes back as a ``StreamingResponse``.

        The app's exceptions before its response starts propagate (the engine answers 500 and logs them).
        """
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        body_sent = False

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": await request.body(), "more_body": False}
            # Nothing more will arrive: the client counts as connected until the response is complete.
            await asyncio.shield(finished)
            return {"type": "http.disconnect"}

        return await collect_response(self.app, self.scope(request), receive, finished)

    async def startup(self) -> None:
        """Start the app when it is a fulmen app (ASGI lifespan is not driven yet)."""
        startup = getattr(self.app, "startup", None)
        if startup is not None:
            await startup()

    async def shutdown(self) -> None:
        """Shut the app down when it is a fulmen app."""
        shutdown = getattr(self.app, "shutdown", None)
        if shutdown is not None:
            await shutdown()
