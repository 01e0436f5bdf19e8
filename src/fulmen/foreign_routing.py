"""FastAPI's ``APIRouter`` objects passed to a fulmen app's ``include_router``.

Libraries build their routers with ``fastapi.APIRouter`` (fastapi-users' auth and users routers,
strawberry's ``GraphQLRouter``) and the user includes them in a fulmen app. Each route of such a router is
registered again on a fulmen ``APIRouter`` with the same attributes (path, methods, endpoint, response model,
status code, dependencies, tags, responses, name ...), so it is served and documented as FastAPI would. What
fulmen can't serve is a start-up error naming the route, never silently dropped. Routes are recognised by
their classes' names, so FastAPI and Starlette are never imported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fulmen.exceptions import FastAPIError

if TYPE_CHECKING:
    from fulmen.app import APIRouter


def _class_names(obj: Any) -> set[tuple[str, str]]:
    return {(getattr(c, "__module__", ""), c.__name__) for c in type(obj).__mro__}


def is_foreign_router(router: Any) -> bool:
    """True for a Starlette ``Router`` (FastAPI's ``APIRouter`` is one) that isn't fulmen's."""
    return ("starlette.routing", "Router") in _class_names(router)


def _given(value: Any) -> Any:
    """``value``, or None for FastAPI's ``Default(...)`` placeholder (the including router decides)."""
    return None if type(value).__name__ == "DefaultPlaceholder" else value


def _overrides(route: Any, base: tuple[str, str], *methods: str) -> list[str]:
    """The names of ``methods`` that ``route``'s class redefines below FastAPI's or Starlette's ``base``."""
    out = []
    for name in methods:
        for cls in type(route).__mro__:
            if (getattr(cls, "__module__", ""), cls.__name__) == base:
                break
            if name in vars(cls):
                out.append(name)
                break
    return out


def _where(route: Any) -> str:
    return f"{type(route).__qualname__} {getattr(route, 'path', '?')!r} ({getattr(route, 'name', '?')})"


def foreign_router(router: Any, *, lifespan: bool = True) -> APIRouter:
    """A fulmen ``APIRouter`` serving what FastAPI's ``router`` declares (its included routers too).

    ``lifespan``: take the router's startup/shutdown handlers and lifespan (its included routers' are
    already merged into them by FastAPI).
    """
    from fulmen.app import APIRouter

    out = APIRouter()
    if lifespan:
        own = getattr(router, "lifespan_context", None)
        if own is not None and type(own).__name__ == "_DefaultLifespan":
            out.on_startup_handlers.extend(getattr(router, "on_startup", ()))
            out.on_shutdown_handlers.extend(getattr(router, "on_shutdown", ()))
        elif own is not None:
            out.lifespan_context = own
    from fulmen.routing import APIRoute, APIWebSocketRoute, Mount

    for route in router.routes:
        if isinstance(route, (APIRoute, APIWebSocketRoute, Mount)):
            # fulmen's own, moved into FastAPI's router by a library (fastapi-restful's @cbv moves the
            # class's routes there after editing their path and endpoint signature): taken as they are.
            out.routes.append(route)
            continue
        names = _class_names(route)
        if ("fastapi.routing", "APIRoute") in names:
            _check_overrides(route, ("fastapi.routing", "APIRoute"))
            _add_api_route(out, route)
        elif ("fastapi.routing", "APIWebSocketRoute") in names:
            _check_overrides(route, ("fastapi.routing", "APIWebSocketRoute"))
            out.add_api_websocket_route(
                route.path, route.endpoint, name=route.name, dependencies=list(route.dependencies)
            )
        elif ("fastapi.routing", "_IncludedRouter") in names:
            _include(out, route)
        elif ("starlette.routing", "Route") in names:
            _check_overrides(route, ("starlette.routing", "Route"))
            out.add_route(route.path, route.endpoint, methods=sorted(route.methods or ()), name=route.name)
        elif ("starlette.routing", "WebSocketRoute") in names:
            _check_overrides(route, ("starlette.routing", "WebSocketRoute"))
            out.add_websocket_route(route.path, route.endpoint, name=route.name)
        elif ("starlette.routing", "Mount") in names:
            out.mount(route.path, route.app, name=route.name)
        else:
            raise FastAPIError(
                f"include_router: fulmen can't serve {_where(route)} of {type(router).__qualname__}: only "
                "FastAPI's APIRoute, APIWebSocketRoute, included routers and Starlette's Route, "
                "WebSocketRoute and Mount can be included in a fulmen app"
            )
    return out


def _check_overrides(route: Any, base: tuple[str, str]) -> None:
    changed = _overrides(route, base, "get_route_handler", "matches", "handle", "app")
    if changed:
        raise FastAPIError(
            f"include_router: {_where(route)} is a custom route class that redefines {', '.join(changed)}; "
            "fulmen serves FastAPI's routes with its own engine and can't run that code. Declare the route "
            "on a fulmen APIRouter (route_class= with get_route_handler() is supported there)"
        )


def _add_api_route(out: APIRouter, route: Any) -> None:
    kwargs: dict[str, Any] = {
        "methods": sorted(route.methods or ()),
        "response_model": route.response_model,
        "status_code": route.status_code,
        "tags": list(route.tags or []),
        "dependencies": list(route.dependencies or []),
        "summary": route.summary,
        "description": route.description,
        "response_description": route.response_description,
        "responses": dict(route.responses or {}),
        "deprecated": route.deprecated,
        "operation_id": route.operation_id,
        "response_model_include": route.response_model_include,
        "response_model_exclude": route.response_model_exclude,
        "response_model_by_alias": route.response_model_by_alias,
        "response_model_exclude_unset": route.response_model_exclude_unset,
        "response_model_exclude_defaults": route.response_model_exclude_defaults,
        "response_model_exclude_none": route.response_model_exclude_none,
        "include_in_schema": route.include_in_schema,
        "name": route.name,
        "callbacks": route.callbacks,
        "openapi_extra": route.openapi_extra,
    }
    for name in ("response_class", "generate_unique_id_function", "strict_content_type"):
        value = _given(getattr(route, name, None))
        if value is not None:
            kwargs[name] = value
    max_body_size = getattr(route, "max_body_size", None)
    if max_body_size is not None:
        kwargs["max_body_size"] = max_body_size
    out.add_api_route(route.path, route.endpoint, **kwargs)


def _include(out: APIRouter, included: Any) -> None:
    """A router FastAPI includes lazily (``_IncludedRouter``): its routes under its inclusion's settings.

    The inclusion context already holds the including router's own prefix, tags and dependencies.
    """
    ctx = included.include_context
    child = foreign_router(included.original_router, lifespan=False)
    out.include_router(
        child,
        prefix=ctx.prefix,
        tags=list(ctx.tags),
        responses=dict(ctx.responses),
        deprecated=ctx.deprecated,
        include_in_schema=ctx.include_in_schema,
        dependencies=list(ctx.dependencies),
        default_response_class=_given(ctx.default_response_class),
        callbacks=list(ctx.callbacks) or None,
        generate_unique_id_function=_given(ctx.generate_unique_id_function),
        max_body_size=ctx.max_body_size,
    )


def is_fastapi_api_route(route: Any) -> bool:
    """True for FastAPI's ``APIRoute`` (and subclasses): a route a library declared on FastAPI's router."""
    return ("fastapi.routing", "APIRoute") in _class_names(route)


def foreign_api_routes(routes: list[Any]) -> list[Any]:
    """fulmen's ``APIRoute`` for each of FastAPI's ``routes`` (OpenAPI callbacks declared on its router)."""
    from fulmen.app import APIRouter

    found = []
    for route in routes:
        known = _converted.get(id(route))
        if known is None or known[0] is not route:
            out = APIRouter()
            _add_api_route(out, route)
            known = _converted[id(route)] = (route, list(out.table.routes))
        found.extend(known[1])
    return found


#: id(FastAPI route) -> (that route, its fulmen routes): one conversion per route, as OpenAPI looks twice.
_converted: dict[int, tuple[Any, list[Any]]] = {}
