"""Cross-check of what metrics and tracing middleware read from the routes and the scope, against FastAPI.

Libraries such as prometheus-fastapi-instrumentator and starlette-exporter label a request with its route
template by walking ``scope["app"].routes`` and calling ``route.matches(scope)``, comparing the answer
with Starlette's ``Match`` (by identity), descending into mounts through ``route.routes`` and the child scope;
others read ``scope["endpoint"]``, ``scope["route"]``, ``scope["router"]`` and ``scope["path_params"]``
after the app has answered. ``TemplateProbe`` below does both (our own code, in those libraries' manner)
and reports what it found in response headers, compared with FastAPI's through every front door.
"""

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.routing import Match, Mount

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def _flatten(routes: Any) -> list[Any]:
    """The routes to match one by one: FastAPI 0.165 keeps an included router as one entry with contexts."""
    flat: list[Any] = []
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            flat.extend(getattr(c, "starlette_route", None) or c for c in contexts())
        else:
            flat.append(route)
    return flat


def find_template(scope: dict[str, Any], routes: Any) -> tuple[str, str] | None:
    """(template, match name) of the first FULL match, else of the first PARTIAL one (a 405), else None."""
    partial = None
    for route in _flatten(routes):
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        assert match in (Match.FULL, Match.PARTIAL)  # Starlette's own members, not look-alikes
        template = getattr(route, "path", "")
        if isinstance(route, Mount):  # its routes are matched with the child scope (root_path grown)
            found = find_template({**scope, **child}, route.routes)
            if found is None:
                continue
            template, match_name = template + found[0], found[1]
        else:
            match_name = match.name
        if match is Match.FULL:
            return template, match_name
        partial = partial or (template, match_name)
    return partial


class TemplateProbe:
    """A pure ASGI middleware reporting the route template it finds and what routing left in the scope."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = find_template(scope, scope["app"].routes)

        async def probing_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                endpoint = scope.get("endpoint")
                route = scope.get("route")
                extra = [
                    (b"x-template", (found[0] if found else "-").encode()),
                    (b"x-match", (found[1] if found else "NONE").encode()),
                    (b"x-endpoint", getattr(endpoint, "__name__", type(endpoint).__name__).encode()),
                    (b"x-route", str(getattr(route, "path", "-")).encode()),
                    (b"x-params", repr(sorted(scope.get("path_params", {}).items())).encode()),
                    (b"x-router", str(scope.get("router") is scope["app"].router).encode()),
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, probing_send)


def build(fw: Any) -> Any:
    app = fw.FastAPI()
    sub = fw.FastAPI()
    router = fw.APIRouter(prefix="/api")

    @app.get("/items/{item_id}")
    def read_item(item_id: int) -> Any:
        return {"item_id": item_id}

    @app.get("/numbers/{n:int}")
    def read_number(n: int) -> Any:
        return {"n": n}

    @app.get("/files/{rest:path}")
    def read_file(rest: str) -> Any:
        return {"rest": rest}

    @app.post("/only-post")
    def only_post() -> Any:
        return {}

    @router.get("/users/{name}")
    def read_user(name: str) -> Any:
        return {"name": name}

    @sub.get("/things/{tid}")
    def read_thing(tid: int) -> Any:
        return {"tid": tid}

    app.include_router(router)
    app.mount("/sub", sub)
    app.add_middleware(TemplateProbe)
    return app


CASES: list[Case] = [
    ("path-param", "GET", "/items/3", {}),
    ("path-param-invalid", "GET", "/items/x", {}),
    ("int-convertor", "GET", "/numbers/7", {}),
    ("int-convertor-rejects", "GET", "/numbers/seven", {}),
    ("path-convertor", "GET", "/files/a/b/c.txt", {}),
    ("wrong-method", "GET", "/only-post", {}),
    ("right-method", "POST", "/only-post", {}),
    ("included-router", "GET", "/api/users/bob", {}),
    ("not-found", "GET", "/nowhere", {}),
]
# A mounted fulmen app is called natively, not through the ASGI scope: scope["endpoint"] is the sub-app there
# and scope["app"] stays the outer app (Starlette's sub-app and sub-router overwrite both). The template,
# found through ``Mount.routes`` and the child scope, is the same.
MOUNT_CASE: Case = ("mounted-app", "GET", "/sub/things/5", {})
# (prometheus-fastapi-instrumentator descends into ``isinstance(route, Mount)`` routes only, as here.)


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, [*CASES, MOUNT_CASE])


def test_templates_and_scope_keys_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


def test_mounted_app_template_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    r = serve(build(fulmen)).get(MOUNT_CASE[2])
    expected = fastapi_answers[MOUNT_CASE[0]]
    assert r.status_code == expected.status == 200
    for name in ("x-template", "x-match"):
        assert r.headers[name] == dict(expected.headers)[name], name
    assert r.headers["x-template"] == "/sub/things/{tid}"


def _scope(kind: str, method: str, path: str, root_path: str = "") -> dict[str, Any]:
    return {"type": kind, "method": method, "path": path, "root_path": root_path, "path_params": {}}


def test_route_matches_answers_starlette_shapes() -> None:
    """Each route kind's ``matches(scope)``: the Match member and the child scope's keys and values."""
    app = fulmen.FastAPI()

    @app.get("/items/{item_id:int}")
    def read_item(item_id: int) -> Any:
        return item_id

    @app.websocket("/ws/{room}")
    async def chat(websocket: fulmen.WebSocket, room: str) -> None:
        await websocket.close()

    routes = {getattr(r, "name", None): r for r in app.routes}
    item, ws = routes["read_item"], routes["chat"]
    match, child = item.matches(_scope("http", "GET", "/items/4"))
    assert match is Match.FULL and child == {
        "endpoint": read_item,
        "path_params": {"item_id": 4},
        "route": item,
    }
    assert item.matches(_scope("http", "DELETE", "/items/4"))[0] is Match.PARTIAL
    assert item.matches(_scope("http", "GET", "/items/four")) == (Match.NONE, {})
    assert item.matches(_scope("websocket", "GET", "/items/4")) == (Match.NONE, {})
    # the path is matched under the scope's root_path, as Starlette's get_route_path does
    assert item.matches(_scope("http", "GET", "/v1/items/4", root_path="/v1"))[0] is Match.FULL
    assert item.path_regex.match("/items/4") is not None and item.path_format == "/items/{item_id}"
    match, child = ws.matches(_scope("websocket", "GET", "/ws/lobby"))
    assert match is Match.FULL and child["path_params"] == {"room": "lobby"} and child["route"] is ws
    assert ws.matches(_scope("http", "GET", "/ws/lobby")) == (Match.NONE, {})


def test_mount_matches_grows_the_root_path() -> None:
    sub = fulmen.FastAPI()
    app = fulmen.FastAPI()
    app.mount("/sub", sub, name="sub")
    mount = next(r for r in app.routes if isinstance(r, fulmen.routing.Mount))
    match, child = mount.matches(_scope("http", "GET", "/v1/sub/x", root_path="/v1"))
    assert match is Match.FULL
    assert child == {"path_params": {}, "app_root_path": "/v1", "root_path": "/v1/sub", "endpoint": sub}
    assert mount.matches(_scope("http", "GET", "/subway")) == (Match.NONE, {})
    assert mount.routes == list(sub.routes)
    # Starlette is loaded here: the mount is also Starlette's Mount, still hashable and equal only to itself
    assert isinstance(mount, Mount) and mount != fulmen.routing.Mount("/sub", sub, name="sub")
    assert {mount} and mount.path_format == "/sub/{path}" and mount.path_regex.match("/sub/x")


def test_matches_without_starlette_loaded() -> None:
    """fulmen doesn't import Starlette for ``matches``; without it the answer is fulmen's look-alike enum."""
    code = (
        "import sys\n"
        "import fulmen\n"
        "app = fulmen.FastAPI()\n"
        "@app.get('/a')\n"
        "def a(): return 1\n"
        "route = [r for r in app.routes if r.path == '/a'][0]\n"
        "m, child = route.matches({'type': 'http', 'method': 'GET', 'path': '/a'})\n"
        "app.mount('/sub', fulmen.FastAPI())\n"
        "assert [c.__module__ for c in type(app.routes[-1]).__mro__] == ['fulmen.routing', 'builtins']\n"
        "assert 'starlette' not in sys.modules, sorted(k for k in sys.modules if 'starlette' in k)\n"
        "print(type(m).__module__, m.name)\n"
        # A library imported later: the mount made before becomes Starlette's Mount when it asks matches()
        "import starlette.routing as sr\n"
        "mount = app.routes[-1]\n"
        "m, child = mount.matches({'type': 'http', 'method': 'GET', 'path': '/sub/x'})\n"
        "assert m is sr.Match.FULL and isinstance(mount, sr.Mount) and {mount} and mount.routes\n"
        "assert app.routes[-1] is mount and isinstance(mount, fulmen.routing.Mount)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["fulmen.route_match", "FULL"]


def build_scope_reader(fw: Any) -> Any:
    """``request.scope`` as code written for Starlette reads it: in the endpoint and after ``call_next``."""
    app = fw.FastAPI()
    Request = fw.Request

    def keys(request: Any) -> str:
        scope = request.scope
        return repr(
            [
                scope.get("router") is request.app.router,
                scope.get("app") is request.app,
                getattr(scope.get("route"), "path", None),
                getattr(scope.get("endpoint"), "__name__", None),
                sorted(scope.get("path_params", {}).items()),
                scope.get("root_path"),
            ]
        )

    @app.middleware("http")
    async def after(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-after"] = keys(request)
        return response

    @app.get("/items/{item_id}")
    def read_item(item_id: int, request: Request) -> Any:
        return keys(request)

    return app


SCOPE_CASES: list[Case] = [("scope-keys", "GET", "/items/3", {})]


def test_request_scope_keys_as_in_fastapi(serve: Callable[..., httpx.Client]) -> None:
    expected = fastapi_answers_for(build_scope_reader, SCOPE_CASES)
    assert_same_as_fastapi(serve(build_scope_reader(fulmen)), SCOPE_CASES, expected)
