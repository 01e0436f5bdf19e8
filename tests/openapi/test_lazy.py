"""OpenAPI costs nothing until asked for, and works on a core-only install (no pydantic).

Each case runs in a fresh interpreter, so modules imported by other tests don't hide an import.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import fastapi

from tests.engine.conftest import FULMEN_PATH
from tests.openapi.compare import assert_same

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> Any:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FULMEN_PATH), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_app_with_docs_imports_neither_openapi_nor_pydantic() -> None:
    loaded = run(
        """
        import json, sys
        import fulmen
        app = fulmen.FastAPI()

        @app.get("/items/{item_id}")
        def read(item_id: int, q: str | None = None):
            return {}

        from fulmen.testclient import TestClient
        with TestClient(app) as client:
            assert client.get("/items/1").status_code == 200
        print(json.dumps(sorted(m for m in sys.modules if m.startswith(("pydantic", "fulmen.openapi")))))
        """
    )
    assert loaded == []


# The same app twice: Structs for fulmen (in a process where pydantic can't be imported), pydantic models for
# FastAPI. The documents must be identical.
STRUCT_APP = """
import datetime, decimal, enum, json, sys
from typing import Annotated, Literal, Optional
sys.modules["pydantic"] = None  # a core-only install: any pydantic import fails
import msgspec
import fulmen
from fulmen import Body, Header, Query


class Color(str, enum.Enum):
    red = "red"
    blue = "blue"


class Part(msgspec.Struct):
    sku: Annotated[str, msgspec.Meta(min_length=3, description="Stock keeping unit")]
    count: int = 1


class Order(msgspec.Struct, forbid_unknown_fields=True):
    \"\"\"An order.\"\"\"

    customer: str
    total: decimal.Decimal
    parts: list[Part] = []
    color: Color = Color.red
    when: Optional[datetime.datetime] = None
    note: Optional[str] = msgspec.field(default=None, name="remark")


app = fulmen.FastAPI(title="Shop", version="1.0")


@app.post("/orders/", status_code=201, tags=["orders"])
def create_order(order: Order, x_request_id: Annotated[Optional[str], Header()] = None) -> Order:
    \"\"\"Place an order.\"\"\"
    return order


@app.get("/orders/{order_id}", responses={404: {"model": Part, "description": "Missing"}})
def read_order(order_id: int, fields: Annotated[list[str], Query(max_length=5)] = []) -> Order:
    return Order(customer="c", total=decimal.Decimal(1))


@app.put("/parts/{sku}")
def put_part(sku: str, part: Part, priority: Annotated[int, Body(ge=0)], kind: Literal["a", "b"] = "a"):
    return {}


print(json.dumps(app.openapi()))
assert not [m for m in sys.modules if m.startswith("pydantic") and sys.modules[m] is not None]
"""


def build_pydantic_equivalent() -> Any:
    import datetime
    import decimal
    import enum
    from typing import Annotated, Literal, Optional

    import pydantic

    class Color(str, enum.Enum):
        red = "red"
        blue = "blue"

    class Part(pydantic.BaseModel):
        sku: Annotated[str, pydantic.Field(min_length=3, description="Stock keeping unit")]
        count: int = 1

    class Order(pydantic.BaseModel):
        """An order."""

        model_config = pydantic.ConfigDict(extra="forbid")

        customer: str
        total: decimal.Decimal
        parts: list[Part] = []
        color: Color = Color.red
        when: Optional[datetime.datetime] = None
        note: Optional[str] = pydantic.Field(default=None, alias="remark")

    app = fastapi.FastAPI(title="Shop", version="1.0")

    @app.post("/orders/", status_code=201, tags=["orders"])
    def create_order(order: Order, x_request_id: Annotated[Optional[str], fastapi.Header()] = None) -> Order:
        """Place an order."""
        return order

    @app.get("/orders/{order_id}", responses={404: {"model": Part, "description": "Missing"}})
    def read_order(order_id: int, fields: Annotated[list[str], fastapi.Query(max_length=5)] = []) -> Order:  # noqa: B006
        return Order(customer="c", total=decimal.Decimal(1))

    @app.put("/parts/{sku}")
    def put_part(
        sku: str, part: Part, priority: Annotated[int, fastapi.Body(ge=0)], kind: Literal["a", "b"] = "a"
    ):
        return {}

    return app


def test_core_only_install_documents_structs_as_fastapi_documents_models() -> None:
    actual = run(STRUCT_APP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = build_pydantic_equivalent().openapi()
    assert_same(expected, actual)
    assert {"Order-Input", "Order-Output", "Part", "Color"} <= set(actual["components"]["schemas"])
