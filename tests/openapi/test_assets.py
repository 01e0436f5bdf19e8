"""The Swagger UI and ReDoc files shipped in the package, served by the app so ``/docs`` and ``/redoc`` work
with no network; ``docs_assets="cdn"`` gives FastAPI's CDN pages instead."""

import os
import re
from collections.abc import Callable
from typing import Any

import pytest

import fulmen
import fulmen.exceptions
from fulmen.openapi import docs

ASSETS = {
    "swagger-ui-bundle.js": ("text/javascript; charset=utf-8", b"SwaggerUIBundle"),
    "swagger-ui.css": ("text/css; charset=utf-8", b".swagger-ui"),
    "favicon-32x32.png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    "redoc.standalone.js": ("text/javascript; charset=utf-8", b"redoc"),
}


def items_app(**settings: Any) -> fulmen.FastAPI:
    app = fulmen.FastAPI(**settings)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def asset_urls(html: str) -> list[str]:
    """The URLs a docs page loads from ``src``/``href`` attributes (the document URL is in its script)."""
    return re.findall(r'(?:src|href)="([^"]*)"', html)


@pytest.mark.parametrize("name", list(ASSETS))
def test_asset_is_served_with_cache_headers(serve: Callable[..., Any], name: str) -> None:
    client = serve(items_app())
    r = client.get(f"/docs/static/{name}")
    media_type, marker = ASSETS[name]
    assert r.status_code == 200
    assert r.headers["content-type"] == media_type
    relative = docs.DOCS_ASSETS[name][0]
    with open(os.path.join(docs.STATIC_DIR, relative), "rb") as f:
        assert r.content == f.read()
    assert marker in r.content
    assert int(r.headers["content-length"]) == len(r.content) > 0
    assert r.headers["cache-control"] == "public, max-age=86400"
    assert r.headers["last-modified"]
    etag = r.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    again = client.get(f"/docs/static/{name}", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert "content-type" not in again.headers

    for header in (f'W/{etag}, "other"', '"other", ' + etag, "*"):
        assert client.get(f"/docs/static/{name}", headers={"if-none-match": header}).status_code == 304
    stale = client.get(f"/docs/static/{name}", headers={"if-none-match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == r.content


def test_asset_range_request_gets_part_of_the_file(serve: Callable[..., Any]) -> None:
    client = serve(items_app())
    full = client.get("/docs/static/swagger-ui.css").content
    r = client.get("/docs/static/swagger-ui.css", headers={"range": "bytes=0-99"})
    assert r.status_code == 206
    assert r.content == full[:100]


def test_docs_pages_reference_only_local_assets(serve: Callable[..., Any]) -> None:
    client = serve(items_app())
    swagger = client.get("/docs").text
    assert asset_urls(swagger) == [
        "/docs/static/swagger-ui.css",
        "/docs/static/favicon-32x32.png",
        "/docs/static/swagger-ui-bundle.js",
    ]
    redoc = client.get("/redoc").text
    assert asset_urls(redoc) == ["/docs/static/favicon-32x32.png", "/docs/static/redoc.standalone.js"]
    for html in (swagger, redoc):
        assert "http://" not in html
        assert "https://" not in html
    for url in {*asset_urls(swagger), *asset_urls(redoc)}:
        assert client.get(url).status_code == 200


def test_cdn_setting_gives_fastapis_pages(serve: Callable[..., Any]) -> None:
    client = serve(items_app(docs_assets="cdn"))
    swagger = client.get("/docs")
    expected = docs.get_swagger_ui_html(
        openapi_url="/openapi.json", title="FastAPI - Swagger UI", oauth2_redirect_url="/docs/oauth2-redirect"
    )
    assert swagger.content == expected.body
    assert asset_urls(swagger.text) == [docs.SWAGGER_CSS_URL, docs.FAVICON_URL, docs.SWAGGER_JS_URL]
    redoc = client.get("/redoc")
    assert redoc.content == docs.get_redoc_html(openapi_url="/openapi.json", title="FastAPI - ReDoc").body
    assert "https://fonts.googleapis.com/" in redoc.text
    assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 404
    assert client.get("/docs/static/redoc.standalone.js").status_code == 404


def test_assets_follow_docs_url_and_root_path(serve: Callable[..., Any]) -> None:
    with pytest.warns(
        fulmen.exceptions.FastAPIDeprecationWarning, match="`root_path` parameter is deprecated"
    ):
        app = items_app(docs_url="/api/docs", redoc_url="/api/redoc", root_path="/v1")
    client = serve(app)
    assert asset_urls(client.get("/api/docs").text) == [
        "/v1/api/docs/static/swagger-ui.css",
        "/v1/api/docs/static/favicon-32x32.png",
        "/v1/api/docs/static/swagger-ui-bundle.js",
    ]
    assert "/v1/api/docs/static/redoc.standalone.js" in asset_urls(client.get("/api/redoc").text)
    # The app answers below its root path (the prefix is the proxy's); the routes are the unprefixed paths.
    assert client.get("/api/docs/static/redoc.standalone.js").status_code == 200
    assert client.get("/docs/static/redoc.standalone.js").status_code == 404


def test_redoc_only_app_serves_redoc_assets_under_redoc_url(serve: Callable[..., Any]) -> None:
    client = serve(items_app(docs_url=None))
    assert asset_urls(client.get("/redoc").text) == [
        "/redoc/static/favicon-32x32.png",
        "/redoc/static/redoc.standalone.js",
    ]
    assert client.get("/redoc/static/redoc.standalone.js").status_code == 200
    assert client.get("/redoc/static/swagger-ui-bundle.js").status_code == 404


def test_swagger_only_app_serves_no_redoc(serve: Callable[..., Any]) -> None:
    client = serve(items_app(redoc_url=None))
    assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs/static/redoc.standalone.js").status_code == 404


def test_no_assets_without_openapi(serve: Callable[..., Any]) -> None:
    client = serve(items_app(openapi_url=None))
    assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 404


def test_asset_routes_are_not_in_the_document() -> None:
    app = items_app()
    hidden = {r.path for r in app.routes if not r.include_in_schema}
    assert {f"/docs/static/{name}" for name in ASSETS} <= hidden
    assert list(app.openapi()["paths"]) == ["/items/{item_id}"]


def test_unknown_docs_assets_setting_is_an_error() -> None:
    with pytest.raises(ValueError, match="docs_assets must be 'local' or 'cdn'"):
        fulmen.FastAPI(docs_assets="offline")  # type: ignore[arg-type]


def test_shipped_files_have_their_licences() -> None:
    static = docs.STATIC_DIR
    with open(os.path.join(static, "NOTICE")) as f:
        notice = f.read()
    assert "swagger-ui-dist 5." in notice
    assert "redoc 2." in notice
    with open(os.path.join(static, "swagger-ui", "LICENSE")) as f:
        assert "Apache License" in f.read()
    with open(os.path.join(static, "redoc", "LICENSE")) as f:
        assert "MIT License" in f.read()
    for relative, _ in docs.DOCS_ASSETS.values():
        assert os.path.getsize(os.path.join(static, relative)) > 0


def test_served_bundles_load_nothing_from_the_network(serve: Callable[..., Any]) -> None:
    """ReDoc's bundle loads Redocly's sidebar logo from its CDN; fulmen's copy has an empty image instead."""
    client = serve(items_app())
    redoc = client.get("/docs/static/redoc.standalone.js").content
    assert b"cdn.redoc.ly" not in redoc
    assert b"API docs by Redocly" in redoc
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert b"cdn." not in client.get(f"/docs/static/{name}").content
