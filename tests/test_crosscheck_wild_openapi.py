"""Cross-check: an OpenAPI document edited at import time, before the app mounts sub-apps, as in FastAPI.

Blog recipes edit the cached document in place (``app.openapi()["info"]["x-logo"] = ...``, security schemes,
``openapi_schema["openapi"] = "3.0.2"`` for older tools), often before ``app.mount("/v1", v1)`` or
``app.mount("/static", ...)``. FastAPI 0.165 generates the document again when routes are added or routers
included, not for a mount; so does fulmen. Both lose the edit when a route is added after it.
"""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, Case, assert_same_as_fastapi, fastapi_answers_for


def build_edited(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/items")
    def items() -> list[str]:
        return []

    schema = app.openapi()
    schema["info"]["x-logo"] = {"url": "https://example.com/logo.png"}
    schema.setdefault("components", {})["securitySchemes"] = {"Bearer": {"type": "http", "scheme": "bearer"}}
    schema["openapi"] = "3.0.2"
    v1 = fw.FastAPI()

    @v1.get("/ping")
    def ping() -> str:
        return "pong"

    app.mount("/v1", v1)
    return app


def build_assigned(fw: Any) -> Any:
    app = fw.FastAPI()
    app.openapi_schema = {"openapi": "3.1.0", "info": {"title": "Mine", "version": "9"}, "paths": {}}

    @app.get("/after")
    def after() -> str:
        return "after"

    return app


CASES: list[Case] = [
    ("openapi", "GET", "/openapi.json", {}),
    ("mounted-app-serves", "GET", "/v1/ping", {}),
]
ASSIGNED: list[Case] = [("openapi", "GET", "/openapi.json", {}), ("after", "GET", "/after", {})]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, dict[str, Answer]]:
    return {
        "edited": fastapi_answers_for(build_edited, CASES),
        "assigned": fastapi_answers_for(build_assigned, ASSIGNED),
    }


def test_edited_document_stays_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, dict[str, Answer]]
) -> None:
    assert_same_as_fastapi(serve(build_edited(fulmen)), CASES, fastapi_answers["edited"])


def test_assigned_document_stays_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, dict[str, Answer]]
) -> None:
    assert_same_as_fastapi(serve(build_assigned(fulmen)), ASSIGNED, fastapi_answers["assigned"])


def test_untouched_document_is_generated_again_with_the_new_routes() -> None:
    """fulmen's own behaviour, kept: a document nobody edited follows the routes added after it was made."""
    app = fulmen.FastAPI()
    first = app.openapi()

    @app.get("/new")
    def new() -> str:
        return "new"

    assert "/new" not in first["paths"]
    assert "/new" in app.openapi()["paths"]
