"""Cross-check: middleware that writes ``request.scope`` changes the request the route gets, as in FastAPI.

Blog-post and Stack Overflow recipes rewrite the path in ``@app.middleware("http")`` before routing
(``request.scope["path"] = ...``), add a header the route reads (``MutableHeaders(scope=request.scope)``),
replace the query string, or keep their own keys in the scope. Starlette's scope is the request itself;
fulmen's is made on demand and writes go back to the request. Checked natively, under an ASGI-only middleware
(the stack runs in ASGI form) and with Starlette's ``BaseHTTPMiddleware``, through every front door.
"""

import copy
import functools
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from starlette.datastructures import MutableHeaders
from starlette.middleware.base import BaseHTTPMiddleware

import fulmen
from tests.crosscheck_apps import PassThrough
from tests.test_crosscheck_fastapi import Answer, Case, assert_same_as_fastapi, fastapi_answers_for


async def rewrite(request: Any, call_next: Any) -> Any:
    path = request.url.path
    if path.startswith("/legacy"):
        request.scope["path"] = path[len("/legacy") :] or "/"
    if "x-tenant" not in request.headers:
        MutableHeaders(scope=request.scope)["x-tenant"] = "default-tenant"
    request.scope["headers"].append((b"x-added", b"appended"))
    request.scope["tenant.plan"] = "gold"
    if path == "/query":
        request.scope["query_string"] = b"page=2&size=5"
    return await call_next(request)


def build(fw: Any, layout: str) -> Any:
    app = fw.FastAPI()
    if layout == "starlette-base":
        app.add_middleware(BaseHTTPMiddleware, dispatch=rewrite)
    else:
        app.middleware("http")(rewrite)
    if layout == "asgi-stack":
        app.add_middleware(PassThrough)

    @app.get("/items/{item_id}")
    def item(
        request: fw.Request,
        item_id: int,
        x_tenant: Annotated[str, fw.Header()],
        x_added: Annotated[str | None, fw.Header()] = None,
    ) -> Any:
        return {
            "id": item_id,
            "path": request.url.path,
            "tenant": x_tenant,
            "added": x_added,
            "plan": request.scope.get("tenant.plan"),
            "mapping": request["tenant.plan"],
        }

    @app.get("/")
    async def root(request: fw.Request) -> Any:
        return {"path": request.url.path, "headers": request.headers.get("x-tenant")}

    @app.get("/query")
    async def query(request: fw.Request, page: int = 1, size: int = 10) -> Any:
        return {"page": page, "size": size, "query": str(request.query_params)}

    return app


CASES: list[Case] = [
    ("rewritten", "GET", "/legacy/items/3", {"params": {"q": "x"}}),
    ("rewritten-to-root", "GET", "/legacy", {}),
    ("not-rewritten", "GET", "/items/4", {"headers": {"x-tenant": "given"}}),
    ("rewritten-404", "GET", "/legacy/nothing", {}),
    ("query-string", "GET", "/query", {"params": {"page": "7"}}),
]
LAYOUTS = ["native", "asgi-stack", "starlette-base"]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, dict[str, Answer]]:
    return {layout: fastapi_answers_for(functools.partial(build, layout=layout), CASES) for layout in LAYOUTS}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_scope_writes_as_in_fastapi(
    layout: str, serve: Callable[..., httpx.Client], fastapi_answers: dict[str, dict[str, Answer]]
) -> None:
    assert_same_as_fastapi(serve(build(fulmen, layout)), CASES, fastapi_answers[layout])


def test_scope_write_and_delete_of_own_keys() -> None:
    """Keys that are not request attributes are kept for the request's later scopes; deleting removes them."""
    request = fulmen.Request("GET", b"/a", b"", [(b"host", b"example.com")])
    scope = request.scope
    scope.update({"one": 1}, two=2)
    assert scope.setdefault("one", 9) == 1
    assert (request.scope["one"], request.scope["two"]) == (1, 2)
    assert request.scope.pop("one") == 1
    del request.scope["two"]
    assert "one" not in request.scope and "two" not in request
    request.scope["method"] = "POST"
    assert request.method == "POST"
    snapshot = copy.copy(request.scope)  # a copy is a plain dict: writing to it leaves the request alone
    snapshot["path"] = "/elsewhere"
    assert type(snapshot) is dict and type(copy.deepcopy(request.scope)) is dict
    assert request.path == "/a"


def test_websocket_scope_reads_change_nothing_and_writes_reach_the_route() -> None:
    """``websocket.scope`` describes the WebSocket without editing the request; a middleware's key stays."""
    from fulmen.testclient import TestClient

    app = fulmen.FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: fulmen.WebSocket) -> None:
        first = websocket.scope
        websocket.scope["room"] = "lobby"
        await websocket.accept()
        await websocket.send_json(
            {
                "type": first["type"],
                "room": websocket.scope["room"],
                "request_type": websocket.request.scope["type"],
            }
        )
        await websocket.close()

    with TestClient(app) as client, client.websocket_connect("/ws") as connection:
        assert connection.receive_json() == {"type": "websocket", "room": "lobby", "request_type": "http"}


def build_mounted(fw: Any) -> Any:
    """A versioned sub-app whose own middleware rewrites the path it sees (the whole path, mount included)."""
    v1 = fw.FastAPI()

    @v1.middleware("http")
    async def drop_old(request: Any, call_next: Any) -> Any:
        path, root = request.scope["path"], request.scope["root_path"]
        if path.startswith(root + "/old/"):
            request.scope["path"] = root + path[len(root) + len("/old") :]
        return await call_next(request)

    @v1.get("/items")
    def items(request: fw.Request) -> Any:
        return {
            "path": request.url.path,
            "scope_path": request.scope["path"],
            "root": request.scope["root_path"],
        }

    app = fw.FastAPI()
    app.mount("/v1", v1)
    return app


MOUNTED: list[Case] = [
    ("mounted-rewritten", "GET", "/v1/old/items", {}),
    ("mounted-as-is", "GET", "/v1/items", {}),
]


def test_scope_path_write_inside_a_mounted_app(serve: Callable[..., httpx.Client]) -> None:
    assert_same_as_fastapi(serve(build_mounted(fulmen)), MOUNTED, fastapi_answers_for(build_mounted, MOUNTED))
