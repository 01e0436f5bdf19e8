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
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from fulmen._typing import is_class
from fulmen.exceptions import FastAPIError
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
    if not is_class(cls):
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


class _URLPathProvider:
    """``scope["router"]`` for an ASGI app mounted in a fulmen app: what Starlette's ``request.url_for`` asks.

    Starlette sets the outermost router there, so a mounted Starlette app (sqladmin, starlette-admin) finds
    ``"admin:statics"`` through the mount's name. Answers as Starlette's router: its ``URLPath`` and its
    ``NoMatchFound`` once the program has imported them.
    """

    __slots__ = ("__weakref__", "app")

    def __init__(self, app: Any) -> None:
        self.app = app

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        """The path of the route called ``name`` in the outermost app."""
        try:
            path = self.app.url_path_for(name, **path_params)
        except FastAPIError as exc:
            routing = sys.modules.get("starlette.routing")
            if routing is None:
                raise
            raise routing.NoMatchFound(name, path_params) from exc
        datastructures = sys.modules.get("starlette.datastructures")
        if datastructures is None:
            return path
        return datastructures.URLPath(str(path), getattr(path, "protocol", ""), getattr(path, "host", ""))


_providers: weakref.WeakKeyDictionary[Any, _URLPathProvider] = weakref.WeakKeyDictionary()


def url_path_provider(app: Any) -> _URLPathProvider:
    """The ``scope["router"]`` object for apps mounted under ``app`` (one per app)."""
    provider = _providers.get(app)
    if provider is None:
        provider = _providers[app] = _URLPathProvider(app)
    return provider
