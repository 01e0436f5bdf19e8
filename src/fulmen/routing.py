"""Routes, routers and mounts: APIRoute (one path operation and its compiled plan), APIRouter, Mount and
the WebSocket routes. Matching a request to a route is fulmen.route_table's job.
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextvars import ContextVar
from enum import Enum
from typing import Any

from fulmen._lookalike import lookalike_class, lookalike_reduce_ex
from fulmen._typing import is_class
from fulmen.exceptions import FastAPIError, PydanticV1NotSupportedError
from fulmen.exceptions import NoMatchFound as NoMatchFound
from fulmen.forms import has_form_fields
from fulmen.limits import FormLimits, first_limit, limit_request, validate_form_limits, validate_max_body_size
from fulmen.params import Depends
from fulmen.plan import (
    Dependant,
    RequestHandler,
    _typed_signature,
    add_route_dependencies,
    compile_plan,
    get_dependant,
)
from fulmen.response_model import (
    Default,
    DefaultPlaceholder,
    IncEx,
    check_response_model,
    compile_response_serializer,
    effective_response_model,
    is_body_allowed_for_status_code,
)
from fulmen.responses import JSONResponse, Response
from fulmen.route_match import match_http_route, match_mount, match_websocket_route
from fulmen.route_table import CONVERTORS, parse_path, path_shape, template_regex


def _pydantic_v1_model_in(annotation: Any) -> Any:
    """The first ``pydantic.v1`` model class in ``annotation`` (looking inside unions and generics), or None.

    Told by its metaclass's module, so pydantic is never imported for it.
    """
    if is_class(annotation) and type(annotation).__module__.startswith("pydantic.v1."):
        return annotation
    for arg in typing.get_args(annotation):
        found = _pydantic_v1_model_in(arg)
        if found is not None:
            return found
    return None


def _reject_pydantic_v1(endpoint: Callable[..., Any], models: Sequence[Any]) -> None:
    """Refuse a route whose parameters, return type, response model or ``responses`` use a pydantic.v1 model
    (FastAPI raises the same error at declaration time)."""
    try:
        annotations = [annotation for _name, annotation, _default in _typed_signature(endpoint)]
    except Exception:
        annotations = []  # unresolvable annotations: get_dependant reports them with a clear message
    for annotation in [*annotations, *models]:
        model = _pydantic_v1_model_in(annotation)
        if model is not None:
            raise PydanticV1NotSupportedError(
                f"pydantic.v1 models are no longer supported by FastAPI. Please update the model {model!r}."
            )


def _return_hint(endpoint: Callable[..., Any]) -> Any:
    try:
        return typing.get_type_hints(endpoint).get("return")
    except Exception:
        return None


def _generate_unique_id(route: APIRoute) -> str:
    operation_id = f"{route.name}{route.path_format}"
    operation_id = re.sub(r"\W", "_", operation_id)
    methods = sorted(route.methods - {"HEAD"}) or sorted(route.methods)
    return f"{operation_id}_{methods[0].lower()}"


def _with_limit_headers(dependant: Dependant, handler: RequestHandler) -> RequestHandler:
    """``handler``, adding a ``RateLimit`` dependency's headers to every response (ratelimit's
    ``with_limit_headers``); as it is when the limiter module was never imported (no limiter can exist)."""
    ratelimit = sys.modules.get("fulmen.middleware.ratelimit")
    if ratelimit is None:
        return handler
    return ratelimit.with_limit_headers(dependant, handler)  # type: ignore[no-any-return]


class APIRoute:
    """One path operation: path template, methods, the endpoint and its compiled plan."""

    #: ``isinstance(obj, <FastAPI's or Starlette's class>)`` holds once that is imported (fulmen._lookalike).
    __class__ = lookalike_class
    __reduce_ex__ = lookalike_reduce_ex

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        status_code: int | None = None,
        response_class: type[Response] | DefaultPlaceholder = Default(JSONResponse),
        name: str | None = None,
        tags: list[str | Enum] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        operation_id: str | None = None,
        include_in_schema: bool = True,
        response_model: Any = Default(None),
        response_model_include: IncEx | None = None,
        response_model_exclude: IncEx | None = None,
        response_model_by_alias: bool = True,
        response_model_exclude_unset: bool = False,
        response_model_exclude_defaults: bool = False,
        response_model_exclude_none: bool = False,
        openapi_extra: dict[str, Any] | None = None,
        inline_sync: bool = False,
        dependencies: Sequence[Depends] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] = _generate_unique_id,
        strict_content_type: bool | DefaultPlaceholder = Default(True),
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
        **extra: Any,
    ) -> None:
        if path and not path.startswith("/") and not path.startswith("{$"):
            # FastAPI's OpenAPI callback paths ("{$callback_url}/...") are documented, never routed. An empty
            # path is a router's route that include_router gives a prefix (``@router.get("")``).
            raise FastAPIError(f"Routed paths must start with '/', got {path!r}")
        validate_max_body_size(max_body_size)
        #: Largest request body in bytes (None: no limit); a router's default is already applied.
        self.max_body_size = max_body_size
        #: Limits for parsing this route's Form()/File() parameters (a router's defaults already merged in).
        self.form_limits: FormLimits = validate_form_limits(form_limits)
        #: False: a body without a Content-Type header is read as JSON. A Default() value was not chosen here
        #: (an including router's choice then applies).
        self.strict_content_type = strict_content_type
        self.path = path
        #: The unique-id function chosen for this route or its router (None: the including router's).
        self.unique_id_function: Callable[[APIRoute], str] | None = None
        self.endpoint = endpoint
        upper = [m.upper() for m in (methods or ["GET"])]
        #: HEAD answered because the route takes GET (fulmen adds it); a route declaring HEAD takes it over.
        self.implicit_head = "GET" in upper and "HEAD" not in upper
        if self.implicit_head:
            upper.append("HEAD")
        self.methods: set[str] = set(upper)
        #: Methods in declaration order, for the ``Allow`` header.
        self.method_list: list[str] = list(dict.fromkeys(upper))
        self.status_code = status_code
        #: True when no response class was chosen anywhere (route, router or app): FastAPI then writes a
        #: response model's JSON with pydantic's ``dump_json`` instead of rendering it with the class.
        self.response_class_is_default = isinstance(response_class, DefaultPlaceholder)
        self.response_class: type[Response] = (
            response_class.value if isinstance(response_class, DefaultPlaceholder) else response_class
        )
        self.name = name if name is not None else getattr(endpoint, "__name__", type(endpoint).__name__)
        self.tags = list(tags or [])
        self.summary = summary
        self.description = description
        if description is None:
            self.description = (endpoint.__doc__ or "").split("\f")[0].strip() if endpoint.__doc__ else None
        self.response_description = response_description
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.include_in_schema = include_in_schema
        self.response_model_include = response_model_include
        self.response_model_exclude = response_model_exclude
        self.response_model_by_alias = response_model_by_alias
        self.response_model_exclude_unset = response_model_exclude_unset
        self.response_model_exclude_defaults = response_model_exclude_defaults
        self.response_model_exclude_none = response_model_exclude_none
        self.openapi_extra = openapi_extra
        self.inline_sync = inline_sync
        self.extra = extra
        self.path_format, self.param_convertors, self.segments = parse_path(path)
        #: The template as one regex (Starlette's attribute): ``matches(scope)`` uses it, routing doesn't.
        self.path_regex = template_regex(self.segments)
        #: False when every parameter uses the str convertor (values pass through unchanged).
        self.convert_params = any(c is not CONVERTORS["str"] for c in self.param_convertors.values())
        where = f"route {'/'.join(sorted(self.methods - {'HEAD'}) or self.methods)} {path!r}"
        self.dependencies = list(dependencies or [])
        _reject_pydantic_v1(
            endpoint,
            [
                _return_hint(endpoint),
                None if isinstance(response_model, DefaultPlaceholder) else response_model,
                *(r.get("model") for r in self.responses.values() if isinstance(r, dict)),
            ],
        )
        self.dependant: Dependant = get_dependant(
            endpoint, path=path, path_param_names=set(self.param_convertors), where=where
        )
        if self.dependencies:
            add_route_dependencies(self.dependant, self.dependencies)
        strict = (
            strict_content_type.value
            if isinstance(strict_content_type, DefaultPlaceholder)
            else strict_content_type
        )
        self.dependant.json_without_content_type = not strict
        tree = self.dependant.iter_tree()
        declared = {f.alias for d in tree for f in d.path_params}
        missing = [p for p in self.param_convertors if p not in declared]
        # A path parameter nobody declares is a typo, unless the endpoint or a dependency takes the Request
        # and reads it from ``request.path_params`` (valid FastAPI code).
        if missing and all(d.request_param is None for d in tree):
            raise FastAPIError(
                f"{where}: path parameter {missing[0]!r} is not a parameter of "
                f"{getattr(endpoint, '__qualname__', endpoint)!r}; add `{missing[0]}` to its signature "
                f"(or take the Request and read request.path_params)"
            )
        self.unique_id = operation_id or generate_unique_id_function(self)
        for code, extra in self.responses.items():
            model = extra.get("model") if isinstance(extra, dict) else None
            if model is not None:
                check_response_model(model, where=f"{where} responses[{code!r}]")
        #: The model results are validated and serialised with (FastAPI's rules), or None.
        self.response_model: Any = effective_response_model(endpoint, response_model, where=where)
        serialize_result = None
        if self.response_model:
            if not is_body_allowed_for_status_code(status_code):
                raise FastAPIError(f"{where}: Status code {status_code} must not have a response body")
            serialize_result = compile_response_serializer(
                self.response_model,
                include=response_model_include,
                exclude=response_model_exclude,
                by_alias=response_model_by_alias,
                exclude_unset=response_model_exclude_unset,
                exclude_defaults=response_model_exclude_defaults,
                exclude_none=response_model_exclude_none,
                where=where,
                json_bytes=self.response_class_is_default,
            )
        invoke_override = None
        if self.dependant.is_generator or self.dependant.is_async_generator:
            invoke_override = self._stream_invoke(status_code, where)
        self._plan_options: dict[str, Any] = {
            "response_class": self.response_class,
            "status_code": status_code,
            "inline_sync": inline_sync,
            "serialize_result": serialize_result,
            "result_is_json": self.response_class_is_default,
            "invoke_override": invoke_override,
        }
        self.handler: RequestHandler = compile_plan(self.dependant, **self._plan_options)
        self.handler = _with_limit_headers(self.dependant, self.handler)
        self._compiled_handler = self.handler
        if type(self).get_route_handler is not APIRoute.get_route_handler:
            self.handler = _guarded(self.get_route_handler())
        #: The handler without body or form limits (a mount point's limits are added to it later).
        self._unlimited_handler = self.handler
        self._inherited_limits: tuple[int | None, FormLimits] = (None, {})
        self._apply_limits(None, {})

    #: Whether an instrumented app times this route's steps in operation spans (not its docs routes).
    operation_spans = True

    def instrument(self, operations: Any) -> None:
        """Recompile the handler with telemetry's operation spans (an instrumented app, at start-up)."""
        self.handler = compile_plan(self.dependant, operations=operations, **self._plan_options)
        self.handler = _with_limit_headers(self.dependant, self.handler)
        self._compiled_handler = self.handler
        if type(self).get_route_handler is not APIRoute.get_route_handler:
            self.handler = _guarded(self.get_route_handler())
        self._unlimited_handler = self.handler
        self._apply_limits(*self._inherited_limits)  # the limits it had, around the new handler

    def _apply_limits(self, inherited_body_size: int | None, inherited_form_limits: FormLimits) -> None:
        """Install the limit checks: this route's own settings, else what its app's mount point has."""
        self._inherited_limits = (inherited_body_size, inherited_form_limits)
        form_limits: FormLimits = {**inherited_form_limits, **self.form_limits}
        uses_forms = any(has_form_fields(d.body_params) for d in self.dependant.iter_tree())
        self.handler = limit_request(
            self._unlimited_handler,
            first_limit(self.max_body_size, inherited_body_size),
            form_limits if uses_forms else None,
        )

    def get_route_handler(self) -> Callable[[Any], Coroutine[Any, Any, Response]]:
        """The ``request -> response`` handler; a route class may wrap it, as in FastAPI.

        As in FastAPI, errors leave it as exceptions (``RequestValidationError``, ``HTTPException``...): a
        wrapper may catch them; the app's exception handlers answer what it lets through.
        """
        compiled = self._compiled_handler

        async def route_handler(request: Any) -> Response:
            token = ROUTE_HANDLER_RAISES.set(request)
            try:
                return await compiled(request)
            finally:
                ROUTE_HANDLER_RAISES.reset(token)

        return route_handler

    def _stream_invoke(self, status_code: int | None, where: str) -> Callable[[dict[str, Any]], Any]:
        """A path operation that yields: JSON Lines, Server-Sent Events or raw chunks (FastAPI 0.165)."""
        from fulmen.stream_endpoints import compile_stream_invoke, item_serializer_for

        options = {
            "include": self.response_model_include,
            "exclude": self.response_model_exclude,
            "by_alias": self.response_model_by_alias,
            "exclude_unset": self.response_model_exclude_unset,
            "exclude_defaults": self.response_model_exclude_defaults,
            "exclude_none": self.response_model_exclude_none,
        }
        item_serializer = item_serializer_for(
            self.endpoint,
            response_class=self.response_class,
            response_class_is_default=self.response_class_is_default,
            options=options,
            where=where,
        )
        return compile_stream_invoke(
            self.endpoint,
            is_async=self.dependant.is_async_generator,
            response_class=self.response_class,
            response_class_is_default=self.response_class_is_default,
            status_code=status_code,
            item_serializer=item_serializer,
        )

    def matches(self, scope: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Starlette's ``(Match, child_scope)`` for an ASGI scope, for middleware that looks routes up itself.

        fulmen's router doesn't call it (fulmen.route_match); HEAD is a FULL match where fulmen answers it.
        """
        return match_http_route(self, scope)

    def url_path_for(self, **path_params: Any) -> str | None:
        """This route's path with the given parameters filled in, or None if they don't fit."""
        if set(path_params) != set(self.param_convertors):
            return None
        path = self.path_format
        for name, conv in self.param_convertors.items():
            path = path.replace("{" + name + "}", conv.to_string(path_params[name]))
        return path

    def __repr__(self) -> str:
        return f"APIRoute(path={self.path!r}, name={self.name!r}, methods={sorted(self.methods)!r})"


#: What FastAPI's ``APIRoute`` computes for its own request handling and OpenAPI, and fulmen's doesn't have.
_FASTAPI_ROUTE_INTERNALS = frozenset(
    {
        "_embed_body_fields",
        "body_field",
        "response_field",
        "response_fields",
        "secure_cloned_response_field",
        "stream_item_field",
        "stream_item_type",
        "is_json_stream",
        "is_sse_stream",
        "dependency_overrides_provider",
    }
)


def _fastapi_internal(name: str) -> property:
    """A property that raises, for ``name`` among FastAPI's route internals: fulmen's routes pass
    ``isinstance`` checks against FastAPI's ``APIRoute`` (fulmen._lookalike), and code that then reaches for
    them is told why. PERF: properties, not ``__getattr__``, which would slow every attribute of a route."""

    def internal(route: APIRoute) -> Any:
        raise AttributeError(
            f"{route!r} is fulmen's route: it has FastAPI's public attributes but not FastAPI's internal "
            f"{name!r}. Code that edits FastAPI's route internals (fastapi-pagination's add_pagination(app), "
            "fastapi.openapi.utils.get_openapi) can't work on a fulmen app; see docs/ecosystem.md for what "
            "to use instead"
        )

    return property(internal)


for _name in _FASTAPI_ROUTE_INTERNALS:
    setattr(APIRoute, _name, _fastapi_internal(_name))


# ------------------------------------------------------------------------------------------------------------
# Mounted applications
# ------------------------------------------------------------------------------------------------------------
class Mount:
    """A sub-application answering every path under ``path`` (``app.mount("/static", StaticFiles(...))``).

    A fulmen app, or anything with a native ``handle(request)``, is called directly with the request re-rooted
    (``root_path`` grows by ``path``, ``path`` loses it); any other ASGI app goes through the ASGI adapter.
    Made once the program has imported ``starlette.routing``, a mount is also an instance of Starlette's
    ``Mount`` (as ``http_error`` does for exceptions): libraries that find route templates recurse into
    ``isinstance(route, Mount)`` routes only.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Mount:
        module = sys.modules.get("starlette.routing")
        if module is not None and not issubclass(cls, module.Mount):
            cls = _with_starlette_base(cls, module.Mount)
        return object.__new__(cls)

    def __init__(
        self, path: str, app: Any = None, routes: Sequence[Any] | None = None, name: str | None = None
    ) -> None:
        if path and not path.startswith("/"):
            raise FastAPIError(f"A mount path must start with '/', got {path!r}")
        if "{" in path:
            # Starlette matches "/tenants/{tenant}" with a parameter; fulmen would match the braces literally
            # and answer 404 forever: refuse it here instead.
            raise FastAPIError(
                f"Mount path {path!r} has a path parameter; fulmen mounts fixed prefixes only (declare the "
                "parameter on the sub-app's routes, or include an APIRouter with that prefix instead)"
            )
        if (app is None) == (routes is None):
            raise FastAPIError("Mount takes either an 'app' or 'routes', not both and not neither")
        if app is None:
            # Starlette's Mount(path, routes=[...]): a router of those routes, mounted as an APIRouter is.
            from fulmen.app import APIRouter

            app = APIRouter(routes=routes)
        # As Starlette: a trailing slash is dropped, so "/" mounts the app under every path.
        self.path = path.rstrip("/")
        # Starlette's attributes, for code that reads them (fulmen matches with ``covers``).
        self.path_format = self.path + "/{path}"
        self.param_convertors = {"path": CONVERTORS["path"]}
        self.path_regex = re.compile("^" + re.escape(self.path) + "/(?P<path>.*)$")
        self.app = app
        self.name = name
        self._handle: Callable[[Any], Any] | None = None
        #: The limits in force where the app is mounted (fulmen.limits); the app's own settings come first.
        self.max_body_size: int | None = None
        self.form_limits: FormLimits = {}

    def inherit_limits(self, max_body_size: int | None, form_limits: FormLimits) -> None:
        """Record the mount point's limits; they are handed to the app when it is first called."""
        self.max_body_size = max_body_size
        self.form_limits = form_limits

    def covers(self, path: str) -> bool:
        """Whether ``path`` (relative to the parent's root) is under this mount.

        As Starlette's ``Mount``, the prefix alone is not: ``/admin`` is redirected to ``/admin/`` (when the
        parent has ``redirect_slashes``), so the mounted app's relative links resolve under it.
        """
        prefix = self.path
        return path.startswith(prefix + "/") or not prefix

    def matches(self, scope: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Starlette's ``(Match, child_scope)``: FULL for a path under the mount, with ``root_path`` grown."""
        module = sys.modules.get("starlette.routing")
        if module is not None and not isinstance(self, module.Mount):
            # Made before Starlette was imported: the caller (which has imported it) tests isinstance next.
            self.__class__ = _with_starlette_base(type(self), module.Mount)
        return match_mount(self, scope)

    @property
    def routes(self) -> list[Any]:
        """The mounted app's routes (Starlette's ``Mount.routes``); an empty list for an opaque ASGI app."""
        return list(getattr(self.app, "routes", None) or [])

    @property
    def handle(self) -> Callable[[Any], Any]:
        """The sub-app's ``handle(request)``: native when it has one, else through the ASGI adapter."""
        handle = self._handle
        if handle is None:
            inherit = getattr(self.app, "_inherit_limits", None)
            if inherit is not None and (self.max_body_size is not None or self.form_limits):
                inherit(self.max_body_size, self.form_limits)  # before its middleware stack is built
            # The class's method: a wrapper set on the instance (OpenTelemetry's) runs on the first call.
            build = getattr(type(self.app), "build_middleware_stack", None)
            if build is not None:
                build(self.app)  # a fulmen sub-app: its middleware stack is final from here on
            native = getattr(self.app, "handle", None)
            if native is None:  # a mounted APIRouter: its routes, the mounting app's exception handlers
                native = getattr(self.app, "_handle_mounted", None)
            if getattr(self.app, "asgi_middleware_installed", False):
                native = None  # its ASGI middleware only runs through its ASGI entry point
            if callable(native):
                handle = native
            else:
                from fulmen.engine.asgi_adapter import ASGIAdapter

                handle = ASGIAdapter(self.app).handle
                if inherit is None:  # an app of another framework: the mount point's body limit applies
                    handle = limit_request(handle, self.max_body_size, None)
            self._handle = handle
        return handle

    def url_path_for(self, name: str, /, **path_params: Any) -> str | None:
        """``name`` is this mount's name (with a ``path`` parameter) or ``"mount:route"`` inside a sub-app."""
        if self.name is not None and name == self.name and set(path_params) <= {"path"}:
            rest = str(path_params.get("path", ""))
            return self.path + ("/" + rest.lstrip("/") if rest else "/")
        if self.name is not None and name.startswith(self.name + ":"):
            sub = getattr(self.app, "url_path_for", None)
            if sub is not None:
                try:
                    return self.path + str(sub(name[len(self.name) + 1 :], **path_params))
                except Exception:
                    return None
        if self.name is None:
            sub = getattr(self.app, "url_path_for", None)
            if sub is not None:
                try:
                    return self.path + str(sub(name, **path_params))
                except Exception:
                    return None
        return None

    def __repr__(self) -> str:
        return f"Mount(path={self.path!r}, name={self.name!r}, app={self.app!r})"


_starlette_flavoured: dict[type, type] = {}


def _with_starlette_base(cls: type, base: type) -> Any:
    """``cls`` with Starlette's class ``base`` after it: its own methods first, identity equality kept."""
    flavoured = _starlette_flavoured.get(cls)
    if flavoured is None:
        namespace = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            # Starlette's Mount compares by path and app (and so isn't hashable): fulmen's mounts don't.
            "__eq__": object.__eq__,
            "__hash__": object.__hash__,
        }
        flavoured = _starlette_flavoured[cls] = type(cls.__name__, (cls, base), namespace)
    return flavoured


# ------------------------------------------------------------------------------------------------------------
# WebSocket routes (``@app.websocket``): a table of their own, so HTTP routing never looks at them
# ------------------------------------------------------------------------------------------------------------
WebSocketHandler = Callable[[Any], Coroutine[Any, Any, None]]


class APIWebSocketRoute:
    """One WebSocket endpoint: path template, endpoint, and its dependency plan (solved once per connection).

    As in FastAPI, path/query/header/cookie parameters and ``Depends`` are solved before the endpoint runs;
    a validation error raises ``WebSocketRequestValidationError`` (the app's default handler closes the
    socket with code 1008, which a server turns into a 403 on the handshake).
    """

    #: ``isinstance(obj, <FastAPI's or Starlette's class>)`` holds once that is imported (fulmen._lookalike).
    __class__ = lookalike_class
    __reduce_ex__ = lookalike_reduce_ex

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        dependencies: Sequence[Depends] | None = None,
    ) -> None:
        if path and not path.startswith("/") and not path.startswith("{$"):
            # An empty path is a router's route that include_router gives a prefix (``@router.websocket("")``,
            # as strawberry's GraphQLRouter declares it).
            raise FastAPIError(f"Routed paths must start with '/', got {path!r}")
        self.path = path
        #: The unique-id function chosen for this route or its router (None: the including router's).
        self.unique_id_function: Callable[[APIRoute], str] | None = None
        self.endpoint = endpoint
        self.name = name if name is not None else getattr(endpoint, "__name__", type(endpoint).__name__)
        self.dependencies = list(dependencies or [])
        self.path_format, self.param_convertors, segments = parse_path(path)
        self.static = all(s.static for s in segments)
        self.path_regex = template_regex(segments)
        where = f"websocket route {path!r}"
        self.dependant: Dependant = get_dependant(
            endpoint, path=path, path_param_names=set(self.param_convertors), where=where
        )
        if self.dependencies:
            add_route_dependencies(self.dependant, self.dependencies)
        tree = self.dependant.iter_tree()
        declared = {f.alias for d in tree for f in d.path_params}
        missing = [p for p in self.param_convertors if p not in declared]
        if missing:
            raise FastAPIError(
                f"{where}: path parameter {missing[0]!r} is not a parameter of "
                f"{getattr(endpoint, '__qualname__', endpoint)!r}; add `{missing[0]}` to its signature"
            )
        bodies = [f.name for d in tree for f in d.body_params]
        if bodies:
            raise FastAPIError(
                f"{where}: parameter {bodies[0]!r} would be read from a request body, which a WebSocket "
                "handshake doesn't have; declare it as Query(), Header() or Cookie(), or receive it as a "
                "message"
            )
        if not self.dependant.is_coroutine:
            raise FastAPIError(f"{where}: a WebSocket endpoint must be an `async def` function")
        self.handler: WebSocketHandler = compile_websocket_handler(self.dependant)

    def instrument(self, operations: Any) -> None:
        """Recompile the handler with telemetry's operation spans (an instrumented app, at start-up)."""
        self.handler = compile_websocket_handler(self.dependant, operations)

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted path parameters if ``path`` fits this route's template, else None."""
        if self.static:
            return {} if path == self.path else None
        m = self.path_regex.match(path)
        if m is None:
            return None
        raw = m.groupdict()
        try:
            return {k: self.param_convertors[k].convert(v) for k, v in raw.items()}
        except ValueError:
            return None

    def matches(self, scope: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Starlette's ``(Match, child_scope)`` for an ASGI scope: FULL for a websocket scope that fits."""
        return match_websocket_route(self, scope)

    def url_path_for(self, **path_params: Any) -> str | None:
        """This route's path with the given parameters filled in, or None if they don't fit."""
        if set(path_params) != set(self.param_convertors):
            return None
        path = self.path_format
        for name, conv in self.param_convertors.items():
            path = path.replace("{" + name + "}", conv.to_string(path_params[name]))
        return path

    def __repr__(self) -> str:
        return f"APIWebSocketRoute(path={self.path!r}, name={self.name!r})"


class WebSocketRouteTable:
    """WebSocket routes in declaration order; the first whose template fits a path wins (FastAPI's rule).

    A handshake happens once per connection, so a scan in declaration order is plenty.
    """

    def __init__(self) -> None:
        self.routes: list[APIWebSocketRoute] = []

    def add(self, route: APIWebSocketRoute) -> None:
        """Register a route; an identical path template declared twice is a start-up error."""
        shape = path_shape(route.path)
        for other in self.routes:
            if path_shape(other.path) == shape:
                raise FastAPIError(
                    f"WebSocket route {route.path!r} ({route.name}) conflicts with the route declared before "
                    f"it, {other.path!r} ({other.name}); the second could never be reached"
                )
        self.routes.append(route)

    def match(self, path: str) -> tuple[APIWebSocketRoute, dict[str, Any]] | None:
        """The route for ``path`` and its path parameters, or None."""
        for route in self.routes:
            params = route.match(path)
            if params is not None:
                return route, params
        return None

    def url_path_for(self, name: str, /, **path_params: Any) -> str | None:
        """The path of the WebSocket route called ``name``, or None."""
        for route in self.routes:
            if route.name == name:
                path = route.url_path_for(**path_params)
                if path is not None:
                    return path
        return None


def compile_websocket_handler(dep: Dependant, operations: Any = None) -> WebSocketHandler:
    """``async handler(websocket)``: solve the parameters and dependencies, run the endpoint, end ``yield``
    dependencies (newest first, the endpoint's exception thrown into them), as FastAPI's websocket routes do.
    ``operations`` (``fulmen.telemetry._operations``, for an instrumented app) times the steps in spans.
    """
    from fulmen.dependencies import DependencyRunner, _Run, _unwind
    from fulmen.exceptions import RequestValidationError, WebSocketRequestValidationError
    from fulmen.plan import EndpointContext

    runner = DependencyRunner(dep, inline_sync=False)
    call = dep.call
    where = EndpointContext(call, dep.path)
    solve = runner.solve
    if operations is not None:
        solve = operations.timed_solve(runner, call)
        call = operations.timed_call(call)

    async def run_websocket(websocket: Any) -> None:
        run = _Run(websocket, False)
        try:
            try:
                values = await solve(run)
            except RequestValidationError as exc:
                invalid = WebSocketRequestValidationError(exc.errors())
                where.attach(invalid, "WS", websocket.scope.get("root_path", ""))
                raise invalid from None
            await call(**values)
        except BaseException as exc:
            guard = run.guard
            if not (run.function_exits or run.request_exits):
                if guard:
                    await guard.close(exc)
                raise
            left = await _unwind(run.function_exits, exc, False, guard)
            left = await _unwind(run.request_exits, left, False, guard)
            if guard:
                await guard.close(left)
            if left is None:
                return  # a yield dependency handled it (as an AsyncExitStack would)
            if left is exc:
                raise
            raise left from None
        if run.function_exits or run.request_exits:
            left = await _unwind(run.function_exits, None, False, run.guard)
            left = await _unwind(run.request_exits, left, False, run.guard)
            if run.guard:
                await run.guard.close(left)
            if left is not None:
                raise left
        elif run.guard:
            await run.guard.close(None)

    return run_websocket


#: The request a custom route class's wrapper runs the route's handler for: the app's exception handling
#: re-raises its errors, so the wrapper sees them as FastAPI's would (decided per route class, no cost to
#: other routes). The request itself, not a flag: a request made from inside the handler is answered.
ROUTE_HANDLER_RAISES: ContextVar[Any] = ContextVar("fulmen.route_handler_raises", default=None)


def _guarded(handler: Callable[[Any], Awaitable[Response]]) -> RequestHandler:
    """A custom route class's handler, with its own exceptions answered by the app's exception handlers."""

    async def run_custom(request: Any) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return await request.app.handle_exception(request, exc)  # type: ignore[no-any-return]

    return run_custom


# ------------------------------------------------------------------------------------------------------------
# Route contexts (FastAPI 0.165)
# ------------------------------------------------------------------------------------------------------------
class RouteContext:
    """A route as an application serves it, FastAPI 0.165's view for code that walks ``app.routes``.

    FastAPI includes routers lazily and needs this to see an included route's effective path and settings;
    fulmen's ``include_router`` already copies them into real routes, so a context simply wraps the route and
    forwards every attribute to it.
    """

    __slots__ = ("route",)

    def __init__(self, route: Any) -> None:
        self.route = route

    @property
    def original_route(self) -> Any:
        """The route as declared (in fulmen, the route itself)."""
        return self.route

    @property
    def path(self) -> str | None:
        return getattr(self.route, "path", None)

    @property
    def path_format(self) -> str | None:
        return getattr(self.route, "path_format", None)

    @property
    def name(self) -> str | None:
        return getattr(self.route, "name", None)

    @property
    def methods(self) -> set[str] | None:
        return getattr(self.route, "methods", None)

    @property
    def endpoint(self) -> Callable[..., Any] | None:
        return getattr(self.route, "endpoint", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.route, name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RouteContext) and other.route is self.route

    def __hash__(self) -> int:
        return hash(id(self.route))

    def __repr__(self) -> str:
        return f"RouteContext(route={self.route!r})"


def iter_route_contexts(routes: Sequence[Any]) -> Iterator[RouteContext]:
    """Each of ``routes`` as a ``RouteContext`` (contexts pass through), in order."""
    for route in routes:
        yield route if isinstance(route, RouteContext) else RouteContext(route)
