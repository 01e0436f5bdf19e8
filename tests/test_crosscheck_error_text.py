"""``str()`` of a validation error names the endpoint as FastAPI 0.165 does: file, line, function and route.

FastAPI's tutorial (Handling Errors, "Override request validation exceptions") answers with
``PlainTextResponse(str(exc))``, so the text is part of the response. The same app is built with FastAPI and
with fulmen from this file (so the file and lines are the same) and the answers compared, on every front door.

No ``from __future__ import annotations`` here: both frameworks must resolve the handlers' annotations.
"""

from collections.abc import Callable
from typing import Annotated, Any

import fastapi
import fastapi.exceptions
import fastapi.responses
import httpx
import pydantic
import pytest

import fulmen
import fulmen.exceptions
import fulmen.responses
from tests.test_crosscheck_fastapi import Answer, ask, assert_same_as_fastapi

Case = tuple[str, str, str, dict[str, Any]]


class Out(pydantic.BaseModel):
    price: float


def build(fw: Any) -> Any:
    exceptions = fw.exceptions
    PlainTextResponse = fw.responses.PlainTextResponse

    async def as_text(request: Any, exc: Any) -> Any:
        return PlainTextResponse(str(exc), status_code=400)

    app = fw.FastAPI()
    app.add_exception_handler(exceptions.RequestValidationError, as_text)
    app.add_exception_handler(exceptions.ResponseValidationError, as_text)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int):
        return {"item_id": item_id}

    def page(size: int = 10) -> int:
        return size

    @app.get("/listing")
    async def listing(size: Annotated[int, fw.Depends(page)]):
        return {"size": size}

    @app.post("/bodies")
    def bodies(a: Annotated[int, fw.Body()], b: Annotated[str, fw.Body()]):
        return {"a": a, "b": b}

    @app.get("/out", response_model=Out)
    async def out():
        return {"price": "free"}

    router = fw.APIRouter(prefix="/v1")

    @router.get("/things/{n}")
    async def thing(n: int):
        return n

    app.include_router(router)
    sub = fw.FastAPI()
    sub.add_exception_handler(exceptions.RequestValidationError, as_text)

    @sub.get("/s/{n}")
    def mounted(n: int):
        return n

    app.mount("/sub", sub)
    return app


CASES: list[Case] = [
    ("path", "GET", "/items/foo", {}),
    ("dependency", "GET", "/listing?size=big", {}),
    ("two-errors", "POST", "/bodies", {"json": {"a": "x"}}),
    ("invalid-json", "POST", "/bodies", {"content": b"{", "headers": {"content-type": "application/json"}}),
    ("response", "GET", "/out", {}),
    ("router-prefix", "GET", "/v1/things/x", {}),
    ("mounted", "GET", "/sub/s/x", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    with fulmen.testclient.TestClient(build(fastapi), raise_server_exceptions=False) as client:
        return {case[0]: ask(client, case) for case in CASES}


def test_same_text(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    client = serve(build(fulmen))
    assert_same_as_fastapi(client, CASES, fastapi_answers)


def test_the_text_names_the_endpoint(fastapi_answers: dict[str, Answer]) -> None:
    """Not a vacuous comparison: FastAPI's text has the file, the function and the route."""
    text = fastapi_answers["path"].body.decode()
    assert f'File "{__file__}", line ' in text and "in read_item\n    GET /items/{item_id}" in text
    assert "in mounted\n    GET /sub/s/{n}" in fastapi_answers["mounted"].body.decode()
    assert fastapi_answers["two-errors"].body.startswith(b"2 validation errors:")


def test_without_a_route_there_is_no_endpoint() -> None:
    """An error made by hand prints only the errors (and the path alone when only that is known)."""
    errors = [{"type": "missing", "loc": ("query", "q"), "msg": "Field required", "input": None}]
    assert str(fulmen.exceptions.RequestValidationError(errors)) == f"1 validation error:\n  {errors[0]}"
    only_path = fulmen.exceptions.RequestValidationError(errors, endpoint_ctx={"path": "GET /x"})
    assert str(only_path).endswith("\n\n  Endpoint: GET /x")
    assert only_path.endpoint_path == "GET /x" and only_path.endpoint_file is None
