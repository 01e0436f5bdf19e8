"""The application: route table, exception handlers, lifespan and ``run()``.

``Fulmen.handle(request)`` is the one pipeline both front doors call: the engine (``fulmen.engine``) and ASGI
(``fulmen.asgi``). It always returns a ``Response``: HTTP errors, validation errors and crashes become
responses here, so no front door can lose one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from enum import Enum
from typing import Any, TypeVar

from fulmen.datastructures import State
from fulmen.encoders import jsonable_encoder
from fulmen.exceptions import FastAPIError, HTTPException, RequestValidationError
from fulmen.params import Depends
from fulmen.requests import Request
from fulmen.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fulmen.routing import APIRoute, Mount, RouteTable

logger = logging.getLogger("fulmen.error")

F = TypeVar("F", bound=Callable[..., Any])
ExceptionHandler = Callable[[Request, Any], "Response | Awaitable[Response]"]
Lifespan = Callable[[Any], contextlib.AbstractAsyncContextManager[Any]]


class APIRouter:
    """A group of routes with a shared prefix and settings, included into an app with ``include_router``."""

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: list[str | Enum] | None = None,
        default_response_class: type[Response] = JSONResponse,
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        inline_sync: bool | None = None,
        redirect_slashes: bool = True,
        dependencies: Sequence[Depends] | None = None,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise FastAPIError("A path prefix must start with '/' and must not end with '/'")
        self.prefix = prefix
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

    @property
    def routes(self) -> list[Any]:
        """Routes in declaration order, then mounted applications."""
        return [*self.table.routes, *self.table.mounts]

    def mount(self, path: str, app: Any, name: str | None = None) -> None:
        """Serve ``app`` (a fulmen app, ``StaticFiles`` or any ASGI app) under ``path``."""
        self.table.mounts.append(Mount(self.prefix + path, app, name=name))

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
        route = APIRoute(
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
        self.table.add(route)
        return route

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
    ) -> None:
        """Copy ``router``'s routes into this one under ``prefix``, merging tags and responses."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise FastAPIError("A path prefix must start with '/' and must not end with '/'")
        for mount in router.table.mounts:
            self.table.mounts.append(Mount(self.prefix + prefix + mount.path, mount.app, name=mount.name))
        for route in router.table.routes:
            self.add_api_route(
                prefix + route.path,
                route.endpoint,
                methods=[m for m in route.method_list if not (m == "HEAD" and "GET" in route.methods)],
                response_class=route.response_class,
                status_code=route.status_code,
                name=route.name,
                tags=[*(tags or []), *route.tags],
                summary=route.summary,
                description=route.description,
                response_description=route.response_description,
                responses={**(responses or {}), **route.responses},
                deprecated=route.deprecated if route.deprecated is not None else deprecated,
                operation_id=route.operation_id,
                include_in_schema=route.include_in_schema and include_in_schema,
                response_model=route.response_model,
                openapi_extra=route.openapi_extra,
                inline_sync=route.inline_sync,
                dependencies=[*(dependencies or []), *route.dependencies],
                **route.extra,
            )

    def url_path_for(self, name: str, /, **path_params: Any) -> str:
        """The path of the route called ``name``."""
        return self.table.url_path_for(name, **path_params)


# ------------------------------------------------------------------------------------------------------------
# Default exception handlers (importable from fulmen.exception_handlers)
# ------------------------------------------------------------------------------------------------------------
def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    """FastAPI's default: ``{"detail": ...}`` with the exception's status and headers."""
    headers = getattr(exc, "headers", None)
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse(
        {"detail": jsonable_encoder(exc.detail)}, status_code=exc.status_code, headers=headers
    )


def request_validation_exception_handler(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's default: 422 with ``{"detail": [errors]}``."""
    return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


def _server_error(request: Request, exc: BaseException) -> Response:
    return PlainTextResponse("Internal Server Error", status_code=500)


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
        default_response_class: type[Response] = JSONResponse,
        redirect_slashes: bool = True,
        lifespan: Lifespan | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        exception_handlers: dict[int | type[Exception], ExceptionHandler] | None = None,
        root_path: str = "",
        inline_sync: bool = False,
        dependencies: Sequence[Depends] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(
            default_response_class=default_response_class,
            inline_sync=inline_sync,
            redirect_slashes=redirect_slashes,
            dependencies=dependencies,
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
        self.root_path = root_path
        self.extra = extra
        self.state = State()
        #: ``{original: replacement}`` for dependencies, read per request (for tests, as in FastAPI).
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self.router: APIRouter = self
        self.lifespan_context = lifespan
        self.on_startup_handlers: list[Callable[[], Any]] = list(on_startup or [])
        self.on_shutdown_handlers: list[Callable[[], Any]] = list(on_shutdown or [])
        self._lifespan_cm: contextlib.AbstractAsyncContextManager[Any] | None = None
        #: State yielded by the lifespan as a dict; copied into every request's state.
        self.lifespan_state: dict[str, Any] | None = None
        self.exception_handlers: dict[Any, ExceptionHandler] = {
            HTTPException: http_exception_handler,
            RequestValidationError: request_validation_exception_handler,
        }
        if exception_handlers:
            self.exception_handlers.update(exception_handlers)

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
                if mount.matches(path):
                    return self._call_mount(mount, request)
        return self._answer_no_route(request, found)  # type: ignore[arg-type]

    async def _call_mount(self, mount: Mount, request: Request) -> Response:
        # Re-root the request as Starlette's Mount does: the sub-app sees its own paths, URLs stay whole.
        prefix = mount.path
        request.root_path += prefix
        request.path = request.path[len(prefix) :]
        encoded = prefix.encode("utf-8")
        if request.raw_path.startswith(encoded):
            request.raw_path = request.raw_path[len(encoded) :]
        try:
            result = mount.handle(request)
            if isinstance(result, Awaitable):
                result = await result
            return result  # type: ignore[no-any-return]
        except Exception as exc:
            return await self.handle_exception(request, exc)

    async def _answer_no_route(self, request: Request, allow: str | None) -> Response:
        try:
            return self._no_route(request, allow)
        except Exception as exc:
            return await self.handle_exception(request, exc)

    def _no_route(self, request: Request, allow: str | None) -> Response:
        # Raised, not returned, so custom handlers for HTTPException / 404 / 405 apply as in FastAPI.
        if allow is not None:
            raise HTTPException(405, headers={"Allow": allow})
        path = request.path
        if self.redirect_slashes and path != "/":
            alt = path[:-1] if path.endswith("/") else path + "/"
            if self.table.match(request.method, alt) is not None:
                url = request.url
                new_path = url.path[:-1] if url.path.endswith("/") else url.path + "/"
                return RedirectResponse(str(url.replace(path=new_path)))
        raise HTTPException(404)

    async def handle_exception(self, request: Request, exc: Exception) -> Response:
        """Turn an exception raised while answering ``request`` into a response (handlers, then 500)."""
        handler = self._lookup_handler(exc)
        if handler is None:
            extra = request.scope_extra
            if extra is not None and extra.get("fulmen.raise_server_exceptions"):
                raise exc  # TestClient(raise_server_exceptions=True) shows the test the real error
            logger.error("Exception in ASGI application", exc_info=exc)
            return _server_error(request, exc)
        try:
            result = handler(request, exc)
            if isinstance(result, Awaitable):
                result = await result
            return result
        except Exception as inner:
            logger.error("Exception in exception handler", exc_info=inner)
            return _server_error(request, inner)

    def _lookup_handler(self, exc: Exception) -> ExceptionHandler | None:
        handlers = self.exception_handlers
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None

    # -- configuration ---------------------------------------------------------------------------------------
    def exception_handler(self, exc_class_or_status_code: int | type[Exception]) -> Callable[[F], F]:
        """Decorator: register a handler for an exception class or an HTTP status code."""

        def decorator(func: F) -> F:
            self.add_exception_handler(exc_class_or_status_code, func)
            return func

        return decorator

    def add_exception_handler(self, key: int | type[Exception], handler: ExceptionHandler) -> None:
        """Register a handler for an exception class or an HTTP status code."""
        self.exception_handlers[key] = handler

    def on_event(self, event_type: str) -> Callable[[F], F]:
        """Decorator: run a function at ``"startup"`` or ``"shutdown"``."""
        if event_type not in ("startup", "shutdown"):
            raise FastAPIError(f"Unknown event {event_type!r}; use 'startup' or 'shutdown'")

        def decorator(func: F) -> F:
            (self.on_startup_handlers if event_type == "startup" else self.on_shutdown_handlers).append(func)
            return func

        return decorator

    def url_path_for(self, name: str, /, **path_params: Any) -> str:
        """The path of the route called ``name`` (with the app's root path)."""
        return self.table.url_path_for(name, **path_params)

    # -- lifespan --------------------------------------------------------------------------------------------
    async def startup(self) -> None:
        """Run the lifespan's start (or the startup handlers)."""
        for func in self.on_startup_handlers:
            result = func()
            if isinstance(result, Awaitable):
                await result
        if self.lifespan_context is not None:
            cm = self.lifespan_context(self)
            state = await cm.__aenter__()
            self._lifespan_cm = cm
            if state is not None:
                self.lifespan_state = dict(state)

    async def shutdown(self) -> None:
        """Run the lifespan's end (or the shutdown handlers)."""
        cm, self._lifespan_cm = self._lifespan_cm, None
        if cm is not None:
            await cm.__aexit__(None, None, None)
        for func in self.on_shutdown_handlers:
            result = func()
            if isinstance(result, Awaitable):
                await result

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """``async with app.lifespan():`` runs startup and shutdown around the block."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    # -- front doors -----------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI 3 entry point, so any ASGI server (uvicorn, granian, hypercorn) can serve the app."""
        from fulmen.asgi import asgi_entry

        await asgi_entry(self, scope, receive, send)

    def run(
        self, host: str = "127.0.0.1", port: int = 8000, *, workers: int = 1, **config: Any
    ) -> None:  # pragma: no cover - exercised through subprocess tests
        """Serve the app on fulmen's engine (blocking); options as ``fulmen.engine.config.Config``."""
        from fulmen.engine.server import run

        run(self, host=host, port=port, workers=workers, **config)


FastAPI = Fulmen
