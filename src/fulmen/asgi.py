"""The ASGI front door: ``app(scope, receive, send)`` builds the same Request and sends the same Response."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fulmen.datastructures import Address
from fulmen.requests import ClientDisconnect, Request

if TYPE_CHECKING:
    from fulmen.app import Fulmen

logger = logging.getLogger("fulmen.error")


async def asgi_entry(app: Fulmen, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Serve one ASGI connection scope (``http`` or ``lifespan``)."""
    kind = scope["type"]
    if kind == "http":
        await _http(app, scope, receive, send)
    elif kind == "lifespan":
        await _lifespan(app, scope, receive, send)
    else:
        raise RuntimeError(f"fulmen does not handle ASGI scope type {kind!r} yet")


async def _http(app: Fulmen, scope: dict[str, Any], receive: Any, send: Any) -> None:
    more = True

    async def read_body() -> bytes:
        nonlocal more
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            more = message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                return chunk
        return b""

    client = scope.get("client")
    server = scope.get("server")
    raw_path = scope.get("raw_path")
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        # ASGI servers give the full path; routes are declared without the root path.
        path = path[len(root_path) :] or "/"
        if raw_path is not None and raw_path.startswith(root_path.encode()):
            raw_path = raw_path[len(root_path) :] or b"/"
    if raw_path is None:
        raw_path = path.encode("utf-8")
    headers = [(k.lower(), v) for k, v in scope.get("headers", ())]
    state = scope.get("state")
    request = Request(
        scope["method"],
        raw_path,
        scope.get("query_string", b""),
        headers,
        path=path,
        body=None,
        read_body=read_body,
        client=Address(*client) if client else None,
        server=Address(*server) if server and server[1] is not None else None,
        scheme=scope.get("scheme", "http"),
        http_version=scope.get("http_version", "1.1"),
        root_path=root_path,
        app=app,
        state=dict(state) if state else None,
    )
    if scope.get("fulmen.raise_server_exceptions"):
        request.scope_extra = {"fulmen.raise_server_exceptions": True}
    response = await app.handle(request)
    body = response.body
    if scope["method"] == "HEAD":
        body = b""
    await send(
        {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers}
    )
    await send({"type": "http.response.body", "body": body})
    if response.background is not None:
        await response.background()


async def _lifespan(app: Fulmen, scope: dict[str, Any], receive: Any, send: Any) -> None:
    started = False
    message = await receive()
    assert message["type"] == "lifespan.startup"
    try:
        await app.startup()
        if app.lifespan_state is not None and "state" in scope:
            scope["state"].update(app.lifespan_state)
    except BaseException as exc:
        logger.exception("Application startup failed")
        await send({"type": "lifespan.startup.failed", "message": repr(exc)})
        raise
    started = True
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    assert message["type"] == "lifespan.shutdown"
    try:
        if started:
            await app.shutdown()
    except BaseException as exc:
        logger.exception("Application shutdown failed")
        await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
        raise
    await send({"type": "lifespan.shutdown.complete"})
