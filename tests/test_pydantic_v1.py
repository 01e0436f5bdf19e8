"""A ``pydantic.v1`` model in a route is refused when the route is declared, as in FastAPI."""

import importlib
import sys
import warnings
from typing import Any

import pytest

if sys.version_info >= (3, 14):  # pragma: no cover - pydantic.v1 doesn't run there
    pytest.skip("pydantic.v1 is not available on Python 3.14+", allow_module_level=True)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pydantic import v1


class ItemV1(v1.BaseModel):
    name: str


def _declare(fw: Any, where: str) -> None:
    app = fw.FastAPI()
    if where == "body":

        def body(item: ItemV1) -> Any:
            return item

        app.post("/body")(body)
    elif where == "union":

        def union(item: dict[str, Any] | ItemV1) -> Any:
            return item

        app.post("/union")(union)
    elif where == "list":

        def in_list(items: list[ItemV1]) -> Any:
            return items

        app.post("/list")(in_list)
    elif where == "return":

        def returns() -> ItemV1:
            return ItemV1(name="x")

        app.get("/return")(returns)
    elif where == "response_model":
        app.get("/rm", response_model=ItemV1)(lambda: {"name": "x"})
    else:
        app.get("/responses", responses={400: {"model": ItemV1}})(lambda: {})


@pytest.mark.parametrize("where", ["body", "union", "list", "return", "response_model", "responses"])
@pytest.mark.parametrize("name", ["fastapi", "fulmen"])
def test_refused_at_declaration(name: str, where: str) -> None:
    fw = importlib.import_module(name)
    exceptions = importlib.import_module(f"{name}.exceptions")
    with pytest.raises(
        exceptions.PydanticV1NotSupportedError, match=r"pydantic\.v1 models are no longer supported"
    ):
        _declare(fw, where)
    assert issubclass(exceptions.PydanticV1NotSupportedError, exceptions.FastAPIError)


@pytest.mark.parametrize("name", ["fastapi", "fulmen"])
def test_jsonable_encoder_refuses_an_instance(name: str) -> None:
    encoders = importlib.import_module(f"{name}.encoders")
    exceptions = importlib.import_module(f"{name}.exceptions")
    with pytest.raises(exceptions.PydanticV1NotSupportedError):
        encoders.jsonable_encoder(ItemV1(name="x"))
