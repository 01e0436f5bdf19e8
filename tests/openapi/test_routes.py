"""``/openapi.json``, ``/docs``, ``/redoc`` and ``/docs/oauth2-redirect`` answer as FastAPI's, on every door.

FastAPI's answers are collected in-process (through fulmen's TestClient, a plain ASGI client); fulmen's come
through every front door (``serve``). Compared: status, body bytes and content type.
"""

import warnings
from collections.abc import Callable
from typing import Any

import fastapi
import pytest

import fulmen
import fulmen.openapi.utils
from fulmen.testclient import TestClient
from tests.openapi import apps

Answer = tuple[int, str | None, bytes]

DOC_URLS = ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"]


def fastapi_answers(app: Any, urls: list[str], **client_options: Any) -> list[Answer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(app, **client_options) as client:
            return fulmen_answers(client, urls)


def fulmen_answers(client: Any, urls: list[str]) -> list[Answer]:
    out = []
    for url in urls:
        r = client.get(url)
        out.append((r.status_code, r.headers.get("content-type"), r.content))
    return out


def built(build: Callable[..., Any], fw: Any, **settings: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build(fw, **settings)


def settings_app(fw: Any, **settings: Any) -> Any:
    if fw is fulmen:
        # FastAPI's pages load their assets from a CDN; fulmen's serve them itself unless told otherwise.
        settings = {"docs_assets": "cdn", **settings}
    app = fw.FastAPI(**settings)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q}

    return app


@pytest.mark.parametrize("name", ["metadata", "security", "bodies", "forms", "callbacks"])
def test_openapi_json_bytes_equal_fastapi(serve: Callable[..., Any], name: str) -> None:
    build = {
        "metadata": apps.build_metadata,
        "security": apps.build_security,
        "bodies": apps.build_bodies,
        "forms": apps.build_forms,
        "callbacks": apps.build_callbacks,
    }[name]
    expected = fastapi_answers(built(build, fastapi), ["/openapi.json"])
    client = serve(built(build, fulmen))
    assert fulmen_answers(client, ["/openapi.json"]) == expected
    assert expected[0][0] == 200


SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "titled": {"title": "My <API> & co", "version": "9"},
    "custom-urls": {"openapi_url": "/api/schema.json", "docs_url": "/api/docs", "redoc_url": "/api/redoc"},
    "no-docs": {"docs_url": None},
    "no-redoc": {"redoc_url": None},
    "no-openapi": {"openapi_url": None},
    "no-redirect": {"swagger_ui_oauth2_redirect_url": None},
    "custom-redirect": {"swagger_ui_oauth2_redirect_url": "/oauth/back"},
    "swagger-settings": {
        "swagger_ui_parameters": {
            "deepLinking": False,
            "syntaxHighlight": {"theme": "obsidian"},
            "x": "</script>",
        },
        "swagger_ui_init_oauth": {"clientId": "your-client-id", "appName": "Docs & <stuff>"},
    },
    "root-path": {"root_path": "/api/v1"},
    "root-path-not-in-servers": {"root_path": "/api/v1", "root_path_in_servers": False},
    "root-path-in-servers": {
        "root_path": "/api/v1",
        "servers": [{"url": "/api/v1"}, {"url": "https://x.com"}],
    },
}
SETTINGS_URLS = [*DOC_URLS, "/api/schema.json", "/api/docs", "/api/redoc", "/oauth/back"]


@pytest.mark.parametrize("name", list(SETTINGS))
def test_docs_routes_equal_fastapi(serve: Callable[..., Any], name: str) -> None:
    settings = SETTINGS[name]
    expected = fastapi_answers(built(settings_app, fastapi, **settings), SETTINGS_URLS)
    client = serve(built(settings_app, fulmen, **settings))
    assert fulmen_answers(client, SETTINGS_URLS) == expected


def test_docs_of_a_mounted_app_point_at_its_prefix(serve: Callable[..., Any]) -> None:
    def build(fw: Any) -> Any:
        app = fw.FastAPI()
        sub = settings_app(fw, title="Sub")
        app.mount("/sub", sub)
        return app

    urls = ["/sub/openapi.json", "/sub/docs", "/sub/redoc", "/openapi.json"]
    expected = fastapi_answers(built(build, fastapi), urls)
    client = serve(built(build, fulmen))
    assert fulmen_answers(client, urls) == expected
    assert b'"servers":[{"url":"/sub"}]' in expected[0][2]


def test_server_root_path_lands_in_servers_and_docs() -> None:
    """A root path set by the server (ASGI ``root_path``), as behind a proxy that strips a prefix."""
    urls = ["/openapi.json", "/docs", "/redoc"]
    expected = fastapi_answers(built(settings_app, fastapi), urls, root_path="/proxy")
    with TestClient(built(settings_app, fulmen), root_path="/proxy") as client:
        assert fulmen_answers(client, urls) == expected
    assert b"url: '/proxy/openapi.json'" in expected[1][2]


def test_docs_routes_skip_app_dependencies(serve: Callable[..., Any]) -> None:
    """FastAPI adds its docs routes as plain routes: the app's dependencies don't guard them."""

    def build(fw: Any) -> Any:
        def guard(x_key: str = fw.Header()) -> None:
            raise fw.HTTPException(403)

        return settings_app(fw, dependencies=[fw.Depends(guard)])

    expected = fastapi_answers(built(build, fastapi), [*DOC_URLS, "/items/1"])
    client = serve(built(build, fulmen))
    assert fulmen_answers(client, [*DOC_URLS, "/items/1"]) == expected
    assert [a[0] for a in expected] == [200, 200, 200, 200, 422]


def test_document_is_generated_once_and_not_for_other_routes(
    serve: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = fulmen.openapi.utils.get_openapi

    def counting(**kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        return real(**kwargs)

    monkeypatch.setattr(fulmen.openapi.utils, "get_openapi", counting)
    app = settings_app(fulmen)
    client = serve(app)
    for _ in range(3):
        assert client.get("/items/1").status_code == 200
        assert client.get("/docs").status_code == 200
    assert calls == []
    first = client.get("/openapi.json").content
    second = client.get("/openapi.json").content
    assert first == second
    assert calls == [1]
    assert app.openapi() is app.openapi_schema
    assert calls == [1]


def test_routes_added_later_regenerate_the_document() -> None:
    app = settings_app(fulmen)
    first = app.openapi()

    @app.get("/later")
    async def later() -> dict[str, str]:
        return {}

    second = app.openapi()
    assert "/later" not in first["paths"]
    assert "/later" in second["paths"]
    assert app.openapi() is second


def test_custom_openapi_function_is_served(serve: Callable[..., Any]) -> None:
    """FastAPI's "extending OpenAPI" recipe: replace ``app.openapi`` and cache in ``app.openapi_schema``."""

    def build(fw: Any) -> Any:
        from importlib import import_module

        utils = import_module(f"{fw.__name__}.openapi.utils")
        app = settings_app(fw)

        def custom_openapi() -> dict[str, Any]:
            if app.openapi_schema:
                return app.openapi_schema  # type: ignore[no-any-return]
            schema = utils.get_openapi(
                title="Custom title", version="2.5.0", summary="Custom summary", routes=app.routes
            )
            schema["info"]["x-logo"] = {"url": "https://fastapi.tiangolo.com/img/logo-margin/logo-teal.png"}
            app.openapi_schema = schema
            return schema

        app.openapi = custom_openapi
        return app

    expected = fastapi_answers(built(build, fastapi), ["/openapi.json"])
    client = serve(built(build, fulmen))
    assert fulmen_answers(client, ["/openapi.json"]) == expected
    assert b"x-logo" in expected[0][2]


def test_openapi_url_none_still_generates_on_demand() -> None:
    app = settings_app(fulmen, openapi_url=None)
    assert "/items/{item_id}" in app.openapi()["paths"]
    assert [r.path for r in app.routes if not r.include_in_schema] == []


def test_docs_routes_are_not_in_the_document() -> None:
    app = settings_app(fulmen)
    hidden = {r.path for r in app.routes if not r.include_in_schema}
    assert hidden == {"/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"}
    assert list(app.openapi()["paths"]) == ["/items/{item_id}"]


def test_missing_title_or_version_is_an_error_as_in_fastapi() -> None:
    with pytest.raises(AssertionError, match="A title must be provided for OpenAPI"):
        fulmen.FastAPI(title="")
    with pytest.raises(AssertionError, match="A version must be provided for OpenAPI"):
        fulmen.FastAPI(version="")
    fulmen.FastAPI(title="", openapi_url=None)
