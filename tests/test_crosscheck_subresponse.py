"""Cross-check of the injected ``response: Response`` parameter: where its status, headers, cookies apply."""

from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def build_subresponse(fw: Any) -> Any:
    Response, Depends = fw.Response, fw.Depends
    JSONResponse = fw.responses.JSONResponse
    app = fw.FastAPI()

    @app.get("/data")
    async def data(response: Response) -> Any:
        response.status_code = 201
        response.headers["x-sub"] = "1"
        response.set_cookie("c", "v")
        return {"ok": True}

    @app.get("/returned")
    async def returned(response: Response) -> Any:
        response.status_code = 201
        response.headers["x-sub"] = "1"
        response.set_cookie("c", "v")
        return JSONResponse({"returned": True}, status_code=202)

    @app.get("/no-content")
    async def no_content(response: Response) -> Any:
        response.status_code = 204
        return {"dropped": True}

    def stamp(response: Response) -> None:
        response.headers["x-dep"] = "yes"

    @app.get("/from-dependency")
    async def from_dependency(_: Annotated[None, Depends(stamp)]) -> Any:
        return {"dep": True}

    @app.get("/from-dependency-returned")
    async def from_dependency_returned(_: Annotated[None, Depends(stamp)]) -> Any:
        return JSONResponse({"dep": "returned"})

    return app


CASES: list[Case] = [
    ("data", "GET", "/data", {}),
    ("returned", "GET", "/returned", {}),
    ("no-content", "GET", "/no-content", {}),
    ("from-dependency", "GET", "/from-dependency", {}),
    ("from-dependency-returned", "GET", "/from-dependency-returned", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_subresponse, CASES)


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    assert_same_as_fastapi(serve(build_subresponse(fulmen)), CASES, fastapi_answers)
