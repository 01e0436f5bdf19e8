"""Starlette's response objects where FastAPI code uses them: returned by a handler, or as ``response_class``.

FastAPI's responses *are* Starlette's, so FastAPI code often imports them from ``starlette.responses``.
fulmen doesn't depend on Starlette: a Starlette response is recognised by its class (by name, so Starlette is
never imported here) and becomes a fulmen ``Response``. One with its body ready (``JSONResponse``,
``RedirectResponse``, ``HTMLResponse`` ...) is copied as it is: status, headers, body and background task;
a streamed one (``StreamingResponse``, ``FileResponse``, sse-starlette's ``EventSourceResponse``) is sent by
running it as the ASGI app it is, behind fulmen's ASGI adapter.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar

from fulmen.responses import Response

if TYPE_CHECKING:
    from fulmen.requests import Request

_BASE = ("starlette.responses", "Response")
_JSON = ("starlette.responses", "JSONResponse")

#: Per class: whether it is (a subclass of) Starlette's Response. Looked up on slow paths only.
_is_starlette: dict[type, bool] = {}


def _in_mro(cls: type, key: tuple[str, str]) -> bool:
    return any((getattr(c, "__module__", None), c.__name__) == key for c in cls.__mro__)


def is_starlette_response_class(cls: Any) -> bool:
    """True for Starlette's ``Response`` and its subclasses (other frameworks' and the user's)."""
    if not isinstance(cls, type):
        return False
    known = _is_starlette.get(cls)
    if known is None:
        known = _is_starlette[cls] = _in_mro(cls, _BASE)
    return known


def is_starlette_json_class(cls: type) -> bool:
    """True for Starlette's ``JSONResponse`` and subclasses (their content goes through jsonable_encoder)."""
    return _in_mro(cls, _JSON)


def is_starlette_response(value: Any) -> bool:
    """True for a Starlette response object."""
    return is_starlette_response_class(type(value))


def foreign_response(value: Any) -> Response | None:
    """fulmen's ``Response`` for a Starlette response object, or None when ``value`` is not one."""
    cls = type(value)
    known = _is_starlette.get(cls)  # PERF: inline; models returned on the JSON path pass by here
    if known is None:
        known = is_starlette_response_class(cls)
    if not known:
        return None
    body = getattr(value, "body", None)
    if isinstance(body, bytes):
        response = Response.__new__(Response)
        response.status_code = value.status_code
        response.raw_headers = list(value.raw_headers)
        response.body = body
        response.background = value.background  # a Starlette BackgroundTask(s) is awaited the same way
        return response
    return _StreamedForeignResponse(value)


class _StreamedForeignResponse(Response):
    """A streamed Starlette response, sent by running it as an ASGI app when the front door sends it.

    Its status and headers are the Starlette response's own (shared lists), so middleware that edits
    ``response.headers`` before sending edits what Starlette sends.
    """

    streaming: ClassVar[bool] = True
    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status_code = app.status_code
        self.raw_headers = app.raw_headers  # the same list: header edits reach the Starlette response
        self.body = b""
        self.background = None  # Starlette runs its own background task after its body

    async def prepare(self, request: Request) -> Response:
        from fulmen.engine.asgi_adapter import ASGIAdapter

        app = self.app
        app.status_code = self.status_code  # a status set on the way (an injected ``response``)
        if self.background is not None and app.background is None:
            app.background = self.background  # the route's BackgroundTasks, as FastAPI attaches them
        return await ASGIAdapter(app).handle(request)


#: Starlette's connection classes that fulmen's Request and WebSocket have been registered with.
_passed_as: set[tuple[str, str]] = set()


def pass_as_starlette_connections() -> None:
    """Once Starlette is imported, make fulmen's Request and WebSocket instances of Starlette's classes.

    Library code checks ``isinstance(request, starlette.requests.Request)`` on the request a route receives
    (Starlette's ``@requires``, rate-limit and cache decorators); Starlette's classes are ABCs (``Mapping``),
    so fulmen's register as virtual subclasses: nothing of Starlette is inherited. Called at start-up.
    """
    if len(_passed_as) == 2:
        return
    from fulmen.requests import Request
    from fulmen.websockets import WebSocket

    for key, ours in (
        (("starlette.requests", "Request"), Request),
        (("starlette.websockets", "WebSocket"), WebSocket),
    ):
        if key in _passed_as:
            continue
        module = sys.modules.get(key[0])
        theirs = getattr(module, key[1], None)
        register = getattr(theirs, "register", None)
        if register is None or not isinstance(theirs, type):
            continue
        if not issubclass(ours, theirs):  # a program aliasing Starlette's modules to fulmen's needs nothing
            register(ours)
        _passed_as.add(key)
