"""A router's routes as a live list (``app.routes``, ``app.router.routes``) and the route objects it takes.

FastAPI code edits that list: ``app.router.routes.append(APIRoute(...))``, removing or reordering routes,
``FastAPI(routes=[...])``. Each edit updates the router's route tables at once; it is start-up work, so
routing never looks at the list. Starlette's ``Route``, ``WebSocketRoute`` and ``Mount`` become fulmen's
equivalents; what fulmen can't serve (``Host``, class-based endpoints) is a start-up error, never ignored.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, SupportsIndex

from fulmen.exceptions import FastAPIError
from fulmen.requests import Request
from fulmen.route_table import parse_path
from fulmen.routing import APIRoute, APIWebSocketRoute, Mount
from fulmen.websockets import WebSocket

if TYPE_CHECKING:
    from fulmen.route_table import RouteTable
    from fulmen.routing import WebSocketRouteTable


class RouteOwner(Protocol):
    """What a ``RouteList`` updates: the router's tables (an ``APIRouter``)."""

    table: RouteTable

    @property
    def websocket_table(self) -> WebSocketRouteTable: ...

    def _route_added(self, route: Any) -> None: ...

    def _route_declared(self, route: Any) -> None: ...


class RouteList(list[Any]):
    """The routes a router serves, in declaration order; editing the list edits what the router serves."""

    def __init__(self, owner: RouteOwner) -> None:
        super().__init__()
        self._owner = owner
        #: Bumped on every edit but a mount, as FastAPI's routes version: the OpenAPI document is generated
        #: again after one, and a mount isn't documented (a document edited before ``app.mount()`` stays).
        self.version = 0

    def _add(self, route: Any) -> None:
        """Serve ``route`` (already a fulmen route object) after the others."""
        _add_to_tables(self._owner, route)
        super().append(route)
        if not isinstance(route, Mount):
            self.version += 1
        self._owner._route_declared(route)  # routers that included this one serve it too

    def append(self, route: Any) -> None:
        """Serve ``route`` after the others (a Starlette route becomes its fulmen equivalent)."""
        route = as_fulmen_route(route)
        self._owner._route_added(route)
        self._add(route)

    def extend(self, routes: Iterable[Any]) -> None:
        for route in list(routes):
            self.append(route)

    def __iadd__(self, routes: Iterable[Any]) -> RouteList:  # type: ignore[misc]
        self.extend(routes)
        return self

    def insert(self, index: SupportsIndex, route: Any) -> None:
        route = as_fulmen_route(route)
        self._owner._route_added(route)
        self._edit(lambda: super(RouteList, self).insert(index, route))

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            value = [as_fulmen_route(route) for route in value]
            for route in value:
                self._owner._route_added(route)
        else:
            value = as_fulmen_route(value)
            self._owner._route_added(value)
        self._edit(lambda: super(RouteList, self).__setitem__(index, value))

    def __delitem__(self, index: Any) -> None:
        self._edit(lambda: super(RouteList, self).__delitem__(index))

    def remove(self, route: Any) -> None:
        self._edit(lambda: super(RouteList, self).remove(route))

    def pop(self, index: SupportsIndex = -1) -> Any:
        popped: list[Any] = []
        self._edit(lambda: popped.append(super(RouteList, self).pop(index)))
        return popped[0]

    def clear(self) -> None:
        self._edit(super().clear)

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._edit(lambda: super(RouteList, self).sort(*args, **kwargs))

    def reverse(self) -> None:
        self._edit(super().reverse)

    def __imul__(self, count: SupportsIndex) -> RouteList:
        self._edit(lambda: super(RouteList, self).__imul__(count))
        return self

    def _edit(self, change: Callable[[], Any]) -> None:
        """Apply ``change`` to the list, then rebuild the tables from it; undo both if that fails."""
        before = list(self)
        change()
        try:
            self._rebuild()
        except Exception:
            super().clear()
            super().extend(before)
            self._rebuild()
            raise

    def _rebuild(self) -> None:
        owner = self._owner
        owner.table.clear()
        owner.websocket_table.routes.clear()
        for route in self:
            _add_to_tables(owner, route)
        self.version += 1


def _add_to_tables(owner: RouteOwner, route: Any) -> None:
    if isinstance(route, APIRoute):
        owner.table.add(route)
    elif isinstance(route, APIWebSocketRoute):
        owner.websocket_table.add(route)
    else:
        owner.table.mounts.append(route)


# -- Starlette's route objects -------------------------------------------------------------------------------
def _starlette_kind(route: Any) -> str | None:
    """The class name (``"Route"``, ``"Mount"``, ``"Host"`` ...) for Starlette's routing classes, else None.

    Found by module name, so Starlette is never imported here."""
    for cls in type(route).__mro__:
        if cls.__module__ == "starlette.routing":
            return cls.__name__
    return None


def as_fulmen_route(route: Any) -> Any:
    """``route`` as a route object fulmen serves: fulmen's own as is, Starlette's converted, else an error."""
    if isinstance(route, (APIRoute, APIWebSocketRoute, Mount)):
        return route
    kind = _starlette_kind(route)
    if kind == "Mount":
        return Mount(route.path, route.app, name=route.name)
    if kind == "Route" and _is_plain_function(route.endpoint):
        return plain_route(route.path, route.endpoint, methods=route.methods, name=route.name)
    if kind == "WebSocketRoute" and _is_plain_function(route.endpoint):
        return plain_websocket_route(route.path, route.endpoint, name=route.name)
    raise FastAPIError(
        f"fulmen can't serve {route!r} as a route: use APIRoute, APIWebSocketRoute or Mount (or Starlette's "
        "Route, WebSocketRoute or Mount with a function endpoint); for a Host, mount a sub-app instead"
    )


def plain_route(
    path: str, endpoint: Callable[..., Any], *, methods: Iterable[str] | None = None, name: str | None = None
) -> APIRoute:
    """Starlette's ``Route``: ``endpoint(request)`` returns a response; path parameters are in
    ``request.path_params``. Not documented in OpenAPI (FastAPI documents only its APIRoutes)."""
    if not _is_plain_function(endpoint):
        raise FastAPIError(
            f"fulmen can't serve {endpoint!r} at {path!r}: a route endpoint must be a function taking the "
            "request (a class-based HTTPEndpoint or an ASGI app can be mounted with app.mount instead)"
        )
    names = list(parse_path(path)[1])
    return APIRoute(
        path,
        _plain_endpoint(endpoint, Request, "request", names),
        methods=sorted(methods) if methods else None,
        name=name,
        include_in_schema=False,
        response_model=None,
    )


def plain_websocket_route(
    path: str, endpoint: Callable[..., Any], *, name: str | None = None
) -> APIWebSocketRoute:
    """Starlette's ``WebSocketRoute``: ``endpoint(websocket)``, path parameters in ``path_params``."""
    if not _is_plain_function(endpoint):
        raise FastAPIError(
            f"fulmen can't serve {endpoint!r} at {path!r}: a WebSocket route endpoint must be an async "
            "function taking the WebSocket (a WebSocketEndpoint class or an ASGI app can be mounted with "
            "app.mount instead)"
        )
    names = list(parse_path(path)[1])
    return APIWebSocketRoute(path, _plain_endpoint(endpoint, WebSocket, "websocket", names), name=name)


def _is_plain_function(endpoint: Any) -> bool:
    """Starlette calls a function (or method) endpoint with the request; anything else is an ASGI app."""
    while isinstance(endpoint, functools.partial):
        endpoint = endpoint.func
    return inspect.isfunction(endpoint) or inspect.ismethod(endpoint)


def _plain_endpoint(endpoint: Any, connection: type, argument: str, path_params: list[str]) -> Any:
    """An endpoint fulmen can plan that calls Starlette's ``endpoint(request)`` (or ``(websocket)``).

    Path parameters are declared (untyped) so the plan accepts the path; the endpoint reads them from
    ``request.path_params``, as in Starlette. A ``def`` endpoint runs in the thread pool, as in Starlette.
    """
    target = endpoint
    while isinstance(target, functools.partial):
        target = target.func
    wrapper: Any
    if inspect.iscoroutinefunction(target):

        async def wrapper(**values: Any) -> Any:
            return await endpoint(values[argument])

    else:

        def wrapper(**values: Any) -> Any:
            return endpoint(values[argument])

    parameters = [inspect.Parameter(argument, inspect.Parameter.KEYWORD_ONLY, annotation=connection)]
    parameters += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Any) for name in path_params
    ]
    wrapper.__signature__ = inspect.Signature(parameters)
    wrapper.__name__ = getattr(target, "__name__", "endpoint")
    wrapper.__qualname__ = getattr(target, "__qualname__", wrapper.__name__)
    wrapper.__doc__ = None
    return wrapper
