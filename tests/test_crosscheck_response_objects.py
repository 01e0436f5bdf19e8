"""Cross-check against FastAPI 0.165: response classes given the handler's result (``RedirectResponse`` and
``FileResponse`` take it positionally, as their URL or path), the injected ``response: Response`` parameter
(``status_code`` reads ``None`` until set; ``media_type``, ``charset`` or any attribute can be set on it).

FastAPI's answers come in-process through the TestClient, fulmen's through every front door.

No ``from __future__ import annotations`` here: FastAPI must resolve the handlers' annotations.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi
import fastapi.responses
import httpx
import pytest

import fulmen
import fulmen.responses
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import _reraise_only_unanswered
from tests.test_crosscheck_responses import Answer, _comparable, ask

pytestmark = pytest.mark.timeout(60)

NOTES = b"some notes\n" * 10


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("objects") / "notes.txt"
    path.write_bytes(NOTES)
    return path


# ------------------------------------------------------------------------------------------------------------
# Response classes and the injected response parameter
# ------------------------------------------------------------------------------------------------------------
def build_routes(fw: Any, notes: Path) -> Any:
    R = fw.responses
    app = fw.FastAPI()

    @app.get("/redirect-class", response_class=R.RedirectResponse)
    def redirect_class():
        return "https://docs.pydantic.dev/"

    @app.get("/redirect-class-302", response_class=R.RedirectResponse, status_code=302)
    def redirect_class_302():
        return "/elsewhere?x=1 2"

    @app.get("/redirect-class-308", response_class=R.RedirectResponse, status_code=308)
    async def redirect_class_308():
        return "/target"

    @app.get("/redirect-class-param", response_class=R.RedirectResponse)
    async def redirect_class_param(response: fw.Response):
        response.headers["x-a"] = "1"
        response.set_cookie("seen", "yes")
        return "/with-header"

    @app.get("/redirect-class-param-status", response_class=R.RedirectResponse)
    def redirect_class_param_status(response: fw.Response):
        response.status_code = 301
        return "/moved"

    @app.get("/redirect-class-returned", response_class=R.RedirectResponse)
    def redirect_class_returned():
        return R.RedirectResponse("/explicit", status_code=303)

    @app.get("/file-class", response_class=R.FileResponse)
    async def file_class():
        return str(notes)

    @app.get("/file-class-status", response_class=R.FileResponse, status_code=203)
    def file_class_status():
        return notes

    @app.get("/html-class-status", response_class=R.HTMLResponse, status_code=201)
    def html_class_status():
        return "<p>made</p>"

    @app.get("/param-attributes")
    def param_attributes(response: fw.Response):
        # Starlette's responses take any attribute; on the injected response they change nothing.
        response.media_type = "text/plain"
        response.charset = "latin-1"
        response.custom = {"any": "thing"}
        response.headers["x-custom"] = str(response.custom["any"])
        return {"a": 1}

    @app.get("/param-status")
    def param_status(response: fw.Response):
        return {"status": response.status_code}

    @app.get("/param-status-set", status_code=202)
    async def param_status_set(response: fw.Response):
        before = response.status_code
        response.status_code = 201
        return {"before": before, "after": response.status_code}

    def status_seen(response: fw.Response) -> Any:
        return response.status_code

    @app.get("/param-status-dependency")
    def param_status_dependency(seen: Any = fw.Depends(status_seen)):
        return {"status": seen}

    return app


ROUTE_CASES = [
    "/redirect-class",
    "/redirect-class-302",
    "/redirect-class-308",
    "/redirect-class-param",
    "/redirect-class-param-status",
    "/redirect-class-returned",
    "/file-class",
    "/file-class-status",
    "/html-class-status",
    "/param-attributes",
    "/param-status",
    "/param-status-set",
    "/param-status-dependency",
]


@pytest.fixture(scope="module")
def fastapi_route_answers(notes: Path) -> dict[str, Answer]:
    app = _reraise_only_unanswered(build_routes(fastapi, notes))
    with TestClient(app, raise_server_exceptions=False) as client:
        return {url: ask(client, "GET", url, {}) for url in ROUTE_CASES}


def test_fastapi_route_answers_are_meaningful(fastapi_route_answers: dict[str, Answer]) -> None:
    answers = fastapi_route_answers
    assert answers["/redirect-class"].status == 307
    assert ("location", "https://docs.pydantic.dev/") in answers["/redirect-class"].headers
    assert answers["/redirect-class-308"].status == 308
    assert ("x-a", "1") in answers["/redirect-class-param"].headers
    assert answers["/file-class"].body == NOTES
    assert answers["/param-attributes"].body == b'{"a":1}'
    assert answers["/param-status"].body == b'{"status":null}'
    assert answers["/param-status-dependency"].body == b'{"status":null}'


def test_routes_answer_as_fastapi(
    serve: Callable[..., httpx.Client], notes: Path, fastapi_route_answers: dict[str, Answer]
) -> None:
    client = serve(build_routes(fulmen, notes))
    failures = []
    for url in ROUTE_CASES:
        expected, got = _comparable(fastapi_route_answers[url], ask(client, "GET", url, {}))
        if got != expected:
            failures.append(f"  {url}\n    fastapi: {expected.show()}\n    fulmen:  {got.show()}")
    assert not failures, f"{len(failures)} answers differ from FastAPI:\n" + "\n".join(failures)


def test_only_the_injected_response_takes_any_attribute() -> None:
    """Response classes keep ``__slots__`` (cheap to create); the injected parameter has a ``__dict__``."""
    injected = fulmen.responses.InjectedResponse()
    injected.media_type = "text/plain"
    injected.anything = 1  # type: ignore[attr-defined]
    assert injected.status_code is None and isinstance(injected, fulmen.responses.Response)
    response = fulmen.responses.JSONResponse({"a": 1})
    response.status_code, response.body, response.background = 201, b"{}", None
    with pytest.raises(AttributeError):
        response.anything = 1  # type: ignore[attr-defined]
