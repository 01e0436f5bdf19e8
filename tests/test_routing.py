"""Routing: static and radix lookups, FastAPI precedence, 404/405/redirects, HEAD, convertors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from fulmen import APIRouter, FastAPI, FastAPIError, WebSocket
from fulmen.route_table import RouteTable


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"at": "root"}

    @app.get("/users/{user_id}")
    async def user(user_id: str) -> dict[str, str]:
        return {"at": "user", "id": user_id}

    @app.get("/users/me")
    async def me() -> dict[str, str]:  # declared after /users/{user_id}: FastAPI routes /users/me there
        return {"at": "me"}

    @app.get("/things/me")
    async def thing_me() -> dict[str, str]:
        return {"at": "thing-me"}

    @app.get("/things/{name}")
    async def thing(name: str) -> dict[str, str]:
        return {"at": "thing", "name": name}

    @app.post("/things/{name}")
    async def thing_post(name: str) -> dict[str, str]:
        return {"at": "thing-post", "name": name}

    @app.get("/files/{file_path:path}")
    async def files(file_path: str) -> dict[str, str]:
        return {"at": "files", "path": file_path}

    @app.get("/n/{num:int}")
    async def num(num: int) -> dict[str, Any]:
        return {"at": "int", "num": num}

    @app.get("/n/{word}")
    async def word(word: str) -> dict[str, Any]:
        return {"at": "word", "word": word}

    @app.get("/u/{ident:uuid}")
    async def ident(ident: uuid.UUID) -> dict[str, Any]:
        return {"at": "uuid", "ident": ident}

    @app.get("/img/{name}.{ext}")
    async def img(name: str, ext: str) -> dict[str, str]:
        return {"name": name, "ext": ext}

    @app.get("/trailing/")
    async def trailing() -> str:
        return "trailing"

    @app.get("/a/{x}/b/{y}/c")
    async def deep(x: int, y: str) -> dict[str, Any]:
        return {"x": x, "y": y}

    return app


CASES = [
    ("GET", "/", 200, {"at": "root"}),
    ("GET", "/users/42", 200, {"at": "user", "id": "42"}),
    ("GET", "/users/me", 200, {"at": "user", "id": "me"}),
    ("GET", "/things/me", 200, {"at": "thing-me"}),
    ("GET", "/things/other", 200, {"at": "thing", "name": "other"}),
    ("POST", "/things/me", 200, {"at": "thing-post", "name": "me"}),
    ("GET", "/files/a/b/c.txt", 200, {"at": "files", "path": "a/b/c.txt"}),
    ("GET", "/n/12", 200, {"at": "int", "num": 12}),
    ("GET", "/n/twelve", 200, {"at": "word", "word": "twelve"}),
    (
        "GET",
        "/u/12345678-1234-5678-1234-567812345678",
        200,
        {"at": "uuid", "ident": "12345678-1234-5678-1234-567812345678"},
    ),
    ("GET", "/img/cat.png", 200, {"name": "cat", "ext": "png"}),
    ("GET", "/a/1/b/two/c", 200, {"x": 1, "y": "two"}),
    ("GET", "/users/a%20b", 200, {"at": "user", "id": "a b"}),
    ("GET", "/missing", 404, {"detail": "Not Found"}),
    ("GET", "/users/1/extra", 404, {"detail": "Not Found"}),
    ("DELETE", "/", 405, {"detail": "Method Not Allowed"}),
]


@pytest.mark.parametrize("method,url,status,body", CASES)
def test_routes(serve: Any, method: str, url: str, status: int, body: Any) -> None:
    client = serve(_app())
    r = client.request(method, url)
    assert (r.status_code, r.json()) == (status, body)


def test_405_lists_allowed_methods_and_head_is_automatic(serve: Any) -> None:
    client = serve(_app())
    r = client.put("/things/x")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, POST"
    head = client.head("/users/42")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(b'{"at":"user","id":"42"}'))


def test_trailing_slash_redirect(serve: Any) -> None:
    client = serve(_app(), follow_redirects=False)
    r = client.get("/trailing?x=1")
    assert r.status_code == 307
    assert r.headers["location"].endswith("/trailing/?x=1")
    assert client.get("/trailing/").json() == "trailing"
    redirecting = serve(_app())
    assert redirecting.get("/trailing").json() == "trailing"


def test_redirect_slashes_off() -> None:
    from fulmen.testclient import TestClient

    app = FastAPI(redirect_slashes=False)

    @app.get("/x/")
    async def x() -> int:
        return 1

    with TestClient(app) as client:
        assert client.get("/x", follow_redirects=False).status_code == 404


def test_table_precedence_is_declaration_order() -> None:
    app = _app()
    table: RouteTable = app.table
    route, params = table.match("GET", "/users/me")  # type: ignore[misc]
    assert route.name == "user" and params == {"user_id": "me"}
    route, params = table.match("GET", "/things/me")  # type: ignore[misc]
    assert route.name == "thing_me" and params == {}
    assert table.match("PATCH", "/things/me") == "GET, HEAD, POST"
    assert table.match("GET", "/nowhere") is None


def _static_handler() -> str:
    return "static"


def test_many_routes_still_resolve() -> None:
    app = FastAPI()
    for i in range(500):

        async def handler(item_id: int) -> int:
            return item_id

        app.add_api_route(f"/r{i}/{{item_id}}", handler, name=f"r{i}")
        app.add_api_route(f"/s{i}", _static_handler, name=f"s{i}")
    route, params = app.table.match("GET", "/r499/7")  # type: ignore[misc]
    assert route.name == "r499" and params == {"item_id": "7"}
    route, _ = app.table.match("GET", "/s250")  # type: ignore[misc]
    assert route.name == "s250"


def test_url_path_for() -> None:
    app = _app()
    assert app.url_path_for("user", user_id=5) == "/users/5"
    assert app.url_path_for("files", file_path="a/b") == "/files/a/b"
    with pytest.raises(FastAPIError):
        app.url_path_for("user")


def test_conflicting_route_is_a_startup_error() -> None:
    app = FastAPI()

    @app.get("/items/{a}")
    async def first(a: str) -> str:
        return a

    with pytest.raises(FastAPIError, match="conflicts"):

        @app.get("/items/{b}")
        async def second(b: str) -> str:
            return b

    @app.post("/items/{b}")  # another method on the same path is fine
    async def third(b: str) -> str:
        return b


def test_path_parameter_missing_from_signature() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match=r"path parameter 'item_id'.*signature"):

        @app.get("/items/{item_id}")
        async def read() -> None:
            return None


def test_unknown_convertor_and_bad_path() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match="Unknown path convertor"):
        app.add_api_route("/x/{a:nope}", lambda a: a)
    with pytest.raises(FastAPIError, match="must start with '/'"):
        app.add_api_route("x", lambda: 1)


def test_url_for_a_path_parameter_called_name() -> None:
    """``name`` is positional-only all the way down, so a route's ``{name}`` can be filled in (it raised)."""
    app = FastAPI()

    @app.get("/users/{name}")
    def user(name: str) -> str:
        return name

    @app.websocket("/rooms/{name}")
    async def room(websocket: WebSocket, name: str) -> None:
        await websocket.close()

    sub = FastAPI()

    @sub.get("/teams/{name}", name="team")
    def team(name: str) -> str:
        return name

    router = APIRouter(prefix="/v1")

    @router.get("/tags/{name}")
    def tag(name: str) -> str:
        return name

    app.include_router(router)
    app.mount("/sub", sub, name="sub")
    assert app.url_path_for("user", name="bob") == "/users/bob"
    assert app.url_path_for("room", name="lobby") == "/rooms/lobby"
    assert app.url_path_for("tag", name="x") == "/v1/tags/x"
    assert app.url_path_for("sub:team", name="red") == "/sub/teams/red"
