"""The application: route table, exception handlers, lifespan and ``run()``.

``Fulmen.handle(request)`` is the one pipeline both front doors call: the engine (``fulmen.engine``) and ASGI
(``fulmen.asgi``). It always returns a ``Response``: HTTP errors, validation errors and crashes become
responses here, so no front door can lose one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import sys
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from enum import Enum
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from fulmen.datastructures import State, URLPath
from fulmen.encoders import jsonable_encoder
from fulmen.exceptions import (
    BaseHTTPException,
    FastAPIError,
    RequestValidationError,
    WebSocketException,
    WebSocketRequestValidationError,
    handler_key,
    http_error,
    is_http_exception,
    starlette_equivalents,
)
from fulmen.foreign import foreign_response
from fulmen.limits import (
    FormLimits,
    first_limit,
    too_large_before_routing,
    validate_form_limits,
    validate_max_body_size,
)
from fulmen.middleware import Handle, Middleware
from fulmen.middleware._stack import RERAISE_KEY, stashed_answer
from fulmen.params import Depends
from fulmen.plan import path_placeholders_may_come_later
from fulmen.requests import Request
from fulmen.response_model import Default, DefaultPlaceholder
from fulmen.responses import JSONResponse, RedirectResponse, Response
from fulmen.route_list import RouteList
from fulmen.route_table import RouteTable
from fulmen.routing import ROUTE_HANDLER_RAISES, APIRoute, APIWebSocketRoute, Mount, WebSocketRouteTable
from fulmen.telemetry._api import TelemetryConfig, telemetry_config
from fulmen.websockets import WebSocket, WebSocketState

if TYPE_CHECKING:
    import os

    from fulmen.frontend import Fallback, Frontend

F = TypeVar("F", bound=Callable[..., Any])
ExceptionHandler = Callable[[Request, Any], "Response | Awaitable[Response]"]
Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]


_ON_EVENT_DEPRECATED = (
    "on_event is deprecated, use lifespan event handlers instead. Read more about it in the FastAPI docs for "
    "Lifespan Events: https://fastapi.tiangolo.com/advanced/events/"
)


def _as_lifespan(lifespan: Any) -> Lifespan | None:
    """A ``lifespan=`` argument as a context-manager factory: FastAPI also takes a bare (async) generator
    function, without ``@asynccontextmanager``, and wraps it (silently, unlike Starlette)."""
    if inspect.isasyncgenfunction(lifespan):
        wrapped: Lifespan = contextlib.asynccontextmanager(lifespan)
        return wrapped
    if inspect.isgeneratorfunction(lifespan):
        sync_cm = contextlib.contextmanager(lifespan)

        @contextlib.asynccontextmanager
        async def lifted(app: Any) -> AsyncIterator[Any]:
            with sync_cm(app) as state:
                yield state

        return lifted
    result: Lifespan | None = lifespan
    return result


class DefaultLifespan:
    """A router's ``lifespan_context`` when none is given: runs its ``on_startup``/``on_shutdown`` handlers.

    As FastAPI's, so a library can enter ``app.router.lifespan_context(app)`` (taskiq-fastapi's worker) or
    wrap it. Its handlers run once per start, also when the app starts them around a wrapped lifespan.
    """

    __slots__ = ("router", "started")

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self.started = False

    def __call__(self, app: Any) -> DefaultLifespan:
        return self

    async def __aenter__(self) -> None:
        if not self.started:
            self.started = True
            await _run_handlers(self.router.on_startup_handlers)

    async def __aexit__(self, *exc_info: object) -> None:
        if self.started:
            self.started = False
            await _run_handlers(self.router.on_shutdown_handlers)


async def _run_handlers(handlers: list[Callable[[], Any]]) -> None:
    for func in handlers:
        result = func()
        if isinstance(result, Awaitable):
            await result


def _own(lifespan: Lifespan | None) -> Lifespan | None:
    """A lifespan given by the user or a library; None for a router's default (its handlers are run apart)."""
    return None if isinstance(lifespan, DefaultLifespan) else lifespan


def _merge_lifespans(outer: Lifespan | None, inner: Lifespan | None) -> Lifespan | None:
    """An included router's lifespan runs inside the including one's; their state dicts are merged."""
    if inner is None:
        return outer
    if outer is None:
        return inner

    @contextlib.asynccontextmanager
    async def merged(app: Any) -> AsyncIterator[Any]:
        async with outer(app) as outer_state, inner(app) as inner_state:
            if outer_state is None and inner_state is None:
                yield None
            else:
                yield {**(inner_state or {}), **(outer_state or {})}

    return merged


def _mounted_at(mounts: list[Mount], path: str) -> bool:
    """Whether a mount serves ``path`` (the trailing-slash redirect to a mount, as Starlette's router)."""
    return any(mount.covers(path) for mount in mounts)


def _router_lifespan(router: APIRouter) -> Lifespan | None:
    """A router's ``on_startup``/``on_shutdown`` handlers and ``lifespan`` as one lifespan context."""
    startup, shutdown = router.on_startup_handlers, router.on_shutdown_handlers
    own = _own(router.lifespan_context)
    if not startup and not shutdown:
        return own

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        await _run_handlers(startup)
        if own is None:
            yield None
        else:
            async with own(app) as state:
                yield state
        await _run_handlers(shutdown)

    return lifespan


@dataclasses.dataclass(frozen=True)
class _Inclusion:
    """The options of one ``include_router`` call, kept so routes declared later are included alike."""

    prefix: str
    tags: list[str | Enum] | None
    responses: dict[int | str, dict[str, Any]] | None
    deprecated: bool | None
    include_in_schema: bool
    dependencies: Sequence[Depends] | None
    default_response_class: type[Response] | None
    callbacks: list[Any] | None
    generate_unique_id_function: Callable[[APIRoute], str] | None
    max_body_size: int | None
    form_limits: FormLimits


class APIRouter:
    """A group of routes with a shared prefix and settings, included into an app with ``include_router``."""

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: list[str | Enum] | None = None,
        default_response_class: type[Response] = Default(JSONResponse),
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        inline_sync: bool | None = None,
        redirect_slashes: bool = True,
        dependencies: Sequence[Depends] | None = None,
        callbacks: list[Any] | None = None,
        route_class: type[APIRoute] = APIRoute,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        lifespan: Lifespan | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | None = None,
        strict_content_type: bool = Default(True),
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
        routes: Sequence[Any] | None = None,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise FastAPIError("A path prefix must start with '/' and must not end with '/'")
        validate_max_body_size(max_body_size)
        #: Default request body limit in bytes for this router's routes (None: the including router's).
        self.max_body_size = max_body_size
        #: Default form parsing limits for this router's routes (merged under each route's own).
        self.form_limits: FormLimits = validate_form_limits(form_limits)
        #: False: bodies without a Content-Type header are read as JSON (Default(): the including router's).
        self.strict_content_type = strict_content_type
        self.prefix = prefix
        #: OpenAPI callbacks documented on every route of this router, before the route's own.
        self.callbacks: list[Any] = list(callbacks or [])
        #: The class routes are built with (a subclass may override ``get_route_handler``).
        self.route_class = route_class
        #: Run at application start/stop; ``include_router`` hands them to the including router.
        self.on_startup_handlers: list[Callable[[], Any]] = list(on_startup or [])
        self.on_shutdown_handlers: list[Callable[[], Any]] = list(on_shutdown or [])
        #: The lifespan (``DefaultLifespan`` when none is given, as in FastAPI): libraries call or wrap it.
        self._default_lifespan = DefaultLifespan(self)
        self.lifespan_context: Lifespan = _as_lifespan(lifespan) or self._default_lifespan
        self._generate_unique_id_function = generate_unique_id_function
        self.tags = list(tags or [])
        self.default_response_class = default_response_class
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.inline_sync = inline_sync
        self.redirect_slashes = redirect_slashes
        #: Dependencies run for every route of this router, before the route's own.
        self.dependencies: list[Depends] = list(dependencies or [])
        self.table = RouteTable()
        self._route_list = RouteList(self)
        #: ``frontend()`` declarations: this router's own first, then included routers' (FastAPI's order).
        self.frontends: list[Frontend] = []
        self._own_frontends = 0
        #: Where ``include_router`` put this router, with its options: routes added later go there too.
        self._included_into: list[tuple[APIRouter, _Inclusion]] = []
        self._route_list.extend(routes or ())

    @property
    def on_startup(self) -> list[Callable[[], Any]]:
        """The startup handlers, by FastAPI's name (libraries append to ``app.router.on_startup``)."""
        return self.on_startup_handlers

    @on_startup.setter
    def on_startup(self, handlers: list[Callable[[], Any]]) -> None:
        self.on_startup_handlers = handlers

    @property
    def on_shutdown(self) -> list[Callable[[], Any]]:
        """The shutdown handlers (FastAPI's name for the list)."""
        return self.on_shutdown_handlers

    @on_shutdown.setter
    def on_shutdown(self, handlers: list[Callable[[], Any]]) -> None:
        self.on_shutdown_handlers = handlers

    def add_event_handler(self, event_type: str, func: Callable[[], Any]) -> None:
        """Run ``func`` at ``"startup"`` or ``"shutdown"``: FastAPI's router method (no deprecation)."""
        if event_type not in ("startup", "shutdown"):
            raise FastAPIError(f"Unknown event {event_type!r}; use 'startup' or 'shutdown'")
        (self.on_startup_handlers if event_type == "startup" else self.on_shutdown_handlers).append(func)

    def on_event(self, event_type: str) -> Callable[[F], F]:
        """Decorator: run a function at ``"startup"`` or ``"shutdown"`` (deprecated in FastAPI: it warns too).

        On a router, the handlers run when the app that includes it starts or stops.
        """
        warnings.warn(_ON_EVENT_DEPRECATED, DeprecationWarning, stacklevel=2)
        if event_type not in ("startup", "shutdown"):
            raise FastAPIError(f"Unknown event {event_type!r}; use 'startup' or 'shutdown'")

        def decorator(func: F) -> F:
            (self.on_startup_handlers if event_type == "startup" else self.on_shutdown_handlers).append(func)
            return func

        return decorator

    @property
    def routes(self) -> RouteList:
        """Routes, WebSocket routes and mounts in declaration order (routes are tried before mounts).

        A live list, as FastAPI's: appending, inserting or removing a route changes what is served.
        """
        return self._route_list

    @routes.setter
    def routes(self, routes: Sequence[Any]) -> None:
        # ``app.router.routes = [...]`` (a Starlette Router attribute) replaces what is served, as there.
        self._route_list[:] = list(routes)

    def _route_added(self, route: Any) -> None:
        """A route object added to ``routes`` directly takes this router's limits under its own settings."""
        if isinstance(route, APIRoute):
            route._apply_limits(self.max_body_size, self.form_limits)
        elif isinstance(route, Mount):
            route.inherit_limits(
                first_limit(route.max_body_size, self.max_body_size),
                {**self.form_limits, **route.form_limits},
            )

    def mount(self, path: str, app: Any, name: str | None = None) -> None:
        """Serve ``app`` (a fulmen app, ``StaticFiles`` or any ASGI app) under ``path``."""
        mount = Mount(self.prefix + path, app, name=name)
        mount.inherit_limits(self.max_body_size, self.form_limits)
        self._route_list._add(mount)

    def frontend(
        self,
        path: str,
        *,
        directory: str | os.PathLike[str],
        fallback: Fallback = "auto",
        check_dir: bool | Literal["auto"] = "auto",
    ) -> None:
        """Serve a built frontend (``dist``) under ``path``, answered only when no route matches.

        Files for GET/HEAD, ``index.html`` for navigations, ``404.html`` for missing pages (docs/frontend.md).
        """
        from fulmen.frontend import (
            join_frontend_paths,
            make_frontend,
            normalize_frontend_path,
            resolve_check_dir,
        )

        checked = resolve_check_dir(directory, check_dir)
        frontend = make_frontend(
            join_frontend_paths(self.prefix, normalize_frontend_path(path)),
            directory=directory,
            fallback=fallback,
            check_dir=checked,
            dependencies=self.dependencies,
            inline_sync=bool(self.inline_sync),
        )
        self.frontends.insert(self._own_frontends, frontend)
        self._own_frontends += 1

    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        response_class: type[Response] | None = None,
        tags: list[str | Enum] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        inline_sync: bool | None = None,
        dependencies: Sequence[Depends] | None = None,
        **kwargs: Any,
    ) -> APIRoute:
        """Register ``endpoint`` for ``methods`` on ``prefix + path``; declaration errors raise here."""
        if inline_sync is None:
            inline_sync = self.inline_sync
        if self._generate_unique_id_function is not None:
            kwargs.setdefault("generate_unique_id_function", self._generate_unique_id_function)
        if self.callbacks:
            kwargs["callbacks"] = [*self.callbacks, *(kwargs.get("callbacks") or [])]
        route_class = kwargs.pop("route_class_override", None) or self.route_class
        unique_id_function = kwargs.get("generate_unique_id_function")
        # Limits: the route's own setting first, then this router's (fulmen.limits).
        validate_max_body_size(kwargs.get("max_body_size"))
        kwargs["max_body_size"] = first_limit(kwargs.get("max_body_size"), self.max_body_size)
        own_form_limits = validate_form_limits(kwargs.get("form_limits"))
        kwargs["form_limits"] = {**self.form_limits, **own_form_limits}
        if isinstance(kwargs.get("strict_content_type", Default(True)), DefaultPlaceholder):
            kwargs["strict_content_type"] = self.strict_content_type
        with path_placeholders_may_come_later(not isinstance(self, Fulmen)):
            route = route_class(
                self.prefix + path,
                endpoint,
                methods=methods,
                response_class=response_class or self.default_response_class,
                tags=[*self.tags, *(tags or [])],
                responses={**self.responses, **(responses or {})},
                deprecated=deprecated if deprecated is not None else self.deprecated,
                include_in_schema=include_in_schema and self.include_in_schema,
                inline_sync=bool(inline_sync),
                dependencies=[*self.dependencies, *(dependencies or [])],
                **kwargs,
            )
        #: Kept so an including router knows this route's (or its router's) own choice came first.
        route.unique_id_function = unique_id_function
        self._route_list._add(route)
        return route

    def add_route(
        self,
        path: str,
        route: Callable[..., Any],
        methods: Sequence[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Starlette's form: ``route(request)`` returns a response; nothing is solved or documented."""
        from fulmen.route_list import plain_route

        # include_in_schema only steers Starlette's schema generator; FastAPI documents APIRoutes only. As in
        # FastAPI (Starlette's method), the router's prefix is not applied; include_router's prefix is.
        self._route_list._add(plain_route(path, route, methods=methods, name=name))

    def route(
        self,
        path: str,
        methods: Sequence[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[F], F]:
        """Decorator form of ``add_route`` (Starlette's ``@router.route``)."""

        def decorator(func: F) -> F:
            self.add_route(path, func, methods=methods, name=name, include_in_schema=include_in_schema)
            return func

        return decorator

    def api_route(
        self, path: str, *, methods: Sequence[str] | None = None, **kwargs: Any
    ) -> Callable[[F], F]:
        """Decorator form of ``add_api_route``."""

        def decorator(func: F) -> F:
            self.add_api_route(path, func, methods=methods, **kwargs)
            return func

        return decorator

    def get(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        """Register a GET operation (HEAD is answered too)."""
        return self.api_route(path, methods=["GET"], **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        """Register a POST operation."""
        return self.api_route(path, methods=["POST"], **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        """Register a PUT operation."""
        return self.api_route(path, methods=["PUT"], **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        """Register a PATCH operation."""
        return self.api_route(path, methods=["PATCH"], **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        """Register a DELETE operation."""
        return self.api_route(path, methods=["DELETE"], **kwargs)

    def head(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        """Register a HEAD operation."""
        return self.api_route(path, methods=["HEAD"], **kwargs)

    def options(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        """Register an OPTIONS operation."""
        return self.api_route(path, methods=["OPTIONS"], **kwargs)

    def trace(self, path: str, **kwargs: Any) -> Callable[[F], F]:
        """Register a TRACE operation."""
        return self.api_route(path, methods=["TRACE"], **kwargs)

    def include_router(
        self,
        router: APIRouter,
        *,
        prefix: str = "",
        tags: list[str | Enum] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        dependencies: Sequence[Depends] | None = None,
        default_response_class: type[Response] | None = None,
        callbacks: list[Any] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | None = None,
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
    ) -> None:
        """Copy ``router``'s routes into this one under ``prefix``, merging tags and responses.

        Limits, most specific first: the route's, ``router``'s, this inclusion's, then this router's.
        """
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise FastAPIError("A path prefix must start with '/' and must not end with '/'")
        if not isinstance(router, APIRouter):
            from fulmen.foreign_routing import foreign_router, is_foreign_router

            if not is_foreign_router(router):
                raise FastAPIError(f"include_router() takes an APIRouter, got {router!r}")
            router = foreign_router(router)  # FastAPI's (a library's): its routes, registered again here
        # FastAPI's assertion and message (fulmen would otherwise report a clash of every route with itself).
        if router is self:
            raise AssertionError(
                "Cannot include the same APIRouter instance into itself. "
                "Did you mean to include a different router?"
            )
        validate_max_body_size(max_body_size)
        inclusion = _Inclusion(
            prefix=prefix,
            tags=tags,
            responses=responses,
            deprecated=deprecated,
            include_in_schema=include_in_schema,
            dependencies=dependencies,
            default_response_class=default_response_class,
            callbacks=callbacks,
            generate_unique_id_function=generate_unique_id_function,
            max_body_size=max_body_size,
            form_limits=validate_form_limits(form_limits),
        )
        if not prefix:
            for route in router.routes:
                if isinstance(route, (APIRoute, APIWebSocketRoute)) and not route.path:
                    raise FastAPIError(f"Prefix and path cannot be both empty (path operation: {route.name})")
        for mount in router.table.mounts:
            self._include_route(mount, inclusion)
        for ws_route in router._websocket_routes():
            self._include_route(ws_route, inclusion)
        for frontend in router.frontends:
            self.frontends.append(
                frontend.included(self.prefix + prefix, [*self.dependencies, *(dependencies or [])])
            )
        # As FastAPI: the included router's start-up work runs inside the including one's lifespan, in order.
        merged = _merge_lifespans(self.lifespan_context, _router_lifespan(router))
        self.lifespan_context = merged or self._default_lifespan
        for route in router.table.routes:
            self._include_route(route, inclusion)
        # FastAPI 0.165 includes lazily: a route declared on ``router`` after this call is served here too.
        router._included_into.append((self, inclusion))

    def _include_route(self, route: Any, inclusion: _Inclusion) -> None:
        """Register one route (a route, WebSocket route or mount) of a router included with ``inclusion``."""
        prefix = inclusion.prefix
        if isinstance(route, Mount):
            copied = Mount(self.prefix + prefix + route.path, route.app, name=route.name)
            copied.inherit_limits(
                first_limit(route.max_body_size, inclusion.max_body_size, self.max_body_size),
                {**self.form_limits, **inclusion.form_limits, **route.form_limits},
            )
            self._route_list._add(copied)
            return
        if isinstance(route, APIWebSocketRoute):
            if not (prefix or route.path):
                raise FastAPIError(f"Prefix and path cannot be both empty (path operation: {route.name})")
            self.add_api_websocket_route(
                prefix + route.path,
                route.endpoint,
                name=route.name,
                dependencies=[*(inclusion.dependencies or []), *route.dependencies],
            )
            return
        if not isinstance(route, APIRoute):
            return  # nothing else is kept in a router's route list
        if not (prefix or route.path):
            raise FastAPIError(f"Prefix and path cannot be both empty (path operation: {route.name})")
        extra = dict(route.extra)
        route_callbacks = extra.pop("callbacks", None) or []
        own_id_function = getattr(route, "unique_id_function", None) or inclusion.generate_unique_id_function
        if own_id_function is not None:
            extra["generate_unique_id_function"] = own_id_function
        self.add_api_route(
            prefix + route.path,
            route.endpoint,
            methods=[m for m in route.method_list if not (m == "HEAD" and "GET" in route.methods)],
            response_class=inclusion.default_response_class
            if route.response_class_is_default
            else route.response_class,
            callbacks=[*(inclusion.callbacks or []), *route_callbacks] or None,
            route_class_override=type(route),
            status_code=route.status_code,
            name=route.name,
            tags=[*(inclusion.tags or []), *route.tags],
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses={**(inclusion.responses or {}), **route.responses},
            deprecated=route.deprecated if route.deprecated is not None else inclusion.deprecated,
            operation_id=route.operation_id,
            include_in_schema=route.include_in_schema and inclusion.include_in_schema,
            response_model=route.response_model,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            openapi_extra=route.openapi_extra,
            inline_sync=route.inline_sync,
            dependencies=[*(inclusion.dependencies or []), *route.dependencies],
            strict_content_type=route.strict_content_type,
            max_body_size=first_limit(route.max_body_size, inclusion.max_body_size),
            form_limits={**inclusion.form_limits, **route.form_limits},
            **extra,
        )

    def _route_declared(self, route: Any) -> None:
        """A route was added to this router: the routers that included it earlier serve it too (lazily)."""
        for parent, inclusion in self._included_into:
            parent._include_route(route, inclusion)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path of the route (HTTP or WebSocket) called ``name``, a ``URLPath`` as in Starlette."""
        try:
            return URLPath(self.table.url_path_for(name, **path_params), "http")
        except FastAPIError:
            ws_table: WebSocketRouteTable | None = self.__dict__.get("_websocket_table")
            path = ws_table.url_path_for(name, **path_params) if ws_table is not None else None
            if path is None:
                raise
            return URLPath(path, "websocket")

    # -- mounted as an application (``app.mount("/x", router)``) ---------------------------------------------
    # As Starlette's Router mounted in an app: the router has no exception handlers of its own, so what its
    # routes raise, and its 404/405, reach the app that mounted it (``request.app``).
    def _inherit_limits(self, max_body_size: int | None, form_limits: FormLimits) -> None:
        """Take the limits of the mount point this router is mounted at, under its routes' own settings."""
        for route in self.table.routes:
            route._apply_limits(max_body_size, form_limits)
        for mount in self.table.mounts:
            mount.inherit_limits(
                first_limit(mount.max_body_size, max_body_size), {**form_limits, **mount.form_limits}
            )

    def _handle_mounted(self, request: Request) -> Coroutine[Any, Any, Response]:
        """Answer ``request`` re-rooted under this router's mount point (routes first, then its mounts)."""
        found = self.table.match(request.method, request.path)
        if type(found) is tuple:
            route, request.path_params = found
            # scope["route"]: the mounting app's table can't find this route again (see _matched_route).
            request.scope_extra = {**(request.scope_extra or {}), "route": route}
            return route.handler(request)
        return self._mounted_no_route(request, found)  # type: ignore[arg-type]

    async def _mounted_no_route(self, request: Request, allow: str | None) -> Response:
        path = request.path
        for mount in self.table.mounts:
            if mount.covers(path):
                app = request.app
                assert app is not None  # set by the app that routed the request here
                return await app._call_mount(mount, request)
        if allow is not None:
            raise http_error(405, headers={"Allow": allow})
        if self.redirect_slashes and path != "/":
            alt = path[:-1] if path.endswith("/") else path + "/"
            if self.table.match(request.method, alt) is not None or _mounted_at(self.table.mounts, alt):
                url = request.url
                new_path = url.path[:-1] if url.path.endswith("/") else url.path + "/"
                return RedirectResponse(str(url.replace(path=new_path)))
        raise http_error(404)

    async def _handle_mounted_websocket(self, websocket: WebSocket) -> None:
        """Run the WebSocket route for this re-rooted connection; none: closed before accept (a 403)."""
        table: WebSocketRouteTable | None = self.__dict__.get("_websocket_table")
        found = table.match(websocket.path) if table is not None else None
        if found is not None:
            route, websocket.path_params = found
            request = websocket.request
            request.scope_extra = {**(request.scope_extra or {}), "route": route}
            await route.handler(websocket)
            return
        for mount in self.table.mounts:
            if mount.covers(websocket.path):
                app = websocket.app
                assert app is not None  # set by the app that routed the connection here
                await app._websocket_to_mount(mount, websocket)
                return
        await websocket.close(1000)

    # -- WebSockets ------------------------------------------------------------------------------------------
    # WebSocket routes live in their own table (fulmen.routing.WebSocketRouteTable), created on first use:
    # HTTP routing never looks at them and an app without WebSockets has none.
    @property
    def websocket_table(self) -> WebSocketRouteTable:
        """This router's WebSocket routes, in declaration order."""
        table: WebSocketRouteTable | None = self.__dict__.get("_websocket_table")
        if table is None:
            table = self.__dict__["_websocket_table"] = WebSocketRouteTable()
        return table

    def _websocket_routes(self) -> list[APIWebSocketRoute]:
        table: WebSocketRouteTable | None = self.__dict__.get("_websocket_table")
        return [] if table is None else table.routes

    def add_api_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        dependencies: Sequence[Depends] | None = None,
    ) -> APIWebSocketRoute:
        """Register a WebSocket ``endpoint`` on ``prefix + path`` (parameters and ``Depends`` as for HTTP)."""
        with path_placeholders_may_come_later(not isinstance(self, Fulmen)):
            route = APIWebSocketRoute(
                self.prefix + path,
                endpoint,
                name=name,
                dependencies=[*self.dependencies, *(dependencies or [])],
            )
        self._route_list._add(route)
        return route

    def websocket(
        self, path: str, name: str | None = None, *, dependencies: Sequence[Depends] | None = None
    ) -> Callable[[F], F]:
        """Decorator: ``@app.websocket("/ws")`` over ``async def endpoint(websocket: WebSocket, ...)``."""

        def decorator(func: F) -> F:
            self.add_api_websocket_route(path, func, name=name, dependencies=dependencies)
            return func

        return decorator

    def add_websocket_route(
        self, path: str, endpoint: Callable[[WebSocket], Awaitable[None]], name: str | None = None
    ) -> None:
        """Starlette's form: ``endpoint(websocket)`` gets the WebSocket positionally; nothing is solved.

        As in FastAPI (Starlette's method), neither the router's prefix nor its dependencies apply.
        """
        from fulmen.route_list import plain_websocket_route

        self._route_list._add(plain_websocket_route(path, endpoint, name=name))

    def websocket_route(self, path: str, name: str | None = None) -> Callable[[F], F]:
        """Decorator form of ``add_websocket_route``."""

        def decorator(func: F) -> F:
            self.add_websocket_route(path, func, name=name)
            return func

        return decorator


def apply_root_path(request: Request, root_path: str) -> None:
    """Re-root ``request`` under an app's ``root_path``, as FastAPI's ``root_path`` does.

    The request's root path becomes ``root_path`` (``request.scope["root_path"]``, ``base_url``, ``url_for``);
    a path that carries the prefix is routed without it, any other path as it is, its URL left as sent. A
    request already under ``root_path`` (the server's root path is the same) is left alone.
    """
    if request.root_path == root_path:
        return
    path = request.path
    size = len(root_path)
    if path.startswith(root_path) and (len(path) == size or path[size] == "/"):
        request.path = path[size:]
        encoded = root_path.encode("utf-8")
        if request.raw_path.startswith(encoded):
            request.raw_path = request.raw_path[len(encoded) :]
    else:
        request.url  # noqa: B018 - computed (and kept) before the root path changes: the URL as it was sent
    request.root_path = root_path


def _contains_otel_middleware(stack: Any) -> bool:
    """Whether OpenTelemetry's contrib ``OpenTelemetryMiddleware`` is a layer of ``stack`` (via ``.app``)."""
    seen: set[int] = set()
    while stack is not None and id(stack) not in seen:
        seen.add(id(stack))
        cls = type(stack)
        if (cls.__module__, cls.__name__) == (
            "opentelemetry.instrumentation.asgi",
            "OpenTelemetryMiddleware",
        ):
            return True
        stack = getattr(stack, "app", None)
    return False


def with_root_path(root_path: str, handle: Handle) -> Handle:
    """``handle`` with ``apply_root_path`` in front (installed only for an app whose ``root_path`` is set)."""

    def rooted(request: Request) -> Coroutine[Any, Any, Response]:
        apply_root_path(request, root_path)
        return handle(request)

    return rooted


# ------------------------------------------------------------------------------------------------------------
# Default exception handlers (importable from fulmen.exception_handlers)
# ------------------------------------------------------------------------------------------------------------
async def http_exception_handler(request: Request, exc: BaseHTTPException) -> Response:
    """FastAPI's default: ``{"detail": ...}`` with the exception's status and headers."""
    headers = getattr(exc, "headers", None)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse(
        {"detail": jsonable_encoder(exc.detail)}, status_code=exc.status_code, headers=headers
    )


async def request_validation_exception_handler(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's default: 422 with ``{"detail": [errors]}``."""
    return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def websocket_request_validation_exception_handler(
    websocket: WebSocket, exc: WebSocketRequestValidationError
) -> None:
    """FastAPI's default: close with 1008 (policy violation), the errors as the reason."""
    # FastAPI passes the error list itself as the reason; the TestClient shows it as such.
    await websocket.close(code=1008, reason=jsonable_encoder(exc.errors()))


async def websocket_exception_handler(websocket: WebSocket, exc: WebSocketException) -> None:
    """Starlette's default: close with the exception's code and reason."""
    await websocket.close(code=exc.code, reason=exc.reason)


_WEBSOCKET_DEFAULT_HANDLERS: dict[type[Exception], Callable[[WebSocket, Any], Awaitable[None]]] = {
    WebSocketRequestValidationError: websocket_request_validation_exception_handler,
    WebSocketException: websocket_exception_handler,
}


def lookup_exception_handler(handlers: dict[Any, Any], exc: Exception, *, catch_all: bool = True) -> Any:
    """The handler for ``exc``: by status code for an HTTP exception (never ``500``), else by nearest class.

    ``catch_all=False`` skips an ``Exception`` handler (Starlette gives it to ServerErrorMiddleware alone).
    Starlette's exception classes find the handlers of fulmen's equivalents.
    """
    if is_http_exception(exc):
        code = exc.status_code  # type: ignore[attr-defined]
        if code != 500 and code in handlers:
            return handlers[code]
    equivalents = starlette_equivalents()
    for cls in type(exc).__mro__:
        if cls is Exception and not catch_all:
            return None
        if cls in handlers:
            return handlers[cls]
        equivalent = equivalents.get(cls)
        if equivalent is not None and equivalent in handlers:
            return handlers[equivalent]
    return None


# -- openapi ------------------------------------------------------------------------------------------------
class _WebhooksRouter(APIRouter):
    """``app.webhooks``: operations that are only documented, named like FastAPI's (``"new-subscription"``).

    Webhook names need not be paths; they are registered under ``"/" + name`` (never routed) and keep the
    name as their documented path and operation id.
    """

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> APIRoute:
        if path.startswith("/"):
            return super().add_api_route(path, endpoint, **kwargs)
        route = super().add_api_route("/" + path, endpoint, **kwargs)
        route.path = path
        route.path_format = route.path_format[1:]
        if not route.operation_id:
            from fulmen.routing import _generate_unique_id

            make_id: Callable[[APIRoute], str] = (
                kwargs.get("generate_unique_id_function") or _generate_unique_id
            )
            route.unique_id = make_id(route)
        return route


class Fulmen(APIRouter):
    """A FastAPI-compatible application (also exported as ``FastAPI``)."""

    def __init__(
        self,
        *,
        debug: bool = False,
        title: str = "FastAPI",
        summary: str | None = None,
        description: str = "",
        version: str = "0.1.0",
        openapi_url: str | None = "/openapi.json",
        openapi_tags: list[dict[str, Any]] | None = None,
        servers: list[dict[str, Any]] | None = None,
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        # -- openapi (keyword arguments) --
        swagger_ui_oauth2_redirect_url: str | None = "/docs/oauth2-redirect",
        swagger_ui_init_oauth: dict[str, Any] | None = None,
        swagger_ui_parameters: dict[str, Any] | None = None,
        terms_of_service: str | None = None,
        contact: dict[str, Any] | None = None,
        license_info: dict[str, Any] | None = None,
        root_path_in_servers: bool = True,
        webhooks: APIRouter | None = None,
        separate_input_output_schemas: bool = True,
        openapi_external_docs: dict[str, Any] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        docs_assets: Literal["local", "cdn"] = "local",
        # -- end openapi --
        default_response_class: type[Response] = Default(JSONResponse),
        redirect_slashes: bool = True,
        lifespan: Lifespan | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        exception_handlers: dict[int | type[Exception], ExceptionHandler] | None = None,
        middleware: Sequence[Middleware] | None = None,
        root_path: str = "",
        inline_sync: bool = False,
        dependencies: Sequence[Depends] | None = None,
        strict_content_type: bool = True,
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
        telemetry: TelemetryConfig | None = None,
        routes: Sequence[Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(
            routes=routes,
            default_response_class=default_response_class,
            inline_sync=inline_sync,
            redirect_slashes=redirect_slashes,
            dependencies=dependencies,
            strict_content_type=strict_content_type,
            max_body_size=max_body_size,
            form_limits=form_limits,
        )
        self.debug = debug
        self.title = title
        self.summary = summary
        self.description = description
        self.version = version
        self.openapi_url = openapi_url
        self.openapi_tags = openapi_tags
        self.servers = servers or []
        self.docs_url = docs_url
        self.redoc_url = redoc_url
        self._init_openapi(
            swagger_ui_oauth2_redirect_url=swagger_ui_oauth2_redirect_url,
            swagger_ui_init_oauth=swagger_ui_init_oauth,
            swagger_ui_parameters=swagger_ui_parameters,
            terms_of_service=terms_of_service,
            contact=contact,
            license_info=license_info,
            root_path_in_servers=root_path_in_servers,
            webhooks=webhooks,
            separate_input_output_schemas=separate_input_output_schemas,
            openapi_external_docs=openapi_external_docs,
            generate_unique_id_function=generate_unique_id_function,
            responses=responses,
            callbacks=callbacks,
            deprecated=deprecated,
            include_in_schema=include_in_schema,
            docs_assets=docs_assets,
        )
        if root_path:
            import warnings

            from fulmen.exceptions import FastAPIDeprecationWarning

            # FastAPI 0.165's deprecation, same category; the advice names fulmen's own command.
            warnings.warn(
                "The `root_path` parameter is deprecated. Configure the server's root path instead, for "
                "example with `fulmen run --root-path /api/v1`.",
                FastAPIDeprecationWarning,
                stacklevel=2,
            )
        #: FastAPI's ``root_path`` (see ``apply_root_path``), read at construction; costs nothing when empty.
        self.root_path = root_path
        self.extra = extra
        self.state = State()
        #: ``{original: replacement}`` for dependencies, read per request (for tests, as in FastAPI).
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self.router: APIRouter = self
        self.lifespan_context = _as_lifespan(lifespan) or self._default_lifespan
        self.on_startup_handlers: list[Callable[[], Any]] = list(on_startup or [])
        self.on_shutdown_handlers: list[Callable[[], Any]] = list(on_shutdown or [])
        self._lifespan_cm: contextlib.AbstractAsyncContextManager[Any] | None = None
        #: State yielded by the lifespan as a dict; copied into every request's state.
        self.lifespan_state: dict[str, Any] | None = None
        self.exception_handlers: dict[Any, ExceptionHandler] = {
            BaseHTTPException: http_exception_handler,
            RequestValidationError: request_validation_exception_handler,
        }
        for key, handler in (exception_handlers or {}).items():
            self.add_exception_handler(key, handler)
        self._init_telemetry(telemetry)
        self._init_middleware(middleware)
        if root_path and not self.user_middleware:
            self._install_handle(None)

    # -- telemetry -------------------------------------------------------------------------------------------
    # FastAPI 0.165's built-in OpenTelemetry instrumentation (fulmen.telemetry). Whether an app is
    # instrumented is decided when its stack is built: an app given ``telemetry={...}``, or one that starts
    # while global OpenTelemetry providers are set, gets the telemetry layer on its ASGI entry (the engine
    # then serves it through that entry) and operation spans in its routes. Any other app has no layer and
    # pays nothing (FastAPI checks for global providers on every request instead; docs/telemetry.md).
    def _init_telemetry(self, telemetry: TelemetryConfig | None) -> None:
        #: The full telemetry configuration (FastAPI's defaults, then ``telemetry``).
        self._telemetry: dict[str, Any] = telemetry_config(telemetry)
        self._telemetry_asked = telemetry is not None
        #: The instrumentation (``fulmen.telemetry._asgi.NativeTelemetry``) once the stack is built, or None.
        self._native_telemetry: Any = None

    def _telemetry_wanted(self) -> bool:
        config = self._telemetry
        if not (config["tracing"] or config["metrics"] or config["logs"]):
            return False
        if self._telemetry_asked or config["auto_configure"]:  # asked for (auto_configure: by environment)
            return True
        if "opentelemetry" not in sys.modules:  # no provider can have been set without importing it
            return False
        from fulmen.telemetry._asgi import NativeTelemetry

        return NativeTelemetry(config).enabled()

    @property
    def telemetry_enabled(self) -> bool:
        """True when the built app reports telemetry (the engine then serves it through its ASGI entry)."""
        native = self._native_telemetry
        if native is None:
            return False
        return bool(native.config["auto_configure"] or native.enabled())

    # -- openapi ---------------------------------------------------------------------------------------------
    # The document is generated on the first ``openapi()`` call (the first GET of ``openapi_url``) and cached;
    # ``fulmen.openapi`` is imported only then. The docs routes are ordinary static routes added here, as
    # FastAPI's ``setup()`` adds them, without the app's dependencies; other routes never pay for them.
    def _init_openapi(
        self,
        *,
        swagger_ui_oauth2_redirect_url: str | None,
        swagger_ui_init_oauth: dict[str, Any] | None,
        swagger_ui_parameters: dict[str, Any] | None,
        terms_of_service: str | None,
        contact: dict[str, Any] | None,
        license_info: dict[str, Any] | None,
        root_path_in_servers: bool,
        webhooks: APIRouter | None,
        separate_input_output_schemas: bool,
        openapi_external_docs: dict[str, Any] | None,
        generate_unique_id_function: Callable[[APIRoute], str] | None,
        responses: dict[int | str, dict[str, Any]] | None,
        callbacks: list[Any] | None,
        deprecated: bool | None,
        include_in_schema: bool,
        docs_assets: Literal["local", "cdn"],
    ) -> None:
        if docs_assets not in ("local", "cdn"):
            raise ValueError(f"docs_assets must be 'local' or 'cdn', not {docs_assets!r}")
        #: Where /docs and /redoc load Swagger UI and ReDoc from: the app itself ("local", the default, served
        #: under ``docs_assets_url``) or FastAPI's CDN URLs ("cdn").
        self.docs_assets = docs_assets
        # The app's own router settings for its operations, as FastAPI's (they only show in the document).
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.callbacks = list(callbacks or [])
        self.swagger_ui_oauth2_redirect_url = swagger_ui_oauth2_redirect_url
        self.swagger_ui_init_oauth = swagger_ui_init_oauth
        self.swagger_ui_parameters = swagger_ui_parameters
        self.terms_of_service = terms_of_service
        self.contact = contact
        self.license_info = license_info
        self.root_path_in_servers = root_path_in_servers
        self.separate_input_output_schemas = separate_input_output_schemas
        self.openapi_external_docs = openapi_external_docs
        self.openapi_version = "3.1.0"
        #: The generated document, once ``openapi()`` ran (assign your own to replace it).
        self.openapi_schema: dict[str, Any] | None = None
        self._openapi_routes_version: tuple[int, int] | None = None
        #: Operations documented as webhooks (``@app.webhooks.post("name")``), never routed.
        self.webhooks: APIRouter = webhooks or _WebhooksRouter()
        self._generate_unique_id_function = generate_unique_id_function
        if self.openapi_url:
            if not self.title:
                raise AssertionError("A title must be provided for OpenAPI, e.g.: 'My API'")
            if not self.version:
                raise AssertionError("A version must be provided for OpenAPI, e.g.: '2.1.0'")
        self._add_docs_routes()

    def openapi(self) -> dict[str, Any]:
        """The app's OpenAPI document (FastAPI's, for the same app), generated once and cached in
        ``openapi_schema``; generated again only if routes were added since."""
        version = (self._route_list.version, self.webhooks.routes.version)
        if not self.openapi_schema or self._openapi_routes_version != version:
            from fulmen.openapi.utils import get_openapi

            self.openapi_schema = get_openapi(
                title=self.title,
                version=self.version,
                openapi_version=self.openapi_version,
                summary=self.summary,
                description=self.description,
                terms_of_service=self.terms_of_service,
                contact=self.contact,
                license_info=self.license_info,
                routes=self.routes,
                webhooks=self.webhooks.routes,
                tags=self.openapi_tags,
                servers=self.servers,
                separate_input_output_schemas=self.separate_input_output_schemas,
                external_docs=self.openapi_external_docs,
            )
            for middleware in self.user_middleware:
                # A middleware class may document what it answers itself (RateLimitMiddleware's 429):
                # ``update_openapi(document, *options)`` edits the new document, with the options it was
                # added with (docs/openapi.md, Responses from dependencies and middleware).
                update = getattr(middleware.cls, "update_openapi", None)
                if update is not None:
                    update(self.openapi_schema, *middleware.args, **middleware.kwargs)
            self._openapi_routes_version = version
        return self.openapi_schema

    def _root_path(self, request: Request) -> str:
        return (self.root_path or request.root_path).rstrip("/")

    @property
    def docs_assets_url(self) -> str | None:
        """The path the shipped docs assets are served under (``/docs/static`` by default): ``docs_url``
        (else ``redoc_url``) plus ``/static``; ``None`` when they aren't served (``docs_assets="cdn"``)."""
        base = self.docs_url or self.redoc_url
        if self.docs_assets != "local" or not self.openapi_url or not base:
            return None
        return base.rstrip("/") + "/static"

    def _add_docs_routes(self) -> None:
        openapi_url = self.openapi_url
        if not openapi_url:
            return
        assets_url = self.docs_assets_url
        if assets_url is not None:
            names = ["redoc.standalone.js", "favicon-32x32.png"] if self.redoc_url else []
            if self.docs_url:
                names += ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"]
            for name in dict.fromkeys(names):
                self._add_docs_route(f"{assets_url}/{name}", self._docs_asset_endpoint(name))

        async def openapi(req: Request) -> Response:
            root_path = self._root_path(req)
            schema = self.openapi()
            if root_path and self.root_path_in_servers:
                urls = {s.get("url") for s in schema.get("servers", [])}
                if root_path not in urls:
                    schema = dict(schema)
                    schema["servers"] = [{"url": root_path}, *schema.get("servers", [])]
            return JSONResponse(schema)

        self._add_docs_route(openapi_url, openapi)
        if self.docs_url:

            async def swagger_ui_html(req: Request) -> Response:
                from fulmen.openapi import docs

                root_path = self._root_path(req)
                redirect_url = self.swagger_ui_oauth2_redirect_url
                local: dict[str, str] = {}
                if assets_url is not None:
                    static = root_path + assets_url
                    local = {
                        "swagger_js_url": f"{static}/swagger-ui-bundle.js",
                        "swagger_css_url": f"{static}/swagger-ui.css",
                        "swagger_favicon_url": f"{static}/favicon-32x32.png",
                    }
                return docs.get_swagger_ui_html(
                    openapi_url=root_path + openapi_url,
                    title=f"{self.title} - Swagger UI",
                    oauth2_redirect_url=root_path + redirect_url if redirect_url else redirect_url,
                    init_oauth=self.swagger_ui_init_oauth,
                    swagger_ui_parameters=self.swagger_ui_parameters,
                    **local,
                )

            self._add_docs_route(self.docs_url, swagger_ui_html)
            if self.swagger_ui_oauth2_redirect_url:

                async def swagger_ui_redirect(req: Request) -> Response:
                    from fulmen.openapi import docs

                    return docs.get_swagger_ui_oauth2_redirect_html()

                self._add_docs_route(self.swagger_ui_oauth2_redirect_url, swagger_ui_redirect)
        if self.redoc_url:

            async def redoc_html(req: Request) -> Response:
                from fulmen.openapi import docs

                root_path = self._root_path(req)
                if assets_url is None:
                    return docs.get_redoc_html(
                        openapi_url=root_path + openapi_url, title=f"{self.title} - ReDoc"
                    )
                # Local assets: no Google Fonts either (ReDoc falls back to its CSS font stacks).
                static = root_path + assets_url
                return docs.get_redoc_html(
                    openapi_url=root_path + openapi_url,
                    title=f"{self.title} - ReDoc",
                    redoc_js_url=f"{static}/redoc.standalone.js",
                    redoc_favicon_url=f"{static}/favicon-32x32.png",
                    with_google_fonts=False,
                )

            self._add_docs_route(self.redoc_url, redoc_html)

    @staticmethod
    def _docs_asset_endpoint(name: str) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def docs_asset(req: Request) -> Response:
            from fulmen.openapi import docs

            return docs.docs_asset_response(name, req)

        return docs_asset

    def _add_docs_route(self, path: str, endpoint: Callable[..., Any]) -> None:
        # Not through add_api_route: like FastAPI's plain Starlette routes, they take no app dependencies.
        route = APIRoute(path, endpoint, include_in_schema=False, response_model=None)
        route.operation_spans = False  # FastAPI's docs routes are plain Starlette routes: no operation spans
        self._route_list._add(route)

    # -- pipeline --------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Coroutine[Any, Any, Response]:
        """Route one request and return the coroutine that answers it; every outcome is a Response.

        Not itself a coroutine: the matched route's handler coroutine is returned as is (it turns its own
        exceptions into responses), which saves a coroutine layer per request.
        """
        request.app = self
        # PERF: routing happens here, synchronously; the only coroutine is the route's own handler.
        found = self.table.match(request.method, request.path)
        if type(found) is tuple:
            route, request.path_params = found
            return route.handler(request)
        if self.table.mounts:
            path = request.path
            for mount in self.table.mounts:
                if mount.covers(path):
                    return self._call_mount(mount, request)
        return self._answer_no_route(request, found)  # type: ignore[arg-type]

    def _matched_route(self, request: Request, *, websocket: bool = False) -> Any:
        """The route that answers ``request`` (Starlette's ``scope["route"]``), matched again on demand.

        Routing records nothing per request; a route of a mounted APIRouter is recorded where it is matched.
        """
        extra = request.scope_extra
        if extra is not None and "route" in extra:
            return extra["route"]
        if websocket:
            table: WebSocketRouteTable | None = self.__dict__.get("_websocket_table")
            found_ws = table.match(request.path) if table is not None else None
            return None if found_ws is None else found_ws[0]
        found = self.table.match(request.method, request.path)
        return found[0] if type(found) is tuple else None

    async def _call_mount(self, mount: Mount, request: Request) -> Response:
        # Re-root the request as Starlette's Mount does: the sub-app sees its own paths, URLs stay whole.
        # The outermost app records itself, its root path and the path under it: url_for, base_url and
        # scope["path"] (root path + path) inside the mount use them, as in Starlette.
        if request._mounted_from is None:
            request._mounted_from = (self, request.root_path, request.path)
        prefix = mount.path
        request.root_path += prefix
        request.path = request.path[len(prefix) :]
        encoded = prefix.encode("utf-8")
        if request.raw_path.startswith(encoded):
            request.raw_path = request.raw_path[len(encoded) :]
        try:
            result = mount.handle(request)
            # PERF: a mounted fulmen app hands back a coroutine; only other results pay the ABC check.
            if type(result) is CoroutineType or isinstance(result, Awaitable):
                result = await result
            return result  # type: ignore[no-any-return]
        except Exception as exc:
            return await self.handle_exception(request, exc)

    async def _answer_no_route(self, request: Request, allow: str | None) -> Response:
        too_large = too_large_before_routing(request, self.max_body_size)
        if too_large is not None:
            return too_large  # as FastAPI's app-wide limit answers before its router
        try:
            response = self._no_route(request, allow)
            if response is not None:
                return response
            if self.frontends:
                # FastAPI's low-priority routes: tried after routes, mounts and the trailing-slash redirect.
                from fulmen.frontend import match_frontend

                frontend = match_frontend(self.frontends, request.path)
                if frontend is not None:
                    return await frontend.answer(request)
            raise http_error(404)
        except Exception as exc:
            return await self.handle_exception(request, exc)

    def _no_route(self, request: Request, allow: str | None) -> Response | None:
        # Raised, not returned, so custom handlers for 404 / 405 / BaseHTTPException (Starlette's
        # HTTPException) apply as in FastAPI; not HTTPException, whose handler doesn't see these there either.
        # http_error: once Starlette is loaded the error is Starlette's class too, as the handler may check.
        if allow is not None:
            raise http_error(405, headers={"Allow": allow})
        path = request.path
        if self.redirect_slashes and path != "/":
            alt = path[:-1] if path.endswith("/") else path + "/"
            if self.table.match(request.method, alt) is not None or _mounted_at(self.table.mounts, alt):
                url = request.url
                new_path = url.path[:-1] if url.path.endswith("/") else url.path + "/"
                return RedirectResponse(str(url.replace(path=new_path)))
        return None

    async def handle_exception(self, request: Request, exc: Exception) -> Response:
        """Turn an exception raised while answering ``request`` into a response (handlers, then 500).

        As Starlette's two layers: the handler for the exception's class or status code answers it; what has
        none, or what that handler raises, goes to the ``500``/``Exception`` handler or becomes a plain 500.
        """
        if ROUTE_HANDLER_RAISES.get() is request:
            raise exc  # for a custom route class's wrapper (fulmen.routing.APIRoute.get_route_handler)
        handler = lookup_exception_handler(self.exception_handlers, exc, catch_all=False)
        if handler is not None:
            try:
                result = handler(request, exc)
                if isinstance(result, Awaitable):
                    result = await result
                return foreign_response(result) or result  # a Starlette response, as FastAPI handlers return
            except Exception as inner:
                exc = inner
        from fulmen.middleware._stack import server_error_response

        return await server_error_response(self, request, exc)

    def _inherit_limits(self, max_body_size: int | None, form_limits: FormLimits) -> None:
        """Take the limits of the mount point this app is mounted at, under its routes' own settings."""
        # The app's own limits come first (routes given directly in routes= carry them only in their handler).
        super()._inherit_limits(
            first_limit(self.max_body_size, max_body_size), {**form_limits, **self.form_limits}
        )
        if self.max_body_size is None:
            self.max_body_size = max_body_size

    # -- configuration ---------------------------------------------------------------------------------------
    def exception_handler(self, exc_class_or_status_code: int | type[Exception]) -> Callable[[F], F]:
        """Decorator: register a handler for an exception class or an HTTP status code."""

        def decorator(func: F) -> F:
            self.add_exception_handler(exc_class_or_status_code, func)
            return func

        return decorator

    def add_exception_handler(self, key: int | type[Exception], handler: ExceptionHandler) -> None:
        """Register a handler for an exception class or an HTTP status code.

        Starlette's ``HTTPException``/``WebSocketException`` register for fulmen's ``BaseHTTPException``/
        ``WebSocketException``, so FastAPI code that imports them from ``starlette.exceptions`` works as is.
        """
        self.exception_handlers[handler_key(key)] = handler

    # -- middleware ------------------------------------------------------------------------------------------
    # The stack is built once (engine start-up, or the first ASGI call) into instance attributes: ``handle``
    # becomes the whole pipeline and ``handle_exception`` lets unhandled errors leave through the middleware
    # (fulmen.middleware._stack). Without middleware neither exists and the class methods run untouched.
    def _init_middleware(self, middleware: Sequence[Middleware] | None) -> None:
        #: Installed middleware, outermost first (``add_middleware`` inserts at the front, as Starlette).
        self.user_middleware: list[Middleware] = list(middleware or [])
        self._middleware_built = False
        #: The middleware in ASGI form for WebSocket connections when the HTTP stack is native, else None.
        self.websocket_asgi: Callable[[Any, Any, Any], Awaitable[None]] | None = None
        # What ``__call__`` runs instead of the plain ASGI front door: a build-then-call trampoline until the
        # stack is built, then the ASGI stack, or None when the stack is native or empty.
        self._asgi_stack: Callable[[Any, Any, Any], Awaitable[None]] | None = self._build_then_call
        self._asgi_middleware: Callable[[Any, Any, Any], Awaitable[None]] | None = None
        #: Built with ``build_middleware_stack`` wrapped on the instance (served through the wrapper).
        self._stack_wrapped = False
        self._unwrapped_stack: Callable[[Any, Any, Any], Awaitable[None]] | None = None
        self._recording_handle: Handle | None = None
        self._adopted_stack: Any = None
        if self.user_middleware:
            self._install_build_trampoline()

    def _install_build_trampoline(self) -> None:
        # PERF: an instance attribute shadows the ``handle`` method: no per-request "is it built?" check,
        # and an app without middleware never gets one.
        vars(self)["handle"] = self._build_then_handle

    def _build_then_handle(self, request: Request) -> Coroutine[Any, Any, Response]:
        type(self).build_middleware_stack(self)  # the class's: a wrapper on the instance runs once, later
        return self.handle(request)

    async def _build_then_call(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        type(self).build_middleware_stack(self)
        await self(scope, receive, send)

    def add_middleware(self, middleware_class: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Install a middleware class (``Cls(app, **options)`` is an ASGI app); the last added runs first."""
        if self._middleware_built:
            raise RuntimeError("Cannot add middleware after an application has started")
        self.user_middleware.insert(0, Middleware(middleware_class, *args, **kwargs))
        self._install_build_trampoline()

    def middleware(self, middleware_type: str) -> Callable[[F], F]:
        """Decorator: ``@app.middleware("http")`` over ``async def mw(request, call_next) -> Response``."""
        if middleware_type != "http":
            raise FastAPIError(f"Unknown middleware type {middleware_type!r}; only 'http' is supported")
        from fulmen.middleware.base import BaseHTTPMiddleware

        def decorator(func: F) -> F:
            self.add_middleware(BaseHTTPMiddleware, dispatch=func)
            return func

        return decorator

    def build_middleware_stack(self) -> Any:
        """Build the middleware stack once; later ``add_middleware`` calls raise RuntimeError.

        The engine calls this at start-up; the ASGI front door and ``handle`` on their first call. As
        Starlette's, it returns the app in ASGI form, for code that wraps this method on the instance
        (OpenTelemetry's ``FastAPIInstrumentor.instrument_app``): fulmen then serves what the wrapper returns.
        """
        if not self._middleware_built:
            self._build_stack()
            self._unwrapped_stack = self._asgi_stack
            wrapper = vars(self).get("build_middleware_stack")
            if (
                wrapper is not None
                and getattr(wrapper, "__func__", None) is not Fulmen.build_middleware_stack
            ):
                # PERF: the wrapper is called on the first request (see _serve_through_wrapper); an app
                # whose method nobody wrapped keeps its direct path.
                self._asgi_stack = self._serve_through_wrapper
                self._stack_wrapped = True
        if not self._stack_wrapped:
            return self
        errors = sys.modules.get("starlette.middleware.errors")
        if errors is None:
            return self._serve_unwrapped
        # The wrapper expects Starlette's outermost layer and re-wraps what is inside it.
        return errors.ServerErrorMiddleware(
            app=self._serve_unwrapped, handler=stashed_answer, debug=self.debug
        )

    async def _serve_through_wrapper(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """First call of an app whose ``build_middleware_stack`` was wrapped: adopt the wrapper's ASGI app."""
        wrapper = vars(self).get("build_middleware_stack")
        stack = wrapper() if wrapper is not None else None
        self._adopt_stack(self._serve_unwrapped if stack is None else stack)
        await self(scope, receive, send)

    def _adopt_stack(self, stack: Any) -> None:
        """Serve ``stack`` (a built app in ASGI form with fulmen's own stack inside) in place of the stack."""
        native = self._native_telemetry
        if native is not None:
            # OpenTelemetry's own middleware in it reports the requests, as in FastAPI 0.165.
            native.legacy_otel = _contains_otel_middleware(stack)
        from fulmen.middleware._stack import recording

        # The wrapper's layers read scope["route"] after the response (OpenTelemetry's http.target metric
        # attribute), as Starlette's router leaves it there: the plain front door writes it in this app.
        self._recording_handle = recording(self, self.handle)
        self._stack_wrapped = True
        self._adopted_stack = stack
        self._asgi_stack = functools.partial(self._serve_wrapped, stack)

    @property
    def middleware_stack(self) -> Any:
        """Starlette's attribute: None until the stack is built, then the app in ASGI form that is served.

        Setting None lets middleware be added again (the stack is rebuilt on the next call, as Starlette's);
        setting an ASGI app built around this one (``build_middleware_stack()``'s result) serves it.
        """
        if not self._middleware_built:
            return None
        return self if self._adopted_stack is None else self._adopted_stack

    @middleware_stack.setter
    def middleware_stack(self, stack: Any) -> None:
        if stack is None:
            self._unbuild()
            return
        type(self).build_middleware_stack(self)
        if stack is not self and stack is not self._adopted_stack:
            self._adopt_stack(stack)

    def _unbuild(self) -> None:
        """Forget the built stack: ``add_middleware`` works again and the next call builds it anew."""
        if not self._middleware_built:
            return
        state = vars(self)
        state.pop("handle", None)
        state.pop("handle_exception", None)
        self._middleware_built = False
        self._asgi_stack = self._build_then_call
        self._asgi_middleware = None
        self.websocket_asgi = None
        self._native_telemetry = None
        self._stack_wrapped = False
        self._unwrapped_stack = None
        self._adopted_stack = None
        self._install_build_trampoline()

    async def _serve_wrapped(self, stack: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["app"] = self  # as Starlette's __call__, before any layer reads it (route lookups do)
            if scope["type"] == "http":
                # The wrapper's layers see an unhandled exception after its 500 is sent, as in Starlette
                # (OpenTelemetry records it on the request's span).
                scope[RERAISE_KEY] = True
        await stack(scope, receive, send)

    async def _serve_unwrapped(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """What ``__call__`` runs inside a wrapper's layers: fulmen's own stack, or the plain front door."""
        native = self._native_telemetry
        if (
            scope["type"] == "http"
            and self._asgi_middleware is None
            and (native is None or native.legacy_otel)
        ):
            from fulmen.asgi import _http

            await _http(self, scope, receive, send, handle=self._recording_handle)
            return
        stack = self._unwrapped_stack
        if stack is not None:
            await stack(scope, receive, send)
            return
        await self._serve_front_door(scope, receive, send)

    def _build_stack(self) -> None:
        if self._middleware_built:
            return
        state = vars(self)
        if self.user_middleware:
            from fulmen.middleware import _stack

            # A middleware whose options are wrong raises here and the app stays unbuilt: it must not go on
            # serving without its middleware.
            handle, asgi_stack = _stack.build(self, self.user_middleware)
            state["handle_exception"] = functools.partial(_stack.handle_exception_in_stack, self)
            self._asgi_stack = asgi_stack
            if asgi_stack is not None:
                state["handle"] = handle  # the root path step is inside the ASGI stack, at its core
            else:
                self._install_handle(handle)
                # Native layers wrap HTTP only: WebSocket connections go through the same layers in ASGI
                # form, so e.g. TrustedHostMiddleware checks them too (as Starlette's does).
                self.websocket_asgi = _stack.build_asgi(self, [tuple(m) for m in self.user_middleware])
        else:
            self._install_handle(None)
            self._asgi_stack = None
        #: The ASGI-only middleware stack, or None (``_asgi_stack`` may be the telemetry layer around it).
        self._asgi_middleware = self._asgi_stack
        if self._telemetry_wanted():
            self._install_telemetry()
        self._middleware_built = True

    def _install_telemetry(self) -> None:
        from fulmen.telemetry._asgi import NativeTelemetry

        native = self._native_telemetry = NativeTelemetry(self._telemetry, self)
        # OpenTelemetry's own ASGI middleware installed as well: it reports the requests, not us.
        native.legacy_otel = any(
            getattr(m.cls, "__module__", None) == "opentelemetry.instrumentation.asgi"
            and getattr(m.cls, "__name__", None) == "OpenTelemetryMiddleware"
            for m in self.user_middleware
        )
        self._asgi_stack = functools.partial(native.serve, self, self._serve_untraced)
        if self._telemetry["operation_spans"]:
            self._instrument_routes()

    def _instrument_routes(self) -> None:
        # The routes' endpoint, dependencies and serialisation in operation spans: this app's routes and
        # those of the fulmen apps mounted in it (their requests are this app's, as in FastAPI).
        if self.__dict__.get("_routes_instrumented"):
            return
        self._routes_instrumented = True
        from fulmen.telemetry import _operations

        for route in self.table.routes:
            if getattr(route, "operation_spans", False):
                route.instrument(_operations)
        for websocket_route in self._websocket_routes():
            websocket_route.instrument(_operations)
        for mount in self.table.mounts:
            if isinstance(mount.app, Fulmen):
                mount.app._instrument_routes()

    def _install_handle(self, handle: Handle | None) -> None:
        """Make ``handle`` (None: the class's, no middleware) the app's pipeline, after the root path step."""
        state = vars(self)
        if self.root_path:
            state["handle"] = with_root_path(self.root_path, handle or type(self).handle.__get__(self))
        elif handle is None:
            state.pop("handle", None)
        else:
            state["handle"] = handle

    @property
    def asgi_middleware_installed(self) -> bool:
        """True once the stack is built with an ASGI-only middleware in it (the engine then adapts)."""
        return self._middleware_built and (self._asgi_middleware is not None or self._stack_wrapped)

    # -- lifespan --------------------------------------------------------------------------------------------
    async def startup(self) -> None:
        """Run the lifespan's start (or the startup handlers)."""
        self.lifespan_state = None
        if self._native_telemetry is not None and self._telemetry["auto_configure"]:
            from fulmen.telemetry import _runtime

            _runtime.startup(self._telemetry)
        # The lifespan, then the startup handlers unless it ran them: it is (or wraps, as a library may) the
        # default lifespan, which runs them where the library put it.
        default = self._default_lifespan
        default.started = False  # a new start (after one that failed half way, too)
        cm = self.lifespan_context(self)
        state = await cm.__aenter__()
        self._lifespan_cm = cm
        if state is not None:
            self.lifespan_state = dict(state)
        try:
            await default.__aenter__()
        except BaseException as exc:  # a failed startup handler: the lifespan started above ends with it
            self._lifespan_cm = self.lifespan_state = None
            await cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        if self._native_telemetry is None and self._middleware_built and self._telemetry_wanted():
            # Global providers set by the startup code (in the lifespan): instrument from here on, under an
            # ASGI server (fulmen's engine chose its path before startup; docs/telemetry.md).
            self._install_telemetry()

    async def shutdown(self) -> None:
        """Run the lifespan's end (or the shutdown handlers)."""
        # The lifespan's state ends with it: requests served later (a new TestClient) start without it.
        cm, self._lifespan_cm, self.lifespan_state = self._lifespan_cm, None, None
        try:
            if cm is not None:
                await cm.__aexit__(None, None, None)
            await self._default_lifespan.__aexit__(None, None, None)  # unless the lifespan ran its handlers
        finally:
            telemetry_runtime = sys.modules.get("fulmen.telemetry._runtime")
            if telemetry_runtime is not None and telemetry_runtime.owns_components():
                from fulmen._concurrency import run_in_threadpool

                await run_in_threadpool(telemetry_runtime.flush)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """``async with app.lifespan():`` runs startup and shutdown around the block."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    # -- WebSockets ------------------------------------------------------------------------------------------
    async def handle_websocket(self, websocket: WebSocket) -> None:
        """Route one WebSocket connection and run its endpoint; both front doors call this.

        Exceptions with a handler (``WebSocketException``, validation errors, your own) end here; any other
        propagates to the front door, which answers the handshake with 500 or closes the socket with 1011.
        """
        websocket.app = self
        if self.root_path:
            apply_root_path(websocket.request, self.root_path)
        path = websocket.path
        table: WebSocketRouteTable | None = self.__dict__.get("_websocket_table")
        found = table.match(path) if table is not None else None
        try:
            if found is not None:
                route, websocket.path_params = found
                await route.handler(websocket)
                return
            for mount in self.table.mounts:
                if mount.covers(path):
                    await self._websocket_to_mount(mount, websocket)
                    return
            await websocket.close(1000)  # no route: closed before accept, so a server answers 403
        except Exception as exc:
            await self.handle_websocket_exception(websocket, exc)

    async def _websocket_to_mount(self, mount: Mount, websocket: WebSocket) -> None:
        request = websocket.request
        prefix = mount.path
        request.root_path += prefix
        request.path = request.path[len(prefix) :]
        encoded = prefix.encode("utf-8")
        if request.raw_path.startswith(encoded):
            request.raw_path = request.raw_path[len(encoded) :]
        native = getattr(mount.app, "handle_websocket", None)
        if native is None and isinstance(mount.app, APIRouter):
            native = mount.app._handle_mounted_websocket
        if native is not None:
            await native(websocket)
            return
        # Any other ASGI app gets the connection's own receive/send (Starlette's Mount semantics for paths).
        scope = websocket.scope
        scope["path"] = request.root_path + request.path
        scope["raw_path"] = request.root_path.encode("utf-8") + request.raw_path
        await mount.app(scope, websocket._receive, websocket._send)

    async def handle_websocket_exception(self, websocket: WebSocket, exc: Exception) -> None:
        """Run the handler for ``exc`` raised in a WebSocket endpoint; re-raise when there is none.

        As in Starlette, ``500``/``Exception`` handlers don't apply to WebSockets. A handler that returns a
        Response before ``accept`` rejects the handshake with it (the ASGI denial-response extension).
        """
        handler = self._lookup_websocket_handler(exc)
        if handler is None:
            raise exc
        result = handler(websocket, exc)
        if isinstance(result, Awaitable):
            result = await result
        if isinstance(result, Response):
            if websocket.application_state is WebSocketState.CONNECTING:
                await websocket.send_denial_response(result)
            elif websocket.application_state is WebSocketState.CONNECTED:
                await websocket.close(1011)  # an HTTP answer can't be sent on an open WebSocket

    def _lookup_websocket_handler(self, exc: Exception) -> Any:
        handlers = self.exception_handlers
        code = getattr(exc, "status_code", None) if is_http_exception(exc) else None
        if code is not None and code != 500 and code in handlers:
            return handlers[code]
        equivalents = starlette_equivalents()
        for cls in type(exc).__mro__:
            if cls is Exception:
                break
            cls = equivalents.get(cls, cls)
            handler = handlers.get(cls) or _WEBSOCKET_DEFAULT_HANDLERS.get(cls)
            if handler is not None:
                return handler
        return None

    # -- front doors -----------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI 3 entry point, so any ASGI server (uvicorn, granian, hypercorn) can serve the app."""
        stack = self._asgi_stack
        if stack is not None:  # first call (builds the middleware stack), or ASGI middleware installed
            await stack(scope, receive, send)
            return
        if self.websocket_asgi is not None and scope["type"] == "websocket":
            await self.websocket_asgi(scope, receive, send)
            return
        from fulmen.asgi import asgi_entry

        await asgi_entry(self, scope, receive, send)

    async def _serve_untraced(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # What ``__call__`` does under the telemetry layer: the ASGI middleware, or the plain front door.
        stack = self._asgi_middleware
        if stack is not None:
            await stack(scope, receive, send)
            return
        await self._serve_front_door(scope, receive, send)

    async def _serve_front_door(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The plain front door (no ASGI middleware): the WebSocket layer, or ``fulmen.asgi``.

        ``__call__`` keeps its own copy of these lines: it is the ASGI hot path (PERF: one call less).
        """
        if self.websocket_asgi is not None and scope["type"] == "websocket":
            await self.websocket_asgi(scope, receive, send)
            return
        from fulmen.asgi import asgi_entry

        await asgi_entry(self, scope, receive, send)

    def run(
        self, host: str = "127.0.0.1", port: int = 8000, *, workers: int = 1, **config: Any
    ) -> None:  # pragma: no cover - exercised through subprocess tests
        """Serve the app on fulmen's engine (blocking); options as ``fulmen.engine.config.Config``."""
        from fulmen.engine.server import run

        run(self, host=host, port=port, workers=workers, **config)


FastAPI = Fulmen
