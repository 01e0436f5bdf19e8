"""Cross-check: a Starlette application mounted in the app, as admin packages do (sqladmin's ``Admin(app)``
mounts one at ``/admin`` named ``"admin"``). Its pages build links with Starlette's ``request.url_for``, which
resolves names from the outermost router (``"admin:statics"``), and ask for names that don't exist. The
mount's prefix alone (``/admin``) is not under the mount: it is redirected to ``/admin/``."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse as StarletteJSON
from starlette.routing import Mount, NoMatchFound, Route
from starlette.staticfiles import StaticFiles

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def admin_app(statics: Path) -> Starlette:
    async def links(request: StarletteRequest) -> StarletteJSON:
        found: dict[str, Any] = {
            "statics": str(request.url_for("admin:statics", path="css/main.css")),
            "page": str(request.url_for("admin:page", name="users")),
            "outer": str(request.url_for("outer_route", item_id=3)),
            "base_url": str(request.base_url),
            "root_path": request.scope["root_path"],
        }
        try:
            request.url_for("admin:nothing")
        except NoMatchFound as exc:
            found["missing"] = str(exc)
        return StarletteJSON(found)

    async def page(request: StarletteRequest) -> StarletteJSON:
        return StarletteJSON({"name": request.path_params["name"]})

    return Starlette(
        routes=[
            Route("/", links, name="index"),
            Route("/page/{name}", page, name="page"),
            Mount("/statics", StaticFiles(directory=statics), name="statics"),
        ]
    )


async def answer_everything(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A mounted app that answers any path itself (as an admin app behind its login middleware does)."""
    body = f"{scope['root_path']}|{scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


def build(fw: Any, statics: Path) -> Any:
    app = fw.FastAPI()

    @app.get("/items/{item_id}", name="outer_route")
    def item(item_id: int) -> Any:
        return {"item_id": item_id}

    app.mount("/admin", admin_app(statics), name="admin")
    sub = fw.FastAPI()

    @sub.api_route("/", methods=["GET", "POST"])
    def sub_root() -> Any:
        return {"sub": True}

    app.mount("/sub", sub)
    strict = fw.FastAPI(redirect_slashes=False)
    strict.mount("/sub", sub)
    app.mount("/strict", strict)
    app.mount("/raw", answer_everything)
    return app


CASES: list[Case] = [
    ("links", "GET", "/admin/", {"headers": {"host": "testserver"}}),
    ("links-behind-proxy", "GET", "/admin/", {"headers": {"host": "shop.example:8443"}}),
    ("page", "GET", "/admin/page/users", {}),
    ("static", "GET", "/admin/statics/css/main.css", {}),
    ("outer", "GET", "/items/3", {}),
    ("prefix-alone-redirects", "GET", "/admin?next=1", {}),
    ("sub-app-prefix-alone", "GET", "/sub", {}),
    ("sub-app-prefix-alone-post", "POST", "/sub", {}),
    ("sub-app-root", "GET", "/sub/", {}),
    ("strict-prefix-alone", "GET", "/strict/sub", {}),
    ("raw-prefix-alone", "GET", "/raw", {}),
    ("raw-root", "GET", "/raw/", {}),
    ("raw-deep", "GET", "/raw/a/b", {}),
]


@pytest.fixture(scope="module")
def statics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("statics")
    (root / "css").mkdir()
    (root / "css" / "main.css").write_text("body {}")
    return root


@pytest.fixture(scope="module")
def fastapi_answers(statics: Path) -> dict[str, Answer]:
    return fastapi_answers_for(lambda fw: build(fw, statics), CASES)


def test_mounted_starlette_app_as_in_fastapi(
    serve: Callable[..., httpx.Client], statics: Path, fastapi_answers: dict[str, Answer]
) -> None:
    assert b"/admin/statics/css/main.css" in fastapi_answers["links"].body
    assert_same_as_fastapi(serve(build(fulmen, statics)), CASES, fastapi_answers)


def build_with_session(fw: Any) -> Any:
    """The session set outside the mount is the mounted Starlette app's (admin apps log users in with the
    app's ``SessionMiddleware``), and what it stores there is kept."""
    from starlette.middleware.sessions import SessionMiddleware

    async def inner(request: StarletteRequest) -> StarletteJSON:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return StarletteJSON({"session": dict(request.session)})

    app = fw.FastAPI()
    app.add_middleware(SessionMiddleware, secret_key="s3cret")

    @app.get("/login")
    def login(request: fw.Request) -> Any:
        request.session["user"] = "bob"
        return dict(request.session)

    app.mount("/admin", Starlette(routes=[Route("/", inner)]))
    return app


def build_with_state(fw: Any) -> Any:
    """``request.state`` is one dict inside and outside the mount, as Starlette shares ``scope["state"]``."""

    async def inner(request: StarletteRequest) -> StarletteJSON:
        request.state.inner = "set inside"
        return StarletteJSON({"state": getattr(request.state, "outer", None)})

    app = fw.FastAPI()

    @app.middleware("http")
    async def mark(request: Any, call_next: Any) -> Any:
        request.state.outer = "set outside"
        response = await call_next(request)
        response.headers["X-Inner-State"] = str(getattr(request.state, "inner", None))
        return response

    app.mount("/admin", Starlette(routes=[Route("/", inner)]))
    return app


SESSION_CASES: list[Case] = [
    ("anonymous", "GET", "/admin/", {}),
    ("login", "GET", "/login", {}),
]
STATE_CASES: list[Case] = [("state", "GET", "/admin/", {})]


def test_mounted_app_shares_session(
    serve: Callable[..., httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    import itsdangerous

    # The session cookie is signed with the current second: one clock for both apps, or a second boundary
    # between collecting FastAPI's answers and fulmen's makes the cookies differ.
    monkeypatch.setattr(itsdangerous.TimestampSigner, "get_timestamp", lambda self: 1_700_000_000)
    expected = fastapi_answers_for(build_with_session, SESSION_CASES)
    assert_same_as_fastapi(serve(build_with_session(fulmen)), SESSION_CASES, expected)
    # With the cookie from /login (the shared helper clears cookies between cases).
    client = serve(build_with_session(fulmen))
    client.get("/login")
    assert client.get("/admin/").json() == {"session": {"user": "bob", "visits": 1}}
    assert client.get("/login").json() == {"user": "bob", "visits": 1}


def test_mounted_app_shares_request_state(serve: Callable[..., httpx.Client]) -> None:
    expected = fastapi_answers_for(build_with_state, STATE_CASES)
    assert dict(expected["state"].headers)["x-inner-state"] == "set inside"
    assert_same_as_fastapi(serve(build_with_state(fulmen)), STATE_CASES, expected)
