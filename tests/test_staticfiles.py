"""StaticFiles: mounted in an app (every front door), standalone as an ASGI app, and through its native
``handle``; html mode, 304s, ranges, HEAD, errors and path-traversal attempts (plain and encoded)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fulmen import FastAPI, HTTPException, Request
from fulmen.responses import PlainTextResponse, Response
from fulmen.staticfiles import StaticFiles
from tests.engine.conftest import RawConn

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("site")
    root = base / "public"
    root.mkdir()
    (root / "hello.txt").write_text("hello world")
    (root / "style.css").write_text("body{}")
    (root / "index.html").write_text("<p>root index</p>")
    (root / "404.html").write_text("<p>custom not found</p>")
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("<p>docs index</p>")
    (root / "empty-dir").mkdir()
    (root / "sp ace é.txt").write_text("spaced")
    (base / "secret.txt").write_text("secret")  # next to the served directory, never reachable
    (root / "link-out.txt").symlink_to(base / "secret.txt")
    return root


def _app(site: Path, **options: Any) -> FastAPI:
    app = FastAPI()
    app.mount("/static", StaticFiles(directory=site, **options), name="static")
    app.mount("/site", StaticFiles(directory=site, html=True))

    @app.get("/plain")
    async def plain() -> Any:
        return {"plain": True}

    return app


@pytest.fixture
def client(serve: Callable[..., httpx.Client], site: Path) -> httpx.Client:
    return serve(_app(site))


def test_serves_a_file(client: httpx.Client, site: Path) -> None:
    r = client.get("/static/hello.txt")
    assert r.status_code == 200
    assert r.content == b"hello world"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-length"] == "11"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"].startswith('"') and "last-modified" in r.headers
    assert client.get("/static/style.css").headers["content-type"] == "text/css; charset=utf-8"
    assert client.get("/static/sp%20ace%20%C3%A9.txt").content == b"spaced"


def test_head_and_ranges(client: httpx.Client) -> None:
    r = client.head("/static/hello.txt")
    assert (r.status_code, r.content, r.headers["content-length"]) == (200, b"", "11")
    r = client.get("/static/hello.txt", headers={"range": "bytes=6-"})
    assert (r.status_code, r.content, r.headers["content-range"]) == (206, b"world", "bytes 6-10/11")


def test_not_found_and_method_not_allowed(client: httpx.Client) -> None:
    r = client.get("/static/nope.txt")
    assert (r.status_code, r.json()) == (404, {"detail": "Not Found"})
    r = client.get("/static/docs")  # a directory without html mode
    assert r.status_code == 404
    r = client.post("/static/hello.txt")
    assert (r.status_code, r.json(), r.headers["allow"]) == (
        405,
        {"detail": "Method Not Allowed"},
        "GET, HEAD",
    )


def test_app_exception_handlers_apply(serve: Callable[..., httpx.Client], site: Path) -> None:
    app = _app(site)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: HTTPException) -> Response:
        return PlainTextResponse(f"no {request.url.path}", status_code=404)

    r = serve(app).get("/static/missing.css")
    assert (r.status_code, r.text) == (404, "no /static/missing.css")


def test_html_mode(client: httpx.Client) -> None:
    base = str(client.base_url).rstrip("/")
    r = client.get("/site/")
    assert (r.status_code, r.text) == (200, "<p>root index</p>")
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    r = client.get("/site/docs", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (307, f"{base}/site/docs/")
    r = client.get("/site", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (307, f"{base}/site/")
    assert client.get("/site/docs/").text == "<p>docs index</p>"
    r = client.get("/site/missing")
    assert (r.status_code, r.text) == (404, "<p>custom not found</p>")
    r = client.get("/site/empty-dir/")
    assert (r.status_code, r.text) == (404, "<p>custom not found</p>")


def test_not_modified(client: httpx.Client) -> None:
    first = client.get("/static/hello.txt")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in (
        {"if-none-match": etag},
        {"if-none-match": f'"other", W/{etag}'},
        {"if-none-match": "*"},
        {"if-modified-since": modified},
        {"if-modified-since": "Fri, 01 Jan 2100 00:00:00 GMT"},
    ):
        r = client.get("/static/hello.txt", headers=headers)
        assert (r.status_code, r.content) == (304, b""), headers
        assert r.headers["etag"] == etag
        assert "content-type" not in r.headers and "last-modified" not in r.headers
    for headers in (
        {"if-none-match": '"other"'},
        {"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"},
        {"if-none-match": '"other"', "if-modified-since": modified},  # If-None-Match wins
    ):
        assert client.get("/static/hello.txt", headers=headers).status_code == 200, headers


@pytest.mark.parametrize(
    "path",
    [
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E%2Fsecret.txt",
        "/static/docs/%2e%2e/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/%252e%252e/secret.txt",
        "/static/..%5csecret.txt",
        "/static/%2fetc%2fpasswd",
        "/static//etc/passwd",
        "/static/hello.txt%00.png",
        "/static/link-out.txt",
        "/static/" + "a" * 5000,
    ],
)
def test_no_escape_from_the_directory(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, r.content
    assert b"secret" not in r.content


def test_no_escape_with_raw_dot_segments(
    serve: Callable[..., httpx.Client], site: Path, front_door: str
) -> None:
    """``..`` on the wire (httpx would normalise it away), on the socket front doors."""
    if front_door == "asgi":
        pytest.skip("needs a socket; the native handle test covers '..' in process")
    client = serve(_app(site))
    port = client.base_url.port
    assert port is not None
    for target in (b"/static/../secret.txt", b"/static/docs/../../secret.txt", b"/static/./../secret.txt"):
        with RawConn(port) as conn:
            conn.send(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            r = conn.read_response()
        assert r.status == 404, target
        assert b"secret" not in r.body
    with RawConn(port) as conn:
        conn.send(b"GET /static/docs/../hello.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        assert conn.read_response().body == b"hello world"  # ".." inside the directory is fine


def test_follow_symlink(serve: Callable[..., httpx.Client], site: Path) -> None:
    app = FastAPI()
    app.mount("/links", StaticFiles(directory=site, follow_symlink=True))
    r = serve(app).get("/links/link-out.txt")
    assert (r.status_code, r.content) == (200, b"secret")


def test_packages(
    serve: Callable[..., httpx.Client], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "staticpkg"
    (pkg / "statics").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "statics" / "p.txt").write_text("from package")
    (pkg / "assets").mkdir()
    (pkg / "assets" / "a.txt").write_text("from assets")
    # Not monkeypatch.syspath_prepend: it calls into pkg_resources when that is imported, and the Autobahn
    # test's kosoku installs a partial pkg_resources shim.
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.delitem(sys.modules, "staticpkg", raising=False)
    importlib.invalidate_caches()
    app = FastAPI()
    app.mount("/pkg", StaticFiles(packages=["staticpkg", ("staticpkg", "assets")]))
    client = serve(app)
    assert client.get("/pkg/p.txt").content == b"from package"
    assert client.get("/pkg/a.txt").content == b"from assets"
    with pytest.raises(RuntimeError, match="could not be found"):
        StaticFiles(packages=[("staticpkg", "nothing")])


def test_directory_checks(serve: Callable[..., httpx.Client], tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="does not exist"):
        StaticFiles(directory=tmp_path / "missing")
    app = FastAPI()
    app.mount("/late", StaticFiles(directory=tmp_path / "missing", check_dir=False))
    assert serve(app).get("/late/x").status_code == 500  # checked at the first request, loudly


# -- standalone ASGI app, and the native handle --------------------------------------------------------------
def test_standalone_asgi_app(serve: Callable[..., httpx.Client], site: Path, front_door: str) -> None:
    if front_door == "engine":
        pytest.skip("the engine serves fulmen apps; StaticFiles runs on it mounted (tests above)")
    client = serve(StaticFiles(directory=site, html=True))
    assert client.get("/hello.txt").content == b"hello world"
    assert client.get("/").text == "<p>root index</p>"
    r = client.get("/hello.txt", headers={"range": "bytes=0-4"})
    assert (r.status_code, r.content) == (206, b"hello")
    r = client.get("/nothing.txt")
    assert (r.status_code, r.text) == (404, "<p>custom not found</p>")
    r = client.post("/hello.txt")
    assert (r.status_code, r.json()) == (405, {"detail": "Method Not Allowed"})
    assert client.head("/hello.txt").content == b""


def test_standalone_under_a_root_path(site: Path) -> None:
    from fulmen.testclient import TestClient

    with TestClient(StaticFiles(directory=site, html=True), root_path="/assets") as client:
        assert client.get("/assets/hello.txt").content == b"hello world"
        r = client.get("/assets/docs", follow_redirects=False)
        assert r.headers["location"] == "http://testserver/assets/docs/"


def test_websocket_scope_is_closed(site: Path) -> None:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    asyncio.run(StaticFiles(directory=site)({"type": "websocket", "path": "/"}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1000, "reason": ""}]


def _native(
    static: StaticFiles, method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None
) -> Any:
    request = Request(method, path.encode(), b"", headers or [(b"host", b"example.com")])
    return asyncio.run(static.handle(request))


def test_native_handle(site: Path) -> None:
    static = StaticFiles(directory=site)
    response = _native(static, "GET", "/hello.txt")
    assert (response.status_code, response.streaming) == (200, True)
    assert response.headers["content-length"] == "11"
    for path in ("/../secret.txt", "/docs/../../secret.txt", "/%2e%2e/secret.txt", "/nope"):
        response = _native(static, "GET", path)
        assert (response.status_code, response.body) == (404, b'{"detail":"Not Found"}'), path
    assert _native(static, "DELETE", "/hello.txt").status_code == 405
    etag = _native(static, "GET", "/hello.txt").headers["etag"]
    assert _native(static, "GET", "/hello.txt", [(b"if-none-match", etag.encode())]).status_code == 304


def test_mounted_root_without_slash(client: httpx.Client) -> None:
    assert client.get("/static/hello.txt").status_code == 200
    assert client.get("/static").status_code == 404  # a directory, not in html mode
    assert client.get("/plain").json() == {"plain": True}
