"""Build an app's middleware stack, natively or in ASGI form, with Starlette's exception layering.

Starlette puts the exception handlers *inside* the user middleware (``ExceptionMiddleware``) and the 500
handling *outside* (``ServerErrorMiddleware``): a route's ``HTTPException`` reaches a middleware as a
response, an unhandled exception as an exception (``call_next`` raises it), and a 500 response made outside
every user middleware carries none of their headers. Once middleware is installed, fulmen does the same:
the app's ``handle_exception`` re-raises what only a 500 / ``Exception`` handler would catch, and an
outermost layer turns it into the response.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from fulmen.asgi import UNHANDLED_KEY
from fulmen.foreign import foreign_response
from fulmen.middleware import UNBOUND_APP, ASGIApp, Handle, Message, Receive, Scope, Send, is_native
from fulmen.responses import PlainTextResponse, Response

if TYPE_CHECKING:
    from fulmen.app import ExceptionHandler, Fulmen
    from fulmen.requests import Request

logger = logging.getLogger("fulmen.error")
_RAISE_KEY = "fulmen.raise_server_exceptions"


def _inner_handler(app: Fulmen, exc: Exception) -> ExceptionHandler | None:
    """The handler Starlette's ExceptionMiddleware would pick: any key except ``500`` and ``Exception``."""
    from fulmen.app import lookup_exception_handler

    handler: ExceptionHandler | None = lookup_exception_handler(app.exception_handlers, exc, catch_all=False)
    return handler


async def handle_exception_in_stack(app: Fulmen, request: Request, exc: Exception) -> Response:
    """``app.handle_exception`` once middleware is installed: unhandled exceptions leave through it.

    A handler that raises lets its exception out too (the outermost layer answers 500).
    """
    from fulmen.routing import ROUTE_HANDLER_RAISES

    if ROUTE_HANDLER_RAISES.get() is request:
        raise exc  # a custom route class's wrapper is to see it (fulmen.routing.APIRoute.get_route_handler)
    handler = _inner_handler(app, exc)
    if handler is None:
        raise exc
    result = handler(request, exc)
    if isinstance(result, Awaitable):
        result = await result
    return foreign_response(result) or result  # a Starlette response, as FastAPI handlers return


async def server_error_response(app: Fulmen, request: Request, exc: Exception) -> Response:
    """The outermost layer's answer to an exception: the ``500``/``Exception`` handler's response or a 500."""
    extra = request.scope_extra
    if extra is not None and extra.get(_RAISE_KEY):
        raise exc  # TestClient(raise_server_exceptions=True) shows the test the real error
    asgi_scope: dict[str, Any] | None = getattr(request, "_asgi_scope", None)
    if asgi_scope is not None:
        # Under an ASGI server the error goes on to the server once the 500 is sent, as from Starlette's
        # ServerErrorMiddleware: the server logs it, httpx's ASGITransport raises it in an async test.
        asgi_scope[UNHANDLED_KEY] = exc
    else:
        logger.error("Exception in ASGI application", exc_info=exc)
    telemetry = sys.modules.get("fulmen.telemetry._api")
    if telemetry is not None:  # the request's span and log record name the exception, not just the 500
        telemetry.exception_raised(exc)
    handler = None
    for key, value in app.exception_handlers.items():
        if key == 500 or key is Exception:
            handler = value  # the last one registered wins, as in Starlette
    if handler is not None:
        try:
            result = handler(request, exc)
            if isinstance(result, Awaitable):
                result = await result
            return foreign_response(result) or result
        except Exception as inner:
            logger.error("Exception in exception handler", exc_info=inner)
    return PlainTextResponse("Internal Server Error", status_code=500)


def native_errors(app: Fulmen, handle: Handle) -> Handle:
    """The outermost native layer: an exception that left every middleware becomes a response."""

    async def guarded(request: Request) -> Response:
        try:
            response = await handle(request)
        except Exception as exc:
            return await server_error_response(app, request, exc)
        if isinstance(response, Response):
            return response
        # An http middleware's dispatch answered with Starlette's response class (FastAPI code does).
        return foreign_response(response) or response

    return guarded


class ASGIServerErrors:
    """The outermost ASGI layer: sets ``scope["app"]``; answers exceptions raised before a response starts."""

    def __init__(self, fulmen: Fulmen, app: ASGIApp) -> None:
        self.fulmen = fulmen
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.fulmen
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or scope.get(_RAISE_KEY):
                raise  # a half-sent response can't become a 500; the server logs it and drops the connection
            from fulmen.asgi import _http

            answer = functools.partial(server_error_response, self.fulmen, exc=exc)
            await _http(self.fulmen, dict(scope), receive, send, handle=answer)


def build(app: Fulmen, layers: list[Any]) -> tuple[Handle, ASGIApp | None]:
    """Build ``layers`` (outermost first) around the app's core; returns ``(handle, asgi_app)``.

    Every layer native: ``handle`` is the chain of handles and ``asgi_app`` is None (the ASGI front door calls
    ``handle`` as usual). Otherwise ``asgi_app`` is the stack in ASGI form, around an ASGI app that calls the
    core, and ``handle`` reaches it through the engine's ASGI adapter, so ``app.handle`` stays the whole
    pipeline for every caller (mounts, tests, other front doors).
    """
    specs = [tuple(layer) for layer in layers]
    core: Handle = type(app).handle.__get__(app)  # routing and the endpoint plans, without middleware
    if all(is_native(cls) for cls, _, _ in specs):
        handle = core
        for cls, args, kwargs in reversed(specs):
            handle = cls(UNBOUND_APP, *args, **kwargs).wrap_handle(handle)
        if app.max_body_size is not None:
            from fulmen.limits import limit_before_middleware

            # As FastAPI's app-wide limit, outside the user's middleware: a body they read is limited too.
            handle = limit_before_middleware(handle, app.max_body_size)
        return native_errors(app, handle), None
    if app.root_path:
        from fulmen.app import with_root_path

        core = with_root_path(app.root_path, core)
    asgi = build_asgi(app, specs, core)
    # The adapter lives beside the engine's protocol (it is also how the engine serves other ASGI apps).
    from fulmen.engine.asgi_adapter import ASGIAdapter

    return ASGIAdapter(app).handle, ASGIServerErrors(app, asgi)


def build_asgi(app: Fulmen, specs: list[Any], core: Handle | None = None) -> ASGIApp:
    """The layers in ASGI form around the app's core (WebSocket connections always take this form)."""
    from fulmen.asgi import _http, asgi_entry

    inner: Handle = core if core is not None else type(app).handle.__get__(app)

    async def core_asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await _http(app, scope, receive, send, handle=inner)  # type: ignore[arg-type]
        else:
            await asgi_entry(app, scope, receive, send)  # type: ignore[arg-type]

    asgi: ASGIApp = core_asgi
    for cls, args, kwargs in reversed(specs):
        asgi = cls(asgi, *args, **kwargs)
    return asgi
