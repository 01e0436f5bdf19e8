"""ORJSONResponse and UJSONResponse: bodies as FastAPI renders them, as response_class and
default_response_class, and a clear error naming the extra when the library is missing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import fulmen.responses
from fulmen import APIRouter, FastAPI
from fulmen.responses import JSONResponse, ORJSONResponse, UJSONResponse

PAYLOAD = {"text": "héllo ☃", "n": 1, "f": 1.5, "items": [1, None, True]}


def _app() -> FastAPI:
    app = FastAPI(default_response_class=ORJSONResponse)

    @app.get("/default")
    async def default() -> Any:
        return PAYLOAD

    @app.get("/ujson", response_class=UJSONResponse)
    async def with_ujson() -> Any:
        return PAYLOAD

    @app.get("/direct")
    async def direct() -> Any:
        return UJSONResponse({"a": "é"}, status_code=201, headers={"x-h": "1"})

    @app.get("/non-str-keys")
    async def non_str_keys() -> Any:
        return ORJSONResponse({1: "one", 2.5: "x"})

    router = APIRouter(default_response_class=UJSONResponse)

    @router.get("/router")
    async def in_router() -> Any:
        return {"router": "ü"}

    app.include_router(router)
    return app


def test_orjson_default_response_class(serve: Callable[..., httpx.Client]) -> None:
    r = serve(_app()).get("/default")
    assert r.headers["content-type"] == "application/json"
    assert r.content == '{"text":"héllo ☃","n":1,"f":1.5,"items":[1,null,true]}'.encode()


def test_ujson_response_class(serve: Callable[..., httpx.Client]) -> None:
    client = serve(_app())
    r = client.get("/ujson")
    assert r.headers["content-type"] == "application/json"
    assert r.content == '{"text":"héllo ☃","n":1,"f":1.5,"items":[1,null,true]}'.encode()
    r = client.get("/direct")
    assert (r.status_code, r.headers["x-h"], r.content) == (201, "1", '{"a":"é"}'.encode())
    assert client.get("/router").content == '{"router":"ü"}'.encode()


def test_orjson_non_str_keys(serve: Callable[..., httpx.Client]) -> None:
    assert serve(_app()).get("/non-str-keys").json() == {"1": "one", "2.5": "x"}


def test_they_are_json_responses() -> None:
    assert issubclass(ORJSONResponse, JSONResponse)
    assert issubclass(UJSONResponse, JSONResponse)
    assert ORJSONResponse([1]).body == b"[1]"
    assert UJSONResponse([1]).body == b"[1]"


@pytest.mark.parametrize(("cls", "module"), [(ORJSONResponse, "orjson"), (UJSONResponse, "ujson")])
def test_missing_library_names_the_extra(
    cls: type[JSONResponse], module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    monkeypatch.setattr(fulmen.responses, "_modules", {})
    with pytest.raises(
        ImportError, match=rf'{cls.__name__} needs {module}: pip install "fulmen\[{module}\]"'
    ):
        cls({"a": 1})
