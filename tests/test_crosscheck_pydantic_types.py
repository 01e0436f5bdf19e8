"""Cross-check what only pydantic implements, against FastAPI: the same requests get the same answers.

Pydantic's validators in ``Annotated`` (FastAPI's "Custom Validation" tutorial), ``StringConstraints``,
strict mode, decimal limits, UUID versions, ``Json[...]``, pydantic's own types (URLs, IP addresses,
secrets, past and future dates), ``validation_alias``, ``pattern`` anchors, embedded bodies sent as
something other than a JSON object, and strict models as bodies. fulmen hands the values that need it to
pydantic (docs/validation.md, "Who validates what"), so the answers must be FastAPI's byte for byte, through
every front door.

No ``from __future__ import annotations`` here: both frameworks must resolve the handlers' annotations.
"""

import datetime
import decimal
import ipaddress
import pathlib
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Optional

import fastapi
import httpx
import pydantic
import pytest
from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    PlainValidator,
    StringConstraints,
    WrapValidator,
)

import fulmen
from tests.test_crosscheck_fastapi import Answer, ask, assert_same_as_fastapi

Case = tuple[str, str, str, dict[str, Any]]


def check_valid_id(id: str) -> str:
    """FastAPI's tutorial validator (Query Parameters and String Validations, Custom Validation)."""
    if not id.startswith(("isbn-", "imdb-")):
        raise ValueError('Invalid ID format, it must start with "isbn-" or "imdb-"')
    return id


class StrictModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True)

    when: Optional[datetime.datetime] = None
    uid: Optional[uuid.UUID] = None
    amount: Optional[decimal.Decimal] = None
    pair: Optional[tuple[int, int]] = None


class Item(pydantic.BaseModel):
    name: str
    price: float = pydantic.Field(strict=True)


TYPES: dict[str, Any] = {
    "before": Annotated[int, BeforeValidator(lambda s: s.strip("x") if isinstance(s, str) else s)],
    "plain": Annotated[int, PlainValidator(lambda s: 42)],
    "wrap": Annotated[str, WrapValidator(lambda v, handler: handler(v) + "!")],
    "upper": Annotated[str, StringConstraints(to_upper=True)],
    "stripped": Annotated[str, StringConstraints(strip_whitespace=True, min_length=2)],
    "constr": pydantic.constr(to_lower=True, max_length=3),
    "uuid4": pydantic.UUID4,
    "url": pydantic.HttpUrl,
    "positive": pydantic.PositiveInt,
    "past": pydantic.PastDate,
    "aware": pydantic.AwareDatetime,
    "secret": pydantic.SecretStr,
    "conint": pydantic.conint(ge=2, multiple_of=2),
    "condecimal": pydantic.condecimal(max_digits=3, decimal_places=1),
    "finite": pydantic.confloat(allow_inf_nan=False),
    "ip": pydantic.IPvAnyAddress,
    "ipv4": ipaddress.IPv4Address,
    "json": pydantic.Json[list[int]],
    "strict-int": pydantic.StrictInt,
    "strict-bool": pydantic.StrictBool,
    "path": pathlib.Path,
    "field-strict": Annotated[int, pydantic.Field(strict=True)],
}

VALUES: dict[str, list[str]] = {
    "before": ["x5x", "y"],
    "plain": ["abc"],
    "wrap": ["abc"],
    "upper": ["abc"],
    "stripped": [" a ", " ab "],
    "constr": ["ABC", "ABCD"],
    "uuid4": ["12345678-1234-4678-9234-567812345678", "12345678-1234-1678-9234-567812345678"],
    "url": ["http://x.com", "nope", "ftp://x.com"],
    "positive": ["0", "1"],
    "past": ["2000-01-01", "2999-01-01"],
    "aware": ["2020-01-01T00:00:00", "2020-01-01T00:00:00Z"],
    "secret": ["pw"],
    "conint": ["3", "4", "0"],
    "condecimal": ["1.25", "12.5", "123.4"],
    "finite": ["inf", "1"],
    "ip": ["1.2.3.4", "::1", "x"],
    "ipv4": ["::1"],
    "json": ["[1,2]", "x", '["a"]'],
    "strict-int": ["1"],
    "strict-bool": ["true"],
    "path": ["/a/b"],
    "field-strict": ["1"],
}


def build_types(fw: Any) -> Any:
    """One query route and one embedded-body route per type; more routes for aliases, patterns and bodies."""
    app = fw.FastAPI()
    Query, Header, Body, Depends = fw.Query, fw.Header, fw.Body, fw.Depends

    def add(name: str, tp: Any) -> None:
        async def from_query(v: Annotated[tp, Query()]):  # type: ignore[valid-type]
            return {"v": str(v), "t": type(v).__name__}

        async def from_body(v: Annotated[tp, Body(embed=True)]):  # type: ignore[valid-type]
            return {"v": str(v), "t": type(v).__name__}

        app.get(f"/q/{name}", name=f"q-{name}")(from_query)
        app.post(f"/b/{name}", name=f"b-{name}")(from_body)

    for name, tp in TYPES.items():
        add(name, tp)

    @app.get("/items/")
    async def read_items(id: Annotated[Optional[str], AfterValidator(check_valid_id)] = None):
        return {"id": id}

    @app.get("/strict-default/")
    async def strict_default(n: int = Query(strict=True), d: decimal.Decimal = Query(0, max_digits=2)):
        return {"n": n, "d": str(d)}

    @app.get("/pattern/")
    async def pattern(q: Annotated[Optional[str], Query(pattern="^[a-z]+$")] = None):
        return {"q": q}

    @app.get("/pattern-path/{code}")
    async def pattern_path(code: Annotated[str, fw.Path(pattern="^[A-Z]{3}$")]):
        return {"code": code}

    @app.get("/alias/")
    async def alias(
        v: Annotated[int, Query(validation_alias="va")],
        w: Annotated[Optional[str], Query(validation_alias=AliasChoices("w1", "w2"))] = None,
        token: Annotated[Optional[str], Header(validation_alias="x_token")] = None,
    ):
        return {"v": v, "w": w, "token": token}

    @app.post("/alias-body/")
    async def alias_body(
        a: Annotated[int, Body(validation_alias="the-a")],
        b: Annotated[str, Body(validation_alias=AliasChoices("b1", "b2"))] = "-",
    ):
        return {"a": a, "b": b}

    @app.post("/embedded/")
    async def embedded(a: Annotated[Optional[int], Body()] = None, b: Annotated[str, Body()] = "x"):
        return {"a": a, "b": b}

    def body_dep(a: Annotated[Optional[int], Body(embed=True)] = None) -> Optional[int]:
        return a

    @app.post("/embedded-dep/")
    async def embedded_dep(a: Annotated[Optional[int], Depends(body_dep)]):
        return {"a": a}

    @app.post("/whole-body/")
    async def whole_body(code: Annotated[str, AfterValidator(check_valid_id), Body()]):
        return {"code": code}

    @app.post("/strict-model/")
    async def strict_model(m: StrictModel):
        return {"fields": sorted(m.model_fields_set)}

    @app.post("/strict-field/")
    async def strict_field(item: Item):
        return item

    return app


def _type_cases() -> list[Case]:
    out: list[Case] = []
    for name, values in VALUES.items():
        for i, value in enumerate(values):
            out.append((f"q-{name}-{i}", "GET", f"/q/{name}", {"params": {"v": value}}))
            out.append((f"b-{name}-{i}", "POST", f"/b/{name}", {"json": {"v": value}}))
    return out


_JSON = {"content-type": "application/json"}

CASES: list[Case] = [
    *_type_cases(),
    ("b-strict-int-native", "POST", "/b/strict-int", {"json": {"v": 1}}),
    ("b-json-not-text", "POST", "/b/json", {"json": {"v": [1]}}),
    ("tutorial-ok", "GET", "/items/?id=isbn-9781529046137", {}),
    ("tutorial-invalid", "GET", "/items/?id=foo", {}),
    ("tutorial-absent", "GET", "/items/", {}),
    ("strict-default-str", "GET", "/strict-default/?n=1", {}),
    ("strict-default-digits", "GET", "/strict-default/?n=1&d=1.25", {}),
    ("pattern-ok", "GET", "/pattern/?q=abc", {}),
    ("pattern-trailing-newline", "GET", "/pattern/?q=abc%0A", {}),
    ("pattern-path-newline", "GET", "/pattern-path/ABC%0A", {}),
    ("pattern-path-ok", "GET", "/pattern-path/ABC", {}),
    ("alias-ok", "GET", "/alias/?va=1&w2=two", {"headers": {"x_token": "t"}}),
    ("alias-first-choice", "GET", "/alias/?va=1&w1=one&w2=two", {}),
    ("alias-name-not-read", "GET", "/alias/?v=1", {}),
    ("alias-invalid", "GET", "/alias/?va=x", {}),
    ("alias-body-ok", "POST", "/alias-body/", {"json": {"the-a": 1, "b2": "two"}}),
    ("alias-body-name", "POST", "/alias-body/", {"json": {"a": 1}}),
    ("alias-body-invalid", "POST", "/alias-body/", {"json": {"the-a": "x", "b1": 5}}),
    ("embedded-object", "POST", "/embedded/", {"json": {"a": 1}}),
    ("embedded-empty", "POST", "/embedded/", {}),
    ("embedded-null", "POST", "/embedded/", {"content": b"null", "headers": _JSON}),
    ("embedded-list", "POST", "/embedded/", {"json": [1, 2]}),
    ("embedded-number", "POST", "/embedded/", {"json": 5}),
    (
        "embedded-text-plain",
        "POST",
        "/embedded/",
        {"content": b"a=1", "headers": {"content-type": "text/plain"}},
    ),
    ("embedded-dep-list", "POST", "/embedded-dep/", {"json": ["a"]}),
    ("embedded-dep-empty", "POST", "/embedded-dep/", {}),
    ("whole-body-invalid", "POST", "/whole-body/", {"json": "foo"}),
    ("whole-body-ok", "POST", "/whole-body/", {"json": "imdb-tt0371724"}),
    ("strict-model-datetime-text", "POST", "/strict-model/", {"json": {"when": "2020-01-01T00:00:00"}}),
    (
        "strict-model-uuid-text",
        "POST",
        "/strict-model/",
        {"json": {"uid": "12345678123456781234567812345678"}},
    ),
    ("strict-model-decimal", "POST", "/strict-model/", {"json": {"amount": 1.5}}),
    ("strict-model-array-tuple", "POST", "/strict-model/", {"json": {"pair": [1, 2]}}),
    ("strict-model-empty", "POST", "/strict-model/", {"json": {}}),
    ("strict-field-int", "POST", "/strict-field/", {"json": {"name": "a", "price": 1}}),
    ("strict-field-text", "POST", "/strict-field/", {"json": {"name": "a", "price": "1.5"}}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    """FastAPI's answer to every case, collected once (in-process, through fulmen's TestClient)."""
    with fulmen.testclient.TestClient(build_types(fastapi), raise_server_exceptions=False) as client:
        return {case[0]: ask(client, case) for case in CASES}


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    """Every request is answered exactly as FastAPI answers it (status, body, headers)."""
    client = serve(build_types(fulmen))
    assert_same_as_fastapi(client, CASES, fastapi_answers)


def test_fastapi_answers_are_not_trivial(fastapi_answers: dict[str, Answer]) -> None:
    """The checks really reject and transform: each family has a 422 and a value pydantic changed."""
    answers = fastapi_answers
    assert (
        answers["tutorial-invalid"].status == 422 and b"Invalid ID format" in answers["tutorial-invalid"].body
    )
    assert answers["pattern-trailing-newline"].status == 422 and answers["whole-body-invalid"].status == 422
    assert answers["embedded-null"].status == 422 and answers["embedded-empty"].status == 200
    assert answers["strict-model-datetime-text"].status == 422
    assert b'"ABC"' in answers["q-upper-0"].body and b"**********" in answers["q-secret-0"].body
    assert answers["alias-ok"].body == b'{"v":1,"w":"two","token":"t"}'
    assert {a.status for a in answers.values()} == {200, 422}
