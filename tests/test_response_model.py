"""Response models through every front door: validation, filtering, options, errors, and the msgspec path.

Byte-for-byte agreement with FastAPI is checked in ``test_crosscheck_fastapi.py`` (group ``response_model``);
this file covers what a cross-check can't: declaration errors, logging, ``raise_server_exceptions``, custom
handlers, the core-only (no pydantic) path and its agreement with the pydantic path.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import logging
import math
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import httpx
import msgspec
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fulmen import APIRouter, FastAPI, FastAPIError, Request, Response
from fulmen.exceptions import ResponseValidationError
from fulmen.response_model import (
    Default,
    _duration,
    compile_response_serializer,
    effective_response_model,
    is_body_allowed_for_status_code,
)
from fulmen.responses import JSONResponse, PlainTextResponse
from fulmen.testclient import TestClient

Serve = Callable[..., httpx.Client]


class Owner(pydantic.BaseModel):
    name: str
    age: int = 0


class UserIn(pydantic.BaseModel):
    username: str
    password: str


class UserOut(pydantic.BaseModel):
    username: str


class Level(enum.Enum):
    low = 1
    high = 2


class StructOwner(msgspec.Struct):
    name: str
    age: int = 0


class StructItem(msgspec.Struct, rename="camel"):
    item_name: str
    price: float
    owner: StructOwner | None = None
    note: str | None = None
    tags: list[str] = []


class StructNode(msgspec.Struct):
    value: int
    children: list[StructNode] = []


class StructBounded(msgspec.Struct):
    count: Annotated[int, msgspec.Meta(ge=0, le=10)] = 0


class Cat(msgspec.Struct, tag=True):
    meows: int


class Dog(msgspec.Struct, tag="dog"):
    barks: float = 1.0


class Bird(msgspec.Struct, tag="b", tag_field="kind"):
    wings: int = 2


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0
    label: str | None = None


class Orm:
    """An object read through its attributes, like an ORM row."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


# ------------------------------------------------------------------------------------------------------------
# Behaviour through the front doors
# ------------------------------------------------------------------------------------------------------------
def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/users", response_model=UserOut)
    async def create_user(user: UserIn) -> Any:
        return user

    @app.get("/orm")
    async def orm() -> Owner:
        return Orm(name="row", age="3")  # type: ignore[return-value]

    @app.get("/invalid")
    async def invalid() -> Owner:
        return {"age": "x"}  # type: ignore[return-value]

    @app.get("/sync")
    def sync() -> list[Owner]:
        return [{"name": "s"}]  # type: ignore[list-item]

    @app.get("/disabled", response_model=None)
    async def disabled() -> Owner:
        return {"anything": decimal.Decimal("1.5")}  # type: ignore[return-value]

    @app.get("/response")
    async def response() -> Owner:
        return PlainTextResponse("untouched", status_code=203)  # type: ignore[return-value]

    @app.get("/rich")
    async def rich() -> dict[str, Any]:
        return {
            "dec": decimal.Decimal("1.50"),
            "td": datetime.timedelta(minutes=1, seconds=30),
            "utc": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            "id": uuid.UUID(int=1),
            "level": Level.high,
            "raw": b"bytes",
        }

    @app.get("/struct")
    async def struct() -> StructItem:
        return {"itemName": "s", "price": "2", "owner": {"name": "o"}}  # type: ignore[return-value]

    @app.get("/dataclass", response_model=Point, response_model_exclude_none=True)
    async def dataclass_point() -> Any:
        return {"x": "4"}

    @app.get("/small-float")
    async def small_float() -> float:
        return 1.5e-05

    @app.get("/small-float-explicit", response_class=JSONResponse)
    async def small_float_explicit() -> float:
        return 1.5e-05

    @app.get("/injected")
    async def injected(response: Response) -> Owner:
        response.set_cookie("seen", "1")
        return {"name": "i"}  # type: ignore[return-value]

    return app


def test_output_model_filters_the_input_model(serve: Serve) -> None:
    client = serve(_app())
    r = client.post("/users", json={"username": "ann", "password": "secret"})
    assert r.status_code == 200
    assert r.content == b'{"username":"ann"}'
    assert r.headers["content-type"] == "application/json"


def test_objects_are_read_through_attributes(serve: Serve) -> None:
    assert serve(_app()).get("/orm").content == b'{"name":"row","age":3}'


def test_sync_handler_results_are_validated(serve: Serve) -> None:
    assert serve(_app()).get("/sync").content == b'[{"name":"s","age":0}]'


def test_pydantic_serialisation_of_special_types(serve: Serve) -> None:
    r = serve(_app()).get("/rich")
    assert r.content == (
        b'{"dec":"1.50","td":"PT1M30S","utc":"2024-01-02T03:04:05Z",'
        b'"id":"00000000-0000-0000-0000-000000000001","level":2,"raw":"bytes"}'
    )


def test_struct_and_dataclass_models(serve: Serve) -> None:
    client = serve(_app())
    assert client.get("/struct").content == (
        b'{"itemName":"s","price":2.0,"owner":{"name":"o","age":0},"note":null,"tags":[]}'
    )
    assert client.get("/dataclass").content == b'{"x":4,"y":0}'


def test_default_class_writes_pydantic_json_explicit_class_renders_data(serve: Serve) -> None:
    client = serve(_app())
    # FastAPI: pydantic's dump_json with the default class; json.dumps of dump_python data with a chosen one.
    assert client.get("/small-float").content == b"0.000015"
    assert client.get("/small-float-explicit").content == b"1.5e-05"


def test_response_model_none_and_returned_responses_skip_validation(serve: Serve) -> None:
    client = serve(_app())
    assert client.get("/disabled").content == b'{"anything":1.5}'
    r = client.get("/response")
    assert (r.status_code, r.text, r.headers["content-type"]) == (
        203,
        "untouched",
        "text/plain; charset=utf-8",
    )


def test_injected_response_merges_with_model_output(serve: Serve) -> None:
    r = serve(_app()).get("/injected")
    assert r.content == b'{"name":"i","age":0}'
    assert r.headers["set-cookie"].startswith("seen=1")


def test_head_on_a_model_route(serve: Serve) -> None:
    client = serve(_app())
    get, head = client.get("/orm"), client.head("/orm")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


def test_invalid_result_is_a_logged_500(
    serve: Serve, front_door: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = serve(_app())
    with caplog.at_level(logging.ERROR, logger="fulmen.error"):
        r = client.get("/invalid")
    assert (r.status_code, r.text) == (500, "Internal Server Error")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    if front_door == "engine":  # an ASGI server gets the error raised on to it and logs it itself
        logged = [
            rec for rec in caplog.records if rec.exc_info and rec.exc_info[0] is ResponseValidationError
        ]
        assert logged, caplog.text
    # The connection is still usable afterwards.
    assert client.get("/orm").status_code == 200


def test_raise_server_exceptions_shows_the_validation_error() -> None:
    with TestClient(_app()) as client, pytest.raises(ResponseValidationError) as info:
        client.get("/invalid")
    errors = info.value.errors()
    assert [(e["type"], e["loc"]) for e in errors] == [
        ("missing", ("response", "name")),
        ("int_parsing", ("response", "age")),
    ]
    assert info.value.body == {"age": "x"}


def test_custom_handler_for_response_validation_errors(serve: Serve) -> None:
    app = _app()

    @app.exception_handler(ResponseValidationError)
    async def on_bad_response(request: Request, exc: ResponseValidationError) -> Response:
        return JSONResponse({"bad": [list(e["loc"]) for e in exc.errors()]}, status_code=502)

    r = serve(app).get("/invalid")
    assert (r.status_code, r.json()) == (502, {"bad": [["response", "name"], ["response", "age"]]})


def test_router_options_survive_include_router(serve: Serve) -> None:
    router = APIRouter()

    @router.get(
        "/item", response_model=StructItem, response_model_exclude_none=True, response_model_by_alias=False
    )
    async def item() -> Any:
        return StructItem(item_name="r", price=1.0)

    explicit = APIRouter(default_response_class=JSONResponse)

    @explicit.get("/float")
    async def small() -> float:
        return 1.5e-05

    app = FastAPI()
    app.include_router(router, prefix="/v1")
    app.include_router(explicit)
    client = serve(app)
    assert client.get("/v1/item").content == b'{"item_name":"r","price":1.0,"tags":[]}'
    assert client.get("/float").content == b"1.5e-05"
    route = next(r for r in app.routes if getattr(r, "path", "") == "/v1/item")
    assert route.response_model is StructItem
    assert route.response_model_exclude_none is True
    assert route.response_model_by_alias is False


def test_app_default_response_class_counts_as_chosen(serve: Serve) -> None:
    app = FastAPI(default_response_class=JSONResponse)
    sub = APIRouter()

    @app.get("/direct")
    async def direct() -> float:
        return 1.5e-05

    @sub.get("/included")
    async def included() -> float:
        return 1.5e-05

    app.include_router(sub)
    client = serve(app)
    assert client.get("/direct").content == b"1.5e-05"
    assert client.get("/included").content == b"1.5e-05"


# ------------------------------------------------------------------------------------------------------------
# Declarations
# ------------------------------------------------------------------------------------------------------------
def test_status_without_body_rejects_a_model() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match="Status code 204 must not have a response body"):

        @app.delete("/x", status_code=204)
        async def gone() -> Owner:
            return Owner(name="x")

    @app.delete("/y", status_code=204)
    async def fine() -> None:
        return None

    @app.delete("/z", status_code=205, response_model=None)
    async def also_fine() -> Owner:
        return Owner(name="z")


def test_annotation_that_is_no_model_is_a_declaration_error() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match=r"response_model=None"):

        @app.get("/x")
        async def either() -> Response | dict[str, int]:
            return {"a": 1}

    @app.get("/y", response_model=None)
    async def either_off() -> Response | dict[str, int]:
        return {"a": 1}


def test_effective_response_model_rules() -> None:
    async def no_annotation():  # type: ignore[no-untyped-def]
        return 1

    async def returns_none() -> None:
        return None

    async def returns_response() -> PlainTextResponse:
        return PlainTextResponse("x")

    async def returns_owner() -> Owner:
        return Owner(name="x")

    async def stream() -> AsyncIterator[int]:
        yield 1

    def iterator() -> Iterator[int]:
        return iter([1])

    unset = Default(None)
    assert effective_response_model(no_annotation, unset) is None
    assert effective_response_model(returns_none, unset) is None
    assert effective_response_model(returns_response, unset) is None
    assert effective_response_model(returns_owner, unset) is Owner
    assert effective_response_model(returns_owner, None) is None
    assert effective_response_model(returns_owner, UserOut) is UserOut
    assert effective_response_model(stream, unset) is None  # a generator's items, not its result
    assert effective_response_model(iterator, unset) == Iterator[int]  # not a generator: a model


def test_body_allowed_for_status_code() -> None:
    assert is_body_allowed_for_status_code(None)
    assert is_body_allowed_for_status_code(200)
    assert is_body_allowed_for_status_code("default")
    for code in (100, 199, 204, 205, 304):
        assert not is_body_allowed_for_status_code(code)


def test_no_model_no_serializer() -> None:
    assert compile_response_serializer(None) is None


def test_recursive_struct_model() -> None:
    serialize = compile_response_serializer(StructNode, json_bytes=True)
    assert serialize is not None
    value = {"value": 1, "children": [StructNode(2, [StructNode(3)]), {"value": "4"}]}
    assert serialize(
        value
    ) == b'{"value":1,"children":[{"value":2,"children":[{"value":3,"children":[]}]},' + (
        b'{"value":4,"children":[]}]}'
    )


def test_tagged_structs_write_their_tag_like_msgspec() -> None:
    serialize = compile_response_serializer(list[Cat | Dog], json_bytes=True)
    assert serialize is not None
    values = [Cat(meows=1), Dog(barks=2.5)]
    expected = b'[{"type":"Cat","meows":1},{"type":"dog","barks":2.5}]'
    assert serialize(values) == msgspec.json.encode(values) == expected
    bird = compile_response_serializer(Bird, json_bytes=True)
    assert bird is not None
    assert bird(Bird()) == msgspec.json.encode(Bird()) == b'{"kind":"b","wings":2}'


def test_struct_instances_are_validated_like_the_equivalent_model() -> None:
    serialize = compile_response_serializer(StructItem, json_bytes=True)
    assert serialize is not None
    # msgspec doesn't check types on construction; the equivalent pydantic model coerces or rejects.
    assert serialize(StructItem(item_name="c", price=1)) == (  # type: ignore[arg-type]
        b'{"itemName":"c","price":1.0,"owner":null,"note":null,"tags":[]}'
    )
    bad = StructItem(item_name=5, price="free")  # type: ignore[arg-type]
    with pytest.raises(ResponseValidationError) as info:
        serialize(bad)
    assert [e["type"] for e in info.value.errors()] == ["string_type", "float_parsing"]
    assert info.value.body is bad


class Shadowing(msgspec.Struct):
    json: int
    copy: str = "c"


def test_struct_fields_named_like_basemodel_attributes() -> None:
    # The stand-in pydantic model would warn that "json" shadows BaseModel.json (warnings are errors here).
    serialize = compile_response_serializer(Shadowing, json_bytes=True)
    assert serialize is not None
    assert serialize(Shadowing(json=1)) == b'{"json":1,"copy":"c"}'


def test_struct_meta_constraints_are_checked() -> None:
    serialize = compile_response_serializer(StructBounded, json_bytes=True)
    assert serialize is not None
    assert serialize({"count": 3}) == b'{"count":3}'
    with pytest.raises(ResponseValidationError) as info:
        serialize({"count": 30})
    assert info.value.errors()[0]["type"] == "less_than_equal"


# ------------------------------------------------------------------------------------------------------------
# Without pydantic: msgspec conversion with pydantic's JSON rules
# ------------------------------------------------------------------------------------------------------------
@pytest.fixture
def no_pydantic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import pydantic`` fail, as in a core-only install (decisions are taken at registration)."""
    monkeypatch.setitem(sys.modules, "pydantic", None)


_NATIVE_CASES: list[tuple[Any, dict[str, Any], Any]] = [
    (StructItem, {}, {"itemName": "a", "price": "2.5", "owner": {"name": "o", "age": "3"}}),
    # msgspec doesn't check types on construction, and convert() keeps instances of the declared type as they
    # are: only well-typed instances give pydantic's output (pydantic would coerce price=1 to 1.0).
    (StructItem, {"by_alias": False}, StructItem(item_name="b", price=1.0)),
    (StructItem, {"exclude_none": True}, {"itemName": "c", "price": 1}),
    (StructItem, {"exclude_defaults": True}, {"itemName": "d", "price": 1, "tags": ["t"]}),
    (StructItem, {"include": {"item_name", "owner"}}, {"itemName": "e", "price": 1, "owner": {"name": "o"}}),
    (
        StructItem,
        {"exclude": {"owner": {"age"}, "tags": True}},
        {"itemName": "f", "price": 1, "owner": {"name": "o"}},
    ),
    (list[StructOwner], {"include": {"__all__": {"name"}}}, [{"name": "a", "age": 1}, StructOwner("b")]),
    (list[StructOwner], {}, [Orm(name="orm", age=5)]),
    (Point, {}, {"x": "1", "label": "p"}),
    (dict[str, Any], {}, {"d": decimal.Decimal("1.50"), "t": datetime.timedelta(days=400, seconds=3.5)}),
    (Any, {}, {"b": b"x", "s": {1}, "e": Level.low, "f": [1e16, -2.5e20, 1e-7, 0.1, math.nan, math.inf]}),
    (Any, {}, {"dt": datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc), "k": {1: 2}}),
    (list[float], {}, [1e16, 1.5e-05, 123.0, -7e22]),
    (dict[str, StructOwner], {"exclude_none": True}, {"x": {"name": "x"}}),
    (StructOwner | None, {}, None),
    (list[Cat | Dog], {}, [{"type": "Cat", "meows": "2"}, Dog(barks=2.0), {"type": "dog"}]),
    (list[Cat | Dog], {"exclude_defaults": True}, [Cat(meows=1), {"type": "dog", "barks": 3}]),
    (Bird, {}, {"wings": "5"}),
    (Bird, {"exclude": {"kind"}}, {"wings": 5}),
]


@pytest.mark.parametrize("json_bytes", [True, False])
@pytest.mark.parametrize(("annotation", "options", "value"), _NATIVE_CASES)
def test_msgspec_path_matches_pydantic_path(
    monkeypatch: pytest.MonkeyPatch, annotation: Any, options: dict[str, Any], value: Any, json_bytes: bool
) -> None:
    with_pydantic = compile_response_serializer(annotation, json_bytes=json_bytes, **options)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "pydantic", None)
        without = compile_response_serializer(annotation, json_bytes=json_bytes, **options)
    assert with_pydantic is not None and without is not None
    expected, got = with_pydantic(value), without(value)
    if not json_bytes:  # JSON-ready data: compare what a response class would render
        expected, got = msgspec.json.encode(expected), msgspec.json.encode(got)
    assert got == expected


@pytest.mark.usefixtures("no_pydantic")
def test_msgspec_path_through_front_doors(serve: Serve) -> None:
    app = FastAPI()

    @app.get("/item")
    async def item() -> StructItem:
        return {"itemName": "n", "price": "1.5"}  # type: ignore[return-value]

    @app.get("/bad")
    async def bad() -> StructItem:
        return {"price": "free"}  # type: ignore[return-value]

    @app.get("/any", response_class=JSONResponse)
    async def anything() -> dict[str, object]:
        return {"td": datetime.timedelta(seconds=90), "big": 1e16}

    client = serve(app)
    assert client.get("/item").content == b'{"itemName":"n","price":1.5,"owner":null,"note":null,"tags":[]}'
    assert client.get("/any").content == b'{"td":"PT1M30S","big":1e+16}'
    r = client.get("/bad")
    assert (r.status_code, r.text) == (500, "Internal Server Error")


@pytest.mark.usefixtures("no_pydantic")
def test_msgspec_path_errors() -> None:
    serialize = compile_response_serializer(list[StructOwner])
    assert serialize is not None
    with pytest.raises(ResponseValidationError) as info:
        serialize([{"name": "a"}, {"name": "b", "age": "old"}])
    (error,) = info.value.errors()
    assert error["loc"] == ("response", 1, "age")
    assert "Expected `int`" in error["msg"]


class Custom:
    """Neither a Struct, a dataclass nor a builtin: msgspec can't convert to it."""


@pytest.mark.usefixtures("no_pydantic")
def test_msgspec_path_rejects_what_it_cannot_convert() -> None:
    with pytest.raises(FastAPIError, match=r'pip install "fulmen\[pydantic\]"'):
        compile_response_serializer(list[Custom], where="route GET '/x'")
    app = FastAPI()
    with pytest.raises(FastAPIError, match="route GET '/x'"):

        @app.get("/x")
        async def x() -> Custom:
            return Custom()


@settings(max_examples=300, deadline=None)
@given(st.timedeltas())
def test_duration_format_matches_pydantic(value: datetime.timedelta) -> None:
    assert _duration(value) == pydantic.TypeAdapter(datetime.timedelta).dump_python(value, mode="json")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5))
def test_msgspec_path_floats_match_pydantic_json(values: list[float]) -> None:
    expected = pydantic.TypeAdapter(list[float]).dump_json(values)
    saved = sys.modules.get("pydantic")
    sys.modules["pydantic"] = None  # type: ignore[assignment]
    try:
        serialize = compile_response_serializer(list[float], json_bytes=True)
    finally:
        sys.modules["pydantic"] = saved  # type: ignore[assignment]
    assert serialize is not None
    assert serialize(values) == expected
