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
from collections.abc import Awaitable, Coroutine
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
#: In the ASGI scope of an app served through a ``build_middleware_stack`` wrapper: answer an unhandled
#: exception with the 500, then raise it to the wrapper's layers, as Starlette's ServerErrorMiddleware does.
RERAISE_KEY = "fulmen.reraise_unhandled"
#: The request the ASGI core made for the scope, while it runs (record_route puts it there).
_REQUEST_KEY = "fulmen.request"
#: Where fulmen's 500 for that exception waits (in that scope) for the wrapper's ServerErrorMiddleware.
ANSWER_KEY = "fulmen.server_error_answer"


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
    """The outermost layer's answer to an exception: the ``500``/``Exception`` handler's response or a 500.

    Served through a ``build_middleware_stack`` wrapper (``RERAISE_KEY`` in the ASGI scope), the answer is
    left in the scope and the exception raised on, through the wrapper's layers, to the Starlette
    ``ServerErrorMiddleware`` that sends it (``stashed_answer``), as FastAPI's exception reaches them.
    """
    extra = request.scope_extra
    if extra is not None and extra.get(_RAISE_KEY):
        raise exc  # TestClient(raise_server_exceptions=True) shows the test the real error
    scope: dict[str, Any] | None = getattr(request, "_asgi_scope", None)
    reraise = scope is not None and scope.get(RERAISE_KEY)
    if scope is None:
        # On fulmen's engine the error ends here. Under an ASGI server it goes on to the server once the 500
        # is sent, as from Starlette's ServerErrorMiddleware (below): the server logs it, and httpx's
        # ASGITransport raises it in an async test.
        logger.error("Exception in ASGI application", exc_info=exc)
    telemetry = sys.modules.get("fulmen.telemetry._api")
    if telemetry is not None:  # the request's span and log record name the exception, not just the 500
        telemetry.exception_raised(exc)
    response = await _answer_500(app, request, exc)
    requestid = sys.modules.get("fulmen.middleware.requestid")
    if requestid is not None:  # the 500 carries the request ID too: the one answer a client must report
        requestid.stamp_error(response)
    if scope is not None:
        if reraise:
            scope[ANSWER_KEY] = response
            raise exc
        scope[UNHANDLED_KEY] = exc  # the ASGI front door raises it after sending the response
    return response


async def _answer_500(app: Fulmen, request: Request, exc: Exception) -> Response:
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


async def stashed_answer(request: Any, exc: Exception) -> Response:
    """The ``handler`` of the ServerErrorMiddleware fulmen gives a wrapper: the 500 fulmen already made."""
    answer: Response | None = request.scope.pop(ANSWER_KEY, None)
    return answer if answer is not None else PlainTextResponse("Internal Server Error", status_code=500)


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
            # Under a build_middleware_stack wrapper the answer is left in this very scope (and exc raised).
            served = scope if scope.get(RERAISE_KEY) else dict(scope)
            await _http(self.fulmen, served, receive, send, handle=answer)  # type: ignore[arg-type]


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


def record_route(app: Fulmen, request: Request) -> None:
    """Write what routing matched into the ASGI scope, as Starlette's router does, for the ASGI middleware.

    ``endpoint``, ``route`` and ``path_params`` (also for a 405: the route whose path fits), or the mounted
    app as ``endpoint``; metrics middleware reads them after the response (starlette-exporter's
    ``group_paths``). Only an app with ASGI middleware (or a ``build_middleware_stack`` wrapper) pays for
    this: fulmen's routing records nothing.
    """
    scope = request._asgi_scope
    scope[_REQUEST_KEY] = request  # for core_asgi's ``finally`` (it takes it out again)
    path = request.path
    table = app.table
    found = table.match(request.method, path)
    if type(found) is tuple:
        route, params = found
    else:
        candidates = table._candidates(path) if found is not None else []
        if not candidates:
            for mount in table.mounts:
                if mount.covers(path):
                    scope["endpoint"] = mount.app
                    return
            return
        _, route, params = candidates[0]
    scope["endpoint"] = getattr(route, "plain_endpoint", None) or route.endpoint
    scope["route"] = route
    scope["path_params"] = {**scope.get("path_params", {}), **params}


def recording(app: Fulmen, handle: Handle) -> Handle:
    """``handle`` that also writes what routing matched into the request's ASGI scope (``record_route``)."""

    def routed(request: Request) -> Coroutine[Any, Any, Response]:
        answer = handle(request)  # routing runs here, synchronously; the route's coroutine hasn't started
        record_route(app, request)
        return answer

    return routed


def build_asgi(app: Fulmen, specs: list[Any], core: Handle | None = None) -> ASGIApp:
    """The layers in ASGI form around the app's core (WebSocket connections always take this form)."""
    from fulmen.asgi import _http, asgi_entry

    inner: Handle = core if core is not None else type(app).handle.__get__(app)

    routed = recording(app, inner)

    async def core_asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if "router" not in scope:
                scope["router"] = app
            try:
                await _http(app, scope, receive, send, handle=routed)  # type: ignore[arg-type]
            finally:
                request = scope.pop(_REQUEST_KEY, None)
                own = None if request is None else request._state
                if own is not None:
                    # Starlette keeps request.state in scope["state"]: the layers outside (and the 500
                    # answered out there, from this scope) see what the route put in it. (A request the
                    # ASGI front door made holds the scope's own dict already, wrapped or not yet.)
                    scope["state"] = own if isinstance(own, dict) else own._state
        else:
            await asgi_entry(app, scope, receive, send)  # type: ignore[arg-type]

    asgi: ASGIApp = core_asgi
    for cls, args, kwargs in reversed(specs):
        asgi = cls(asgi, *args, **kwargs)
    return asgi
