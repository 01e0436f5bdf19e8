"""Cross-check of ``app.frontend()`` / ``APIRouter.frontend()`` (FastAPI 0.165): a built single-page app
served behind the API, through every front door, answer for answer against FastAPI.
"""

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]
HTML = {"accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three build directories: a site (index.html, assets, a directory page), an admin app, a docs site."""
    root = tmp_path_factory.mktemp("frontend")
    _write(root / "site" / "index.html", "<p>site shell</p>")
    _write(root / "site" / "assets" / "app.js", "console.log('site')")
    _write(root / "site" / "about" / "index.html", "<p>about</p>")
    _write(root / "site" / "api" / "users", "a file shadowed by the API route")
    (root / "site" / "empty").mkdir()
    _write(root / "admin" / "index.html", "<p>admin shell</p>")
    _write(root / "admin" / "admin.css", "body{}")
    _write(root / "docs" / "404.html", "<p>no such page</p>")
    _write(root / "docs" / "guide.html", "<p>guide</p>")
    _write(root / "secret.txt", "secret")
    return root


def build_frontend(fw: Any, root: Path) -> Any:
    def require_session(
        request: fw.Request, response: fw.Response, background_tasks: fw.BackgroundTasks
    ) -> None:
        if request.cookies.get("session") != "ok":
            raise fw.HTTPException(status_code=401, detail="log in first")
        response.headers["x-guarded"] = "yes"
        response.set_cookie("seen", "1")
        background_tasks.add_task(lambda: None)

    def require_token(token: str) -> None:
        pass

    app = fw.FastAPI()

    @app.get("/api/users")
    def read_users() -> Any:
        return {"source": "api"}

    @app.get("/api/missing")
    def read_missing() -> Any:
        raise fw.HTTPException(status_code=404, detail="api missing")

    @app.get("/slashed/")
    def read_slashed() -> Any:
        return {"source": "slashed"}

    app.frontend("/", directory=root / "site", fallback="index.html")

    admin = fw.APIRouter(dependencies=[fw.Depends(require_session)])
    admin.frontend("/", directory=root / "admin")
    app.include_router(admin, prefix="/admin")

    docs = fw.APIRouter(prefix="/docs-site")
    docs.frontend("/", directory=root / "docs")
    app.include_router(docs)

    app.frontend("/plain", directory=root / "admin", fallback=None)
    app.frontend("/pages", directory=root / "docs", fallback="404.html")

    tokened = fw.APIRouter()
    tokened.frontend("/ui", directory=root / "admin")
    app.include_router(tokened, prefix="/tokened", dependencies=[fw.Depends(require_token)])
    return app


_LATER = "Fri, 01 Jan 2100 00:00:00 GMT"


def _etag(path: Path) -> str:
    # What FileResponse sends for a file (Starlette's formula): the test asks with it to get a 304.
    st = os.stat(path)
    return '"' + hashlib.md5(f"{st.st_mtime}-{st.st_size}".encode(), usedforsecurity=False).hexdigest() + '"'


def cases(root: Path) -> list[Case]:
    cookie = {"cookie": "session=ok"}
    return [
        ("asset", "GET", "/assets/app.js", {}),
        ("asset-head", "HEAD", "/assets/app.js", {}),
        (
            "asset-304",
            "GET",
            "/assets/app.js",
            {"headers": {"if-none-match": _etag(root / "site/assets/app.js")}},
        ),
        ("asset-range", "GET", "/assets/app.js", {"headers": {"range": "bytes=0-6"}}),
        ("asset-modified-since", "GET", "/assets/app.js", {"headers": {"if-modified-since": _LATER}}),
        ("root", "GET", "/", {}),
        ("navigation", "GET", "/dashboard/settings", {"headers": HTML}),
        ("navigation-xhtml", "GET", "/v/1.2.3", {"headers": {"accept": "application/xhtml+xml"}}),
        ("navigation-head", "HEAD", "/dashboard", {"headers": HTML}),
        ("navigation-bad-q", "GET", "/dashboard", {"headers": {"accept": "text/html; q=wat"}}),
        ("html-rejected", "GET", "/dashboard", {"headers": {"accept": "text/html; q=0, */*; q=1"}}),
        ("missing-asset", "GET", "/assets/missing.js", {"headers": {"accept": "*/*"}}),
        ("no-accept", "GET", "/dashboard", {}),
        ("post-asset-405", "POST", "/assets/app.js", {}),
        ("post-root-405", "POST", "/", {}),
        ("post-directory-405", "POST", "/about/", {}),
        ("post-empty-directory-404", "POST", "/empty/", {}),
        ("post-client-route-404", "POST", "/dashboard", {"headers": HTML}),
        ("directory-redirect", "GET", "/about", {}),
        ("directory-index", "GET", "/about/", {}),
        ("traversal-encoded", "GET", "/%2e%2e/secret.txt", {}),
        ("traversal-slash", "GET", "/..%2fsecret.txt", {}),
        ("traversal-backslash", "GET", "/%5c..%5csecret.txt", {}),
        ("api-wins", "GET", "/api/users", {"headers": HTML}),
        ("api-404-kept", "GET", "/api/missing", {"headers": HTML}),
        ("api-405-wins", "POST", "/api/users", {}),
        ("api-slash-redirect-wins", "GET", "/slashed", {}),
        ("admin-unauthorised", "GET", "/admin/", {}),
        ("admin-unauthorised-asset", "GET", "/admin/admin.css", {}),
        ("admin-index", "GET", "/admin/", {"headers": cookie}),
        ("admin-asset", "GET", "/admin/admin.css", {"headers": cookie}),
        ("admin-navigation", "GET", "/admin/users/7", {"headers": {**HTML, **cookie}}),
        ("admin-redirect", "GET", "/admin", {"headers": cookie}),
        ("admin-post-no-dependency", "POST", "/admin/admin.css", {}),
        ("admin-boundary", "GET", "/administrator", {"headers": HTML}),
        ("docs-file", "GET", "/docs-site/guide.html", {}),
        ("docs-404-page", "GET", "/docs-site/nothing", {"headers": HTML}),
        ("docs-404-asset", "GET", "/docs-site/x.js", {}),
        ("no-fallback", "GET", "/plain/users", {"headers": HTML}),
        ("no-fallback-file", "GET", "/plain/admin.css", {}),
        ("explicit-404-page", "GET", "/pages/x.js", {"headers": HTML}),
        ("tokened-422", "GET", "/tokened/ui/", {}),
        ("tokened-ok", "GET", "/tokened/ui/?token=t", {}),
    ]


@pytest.fixture(scope="module")
def fastapi_answers(builds: Path) -> dict[str, Answer]:
    return fastapi_answers_for(lambda fw: build_frontend(fw, builds), cases(builds))


def test_same_answers(
    serve: Callable[..., httpx.Client], builds: Path, fastapi_answers: dict[str, Answer]
) -> None:
    client = serve(build_frontend(fulmen, builds))
    assert_same_as_fastapi(client, cases(builds), fastapi_answers)
