"""``app.mount``: sub-applications under a path prefix, on every front door."""

from collections.abc import Callable
from typing import Any

import httpx

from fulmen import APIRouter, FastAPI, HTTPException, Request


def _apps() -> FastAPI:
    sub = FastAPI()

    @sub.get("/")
    async def sub_root(request: Request) -> Any:
        return {"sub": True, "root_path": request.scope["root_path"], "url": str(request.url)}

    @sub.get("/items/{item_id}", name="sub_item")
    async def sub_item(item_id: int, request: Request) -> Any:
        # As in Starlette, names resolve from the outermost app: inside a named mount, "mount:route".
        return {"item_id": item_id, "self": str(request.url_for("subapp:sub_item", item_id=item_id))}

    @sub.get("/teapot")
    async def teapot() -> Any:
        raise HTTPException(418)

    @sub.exception_handler(418)
    async def sub_418(request: Request, exc: HTTPException) -> Any:
        from fulmen.responses import PlainTextResponse

        return PlainTextResponse("sub handled it", status_code=418)

    app = FastAPI()

    @app.get("/")
    async def main_root() -> Any:
        return {"main": True}

    @app.get("/link")
    async def link(request: Request) -> Any:
        return {"sub_item": str(request.url_for("subapp:sub_item", item_id=3))}

    app.mount("/subapi", sub, name="subapp")
    return app


def test_mounted_fulmen_app(serve: Callable[..., httpx.Client]) -> None:
    client = serve(_apps())
    base = str(client.base_url).rstrip("/")
    assert client.get("/").json() == {"main": True}
    r = client.get("/subapi/items/5")
    assert r.json() == {"item_id": 5, "self": f"{base}/subapi/items/5"}
    assert client.get("/subapi/items/x").status_code == 422
    assert client.get("/subapi/nothing").json() == {"detail": "Not Found"}
    # The sub-app's own exception handlers apply inside it.
    r = client.get("/subapi/teapot")
    assert (r.status_code, r.text) == (418, "sub handled it")
    # "/subapi" redirects to "/subapi/" as Starlette's Mount does.
    r = client.get("/subapi", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == f"{base}/subapi/"
    r = client.get("/subapi/")
    assert r.json() == {"sub": True, "root_path": "/subapi", "url": f"{base}/subapi/"}
    assert client.get("/link").json() == {"sub_item": f"{base}/subapi/items/3"}
    assert client.get("/subapixyz").status_code == 404


def test_mounts_come_with_included_routers(serve: Callable[..., httpx.Client]) -> None:
    inner = FastAPI()

    @inner.get("/ping")
    async def ping() -> Any:
        return "pong"

    router = APIRouter(prefix="/v1")
    router.mount("/inner", inner)
    app = FastAPI()
    app.include_router(router, prefix="/api")
    assert app.url_path_for is not None
    assert client_get(serve(app), "/api/v1/inner/ping") == "pong"


def client_get(client: httpx.Client, path: str) -> Any:
    r = client.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def test_mounted_plain_asgi_app(serve: Callable[..., httpx.Client]) -> None:
    """Any ASGI app mounts; it sees Starlette's scope: the full path and the grown root_path."""

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = (
            f"{scope['method']} {scope['path']} root={scope['root_path']} q={scope['query_string'].decode()}"
        )
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": body.encode()})

    app = FastAPI()
    app.mount("/raw", asgi_app)
    r = serve(app).get("/raw/a/b?x=1")
    assert r.status_code == 200
    assert r.text == "GET /raw/a/b root=/raw q=x=1"


def test_mounted_sub_app_keeps_its_asgi_middleware(serve: Callable[..., httpx.Client]) -> None:
    class Stamp:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def stamped(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), (b"x-stamp", b"sub")]
                await send(message)

            await self.app(scope, receive, stamped)

    sub = FastAPI()
    sub.add_middleware(Stamp)

    @sub.get("/hello")
    async def hello() -> Any:
        return {"hello": "sub"}

    app = FastAPI()

    @app.get("/hello")
    async def main_hello() -> Any:
        return {"hello": "main"}

    app.mount("/sub", sub)
    client = serve(app)
    r = client.get("/sub/hello")
    assert r.json() == {"hello": "sub"}
    assert r.headers["x-stamp"] == "sub"
    r = client.get("/hello")
    assert r.json() == {"hello": "main"}
    assert "x-stamp" not in r.headers


def test_url_path_for_finds_websocket_routes() -> None:
    from fulmen import WebSocket

    app = FastAPI()

    @app.websocket("/ws/{room}", name="chat")
    async def chat(websocket: WebSocket, room: str) -> None:
        await websocket.close()

    assert app.url_path_for("chat", room="lobby") == "/ws/lobby"
    import pytest

    with pytest.raises(Exception, match="No route exists"):
        app.url_path_for("nothing")


def _url_apps(fw: Any) -> Any:
    """url_for, base_url and the scope inside mounted apps, written once for FastAPI and for fulmen."""
    app = fw.FastAPI()

    @app.get("/main/{x}", name="main_route")
    def main_route(x: str) -> Any:
        return x

    def lookups(request: Any, names: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "base": str(request.base_url),
            "url": str(request.url),
            "root_path": request.scope["root_path"],
            "path": request.scope["path"],
        }
        for name, params in names:
            try:
                out[name] = str(request.url_for(name, **params))
            except Exception:  # Starlette's NoMatchFound, fulmen's FastAPIError: both "no such route"
                out[name] = "no match"
        return out

    named = fw.FastAPI()

    @named.get("/sub/{n}", name="sub_route")
    def sub_route(n: int, request: fw.Request) -> Any:
        names = [("main_route", {"x": "a"}), ("subapi:sub_route", {"n": 2}), ("sub_route", {"n": 3})]
        return lookups(request, names)

    anonymous = fw.FastAPI()

    @anonymous.get("/t", name="t_route")
    def t_route(request: fw.Request) -> Any:
        return lookups(request, [("main_route", {"x": "a"}), ("t_route", {}), ("subapi:sub_route", {"n": 2})])

    app.mount("/subapi", named, name="subapi")
    app.mount("/anon", anonymous)
    return app


def test_urls_inside_mounts_as_fastapi(serve: Callable[..., httpx.Client]) -> None:
    """Names resolve from the outermost app, base_url has no mount prefix, scope["path"] is the whole path."""
    import fastapi

    import fulmen
    from fulmen.testclient import TestClient

    paths = ["/subapi/sub/5", "/anon/t"]
    with TestClient(_url_apps(fastapi)) as reference:
        expected = [reference.get(p).text.replace("http://testserver", "BASE") for p in paths]
    client = serve(_url_apps(fulmen))
    base = str(client.base_url).rstrip("/")
    got = [client.get(p).text.replace(base, "BASE") for p in paths]
    assert got == expected
    assert '"sub_route":"no match"' in expected[0] and '"main_route":"BASE/main/a"' in expected[0]
