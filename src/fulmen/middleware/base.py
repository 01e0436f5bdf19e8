"""``BaseHTTPMiddleware``: middleware written as ``async def dispatch(request, call_next) -> Response``.

``@app.middleware("http")`` installs one of these around the decorated function, as in Starlette/FastAPI.
Natively, ``call_next`` *is* the next handle: no task, no stream, no copy of the response; the response it
returns is the real one, so ``response.headers[...] = ...`` edits what is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from fulmen.foreign import foreign_response
from fulmen.middleware import ASGIApp, Handle, Message, Receive, Scope, Send
from fulmen.middleware._asgi import collect_response

if TYPE_CHECKING:
    from fulmen.app import Fulmen
    from fulmen.requests import Request
    from fulmen.responses import Response

CallNext = Callable[["Request"], Awaitable["Response"]]
DispatchFunction = Callable[["Request", CallNext], Awaitable["Response"]]


class BaseHTTPMiddleware:
    """Run ``dispatch(request, call_next)`` around the app; override ``dispatch`` or pass one."""

    def __init__(self, app: ASGIApp, dispatch: DispatchFunction | None = None) -> None:
        self.app = app
        self.dispatch_func: DispatchFunction = self.dispatch if dispatch is None else dispatch

    async def dispatch(self, request: Request, call_next: CallNext) -> Response:
        """Override (or pass ``dispatch=``): return ``await call_next(request)``, edited or not."""
        raise NotImplementedError("BaseHTTPMiddleware needs a dispatch function or a dispatch() override")

    def wrap_handle(self, handle: Handle) -> Handle:
        """Native path: ``call_next`` is the inner handle itself."""
        dispatch = self.dispatch_func

        def run(request: Request) -> Coroutine[Any, Any, Response]:
            # PERF: returns dispatch's own coroutine; a wrapping ``async def`` would add a frame per request.
            return cast("Coroutine[Any, Any, Response]", dispatch(request, handle))

        return run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI path: a Request from the scope; ``call_next`` runs the inner app and buffers its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from fulmen.asgi import _http

        app = self.app
        dispatch = self.dispatch_func

        async def call_next(request: Request) -> Response:
            # The inner app builds its own Request from the scope: hand it this one's state and body.
            inner = dict(scope)
            inner["state"] = request.state._state
            # and its headers, edited in place or not (``request.scope["headers"].append(...)``)
            inner["headers"] = request.raw_headers
            return await collect_response(app, inner, _replay_body(request, receive))

        async def run(request: Request) -> Response:
            response = await dispatch(request, call_next)
            # Starlette's response class (FastAPI code returns it) is sent as fulmen's.
            return foreign_response(response) or response

        fulmen = cast("Fulmen", scope.get("app"))  # None around a non-fulmen app: the Request has no app
        await _http(fulmen, cast("dict[str, Any]", scope), receive, send, handle=run)


def _replay_body(request: Request, receive: Receive) -> Receive:
    """The inner app's ``receive``: the body again if ``dispatch`` already read it, else the real one."""
    body = request._body  # read by dispatch (``await request.body()``) or None
    if body is None:
        return receive
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
