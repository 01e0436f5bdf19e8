"""``frontend()`` declarations: start-up checks and errors, precedence between frontends, and how frontends
sit beside routes, mounts, WebSockets, OpenAPI, middleware and dependency overrides.
(The answers themselves are cross-checked against FastAPI in test_crosscheck_frontend.py.)
"""

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi
import httpx
import pytest

import fulmen
from fulmen.testclient import TestClient


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    _write(tmp_path / "dist" / "index.html", "shell")
    _write(tmp_path / "dist" / "app.js", "js")
    return tmp_path / "dist"


def _both(build: Callable[[Any], Any], *requests: tuple[str, str, dict[str, Any]]) -> list[tuple[int, str]]:
    """``(status, body)`` of each request from fulmen, after asserting FastAPI answers the same."""
    answers = []
    for fw in (fastapi, fulmen):
        with TestClient(build(fw)) as client:
            answers.append(
                [(r.status_code, r.text) for r in (client.request(m, u, **kw) for m, u, kw in requests)]
            )
    assert answers[1] == answers[0]
    return answers[1]


# -- declaration checks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["", "app"])
def test_path_must_start_with_a_slash(dist: Path, path: str) -> None:
    with pytest.raises(AssertionError, match="frontend path"):
        fulmen.FastAPI().frontend(path, directory=dist)


def test_unknown_fallback_is_refused(dist: Path) -> None:
    with pytest.raises(AssertionError, match="fallback"):
        fulmen.FastAPI().frontend("/", directory=dist, fallback="spa.html")  # type: ignore[arg-type]


def test_missing_directory_fails_at_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASTAPI_ENV", raising=False)
    monkeypatch.chdir(tmp_path)
    for check_dir in ("auto", True):
        with pytest.raises(RuntimeError, match="does not exist") as info:
            fulmen.APIRouter().frontend("/", directory="missing", check_dir=check_dir)  # type: ignore[arg-type]
        assert "'missing'" in str(info.value)
        assert str(tmp_path / "missing") in str(info.value)  # the resolved path, for the puzzled reader


def test_missing_directory_only_warns_in_development(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPI_ENV", "development")
    app = fulmen.FastAPI()
    with pytest.warns(UserWarning, match="does not exist") as caught:
        app.frontend("/", directory=tmp_path / "dist")
    assert caught[0].filename == __file__  # points at the app.frontend(...) line
    with pytest.raises(RuntimeError, match="does not exist"):
        fulmen.FastAPI().frontend("/", directory=tmp_path / "dist", check_dir=True)
    # Built later (the frontend's own dev server writes it): served from then on.
    _write(tmp_path / "dist" / "app.js", "js")
    assert TestClient(app).get("/app.js").text == "js"


def test_unchecked_missing_directory_fails_on_request(tmp_path: Path) -> None:
    app = fulmen.FastAPI()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app.frontend("/", directory=tmp_path / "missing", check_dir=False)
    with pytest.raises(RuntimeError, match="does not exist"):
        TestClient(app).get("/app.js")


def test_explicit_fallback_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dist").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match=r"index\.html") as info:
        fulmen.FastAPI().frontend("/", directory="dist", fallback="index.html")
    assert "directory 'dist'" in str(info.value)
    assert str(tmp_path / "dist") in str(info.value)
    app = fulmen.FastAPI()
    app.frontend("/", directory="dist", fallback="404.html", check_dir=False)
    with pytest.raises(RuntimeError, match=r"404\.html"):
        TestClient(app).get("/missing.js")


# -- precedence ----------------------------------------------------------------------------------------------
def test_longest_prefix_wins_and_own_frontends_before_included(tmp_path: Path) -> None:
    for name in ("site", "admin", "router"):
        _write(tmp_path / name / "index.html", name)

    def build(fw: Any) -> Any:
        app = fw.FastAPI()
        router = fw.APIRouter()
        router.frontend("/", directory=tmp_path / "router", fallback="index.html")
        app.include_router(router)  # included first, yet the app's own "/" below answers before it
        app.frontend("/", directory=tmp_path / "site", fallback="index.html")
        app.frontend("/admin", directory=tmp_path / "admin", fallback="index.html")
        return app

    html = {"headers": {"accept": "text/html"}}
    answers = _both(
        build, ("GET", "/admin/users", html), ("GET", "/administrator", html), ("GET", "/x", html)
    )
    assert answers == [(200, "admin"), (200, "site"), (200, "site")]


def test_nested_routers_join_every_prefix_and_dependency(tmp_path: Path) -> None:
    _write(tmp_path / "ui" / "index.html", "ui")
    calls: list[str] = []

    def record(name: str) -> Any:
        def dependency() -> None:
            calls.append(name)

        return dependency

    def build(fw: Any) -> Any:
        calls.clear()
        child = fw.APIRouter(prefix="/child", dependencies=[fw.Depends(record("child"))])
        child.frontend("/ui/", directory=tmp_path / "ui")
        parent = fw.APIRouter(dependencies=[fw.Depends(record("parent"))])
        parent.include_router(child, prefix="/p", dependencies=[fw.Depends(record("parent-include"))])
        app = fw.FastAPI(dependencies=[fw.Depends(record("app"))])
        app.include_router(parent, prefix="/api", dependencies=[fw.Depends(record("app-include"))])
        return app

    assert _both(build, ("GET", "/api/p/child/ui/", {})) == [(200, "ui")]
    assert calls == ["app", "app-include", "parent", "parent-include", "child"]


# -- beside the rest of the app ------------------------------------------------------------------------------
def test_not_in_openapi_and_url_path_for_unchanged(dist: Path) -> None:
    app = fulmen.FastAPI()
    router = fulmen.APIRouter()
    router.frontend("/", directory=dist)
    app.include_router(router, prefix="/app")

    @app.get("/api", name="read_api")
    def read_api() -> dict[str, bool]:
        return {"ok": True}

    app.frontend("/", directory=dist)
    assert set(app.openapi()["paths"]) == {"/api"}
    assert app.url_path_for("read_api") == "/api"
    assert all(not isinstance(r, fulmen.frontend.Frontend) for r in app.routes)
    assert [f.path_format for f in app.frontends] == ["/{path}", "/app/{path}"]


def test_websocket_route_and_mount_win(dist: Path) -> None:
    _write(dist / "ws", "file")
    _write(dist / "static" / "app.js", "frontend copy")
    static = dist.parent / "static"
    _write(static / "app.js", "mounted")
    app = fulmen.FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: fulmen.WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("socket")
        await websocket.close()

    app.mount("/static", fulmen.staticfiles.StaticFiles(directory=static))
    app.frontend("/", directory=dist)
    client = TestClient(app)
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "socket"
    assert client.get("/static/app.js").text == "mounted"
    assert client.get("/ws").text == "file"


def test_middleware_overrides_and_root_path(dist: Path) -> None:
    calls: list[str] = []

    def guard() -> None:
        raise fulmen.HTTPException(status_code=401)

    app = fulmen.FastAPI(dependencies=[fulmen.Depends(guard)])

    @app.middleware("http")
    async def around(request: fulmen.Request, call_next: Any) -> Any:
        calls.append("before")
        response = await call_next(request)
        calls.append("after")
        return response

    app.frontend("/ui", directory=dist)
    client = TestClient(app)
    assert client.get("/ui/app.js").status_code == 401
    app.dependency_overrides[guard] = lambda: calls.append("override")
    assert client.get("/ui/app.js").text == "js"
    assert calls == ["before", "after", "before", "override", "after"]
    assert TestClient(app, root_path="/proxy").get("/ui/app.js").text == "js"


def test_frontend_in_a_mounted_app(dist: Path, serve: Callable[..., httpx.Client]) -> None:
    sub = fulmen.FastAPI()
    sub.frontend("/", directory=dist, fallback="index.html")
    app = fulmen.FastAPI()
    app.mount("/shop", sub)
    client = serve(app)
    assert client.get("/shop/app.js").text == "js"
    head = client.head("/shop/app.js")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "2", b"")
    assert client.get("/shop/cart", headers={"accept": "text/html"}).text == "shell"
    redirect = client.get("/shop", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/shop/")
