"""Cross-check: a single-page app mounted at "/" with the common ``StaticFiles`` subclass that serves
``index.html`` for unknown paths by catching Starlette's ``HTTPException`` (FastAPI code written before
``app.frontend()``), and mounts declared with a trailing slash."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.exceptions import HTTPException as StarletteHTTPException

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def build(fw: Any, dist: Path, assets: Path) -> Any:
    from importlib import import_module

    static_files = import_module(fw.__name__ + ".staticfiles").StaticFiles

    class SPAStaticFiles(static_files):  # type: ignore[misc, valid-type]
        async def get_response(self, path: str, scope: Any) -> Any:
            try:
                return await super().get_response(path, scope)
            except StarletteHTTPException as exc:
                if exc.status_code == 404:
                    return await super().get_response("index.html", scope)
                raise

    app = fw.FastAPI()

    @app.get("/api/items/{item_id}")
    def read_item(item_id: int) -> Any:
        return {"item_id": item_id}

    app.mount("/assets/", static_files(directory=assets), name="assets")  # the trailing slash is dropped
    app.mount("/", SPAStaticFiles(directory=dist, html=True), name="spa")
    return app


CASES: list[Case] = [
    ("index", "GET", "/", {}),
    ("file", "GET", "/app.js", {}),
    ("client-route", "GET", "/settings/profile", {}),
    ("api", "GET", "/api/items/3", {}),
    ("api-invalid", "GET", "/api/items/x", {}),
    ("api-unknown-falls-to-spa", "GET", "/api/nothing", {}),
    ("asset", "GET", "/assets/logo.txt", {}),
    ("asset-missing", "GET", "/assets/none.txt", {}),
    ("asset-head", "HEAD", "/assets/logo.txt", {}),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("spa")
    dist, assets = root / "dist", root / "assets"
    dist.mkdir()
    assets.mkdir()
    (dist / "index.html").write_text("<html>spa</html>")
    (dist / "app.js").write_text("console.log(1)")
    (assets / "logo.txt").write_text("logo")
    return dist, assets


@pytest.fixture(scope="module")
def fastapi_answers(site: tuple[Path, Path]) -> dict[str, Answer]:
    return fastapi_answers_for(lambda fw: build(fw, *site), CASES)


def test_spa_mount_as_in_fastapi(
    serve: Callable[..., httpx.Client], site: tuple[Path, Path], fastapi_answers: dict[str, Answer]
) -> None:
    assert fastapi_answers["client-route"].body == b"<html>spa</html>"
    client = serve(build(fulmen, *site))
    assert_same_as_fastapi(client, CASES, fastapi_answers)
    # StaticFiles' own 405 (compared here: the shared helper drops HEAD from the router's Allow headers).
    r = client.post("/app.js")
    assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD")
    assert r.json() == {"detail": "Method Not Allowed"}


def test_http_error_is_a_starlette_http_exception_once_starlette_is_imported() -> None:
    from fulmen.exceptions import BaseHTTPException, http_error

    error = http_error(405, headers={"Allow": "GET, HEAD"})
    assert isinstance(error, BaseHTTPException) and isinstance(error, StarletteHTTPException)
    assert (error.status_code, error.detail) == (405, "Method Not Allowed")
    assert error.headers == {"Allow": "GET, HEAD"}
    assert repr(error) == "HTTPException(status_code=405, detail='Method Not Allowed')"
