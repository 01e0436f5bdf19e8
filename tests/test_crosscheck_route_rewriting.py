"""Cross-check: class-based views in the style of fastapi-restful's ``@cbv(router)``, which rewrite routes
after they were registered: they check every route of the router is FastAPI's ``APIRoute`` (and Starlette's
``Route``), take the class's routes out, cut the router's prefix from their paths, give each endpoint a new
``__signature__`` whose ``self`` is ``Depends(cls)``, rename them and include them again."""

import inspect
from collections.abc import Callable
from typing import Any

import fastapi
import fastapi.routing
import httpx
import pytest
import starlette.routing

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def class_view(router: Any, cls: type) -> type:
    """Turn ``cls``'s endpoint methods on ``router`` into routes whose ``self`` is built by injection.

    As the library, it uses FastAPI's ``APIRouter`` and ``Depends`` whatever the app is built with."""
    for route in router.routes:
        if not isinstance(route, fastapi.routing.APIRoute):
            raise TypeError(f"not FastAPI's APIRoute: {route!r}")
    methods = {func for _, func in inspect.getmembers(cls, inspect.isfunction)}
    kinds = (starlette.routing.Route, starlette.routing.WebSocketRoute)
    moved = [route for route in router.routes if isinstance(route, kinds) and route.endpoint in methods]
    views = fastapi.APIRouter()
    for route in moved:
        router.routes.remove(route)
        route.path = route.path[len(router.prefix) :]
        signature = inspect.signature(route.endpoint)
        first, *rest = signature.parameters.values()
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters = [first.replace(default=fastapi.Depends(cls)), *(p.replace(kind=keyword) for p in rest)]
        route.endpoint.__signature__ = signature.replace(parameters=parameters)
        route.name = f"{cls.__name__}.{route.name}"
        views.routes.append(route)
    router.include_router(views)
    return cls


def build(fw: Any) -> Any:
    router = fw.APIRouter(prefix="/shop")

    @router.get("/health")
    def health() -> Any:
        return {"ok": True}

    class Items:
        def __init__(self, x_user: str = fw.Header("anon")) -> None:
            self.user = x_user

        @router.get("/items/{item_id}")
        def get_item(self, item_id: int, q: str = "") -> Any:
            return {"item_id": item_id, "q": q, "user": self.user}

        @router.post("/items", status_code=201)
        async def create_item(self, name: str) -> Any:
            return {"name": name, "user": self.user}

    class_view(router, Items)
    app = fw.FastAPI()
    app.include_router(router)

    return app


CASES: list[Case] = [
    ("get", "GET", "/shop/items/3?q=x", {"headers": {"x-user": "bob"}}),
    ("get-default-user", "GET", "/shop/items/3", {}),
    ("get-invalid", "GET", "/shop/items/x", {}),
    ("post", "POST", "/shop/items?name=pen", {}),
    ("post-missing", "POST", "/shop/items", {}),
    ("health", "GET", "/shop/health", {}),
    ("openapi", "GET", "/openapi.json", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_class_based_views_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert fastapi_answers["get"].status == 200
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


def test_routes_pass_isinstance_against_fastapis_and_starlettes_classes() -> None:
    app = fulmen.FastAPI()

    @app.get("/a")
    def a() -> None: ...

    @app.websocket("/ws")
    async def ws(websocket: fulmen.WebSocket) -> None: ...

    route, websocket_route = (r for r in app.routes if getattr(r, "path", "") in ("/a", "/ws"))
    assert isinstance(route, fastapi.routing.APIRoute)
    assert isinstance(route, starlette.routing.Route)
    assert not isinstance(route, starlette.routing.Mount)
    assert isinstance(websocket_route, fastapi.routing.APIWebSocketRoute)
    assert isinstance(websocket_route, starlette.routing.WebSocketRoute)
    assert not isinstance(websocket_route, fulmen.routing.APIRoute)
    assert type(route) is fulmen.routing.APIRoute


def build_simplified_ids(fw: Any) -> Any:
    """fastapi-utils' ``simplify_operation_ids(app)``: every FastAPI route's operation id becomes its name."""
    app = fw.FastAPI()

    @app.get("/items/{item_id}")
    def read_item(item_id: int) -> Any:
        return {"item_id": item_id}

    @app.post("/items")
    def create_item(name: str) -> Any:
        return {"name": name}

    for route in app.routes:
        if isinstance(route, fastapi.routing.APIRoute):
            route.operation_id = route.name
    return app


SIMPLIFIED_CASES: list[Case] = [("openapi", "GET", "/openapi.json", {})]


def test_operation_ids_edited_after_registration(serve: Callable[..., httpx.Client]) -> None:
    expected = fastapi_answers_for(build_simplified_ids, SIMPLIFIED_CASES)
    assert b'"operationId":"read_item"' in expected["openapi"].body
    assert_same_as_fastapi(serve(build_simplified_ids(fulmen)), SIMPLIFIED_CASES, expected)


def test_fastapi_internals_are_named_as_missing() -> None:
    """A route passes ``isinstance`` against FastAPI's ``APIRoute``; code that goes on to FastAPI's internals
    (fastapi-pagination's ``add_pagination(app)``) gets an error that says what is missing and why."""
    app = fulmen.FastAPI()

    @app.get("/a")
    def a() -> None: ...

    route = next(r for r in app.routes if getattr(r, "path", "") == "/a")
    assert isinstance(route, fastapi.routing.APIRoute)
    with pytest.raises(AttributeError, match="not FastAPI's internal 'body_field'"):
        route.body_field  # noqa: B018
    assert not hasattr(route, "_embed_body_fields")
    assert getattr(route, "no_such_attribute", "default") == "default"
    with pytest.raises(AttributeError, match="'APIRoute' object has no attribute 'no_such_attribute'"):
        route.no_such_attribute  # noqa: B018
