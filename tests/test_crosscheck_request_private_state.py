"""Cross-check: what FastAPI libraries read of a request's private state, as Starlette leaves it.

fastapi-csrf-protect looks for a token in the parsed JSON body when ``request._json`` exists, else in the
form when ``request._form`` is set, else it reads the body itself. On Starlette's request ``_json`` exists
only once ``request.json()`` has parsed the body."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def build(fw: Any) -> Any:
    app = fw.FastAPI()

    async def token_from_body(request: fw.Request) -> Any:
        parsed_before = hasattr(request, "_json")
        form_before = getattr(request, "_form", None) is not None
        if request.query_params.get("parse"):
            await request.json()
        if hasattr(request, "_json") and request._json is not None:
            return {"from": "json", "token": request._json.get("token"), "parsed_before": parsed_before}
        return {"from": "raw", "size": len(await request.body()), "form_before": form_before}

    @app.post("/check")
    async def check(found: Any = fw.Depends(token_from_body)) -> Any:
        return found

    return app


CASES: list[Case] = [
    ("unparsed", "POST", "/check", {"json": {"token": "t"}}),
    ("parsed", "POST", "/check?parse=1", {"json": {"token": "t"}}),
    ("form", "POST", "/check", {"data": {"token": "t"}}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_private_request_state_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert b'"from":"raw"' in fastapi_answers["unparsed"].body
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)
