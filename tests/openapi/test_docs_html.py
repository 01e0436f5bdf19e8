"""``fulmen.openapi.docs`` returns the same HTML as ``fastapi.openapi.docs`` for the same arguments."""

from typing import Any

import fastapi.openapi.docs as fastapi_docs
import pytest

import fulmen.openapi.docs as docs
from fulmen.responses import HTMLResponse

SWAGGER_CASES: dict[str, dict[str, Any]] = {
    "minimal": {"openapi_url": "/openapi.json", "title": "API - Swagger UI"},
    "oauth2": {
        "openapi_url": "/api/openapi.json",
        "title": "T",
        "oauth2_redirect_url": "/docs/oauth2-redirect",
        "init_oauth": {"clientId": "id", "scopes": "a b", "usePkceWithAuthorizationCodeGrant": True},
    },
    "parameters": {
        "openapi_url": "/o",
        "title": "T",
        "swagger_ui_parameters": {"deepLinking": False, "syntaxHighlight": False, "docExpansion": "none"},
    },
    "escaping": {
        "openapi_url": "/o",
        "title": "<T>",
        "swagger_ui_parameters": {"</script><script>alert(1)</script>": "&amp;", "n": 1.5, "none": None},
        "init_oauth": {"appName": "</script>"},
    },
    "assets": {
        "openapi_url": "/o",
        "title": "T",
        "swagger_js_url": "/static/swagger-ui-bundle.js",
        "swagger_css_url": "/static/swagger-ui.css",
        "swagger_favicon_url": "/static/favicon.png",
    },
    "empty-oauth": {"openapi_url": "/o", "title": "T", "init_oauth": {}, "oauth2_redirect_url": ""},
}

REDOC_CASES: dict[str, dict[str, Any]] = {
    "minimal": {"openapi_url": "/openapi.json", "title": "API - ReDoc"},
    "no-fonts": {"openapi_url": "/o", "title": "T", "with_google_fonts": False},
    "assets": {
        "openapi_url": "/o",
        "title": "T",
        "redoc_js_url": "/static/redoc.standalone.js",
        "redoc_favicon_url": "/static/favicon.png",
    },
}


@pytest.mark.parametrize("name", list(SWAGGER_CASES))
def test_swagger_ui_html(name: str) -> None:
    kwargs = SWAGGER_CASES[name]
    expected = fastapi_docs.get_swagger_ui_html(**kwargs)
    actual = docs.get_swagger_ui_html(**kwargs)
    assert isinstance(actual, HTMLResponse)
    assert actual.body == expected.body
    assert actual.status_code == expected.status_code == 200


@pytest.mark.parametrize("name", list(REDOC_CASES))
def test_redoc_html(name: str) -> None:
    kwargs = REDOC_CASES[name]
    assert docs.get_redoc_html(**kwargs).body == fastapi_docs.get_redoc_html(**kwargs).body


def test_swagger_ui_oauth2_redirect_html() -> None:
    assert (
        docs.get_swagger_ui_oauth2_redirect_html().body
        == fastapi_docs.get_swagger_ui_oauth2_redirect_html().body
    )


def test_default_parameters_are_fastapis() -> None:
    assert docs.swagger_ui_default_parameters == fastapi_docs.swagger_ui_default_parameters
    assert list(docs.swagger_ui_default_parameters) == list(fastapi_docs.swagger_ui_default_parameters)


def test_script_json_cannot_close_the_script_element() -> None:
    html = docs.get_swagger_ui_html(
        openapi_url="/o", title="T", swagger_ui_parameters={"a": "</script>"}
    ).body
    assert b"</script>" not in html.split(b"const ui")[1].split(b"presets")[0]
    assert b"\\u003c/script\\u003e" in html
