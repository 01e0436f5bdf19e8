"""Cross-check of how an app is put together: lifespans given as bare generator functions, ``routes=`` lists,
edits of ``app.routes`` and mounted routers, each served by FastAPI and by fulmen.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


# -- lifespan as a bare generator function (FastAPI wraps it, with no warning) ---------------------------
def build_generator_lifespans(fw: Any) -> Any:
    events: list[str] = []

    async def async_lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        events.append("async start")
        yield {"from_async": "yes"}
        events.append("async end")

    def sync_lifespan(app: Any) -> Iterator[None]:
        events.append("sync start")
        yield
        events.append("sync end")

    app = fw.FastAPI(lifespan=async_lifespan)  # warnings are errors here: none may be raised
    router = fw.APIRouter(lifespan=sync_lifespan)

    @router.get("/events")
    async def read_events(request: fw.Request) -> Any:
        return {"events": events, "state": request.state.from_async}

    app.include_router(router)
    return app


LIFESPAN_CASES: list[Case] = [("generator lifespans ran, state reached", "GET", "/events", {})]


@pytest.fixture(scope="module")
def lifespan_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_generator_lifespans, LIFESPAN_CASES)


def test_generator_function_lifespans(
    serve: Callable[..., httpx.Client], lifespan_answers: dict[str, Answer]
) -> None:
    client = serve(build_generator_lifespans(fulmen))
    assert_same_as_fastapi(client, LIFESPAN_CASES, lifespan_answers)


# -- routes= lists and edits of app.routes ------------------------------------------------------------------
def build_route_lists(fw: Any) -> Any:
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def direct() -> Any:
        return {"route": "direct"}

    def plain(request: Any) -> Any:  # Starlette's form: the request only, path parameters in path_params
        return PlainTextResponse(f"plain {request.path_params['name']}")

    async def plain_async(request: Any) -> Any:
        return PlainTextResponse(f"async {request.method}")

    async def in_router(item_id: int) -> Any:
        return {"item_id": item_id}

    starlette_sub = Mount("/starlette", routes=[Route("/hello", plain_async)])
    app = fw.FastAPI(
        routes=[
            fw.routing.APIRoute("/direct", direct, methods=["GET"]),
            Route("/plain/{name}", plain),
            Route("/plain-async", plain_async, methods=["POST"]),
            starlette_sub,
            fw.routing.Mount("/grouped", routes=[fw.routing.APIRoute("/items/{item_id}", in_router)]),
        ]
    )

    @app.get("/items/me")
    async def read_me() -> Any:
        return {"item": "me"}

    @app.get("/removed")
    async def removed() -> Any:
        return {"removed": False}

    async def read_item(item_id: str) -> Any:
        return {"item_id": item_id}

    async def appended(q: int = 0) -> Any:
        return {"appended": q}

    # What FastAPI users do with the live list: insert ahead (takes precedence), append, remove, rename.
    app.router.routes.insert(0, fw.routing.APIRoute("/items/{item_id}", read_item))
    app.router.routes.append(fw.routing.APIRoute("/appended", appended, methods=["POST"]))
    app.routes.remove(next(r for r in app.routes if getattr(r, "path", None) == "/removed"))
    for route in app.routes:
        if isinstance(route, fw.routing.APIRoute):
            route.operation_id = route.name  # FastAPI's "use route names as operation IDs" recipe
    # Included last: FastAPI 0.165 lists an included router as one lazy entry, not its routes.
    app.include_router(fw.APIRouter(routes=[fw.routing.APIRoute("/router/{item_id}", in_router)]))

    # Starlette's add_route / @route (metrics endpoints, old code): request in, response out.
    def metrics(request: Any) -> Any:
        return PlainTextResponse("requests_total 1\n")

    app.add_route("/metrics", metrics)
    starlette_style = fw.APIRouter(prefix="/old")

    @starlette_style.route("/things/{thing_id:int}", methods=["GET", "POST"])
    async def thing(request: Any) -> Any:
        return fw.responses.JSONResponse({"id": request.path_params["thing_id"], "method": request.method})

    app.include_router(starlette_style, prefix="/v1")
    return app


ROUTE_LIST_CASES: list[Case] = [
    ("APIRoute in FastAPI(routes=)", "GET", "/direct", {}),
    ("Starlette Route, path params", "GET", "/plain/abc", {}),
    ("Starlette Route, HEAD", "HEAD", "/plain/abc", {}),
    ("Starlette Route with methods", "POST", "/plain-async", {}),
    ("Starlette Mount with routes", "GET", "/starlette/hello", {}),
    ("APIRouter(routes=) included", "GET", "/router/3", {}),
    ("APIRouter(routes=) validation", "GET", "/router/x", {}),
    ("inserted first takes precedence", "GET", "/items/me", {}),
    ("appended route", "POST", "/appended?q=2", {}),
    ("removed route", "GET", "/removed", {}),
    ("openapi with renamed operations", "GET", "/openapi.json", {}),
    ("Mount(routes=[APIRoute])", "GET", "/grouped/items/5", {}),
    ("Mount(routes=[APIRoute]) validation", "GET", "/grouped/items/x", {}),
    ("add_route", "GET", "/metrics", {}),
    ("@router.route, included, converted param", "POST", "/v1/things/7", {}),
    ("@router.route, convertor rejects", "GET", "/v1/things/x", {}),
    ("@router.route ignores the router's prefix", "GET", "/v1/old/things/7", {}),
]


@pytest.fixture(scope="module")
def route_list_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_route_lists, ROUTE_LIST_CASES)


def test_route_lists(serve: Callable[..., httpx.Client], route_list_answers: dict[str, Answer]) -> None:
    client = serve(build_route_lists(fulmen))
    assert_same_as_fastapi(client, ROUTE_LIST_CASES, route_list_answers)


def test_routes_is_one_live_list() -> None:
    app = fulmen.FastAPI(openapi_url=None)
    route = fulmen.routing.APIRoute("/a", lambda: "a")
    app.routes.append(route)
    assert app.routes is app.router.routes
    assert app.routes == [route]
    app.routes.clear()
    assert app.routes == []
    assert app.table.match("GET", "/a") is None


def test_a_clash_from_an_edit_is_undone() -> None:
    app = fulmen.FastAPI(openapi_url=None)
    first = fulmen.routing.APIRoute("/a", lambda: "first")
    app.routes.append(first)
    with pytest.raises(fulmen.exceptions.FastAPIError, match="conflicts"):
        app.routes.insert(0, fulmen.routing.APIRoute("/a", lambda: "second"))
    assert app.routes == [first]
    found = app.table.match("GET", "/a")
    assert isinstance(found, tuple) and found[0] is first


def test_routes_fulmen_cannot_serve_fail_at_start_up() -> None:
    from starlette.endpoints import HTTPEndpoint
    from starlette.routing import Host, Route

    class Items(HTTPEndpoint):
        pass

    class NotARoute:
        path = "/x"

    for route in (Host("{sub}.example.com", app=fulmen.FastAPI()), Route("/items", Items), NotARoute()):
        with pytest.raises(fulmen.exceptions.FastAPIError, match="can't serve"):
            fulmen.FastAPI(routes=[route])
        with pytest.raises(fulmen.exceptions.FastAPIError, match="can't serve"):
            fulmen.APIRouter().routes.append(route)


# -- a mounted APIRouter (an ASGI app in Starlette): its routes, the mounting app's exception handlers ------
def build_mounted_router(fw: Any) -> Any:
    router = fw.APIRouter(max_body_size=10)

    @router.get("/items/{item_id}")
    async def read_item(item_id: int) -> Any:
        return {"item_id": item_id}

    @router.post("/echo")
    async def echo(request: fw.Request) -> Any:
        return {"size": len(await request.body())}

    @router.get("/teapot")
    async def teapot() -> Any:
        raise fw.HTTPException(418, "short and stout")

    inner = fw.FastAPI(openapi_url=None)

    @inner.get("/hello")
    async def hello() -> Any:
        return {"inner": True}

    router.mount("/inner", inner)
    app = fw.FastAPI(max_body_size=5)

    @app.exception_handler(404)
    async def not_found(request: fw.Request, exc: Exception) -> Any:
        return fw.responses.JSONResponse({"custom": "not found", "path": request.url.path}, status_code=404)

    app.mount("/sub", router)
    return app


MOUNTED_ROUTER_CASES: list[Case] = [
    ("route", "GET", "/sub/items/3", {}),
    ("validation error", "GET", "/sub/items/x", {}),
    ("HTTPException from a route", "GET", "/sub/teapot", {}),
    ("no route: the app's 404 handler", "GET", "/sub/nothing", {}),
    ("wrong method", "DELETE", "/sub/items/3", {}),
    ("trailing slash redirect", "GET", "/sub/items/3/", {}),
    ("router's own limit over the app's", "POST", "/sub/echo", {"content": b"x" * 8}),
    ("router's own limit exceeded", "POST", "/sub/echo", {"content": b"x" * 11}),
    ("mount inside the mounted router", "GET", "/sub/inner/hello", {}),
]


@pytest.fixture(scope="module")
def mounted_router_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_mounted_router, MOUNTED_ROUTER_CASES)


def test_mounted_router(
    serve: Callable[..., httpx.Client], mounted_router_answers: dict[str, Answer]
) -> None:
    client = serve(build_mounted_router(fulmen))
    assert_same_as_fastapi(client, MOUNTED_ROUTER_CASES, mounted_router_answers)


def test_mounted_router_inherits_the_mount_points_limit(serve: Callable[..., httpx.Client]) -> None:
    router = fulmen.APIRouter()

    @router.post("/echo")
    async def echo(request: fulmen.Request) -> Any:
        return {"size": len(await request.body())}

    app = fulmen.FastAPI(max_body_size=5)
    app.mount("/sub", router)
    client = serve(app)
    assert client.post("/sub/echo", content=b"12345").json() == {"size": 5}
    assert client.post("/sub/echo", content=b"123456").status_code == 413


@pytest.mark.parametrize("fw_name", ["fastapi", "fulmen"])
def test_websocket_in_a_mounted_router(fw_name: str) -> None:
    import fastapi

    fw: Any = fastapi if fw_name == "fastapi" else fulmen
    router = fw.APIRouter()

    @router.websocket("/ws/{name}")
    async def greet(websocket: fw.WebSocket, name: str) -> None:
        await websocket.accept()
        await websocket.send_text(f"hello {name}")
        await websocket.close()

    app = fw.FastAPI()
    app.mount("/sub", router)
    # fulmen's TestClient drives any ASGI app, FastAPI's included.
    with fulmen.testclient.TestClient(app) as client, client.websocket_connect("/sub/ws/ann") as websocket:
        assert websocket.receive_text() == "hello ann"


@pytest.mark.parametrize("fw_name", ["fastapi", "fulmen"])
def test_starlette_style_websocket_routes(fw_name: str) -> None:
    import fastapi
    from starlette.routing import WebSocketRoute

    fw: Any = fastapi if fw_name == "fastapi" else fulmen

    def refuse() -> None:
        raise fw.HTTPException(403)

    async def greet(websocket: Any) -> None:  # Starlette's form: path parameters in path_params
        await websocket.accept()
        await websocket.send_text(f"hello {websocket.path_params['name']}")
        await websocket.close()

    # As in FastAPI, neither the router's prefix nor its dependencies apply to add_websocket_route.
    router = fw.APIRouter(prefix="/ignored", dependencies=[fw.Depends(refuse)])
    router.add_websocket_route("/ws/{name}", greet)
    app = fw.FastAPI(routes=[WebSocketRoute("/direct/{name}", greet)])
    app.include_router(router, prefix="/v1")
    with fulmen.testclient.TestClient(app) as client:
        for path, name in (("/v1/ws/ann", "ann"), ("/direct/bob", "bob")):
            with client.websocket_connect(path) as websocket:
                assert websocket.receive_text() == f"hello {name}"


# -- a router route with an empty path takes the prefix it is included with ----------------------------------
def build_empty_path_router(fw: Any) -> Any:
    router = fw.APIRouter()

    @router.get("")
    async def collection() -> Any:
        return ["the collection"]

    app = fw.FastAPI()
    app.include_router(router, prefix="/things")
    with pytest.raises(fw.exceptions.FastAPIError, match="Prefix and path cannot be both empty"):
        app.include_router(router)
    return app


EMPTY_PATH_CASES: list[Case] = [
    ("prefix only", "GET", "/things", {}),
    ("trailing slash redirects", "GET", "/things/", {}),
]


@pytest.fixture(scope="module")
def empty_path_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_empty_path_router, EMPTY_PATH_CASES)


def test_empty_path_router(serve: Callable[..., httpx.Client], empty_path_answers: dict[str, Answer]) -> None:
    client = serve(build_empty_path_router(fulmen))
    assert_same_as_fastapi(client, EMPTY_PATH_CASES, empty_path_answers)


@pytest.mark.parametrize("fw_name", ["fastapi", "fulmen"])
def test_including_a_router_into_itself(fw_name: str) -> None:
    import fastapi

    fw: Any = fastapi if fw_name == "fastapi" else fulmen
    router = fw.APIRouter()
    router.get("/a")(lambda: "a")
    with pytest.raises(AssertionError, match="Cannot include the same APIRouter instance into itself"):
        router.include_router(router)


# -- an explicit HEAD route answers HEAD, though a GET route on the same path was declared first -------------
def build_explicit_head(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: str) -> Any:
        return {"item_id": item_id}

    @app.head("/items/{item_id}")
    async def head_item(item_id: str) -> Any:
        return fw.responses.JSONResponse(None, headers={"x-item-id": item_id})

    @app.head("/static")
    async def head_static() -> Any:
        return fw.responses.Response(headers={"x-static": "head"})

    @app.get("/static")
    async def get_static() -> Any:
        return "static"

    return app


EXPLICIT_HEAD_CASES: list[Case] = [
    ("explicit HEAD after GET", "HEAD", "/items/3", {}),
    ("GET still answers", "GET", "/items/3", {}),
    ("explicit HEAD before GET, static path", "HEAD", "/static", {}),
    ("405 lists both", "PUT", "/items/3", {}),
]


@pytest.fixture(scope="module")
def explicit_head_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_explicit_head, EXPLICIT_HEAD_CASES)


def test_explicit_head_route(
    serve: Callable[..., httpx.Client], explicit_head_answers: dict[str, Answer]
) -> None:
    client = serve(build_explicit_head(fulmen))
    assert_same_as_fastapi(client, EXPLICIT_HEAD_CASES, explicit_head_answers)


def test_removing_the_explicit_head_route_gives_head_back_to_get() -> None:
    app = build_explicit_head(fulmen)
    app.routes.remove(next(r for r in app.routes if r.name == "head_item"))
    with fulmen.testclient.TestClient(app) as client:
        response = client.head("/items/3")
        assert response.status_code == 200
        assert "x-item-id" not in response.headers


# -- scope["route"]: the route that answers (route templates for logs and metrics) ---------------------------
def build_scope_route(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.middleware("http")
    async def label(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        route = request.scope.get("route")
        response.headers["x-route"] = getattr(route, "path", "none")
        return response

    @app.get("/users/{user_id}")
    async def get_user(user_id: str, request: fw.Request) -> Any:
        route = request.scope["route"]
        return {"path": route.path, "name": route.name, "api": isinstance(route, fw.routing.APIRoute)}

    @app.post("/users/{user_id}")
    async def post_user(user_id: str, request: fw.Request) -> Any:
        return {"name": request.scope["route"].name}

    router = fw.APIRouter()

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: str, request: fw.Request) -> Any:
        return {"path": request.scope["route"].path}

    app.mount("/mounted", router)
    return app


SCOPE_ROUTE_CASES: list[Case] = [
    ("route template", "GET", "/users/7", {}),
    ("the method's route", "POST", "/users/7", {}),
    ("route in a mounted router", "GET", "/mounted/things/1", {}),
    ("no route", "GET", "/nothing", {}),
]


@pytest.fixture(scope="module")
def scope_route_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_scope_route, SCOPE_ROUTE_CASES)


def test_scope_route(serve: Callable[..., httpx.Client], scope_route_answers: dict[str, Answer]) -> None:
    client = serve(build_scope_route(fulmen))
    assert_same_as_fastapi(client, SCOPE_ROUTE_CASES, scope_route_answers)


def test_websocket_scope_route() -> None:
    app = fulmen.FastAPI()

    @app.get("/items/{item_id}")
    async def http_item(item_id: str) -> Any:
        return item_id

    @app.websocket("/items/{item_id}")
    async def ws_item(websocket: fulmen.WebSocket, item_id: str) -> None:
        await websocket.accept()
        route = websocket.scope["route"]
        await websocket.send_json(
            {"name": route.name, "ws": isinstance(route, fulmen.routing.APIWebSocketRoute)}
        )
        await websocket.close()

    with fulmen.testclient.TestClient(app) as client, client.websocket_connect("/items/3") as websocket:
        assert websocket.receive_json() == {"name": "ws_item", "ws": True}


def test_assigning_router_routes_replaces_them(serve: Callable[..., httpx.Client]) -> None:
    app = fulmen.FastAPI()

    @app.get("/keep")
    async def keep() -> Any:
        return "kept"

    @app.get("/drop")
    async def drop() -> Any:
        return "dropped"

    # A Starlette Router's routes attribute is assignable; FastAPI code filters it (hiding the docs, say).
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", "") not in ("/drop", "/docs")]
    client = serve(app)
    assert client.get("/keep").json() == "kept"
    assert client.get("/drop").status_code == 404
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 200


def test_direct_routes_keep_their_apps_limits_when_mounted(serve: Callable[..., httpx.Client]) -> None:
    async def echo(request: fulmen.Request) -> Any:
        return {"size": len(await request.body())}

    child = fulmen.FastAPI(max_body_size=5, routes=[fulmen.routing.APIRoute("/", echo, methods=["POST"])])
    app = fulmen.FastAPI(max_body_size=10)
    app.mount("/child", child)
    client = serve(app)
    assert client.post("/child/", content=b"12345").json() == {"size": 5}
    assert (
        client.post("/child/", content=b"123456").status_code == 413
    )  # the child app's limit, not the mount's
