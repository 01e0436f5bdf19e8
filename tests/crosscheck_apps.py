"""Apps written once against a framework module, built with both FastAPI and fulmen for cross-checking.

Each ``build_*(fw)`` takes the framework package (``fastapi`` or ``fulmen``) and returns an app; the handlers
are the same source for both (no ``from __future__ import annotations`` here: both frameworks must resolve
annotations naming the handlers' local variables). Handlers have no return annotation unless a case is about
it: FastAPI takes a return annotation as the ``response_model``.

``CASES_*`` are the requests sent to both apps: ``(case id, method, url, httpx request keyword arguments)``.
"""

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Annotated, Any

import msgspec
import pydantic
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

Case = tuple[str, str, str, dict[str, Any]]


class Color(str, enum.Enum):
    red = "red"
    green = "green"


class Level(enum.IntEnum):
    low = 1
    high = 2


# ------------------------------------------------------------------------------------------------------------
# Body types. The msgspec Structs are fulmen-only; FastAPI gets the pydantic equivalents, and both must answer
# with the same errors and output.
# ------------------------------------------------------------------------------------------------------------
class Owner(pydantic.BaseModel):
    name: str
    age: int


class Item(pydantic.BaseModel):
    name: str
    price: float
    tags: list[str] = []
    owner: Owner | None = None


class User(pydantic.BaseModel):
    username: str
    full_name: str | None = None


class StructOwner(msgspec.Struct):
    name: str
    age: int


class StructItem(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []
    owner: StructOwner | None = None


@dataclasses.dataclass
class DataItem:
    name: str
    count: int = 1


class TypedItem(TypedDict):
    name: str
    count: int


class Event(pydantic.BaseModel):
    title: str
    when: datetime.datetime
    day: datetime.date
    ident: uuid.UUID
    color: Color
    level: Level
    amount: decimal.Decimal
    owner: Owner


class Aliased(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    item_name: str = pydantic.Field(alias="itemName")
    hidden: str | None = None


FIXED_UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
FIXED_DT = datetime.datetime(2024, 5, 17, 8, 30, 15, 123456)
FIXED_DT_UTC = datetime.datetime(2024, 5, 17, 8, 30, 15, tzinfo=datetime.timezone.utc)
FIXED_DT_TZ = datetime.datetime(2024, 5, 17, 8, 30, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))


def _is_fulmen(fw: Any) -> bool:
    return fw.__name__ == "fulmen"


# ------------------------------------------------------------------------------------------------------------
# Path, query, header and cookie parameters
# ------------------------------------------------------------------------------------------------------------
def build_params(fw: Any) -> Any:
    """Path/query/header/cookie parameters of every common type, with constraints."""
    app = fw.FastAPI()
    Query, Path, Header, Cookie = fw.Query, fw.Path, fw.Header, fw.Cookie

    @app.get("/p/int/{v}")
    async def p_int(v: int):
        return {"v": v}

    @app.get("/p/float/{v}")
    async def p_float(v: float):
        return {"v": v}

    @app.get("/p/str/{v}")
    async def p_str(v: str):
        return {"v": v}

    @app.get("/p/bool/{v}")
    async def p_bool(v: bool):
        return {"v": v}

    @app.get("/p/uuid/{v}")
    async def p_uuid(v: uuid.UUID):
        return {"v": v}

    @app.get("/p/enum/{v}")
    async def p_enum(v: Color):
        return {"v": v, "is_enum": isinstance(v, Color)}

    @app.get("/p/intenum/{v}")
    async def p_intenum(v: Level):
        return {"v": v}

    @app.get("/p/files/{file_path:path}")
    async def p_path(file_path: str):
        return {"file_path": file_path}

    @app.get("/p/conv/{v:int}")
    async def p_conv(v: int):
        return {"v": v}

    @app.get("/p/ge/{v}")
    def p_ge(v: Annotated[int, Path(ge=1, le=100)]):
        return {"v": v}

    @app.get("/p/two/{a}/{b}")
    async def p_two(a: int, b: float):
        return {"a": a, "b": b}

    @app.get("/q/defaults")
    async def q_defaults(q: str = "x", n: int = 3, f: float = 1.5):
        return {"q": q, "n": n, "f": f}

    @app.get("/q/optional")
    async def q_optional(q: str | None = None, n: Annotated[int | None, Query()] = None):
        return {"q": q, "n": n}

    @app.get("/q/required")
    async def q_required(q: str, n: int):
        return {"q": q, "n": n}

    @app.get("/q/list")
    async def q_list(ids: Annotated[list[int], Query()]):
        return {"ids": ids}

    @app.get("/q/list-default")
    async def q_list_default(tags: Annotated[list[str], Query()] = ["a", "b"]):  # noqa: B006
        return {"tags": tags}

    @app.get("/q/list-optional")
    async def q_list_optional(tags: Annotated[list[str] | None, Query()] = None):
        return {"tags": tags}

    @app.get("/q/alias")
    async def q_alias(item_query: Annotated[str, Query(alias="item-query")]):
        return {"item_query": item_query}

    @app.get("/q/numbers")
    async def q_numbers(
        a: Annotated[int, Query(gt=0)] = 1,
        b: Annotated[int, Query(ge=0)] = 0,
        c: Annotated[int, Query(lt=10)] = 0,
        d: Annotated[int, Query(le=10)] = 0,
        x: Annotated[float, Query(gt=0.5, lt=2.5)] = 1.0,
    ):
        return {"a": a, "b": b, "c": c, "d": d, "x": x}

    @app.get("/q/strings")
    async def q_strings(
        s: Annotated[str | None, Query(min_length=2, max_length=5)] = None,
        code: Annotated[str | None, Query(pattern=r"^[a-z]{3}\d$")] = None,
    ):
        return {"s": s, "code": code}

    @app.get("/q/bool")
    async def q_bool(flag: bool = False):
        return {"flag": flag}

    @app.get("/q/types")
    def q_types(
        u: uuid.UUID | None = None,
        color: Color | None = None,
        day: datetime.date | None = None,
        dec: decimal.Decimal | None = None,
    ):
        return {"u": u, "color": color, "day": day, "dec": dec}

    @app.get("/q/path-and-query/{item_id}")
    async def q_path_query(item_id: int, q: Annotated[str | None, Query(max_length=5)] = None):
        return {"item_id": item_id, "q": q}

    @app.get("/h/basic")
    async def h_basic(
        user_agent: Annotated[str | None, Header()] = None,
        x_token: Annotated[str | None, Header()] = None,
    ):
        return {"user_agent": user_agent, "x_token": x_token}

    @app.get("/h/required")
    async def h_required(x_token: Annotated[str, Header()], x_count: Annotated[int, Header()] = 0):
        return {"x_token": x_token, "x_count": x_count}

    @app.get("/h/raw")
    async def h_raw(strange_header: Annotated[str | None, Header(convert_underscores=False)] = None):
        return {"strange_header": strange_header}

    @app.get("/h/alias")
    async def h_alias(custom: Annotated[str | None, Header(alias="X-Custom-Name")] = None):
        return {"custom": custom}

    @app.get("/h/list")
    async def h_list(x_multi: Annotated[list[str] | None, Header()] = None):
        return {"x_multi": x_multi}

    @app.get("/c/basic")
    async def c_basic(
        session: Annotated[str | None, Cookie()] = None,
        count: Annotated[int, Cookie()] = 0,
    ):
        return {"session": session, "count": count}

    @app.get("/c/required")
    async def c_required(token: Annotated[str, Cookie()]):
        return {"token": token}

    @app.get("/mixed/{item_id}")
    async def mixed(
        item_id: int,
        q: Annotated[int, Query(ge=0)],
        x_token: Annotated[str, Header()],
        session: Annotated[str, Cookie()],
    ):
        return {"item_id": item_id, "q": q, "x_token": x_token, "session": session}

    return app


CASES_PARAMS: list[Case] = [
    # path: int / float / str / bool
    ("path-int", "GET", "/p/int/42", {}),
    ("path-int-negative", "GET", "/p/int/-3", {}),
    ("path-int-invalid", "GET", "/p/int/abc", {}),
    ("path-int-float", "GET", "/p/int/4.5", {}),
    ("path-int-leading-zero", "GET", "/p/int/007", {}),
    ("path-int-plus", "GET", "/p/int/+5", {}),
    ("path-int-underscore", "GET", "/p/int/1_000", {}),
    ("path-int-spaces", "GET", "/p/int/%207%20", {}),
    ("path-int-point-zero", "GET", "/p/int/5.0", {}),
    ("path-int-huge", "GET", "/p/int/123456789012345678901234567890", {}),
    ("path-int-trailing-slash", "GET", "/p/int/5/", {}),
    ("path-float", "GET", "/p/float/1.5", {}),
    ("path-float-int", "GET", "/p/float/3", {}),
    ("path-float-exp", "GET", "/p/float/1e3", {}),
    ("path-float-invalid", "GET", "/p/float/one", {}),
    ("path-float-inf", "GET", "/p/float/inf", {}),
    ("path-float-nan", "GET", "/p/float/nan", {}),
    ("path-str", "GET", "/p/str/hello", {}),
    ("path-str-encoded", "GET", "/p/str/hello%20world", {}),
    ("path-str-unicode", "GET", "/p/str/caf%C3%A9", {}),
    ("path-str-encoded-slash", "GET", "/p/str/a%2Fb", {}),
    *[
        (f"path-bool-{w}", "GET", f"/p/bool/{w}", {})
        for w in ("true", "False", "1", "0", "yes", "off", "on", "no", "t", "n", "Y")
    ],
    ("path-bool-invalid", "GET", "/p/bool/maybe", {}),
    ("path-uuid", "GET", f"/p/uuid/{FIXED_UUID}", {}),
    ("path-uuid-upper", "GET", f"/p/uuid/{str(FIXED_UUID).upper()}", {}),
    ("path-uuid-invalid", "GET", "/p/uuid/not-a-uuid", {}),
    ("path-enum", "GET", "/p/enum/red", {}),
    ("path-enum-invalid", "GET", "/p/enum/purple", {}),
    ("path-intenum", "GET", "/p/intenum/2", {}),
    ("path-intenum-invalid", "GET", "/p/intenum/3", {}),
    ("path-path", "GET", "/p/files/a/b/c.txt", {}),
    ("path-path-empty", "GET", "/p/files/", {}),
    ("path-convertor-int", "GET", "/p/conv/12", {}),
    ("path-convertor-int-nomatch", "GET", "/p/conv/x", {}),
    ("path-ge-ok", "GET", "/p/ge/1", {}),
    ("path-ge-low", "GET", "/p/ge/0", {}),
    ("path-le-high", "GET", "/p/ge/101", {}),
    ("path-two", "GET", "/p/two/1/2.5", {}),
    ("path-two-both-bad", "GET", "/p/two/x/y", {}),
    # query
    ("query-defaults", "GET", "/q/defaults", {}),
    ("query-defaults-given", "GET", "/q/defaults?q=abc&n=7&f=2", {}),
    ("query-defaults-bad", "GET", "/q/defaults?n=seven&f=x", {}),
    ("query-empty-value-str", "GET", "/q/defaults?q=", {}),
    ("query-empty-value-int", "GET", "/q/defaults?n=", {}),
    ("query-optional-none", "GET", "/q/optional", {}),
    ("query-optional-given", "GET", "/q/optional?q=z&n=5", {}),
    ("query-optional-bad", "GET", "/q/optional?n=5.5", {}),
    ("query-required-missing", "GET", "/q/required", {}),
    ("query-required-one-missing", "GET", "/q/required?q=a", {}),
    ("query-required-given", "GET", "/q/required?q=a&n=1", {}),
    ("query-repeated-last-wins", "GET", "/q/required?q=first&q=second&n=1&n=2", {}),
    ("query-list", "GET", "/q/list?ids=1&ids=2&ids=3", {}),
    ("query-list-one", "GET", "/q/list?ids=9", {}),
    ("query-list-missing", "GET", "/q/list", {}),
    ("query-list-bad", "GET", "/q/list?ids=1&ids=x&ids=3&ids=y", {}),
    ("query-list-default", "GET", "/q/list-default", {}),
    ("query-list-default-given", "GET", "/q/list-default?tags=z", {}),
    ("query-list-optional", "GET", "/q/list-optional", {}),
    ("query-list-optional-given", "GET", "/q/list-optional?tags=a&tags=b", {}),
    ("query-alias", "GET", "/q/alias?item-query=v", {}),
    ("query-alias-by-name", "GET", "/q/alias?item_query=v", {}),
    ("query-numbers-ok", "GET", "/q/numbers?a=1&b=0&c=9&d=10&x=2.4", {}),
    ("query-gt", "GET", "/q/numbers?a=0", {}),
    ("query-ge", "GET", "/q/numbers?b=-1", {}),
    ("query-lt", "GET", "/q/numbers?c=10", {}),
    ("query-le", "GET", "/q/numbers?d=11", {}),
    ("query-float-bounds", "GET", "/q/numbers?x=0.5", {}),
    ("query-float-upper", "GET", "/q/numbers?x=2.5", {}),
    ("query-numbers-all-bad", "GET", "/q/numbers?a=0&b=-1&c=10&d=11&x=9", {}),
    ("query-min-length", "GET", "/q/strings?s=a", {}),
    ("query-max-length", "GET", "/q/strings?s=abcdef", {}),
    ("query-length-ok", "GET", "/q/strings?s=abc", {}),
    ("query-pattern-ok", "GET", "/q/strings?code=abc1", {}),
    ("query-pattern-bad", "GET", "/q/strings?code=ABC1", {}),
    ("query-strings-both-bad", "GET", "/q/strings?code=x&s=toolong", {}),
    *[
        (f"query-bool-{w}", "GET", f"/q/bool?flag={w}", {})
        for w in ("true", "True", "1", "yes", "on", "false", "0", "no", "off", "OFF", "Yes", "maybe", "2", "")
    ],
    ("query-types-ok", "GET", f"/q/types?u={FIXED_UUID}&color=green&day=2024-02-29&dec=1.50", {}),
    ("query-types-bad", "GET", "/q/types?u=x&color=blue&day=2023-02-29&dec=abc", {}),
    ("query-path-and-query", "GET", "/q/path-and-query/5?q=abc", {}),
    ("query-path-and-query-bad", "GET", "/q/path-and-query/five?q=toolong", {}),
    ("query-unknown-ignored", "GET", "/q/optional?zzz=1", {}),
    ("query-float-inf", "GET", "/q/defaults?f=inf", {}),
    ("query-float-comma", "GET", "/q/defaults?f=1,5", {}),
    ("query-unicode-length", "GET", "/q/strings?s=%C3%A9%C3%A9", {}),
    ("query-list-alias-style-brackets", "GET", "/q/list?ids[]=1", {}),
    ("query-encoded", "GET", "/q/optional?q=a%20b%26c", {}),
    ("query-plus-space", "GET", "/q/optional?q=a+b", {}),
    # headers
    ("header-underscore", "GET", "/h/basic", {"headers": {"x-token": "secret"}}),
    ("header-underscore-not-matched", "GET", "/h/basic", {"headers": {"x_token": "secret"}}),
    ("header-case-insensitive", "GET", "/h/basic", {"headers": {"X-TOKEN": "S"}}),
    ("header-user-agent", "GET", "/h/basic", {"headers": {"user-agent": "crosscheck/1"}}),
    ("header-required-missing", "GET", "/h/required", {}),
    ("header-required-bad-int", "GET", "/h/required", {"headers": {"x-token": "t", "x-count": "many"}}),
    ("header-required-ok", "GET", "/h/required", {"headers": {"x-token": "t", "x-count": "3"}}),
    ("header-no-convert", "GET", "/h/raw", {"headers": {"strange_header": "yes"}}),
    ("header-no-convert-dash", "GET", "/h/raw", {"headers": {"strange-header": "yes"}}),
    ("header-alias", "GET", "/h/alias", {"headers": {"X-Custom-Name": "n"}}),
    ("header-alias-missing", "GET", "/h/alias", {"headers": {"custom": "n"}}),
    ("header-list", "GET", "/h/list", {"headers": [("x-multi", "a"), ("x-multi", "b"), ("x-multi", "c")]}),
    ("header-list-one", "GET", "/h/list", {"headers": {"x-multi": "only"}}),
    ("header-list-none", "GET", "/h/list", {}),
    ("header-repeated-scalar", "GET", "/h/basic", {"headers": [("x-token", "one"), ("x-token", "two")]}),
    ("header-comma-list", "GET", "/h/list", {"headers": {"x-multi": "a, b"}}),
    # cookies (sent as a raw Cookie header: httpx's per-request cookies= is deprecated)
    ("cookie-none", "GET", "/c/basic", {}),
    ("cookie-given", "GET", "/c/basic", {"headers": {"cookie": "session=abc; count=4"}}),
    ("cookie-quoted", "GET", "/c/basic", {"headers": {"cookie": 'session="a b"; count=1'}}),
    ("cookie-repeated", "GET", "/c/basic", {"headers": {"cookie": "session=one; session=two"}}),
    ("cookie-no-equals", "GET", "/c/basic", {"headers": {"cookie": "session; count=2"}}),
    ("cookie-bad-int", "GET", "/c/basic", {"headers": {"cookie": "count=four"}}),
    ("cookie-required-missing", "GET", "/c/required", {}),
    ("cookie-required-given", "GET", "/c/required", {"headers": {"cookie": "token=t0k"}}),
    # one request with errors from every source: the order of errors must match
    ("mixed-ok", "GET", "/mixed/1?q=2", {"headers": {"x-token": "t", "cookie": "session=s"}}),
    ("mixed-all-missing", "GET", "/mixed/x", {}),
    ("mixed-all-bad", "GET", "/mixed/x?q=-1", {"headers": {"x-token": "t"}}),
]


# ------------------------------------------------------------------------------------------------------------
# Bodies
# ------------------------------------------------------------------------------------------------------------
def build_bodies(fw: Any) -> Any:
    """JSON bodies into models, Structs, dataclasses, TypedDicts, dicts and lists; embedding rules."""
    app = fw.FastAPI()
    Body, Query = fw.Body, fw.Query
    ItemT: Any = StructItem if _is_fulmen(fw) else Item

    @app.post("/model")
    async def model(item: Item):
        return item

    @app.post("/struct")
    async def struct(item: ItemT):  # type: ignore[valid-type]
        return item

    @app.post("/dataclass")
    async def dataclass_body(item: DataItem):
        return {"name": item.name, "count": item.count, "type": type(item).__name__}

    @app.post("/typeddict")
    async def typeddict(item: TypedItem):
        return item

    @app.post("/dict")
    async def dict_body(data: dict[str, int]):
        return data

    @app.post("/list")
    def list_body(values: list[int]):
        return {"sum": sum(values), "values": values}

    @app.post("/optional-body")
    async def optional_body(item: Item | None = None):
        return {"item": item}

    @app.post("/multi")
    async def multi(item: Item, user: User):
        return {"item": item, "user": user}

    @app.post("/multi-scalar")
    async def multi_scalar(item: Item, importance: Annotated[int, Body(gt=0)]):
        return {"item": item, "importance": importance}

    @app.post("/embed")
    async def embed(item: Annotated[Item, Body(embed=True)]):
        return {"item": item}

    @app.post("/embed-scalar")
    async def embed_scalar(count: Annotated[int, Body(embed=True, ge=1)] = 1):
        return {"count": count}

    @app.post("/owners")
    async def owners(people: list[Owner]):
        return people

    @app.post("/body-scalar")
    async def body_scalar(value: Annotated[int, Body()]):
        return {"value": value}

    @app.put("/items/{item_id}")
    async def update(item_id: int, item: Item, q: Annotated[str | None, Query(max_length=3)] = None):
        return {"item_id": item_id, "q": q, **item.model_dump()}

    @app.post("/aliased")
    async def aliased(body: Aliased):
        return body

    @app.post("/event")
    async def event(ev: Event):
        return ev

    return app


_ITEM = {"name": "Foo", "price": 1.5, "tags": ["a"], "owner": {"name": "Ann", "age": 30}}
_JSON = {"content-type": "application/json"}


def _bodies_for(url: str, prefix: str) -> list[Case]:
    """The same model-shaped bodies for the pydantic model and the msgspec Struct endpoints."""

    def js(name: str, data: Any) -> Case:
        return (f"{prefix}-{name}", "POST", url, {"json": data})

    def raw(name: str, content: bytes, content_type: str | None = "application/json") -> Case:
        headers = {"content-type": content_type} if content_type is not None else {}
        return (f"{prefix}-{name}", "POST", url, {"content": content, "headers": headers})

    valid = b'{"name": "Foo", "price": 1}'
    return [
        js("ok", _ITEM),
        js("minimal", {"name": "Foo", "price": 2}),
        js("coerce-str-price", {"name": "Foo", "price": "2.5"}),
        js("extra-ignored", {"name": "Foo", "price": 1, "zzz": True}),
        (f"{prefix}-missing-body", "POST", url, {}),
        js("empty-object", {}),
        raw("null", b"null"),
        js("array", [1, 2]),
        js("string", "text"),
        js("wrong-types", {"name": 5, "price": "cheap", "tags": "x"}),
        js("bool-price", {"name": "x", "price": True}),
        js("null-fields", {"name": None, "price": None, "tags": None}),
        js("nested-error", {"name": "F", "price": 1, "owner": {"age": "old"}}),
        js("nested-int-from-float", {"name": "", "price": 0, "owner": {"name": "o", "age": 5.0}}),
        js("nested-fraction", {"name": "", "price": 0, "owner": {"name": "o", "age": 5.5}}),
        js("nested-int-from-str", {"name": "", "price": 0, "owner": {"name": "o", "age": "5"}}),
        js("nested-not-object", {"name": "", "price": 0, "owner": "o"}),
        js("list-item-error", {"name": "F", "price": 1, "tags": ["a", 2, None]}),
        raw("duplicate-keys", b'{"name": "a", "name": "b", "price": 1}'),
        raw("empty-json-body", b""),
        raw("whitespace-body", b"  "),
        raw("invalid-utf8", b'{"name": "\xff", "price": 1}'),
        raw("utf8-bom", b"\xef\xbb\xbf" + valid),
        raw("utf16", valid.decode().encode("utf-16")),
        raw("invalid-json", b'{"name": "Foo", "price": }'),
        raw("invalid-json-trailing", b'{"name": "Foo"} x'),
        raw("invalid-json-truncated", b'{"name": "Fo'),
        raw("invalid-json-single-quotes", b"{'name': 'Foo'}"),
        raw("invalid-json-nan", b'{"name": "Foo", "price": NaN}'),
        raw("text-plain", valid, "text/plain"),
        raw("no-content-type", valid, None),
        raw("form-content-type", b"name=Foo&price=1", "application/x-www-form-urlencoded"),
        raw("json-charset", valid, "application/json; charset=utf-8"),
        raw("json-uppercase", valid, "Application/JSON"),
        raw("json-suffix", valid, "application/vnd.api+json"),
        raw("json-bad-suffix", valid, "application/jsonx"),
    ]


CASES_BODIES: list[Case] = [
    *_bodies_for("/model", "model"),
    *_bodies_for("/struct", "struct"),
    ("dataclass-ok", "POST", "/dataclass", {"json": {"name": "d", "count": 3}}),
    ("dataclass-default", "POST", "/dataclass", {"json": {"name": "d"}}),
    ("dataclass-bad", "POST", "/dataclass", {"json": {"count": "x"}}),
    ("typeddict-ok", "POST", "/typeddict", {"json": {"name": "t", "count": 2}}),
    ("typeddict-bad", "POST", "/typeddict", {"json": {"name": 1}}),
    ("dict-ok", "POST", "/dict", {"json": {"a": 1, "b": 2}}),
    ("dict-bad-values", "POST", "/dict", {"json": {"a": "x", "b": 2, "c": 1.5}}),
    ("dict-not-object", "POST", "/dict", {"json": [1]}),
    ("list-ok", "POST", "/list", {"json": [1, 2, 3]}),
    ("list-empty", "POST", "/list", {"json": []}),
    ("list-bad", "POST", "/list", {"json": [1, "two", 3, "four"]}),
    ("list-not-array", "POST", "/list", {"json": {"a": 1}}),
    ("list-missing", "POST", "/list", {}),
    ("optional-body-none", "POST", "/optional-body", {}),
    ("optional-body-given", "POST", "/optional-body", {"json": {"name": "x", "price": 1}}),
    ("optional-body-bad", "POST", "/optional-body", {"json": {"name": "x"}}),
    ("multi-ok", "POST", "/multi", {"json": {"item": {"name": "i", "price": 1}, "user": {"username": "u"}}}),
    ("multi-missing-one", "POST", "/multi", {"json": {"item": {"name": "i", "price": 1}}}),
    ("multi-missing-all", "POST", "/multi", {}),
    ("multi-empty-object", "POST", "/multi", {"json": {}}),
    ("multi-not-embedded", "POST", "/multi", {"json": {"name": "i", "price": 1}}),
    ("multi-nested-errors", "POST", "/multi", {"json": {"item": {"price": "x"}, "user": {"username": 3}}}),
    ("multi-invalid-json", "POST", "/multi", {"content": b"{,}", "headers": _JSON}),
    ("multi-utf8-bom", "POST", "/multi", {"content": b'\xef\xbb\xbf{"item": 1}', "headers": _JSON}),
    ("multi-utf16", "POST", "/multi", {"content": '{"item": 1}'.encode("utf-16"), "headers": _JSON}),
    ("multi-invalid-utf8", "POST", "/multi", {"content": b'{"item": "\xff"}', "headers": _JSON}),
    ("multi-text-plain", "POST", "/multi", {"content": b"{}", "headers": {"content-type": "text/plain"}}),
    (
        "multi-scalar-ok",
        "POST",
        "/multi-scalar",
        {"json": {"item": {"name": "i", "price": 1}, "importance": 5}},
    ),
    (
        "multi-scalar-bad",
        "POST",
        "/multi-scalar",
        {"json": {"item": {"name": "i", "price": 1}, "importance": 0}},
    ),
    ("embed-ok", "POST", "/embed", {"json": {"item": {"name": "e", "price": 3}}}),
    ("embed-unwrapped", "POST", "/embed", {"json": {"name": "e", "price": 3}}),
    ("embed-missing", "POST", "/embed", {}),
    ("embed-array", "POST", "/embed", {"json": [1]}),
    ("embed-scalar-ok", "POST", "/embed-scalar", {"json": {"count": 3}}),
    ("embed-scalar-default", "POST", "/embed-scalar", {}),
    ("embed-scalar-default-empty-object", "POST", "/embed-scalar", {"json": {}}),
    ("embed-scalar-bad", "POST", "/embed-scalar", {"json": {"count": 0}}),
    ("owners-ok", "POST", "/owners", {"json": [{"name": "a", "age": 1}]}),
    ("owners-errors", "POST", "/owners", {"json": [{"name": "a", "age": 1}, {"age": "x"}, 3]}),
    ("optional-body-null", "POST", "/optional-body", {"content": b"null", "headers": _JSON}),
    ("body-scalar-ok", "POST", "/body-scalar", {"json": 5}),
    ("body-scalar-string-number", "POST", "/body-scalar", {"json": "5"}),
    ("body-scalar-bad", "POST", "/body-scalar", {"json": "five"}),
    ("body-scalar-missing", "POST", "/body-scalar", {}),
    ("put-path-query-body", "PUT", "/items/3?q=ab", {"json": {"name": "n", "price": 1}}),
    ("put-errors-everywhere", "PUT", "/items/x?q=abcd", {"json": {"price": "p", "owner": {"name": 1}}}),
    ("put-errors-no-body", "PUT", "/items/x?q=abcd", {}),
    ("aliased-by-alias", "POST", "/aliased", {"json": {"itemName": "a", "hidden": "h"}}),
    ("aliased-by-name", "POST", "/aliased", {"json": {"item_name": "a"}}),
    ("aliased-missing", "POST", "/aliased", {"json": {}}),
    (
        "event-ok",
        "POST",
        "/event",
        {
            "json": {
                "title": "t",
                "when": "2024-05-17T08:30:15.5+02:00",
                "day": "2024-05-17",
                "ident": str(FIXED_UUID),
                "color": "red",
                "level": 2,
                "amount": "10.50",
                "owner": {"name": "o", "age": 1},
            }
        },
    ),
    (
        "event-bad",
        "POST",
        "/event",
        {
            "json": {
                "title": None,
                "when": "yesterday",
                "day": "2024-13-01",
                "ident": "nope",
                "color": "blue",
                "level": 7,
                "amount": "ten",
                "owner": [],
            }
        },
    ),
]


# ------------------------------------------------------------------------------------------------------------
# Routing, errors and responses
# ------------------------------------------------------------------------------------------------------------
def build_routing(fw: Any) -> Any:
    """404/405, slash redirects, precedence, HTTPException, status codes, encoding, Response pass-through."""
    app = fw.FastAPI()
    responses = fw.responses
    HTTPException, Response, status = fw.HTTPException, fw.Response, fw.status

    @app.get("/only-get")
    async def only_get():
        return {"ok": True}

    @app.post("/only-post")
    async def only_post():
        return {"ok": True}

    @app.delete("/only-delete/{item_id}")
    async def only_delete(item_id: int):
        return {"deleted": item_id}

    # Two routes on one path: a 405 here is where FastAPI's and fulmen's Allow headers differ (documented).
    @app.get("/both")
    async def both_get():
        return {"method": "GET"}

    @app.post("/both")
    async def both_post():
        return {"method": "POST"}

    @app.get("/slash/")
    async def with_slash():
        return {"slash": True}

    @app.get("/noslash")
    async def without_slash():
        return {"slash": False}

    @app.get("/dyn-slash/{name}/")
    async def dyn_slash(name: str):
        return {"name": name}

    # Precedence: a parameterised route declared first shadows a later static one.
    @app.get("/users/{user_id}")
    async def user_by_id(user_id: str):
        return {"route": "by_id", "user_id": user_id}

    @app.get("/users/me")
    async def user_me():
        return {"route": "me"}

    @app.get("/accounts/me")
    async def account_me():
        return {"route": "me"}

    @app.get("/accounts/{account_id}")
    async def account_by_id(account_id: int):
        return {"route": "by_id", "account_id": account_id}

    @app.get("/typed/{v:int}")
    async def typed_int(v: int):
        return {"route": "int", "v": v}

    @app.get("/typed/{v}")
    async def typed_str(v: str):
        return {"route": "str", "v": v}

    @app.get("/raise/{kind}")
    async def raise_(kind: str):
        if kind == "plain":
            raise HTTPException(status_code=404, detail="Item not found")
        if kind == "headers":
            raise HTTPException(
                status_code=401, detail="Nope", headers={"WWW-Authenticate": "Bearer", "X-Error": "e"}
            )
        if kind == "dict":
            raise HTTPException(status_code=400, detail={"code": "bad", "items": [1, 2]})
        if kind == "list":
            raise HTTPException(status_code=409, detail=["a", "b"])
        if kind == "none":
            raise HTTPException(status_code=403)
        if kind == "teapot":
            raise HTTPException(status_code=status.HTTP_418_IM_A_TEAPOT)
        if kind == "unicode":
            raise HTTPException(status_code=400, detail="Ünïcödé ✓ \u2028 </script>")
        if kind == "no-content":
            raise HTTPException(status_code=304)
        return {"kind": kind}

    @app.get("/raise-sync")
    def raise_sync():
        raise HTTPException(status_code=400, detail="sync")

    @app.post("/created", status_code=201)
    async def created():
        return {"created": True}

    @app.post("/accepted", status_code=status.HTTP_202_ACCEPTED)
    def accepted():
        return {"accepted": True}

    @app.delete("/no-content", status_code=204)
    async def no_content():
        return None

    @app.get("/return/none")
    async def return_none():
        return None

    @app.get("/return/scalars")
    async def return_scalars():
        return {
            "str": "s",
            "int": 1,
            "float": 1.25,
            "float_int": 2.0,
            "bool": True,
            "none": None,
            "nested": {"list": [1, "a", None], "tuple": (1, 2)},
        }

    @app.get("/return/rich")
    async def return_rich():
        return {
            "datetime": FIXED_DT,
            "datetime_utc": FIXED_DT_UTC,
            "datetime_tz": FIXED_DT_TZ,
            "date": datetime.date(2024, 2, 29),
            "time": datetime.time(13, 5, 7, 250),
            "timedelta": datetime.timedelta(days=1, seconds=30, microseconds=500),
            "uuid": FIXED_UUID,
            "decimal_int": decimal.Decimal("10"),
            "decimal_frac": decimal.Decimal("10.50"),
            "decimal_exp": decimal.Decimal("1E+2"),
            "enum": Color.green,
            "int_enum": Level.high,
            "bytes": b"raw bytes",
            "frozenset": frozenset({"only"}),
            "set": {7},
            "keys": {1: "int key", Color.red: "enum key"},
        }

    @app.get("/return/floats")
    async def return_floats():
        return [1e20, 1.5e300, 1e-7, 0.1 + 0.2, -0.0, 100.0, 2**64, -(2**70), 1 / 3]

    @app.get("/return/strings")
    async def return_strings():
        return {"ünï": "café ✓", "ctrl": '\x00\x1f\t\n"\\', "sep": "\u2028\u2029", "html": "</script>&<>"}

    @app.get("/return/list")
    async def return_list():
        return [1, "two", {"three": 3}, [4], FIXED_UUID]

    @app.get("/return/string")
    async def return_string():
        return "just a string"

    @app.get("/return/int")
    def return_int():
        return 42

    @app.get("/return/model")
    async def return_model():
        return Item(name="m", price=2.5, owner=Owner(name="o", age=3))

    @app.get("/return/models")
    async def return_models():
        return [Owner(name="a", age=1), Owner(name="b", age=2)]

    @app.get("/return/model-in-dict")
    async def return_model_in_dict():
        return {"owner": Owner(name="a", age=1), "when": FIXED_DT}

    @app.get("/return/aliased")
    async def return_aliased():
        return Aliased(item_name="x")

    @app.get("/return/event")
    async def return_event():
        return Event(
            title="t",
            when=FIXED_DT_TZ,
            day=datetime.date(2024, 1, 2),
            ident=FIXED_UUID,
            color=Color.red,
            level=Level.low,
            amount=decimal.Decimal("3.10"),
            owner=Owner(name="o", age=9),
        )

    @app.get("/return/dataclass")
    async def return_dataclass():
        return DataItem(name="dc", count=4)

    # A return annotation is FastAPI's response_model: the result is validated and serialised by pydantic.
    @app.get("/annotated/any")
    async def annotated_any() -> Any:
        return {"decimal": decimal.Decimal("10.50"), "timedelta": datetime.timedelta(seconds=90), "b": b"x"}

    @app.get("/annotated/model")
    async def annotated_model() -> Owner:
        return {"name": "a", "age": "7", "secret": "not in the model"}  # type: ignore[return-value]

    @app.get("/annotated/response-model", response_model=list[Owner])
    async def annotated_response_model():
        return [{"name": "a", "age": 1, "secret": "s"}, Owner(name="b", age=2)]

    @app.get("/annotated/invalid", response_model=Owner)
    async def annotated_invalid():
        return {"name": "a"}

    @app.get("/resp/plain-response")
    async def resp_plain():
        return Response(content="hello", media_type="text/plain", headers={"X-Extra": "1"})

    @app.get("/resp/bytes-response")
    async def resp_bytes():
        return Response(content=b"\x00\x01", media_type="application/octet-stream", status_code=203)

    @app.get("/resp/no-media-type")
    async def resp_no_media_type():
        return Response(content="bare")

    @app.get("/resp/json")
    async def resp_json():
        return responses.JSONResponse({"a": [1, 2], "b": None}, status_code=202, headers={"X-Json": "yes"})

    @app.get("/resp/text")
    def resp_text():
        return responses.PlainTextResponse("plain text", headers={"Cache-Control": "no-store"})

    @app.get("/resp/html")
    async def resp_html():
        return responses.HTMLResponse("<h1>Hi</h1>", status_code=201)

    @app.get("/resp/redirect")
    async def resp_redirect():
        return responses.RedirectResponse("/only-get")

    @app.get("/resp/redirect-302")
    async def resp_redirect_302():
        return responses.RedirectResponse(url="https://example.com/a b?x=1", status_code=302)

    @app.get("/resp/json-unicode")
    async def resp_json_unicode():
        return responses.JSONResponse({"ünï": "café ✓"})

    @app.get("/resp/redirect-unicode")
    async def resp_redirect_unicode():
        return responses.RedirectResponse("/café/ä?q=ü b")

    @app.get("/resp/cookie-options")
    async def resp_cookie_options():
        r = responses.PlainTextResponse("ok")
        r.set_cookie(
            "dated", "1", expires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
        )
        r.set_cookie("scoped", "2", domain="example.com", path=None, samesite=None)
        r.set_cookie("counted", "3", expires=3600)
        return r

    @app.get("/resp/cookies")
    async def resp_cookies():
        r = responses.JSONResponse({"cookies": True})
        r.set_cookie("session", "abc")
        r.set_cookie(
            "prefs", "dark", max_age=3600, path="/app", httponly=True, secure=True, samesite="strict"
        )
        r.set_cookie("spaced", "a b;c")
        r.delete_cookie("old")
        return r

    @app.get("/resp/injected")
    async def resp_injected(response: Response):
        response.headers["X-Injected"] = "1"
        response.set_cookie("injected", "yes")
        response.set_cookie("second", "2")
        response.status_code = 202
        return {"injected": True}

    @app.get("/resp/injected-sync")
    def resp_injected_sync(response: Response):
        response.delete_cookie("gone")
        return {"sync": True}

    @app.get("/resp/default-class", response_class=responses.PlainTextResponse)
    async def resp_default_class():
        return "text via response_class"

    @app.get("/resp/html-class", response_class=responses.HTMLResponse)
    async def resp_html_class():
        return "<p>html via response_class</p>"

    return app


CASES_ROUTING: list[Case] = [
    ("404", "GET", "/nowhere", {}),
    ("404-post", "POST", "/nowhere/else", {}),
    ("404-root", "GET", "/", {}),
    ("405-get-route", "POST", "/only-get", {}),
    ("405-put-get-route", "PUT", "/only-get", {}),
    ("405-post-route", "GET", "/only-post", {}),
    ("405-head-on-post-route", "HEAD", "/only-post", {}),
    ("405-dynamic", "GET", "/only-delete/3", {}),
    ("405-dynamic-bad-param", "GET", "/only-delete/x", {}),
    ("delete-ok", "DELETE", "/only-delete/3", {}),
    ("delete-bad-param", "DELETE", "/only-delete/x", {}),
    ("both-get", "GET", "/both", {}),
    ("both-post", "POST", "/both", {}),
    ("slash-ok", "GET", "/slash/", {}),
    ("slash-redirect-add", "GET", "/slash", {}),
    ("slash-redirect-add-query", "GET", "/slash?a=1&b=2", {}),
    ("slash-redirect-remove", "GET", "/noslash/", {}),
    ("slash-redirect-dynamic", "GET", "/dyn-slash/abc", {}),
    ("slash-redirect-encoded", "GET", "/dyn-slash/a%20b%2Fc", {}),
    ("slash-unknown", "GET", "/nowhere/", {}),
    ("slash-redirect-post", "POST", "/only-post/", {}),
    ("slash-redirect-wrong-method", "POST", "/slash", {}),
    ("precedence-param-first", "GET", "/users/me", {}),
    ("precedence-param-first-other", "GET", "/users/42", {}),
    ("precedence-static-first", "GET", "/accounts/me", {}),
    ("precedence-static-first-param", "GET", "/accounts/7", {}),
    ("precedence-static-first-param-bad", "GET", "/accounts/seven", {}),
    ("precedence-convertor", "GET", "/typed/5", {}),
    ("precedence-convertor-fallback", "GET", "/typed/five", {}),
    ("raise-plain", "GET", "/raise/plain", {}),
    ("raise-headers", "GET", "/raise/headers", {}),
    ("raise-dict", "GET", "/raise/dict", {}),
    ("raise-list", "GET", "/raise/list", {}),
    ("raise-no-detail", "GET", "/raise/none", {}),
    ("raise-teapot", "GET", "/raise/teapot", {}),
    ("raise-unicode", "GET", "/raise/unicode", {}),
    ("raise-304", "GET", "/raise/no-content", {}),
    ("raise-not", "GET", "/raise/other", {}),
    ("raise-sync", "GET", "/raise-sync", {}),
    ("status-201", "POST", "/created", {}),
    ("status-202-sync", "POST", "/accepted", {}),
    ("status-204", "DELETE", "/no-content", {}),
    ("return-none", "GET", "/return/none", {}),
    ("return-scalars", "GET", "/return/scalars", {}),
    ("return-rich", "GET", "/return/rich", {}),
    ("return-floats", "GET", "/return/floats", {}),
    ("return-strings", "GET", "/return/strings", {}),
    ("return-list", "GET", "/return/list", {}),
    ("return-string", "GET", "/return/string", {}),
    ("return-int", "GET", "/return/int", {}),
    ("return-model", "GET", "/return/model", {}),
    ("return-models", "GET", "/return/models", {}),
    ("return-model-in-dict", "GET", "/return/model-in-dict", {}),
    ("return-aliased-model", "GET", "/return/aliased", {}),
    ("return-event-model", "GET", "/return/event", {}),
    ("return-dataclass", "GET", "/return/dataclass", {}),
    ("annotated-any", "GET", "/annotated/any", {}),
    ("annotated-model", "GET", "/annotated/model", {}),
    ("annotated-response-model", "GET", "/annotated/response-model", {}),
    ("annotated-invalid", "GET", "/annotated/invalid", {}),
    ("response-plain", "GET", "/resp/plain-response", {}),
    ("response-bytes", "GET", "/resp/bytes-response", {}),
    ("response-no-media-type", "GET", "/resp/no-media-type", {}),
    ("response-json", "GET", "/resp/json", {}),
    ("response-text", "GET", "/resp/text", {}),
    ("response-html", "GET", "/resp/html", {}),
    ("response-redirect", "GET", "/resp/redirect", {}),
    ("response-redirect-302", "GET", "/resp/redirect-302", {}),
    ("response-json-unicode", "GET", "/resp/json-unicode", {}),
    ("response-redirect-unicode", "GET", "/resp/redirect-unicode", {}),
    ("response-cookie-options", "GET", "/resp/cookie-options", {}),
    ("response-cookies", "GET", "/resp/cookies", {}),
    ("response-injected", "GET", "/resp/injected", {}),
    ("response-injected-sync", "GET", "/resp/injected-sync", {}),
    ("response-class-plain", "GET", "/resp/default-class", {}),
    ("response-class-html", "GET", "/resp/html-class", {}),
]


# ------------------------------------------------------------------------------------------------------------
# Response models: response_model= and return annotations (validation, filtering, serialisation, options)
# ------------------------------------------------------------------------------------------------------------
class RmOwner(pydantic.BaseModel):
    name: str
    age: int = 0


class RmUserIn(pydantic.BaseModel):
    username: str
    password: str
    email: str
    full_name: str | None = None


class RmUserOut(pydantic.BaseModel):
    username: str
    email: str
    full_name: str | None = None


class RmItem(pydantic.BaseModel):
    name: str
    description: str | None = None
    price: float
    tax: float = 10.5
    tags: list[str] = []
    owner: RmOwner | None = None


class RmAliased(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    item_name: str = pydantic.Field(alias="itemName")
    item_count: int = pydantic.Field(default=1, serialization_alias="count")


class RmRich(pydantic.BaseModel):
    amount: decimal.Decimal
    when: datetime.datetime
    day: datetime.date
    at: datetime.time
    took: datetime.timedelta
    ident: uuid.UUID
    color: Color
    level: Level
    ratio: float
    blob: bytes


class RmRect(pydantic.BaseModel):
    width: int
    height: int

    @pydantic.computed_field  # type: ignore[prop-decorator]
    @property
    def area(self) -> int:
        return self.width * self.height


class RmCat(pydantic.BaseModel):
    meows: int


class RmDog(pydantic.BaseModel):
    barks: float


class RmTree(pydantic.BaseModel):
    value: int
    children: list["RmTree"] = []


class RmUserSecret(RmUserOut):
    password: str


class RmBumped(pydantic.BaseModel):
    """Every validation bumps ``n``: shows whether a returned instance is validated again."""

    n: int

    @pydantic.model_validator(mode="after")
    def bump(self) -> "RmBumped":
        self.n += 1
        return self


class RmAlways(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(revalidate_instances="always")

    n: int

    @pydantic.field_validator("n")
    @classmethod
    def double(cls, n: int) -> int:
        return n * 2


@dataclasses.dataclass
class RmPoint:
    x: int
    y: int = 0
    label: str | None = None


class RmTyped(TypedDict):
    name: str
    count: int


# msgspec Structs are fulmen-only; FastAPI gets the pydantic model each one is equivalent to.
class RmStructOwner(msgspec.Struct):
    name: str
    age: int = 0


class RmStructItem(msgspec.Struct, rename="camel"):
    item_name: str
    price: float
    tags: list[str] = []
    owner: RmStructOwner | None = None


class RmPydItem(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    item_name: str = pydantic.Field(alias="itemName")
    price: float
    tags: list[str] = []
    owner: RmOwner | None = None


class RmOrmOwner:
    """An ORM-like object: read through attributes (from_attributes)."""

    def __init__(self, name: str, age: int) -> None:
        self.name = name
        self.age = age


_RM_RICH = {
    "amount": decimal.Decimal("10.50"),
    "when": FIXED_DT_UTC,
    "day": datetime.date(2024, 1, 2),
    "at": datetime.time(8, 30, 0, 5),
    "took": datetime.timedelta(days=400, seconds=3661, microseconds=500000),
    "ident": FIXED_UUID,
    "color": Color.green,
    "level": Level.high,
    "ratio": 1.5e-05,
    "blob": b"bytes",
}


def build_response_model(fw: Any) -> Any:
    """Results through response_model= / return annotations, with every response_model_* option."""
    app = fw.FastAPI()
    responses = fw.responses
    Response = fw.Response
    fulmen_side = _is_fulmen(fw)
    StructOwnerT: Any = RmStructOwner if fulmen_side else RmOwner
    StructItemT: Any = RmStructItem if fulmen_side else RmPydItem

    # -- filtering: return the input model, declare the output model -------------------------------------
    @app.post("/rm/user", response_model=RmUserOut)
    async def rm_user(user: RmUserIn) -> Any:
        return user

    @app.get("/rm/user-annotated")
    async def rm_user_annotated() -> RmUserOut:
        return RmUserIn(username="u", password="secret", email="u@x.org")  # type: ignore[return-value]

    @app.get("/rm/user-dict", response_model=RmUserOut)
    async def rm_user_dict():
        return {"username": "d", "password": "p", "email": "d@x.org", "extra": 1}

    @app.get("/rm/orm")
    async def rm_orm() -> RmOwner:
        return RmOrmOwner("orm", 41)  # type: ignore[return-value]

    # -- coercion and nesting ----------------------------------------------------------------------------
    @app.get("/rm/coerce")
    async def rm_coerce() -> RmItem:
        return {"name": "x", "price": "3", "tags": ("a", "b"), "owner": {"name": "o", "age": "7"}}  # type: ignore[return-value]

    @app.get("/rm/list", response_model=list[RmItem])
    def rm_list():
        return [RmItem(name="a", price=1), {"name": "b", "price": 2.5, "owner": RmOwner(name="o")}]

    @app.get("/rm/dict-of-models")
    async def rm_dict_of_models() -> dict[str, RmOwner]:
        return {"x": {"name": "x"}, "y": RmOwner(name="y", age=3)}  # type: ignore[dict-item]

    @app.get("/rm/optional-none")
    async def rm_optional_none() -> RmOwner | None:
        return None

    @app.get("/rm/union/{kind}")
    async def rm_union(kind: str) -> RmCat | RmDog:
        return {"meows": 3} if kind == "cat" else {"barks": "2.5"}  # type: ignore[return-value]

    @app.get("/rm/tree")
    async def rm_tree() -> RmTree:
        return {"value": 1, "children": [{"value": 2, "children": [{"value": "3"}]}]}  # type: ignore[return-value]

    @app.get("/rm/scalars/int")
    async def rm_int() -> int:
        return "42"  # type: ignore[return-value]

    @app.get("/rm/scalars/list")
    async def rm_int_list() -> list[int]:
        return ["1", 2, 3.0]  # type: ignore[list-item]

    @app.get("/rm/scalars/str")
    async def rm_str() -> str:
        return "héllo \u2028 \x1b"

    @app.get("/rm/scalars/float")
    async def rm_float() -> float:
        return 1.5e-05

    @app.get("/rm/scalars/big-float")
    async def rm_big_float() -> list[float]:
        return [1e16, 2.5e-7, 1e-4, 123.456, float("nan"), float("inf")]

    # -- special types -----------------------------------------------------------------------------------
    @app.get("/rm/rich")
    async def rm_rich() -> RmRich:
        return RmRich(**_RM_RICH)

    @app.get("/rm/any")
    async def rm_any() -> Any:
        return {
            **_RM_RICH,
            "set": {3},
            "tuple": (1, "a"),
            "none": None,
            "nested": [{"d": decimal.Decimal("1")}],
        }

    @app.get("/rm/dict-any")
    async def rm_dict_any() -> dict[str, Any]:
        return {"model": RmOwner(name="m"), "took": datetime.timedelta(seconds=-5), "small": 1e-5}

    @app.get("/rm/computed")
    async def rm_computed() -> RmRect:
        return {"width": 3, "height": "4"}  # type: ignore[return-value]

    # -- aliases -----------------------------------------------------------------------------------------
    @app.get("/rm/alias")
    async def rm_alias() -> RmAliased:
        return RmAliased(item_name="a", item_count=5)

    @app.get("/rm/alias-by-name", response_model=RmAliased, response_model_by_alias=False)
    async def rm_alias_by_name():
        return {"itemName": "b"}

    # -- response_model_* options ------------------------------------------------------------------------
    @app.get("/rm/exclude-unset", response_model=RmItem, response_model_exclude_unset=True)
    async def rm_exclude_unset():
        return {"name": "u", "price": 1.0, "tax": 10.5}

    @app.get("/rm/exclude-unset-model", response_model=RmItem, response_model_exclude_unset=True)
    async def rm_exclude_unset_model():
        return RmItem(name="m", price=2, owner=RmOwner(name="o"))

    @app.get("/rm/exclude-defaults", response_model=RmItem, response_model_exclude_defaults=True)
    async def rm_exclude_defaults():
        return {"name": "d", "price": 1.0, "tax": 10.5, "tags": ["t"]}

    @app.get("/rm/exclude-none", response_model=RmItem, response_model_exclude_none=True)
    async def rm_exclude_none():
        return {"name": "n", "price": 1.0, "description": None}

    @app.get("/rm/include", response_model=RmItem, response_model_include={"name", "owner"})
    async def rm_include():
        return {"name": "i", "price": 1.0, "owner": {"name": "o", "age": 2}}

    @app.get("/rm/include-list", response_model=RmItem, response_model_include=["name", "price"])
    async def rm_include_list():
        return {"name": "i", "price": 1.0}

    @app.get("/rm/exclude", response_model=RmItem, response_model_exclude={"tax", "tags"})
    async def rm_exclude():
        return {"name": "e", "price": 1.0}

    @app.get("/rm/exclude-nested", response_model=RmItem, response_model_exclude={"owner": {"age"}})
    async def rm_exclude_nested():
        return {"name": "e", "price": 1.0, "owner": {"name": "o", "age": 2}}

    @app.get(
        "/rm/list-include",
        response_model=list[RmItem],
        response_model_include={"__all__": {"name"}},
    )
    async def rm_list_include():
        return [{"name": "a", "price": 1}, {"name": "b", "price": 2}]

    # -- precedence --------------------------------------------------------------------------------------
    @app.get("/rm/precedence", response_model=RmUserOut)
    async def rm_precedence() -> RmUserIn:
        return RmUserIn(username="p", password="x", email="p@x.org")

    @app.get("/rm/disabled", response_model=None)
    async def rm_disabled() -> RmOwner:
        return {"name": "raw", "extra": decimal.Decimal("1.5")}  # type: ignore[return-value]

    @app.get("/rm/returns-response")
    async def rm_returns_response() -> RmOwner:
        return Response(content="not validated", media_type="text/plain")  # type: ignore[return-value]

    @app.get("/rm/response-annotation")
    async def rm_response_annotation() -> responses.JSONResponse:
        return responses.JSONResponse({"direct": True}, status_code=202)

    @app.get("/rm/none-annotation", status_code=204)
    async def rm_none_annotation() -> None:
        return None

    @app.post("/rm/created", status_code=201)
    async def rm_created() -> RmOwner:
        return {"name": "new"}  # type: ignore[return-value]

    @app.get("/rm/injected")
    async def rm_injected(response: Response) -> RmOwner:
        response.headers["x-injected"] = "1"
        response.status_code = 203
        return {"name": "inj", "age": "5"}  # type: ignore[return-value]

    # -- response classes: an explicit class renders dump_python(mode="json") data ------------------------
    @app.get("/rm/explicit-json", response_class=responses.JSONResponse)
    async def rm_explicit_json() -> RmRich:
        return RmRich(**_RM_RICH)

    @app.get("/rm/explicit-json-floats", response_class=responses.JSONResponse)
    async def rm_explicit_json_floats() -> list[float]:
        return [1e16, 2.5e-7, 1e-4, float("nan")]

    @app.get("/rm/html", response_class=responses.HTMLResponse)
    async def rm_html() -> str:
        return "<b>hi</b>"

    @app.get("/rm/plain", response_class=responses.PlainTextResponse, response_model=str)
    async def rm_plain():
        return "seven"

    explicit = fw.APIRouter(default_response_class=responses.JSONResponse)

    @explicit.get("/rm/router-explicit")
    async def rm_router_explicit() -> list[float]:
        return [1.5e-05]

    plain_router = fw.APIRouter()

    @plain_router.get("/rm/router-default", response_model_exclude_none=True)
    async def rm_router_default() -> RmItem:
        return {"name": "r", "price": 1.5e-05, "description": None}  # type: ignore[return-value]

    app.include_router(explicit)
    app.include_router(plain_router, prefix="/inc")

    # -- dataclasses, TypedDicts and msgspec Structs ------------------------------------------------------
    @app.get("/rm/dataclass")
    async def rm_dataclass() -> RmPoint:
        return {"x": "1", "label": None}  # type: ignore[return-value]

    @app.get("/rm/dataclass-options", response_model=RmPoint, response_model_exclude_none=True)
    async def rm_dataclass_options():
        return RmPoint(x=1, y=2)

    @app.get("/rm/typeddict")
    async def rm_typeddict() -> list[RmTyped]:
        return [{"name": "t", "count": "3", "extra": 1}]  # type: ignore[typeddict-unknown-key]

    @app.get("/rm/struct")
    async def rm_struct() -> StructItemT:
        return {"itemName": "s", "price": "2.5", "owner": {"name": "o", "age": "4"}}

    @app.get("/rm/struct-instance", response_model=StructItemT)
    async def rm_struct_instance():
        if fulmen_side:
            return RmStructItem(item_name="s", price=1.0, owner=RmStructOwner(name="o"))
        return RmPydItem(item_name="s", price=1.0, owner=RmOwner(name="o"))

    @app.get(
        "/rm/struct-list", response_model=list[StructOwnerT], response_model_exclude={"__all__": {"age"}}
    )
    async def rm_struct_list():
        return [{"name": "a", "age": 1}, {"name": "b"}]

    @app.get("/rm/struct-unset", response_model=StructItemT, response_model_exclude_unset=True)
    async def rm_struct_unset():
        return {"itemName": "u", "price": 3}

    @app.get("/rm/struct-by-name", response_model=StructItemT, response_model_by_alias=False)
    async def rm_struct_by_name():
        return {"itemName": "n", "price": 3}

    @app.get("/rm/struct-in-any")
    async def rm_struct_in_any() -> Any:
        owner = RmStructOwner(name="any") if fulmen_side else RmOwner(name="any")
        return {"owner": owner, "n": 1}

    @app.get("/rm/struct-invalid", response_model=StructOwnerT)
    async def rm_struct_invalid():
        return {"age": 1}

    # -- returned instances: subclasses are filtered, validators run as FastAPI runs them -----------------
    @app.get("/rm/subclass")
    async def rm_subclass() -> RmUserOut:
        return RmUserSecret(username="s", email="s@x.org", password="hidden")

    @app.get("/rm/after-validator")
    async def rm_after_validator() -> RmBumped:
        return RmBumped(n=0)

    @app.get("/rm/revalidate-always")
    async def rm_revalidate_always() -> RmAlways:
        return RmAlways(n=1)

    @app.get("/rm/same-model-options", response_model=RmItem, response_model_exclude={"owner"})
    async def rm_same_model_options():
        return RmItem(name="o", price=1, owner=RmOwner(name="x"))

    # -- invalid results: 500 ----------------------------------------------------------------------------
    @app.get("/rm/invalid/missing")
    async def rm_invalid_missing() -> RmOwner:
        return {"age": 1}  # type: ignore[return-value]

    @app.get("/rm/invalid/type")
    async def rm_invalid_type() -> list[int]:
        return ["x"]  # type: ignore[list-item]

    @app.get("/rm/invalid/str")
    def rm_invalid_str() -> str:
        return 5  # type: ignore[return-value]

    @app.get("/rm/invalid/none")
    async def rm_invalid_none() -> RmOwner:
        return None  # type: ignore[return-value]

    return app


CASES_RESPONSE_MODEL: list[Case] = [
    ("rm-user-filter", "POST", "/rm/user", {"json": {"username": "a", "password": "pw", "email": "a@x.org"}}),
    ("rm-user-annotated", "GET", "/rm/user-annotated", {}),
    ("rm-user-dict", "GET", "/rm/user-dict", {}),
    ("rm-orm", "GET", "/rm/orm", {}),
    ("rm-coerce", "GET", "/rm/coerce", {}),
    ("rm-list", "GET", "/rm/list", {}),
    ("rm-dict-of-models", "GET", "/rm/dict-of-models", {}),
    ("rm-optional-none", "GET", "/rm/optional-none", {}),
    ("rm-union-cat", "GET", "/rm/union/cat", {}),
    ("rm-union-dog", "GET", "/rm/union/dog", {}),
    ("rm-tree", "GET", "/rm/tree", {}),
    ("rm-int", "GET", "/rm/scalars/int", {}),
    ("rm-int-list", "GET", "/rm/scalars/list", {}),
    ("rm-str", "GET", "/rm/scalars/str", {}),
    ("rm-float", "GET", "/rm/scalars/float", {}),
    ("rm-big-float", "GET", "/rm/scalars/big-float", {}),
    ("rm-rich", "GET", "/rm/rich", {}),
    ("rm-any", "GET", "/rm/any", {}),
    ("rm-dict-any", "GET", "/rm/dict-any", {}),
    ("rm-computed", "GET", "/rm/computed", {}),
    ("rm-alias", "GET", "/rm/alias", {}),
    ("rm-alias-by-name", "GET", "/rm/alias-by-name", {}),
    ("rm-exclude-unset", "GET", "/rm/exclude-unset", {}),
    ("rm-exclude-unset-model", "GET", "/rm/exclude-unset-model", {}),
    ("rm-exclude-defaults", "GET", "/rm/exclude-defaults", {}),
    ("rm-exclude-none", "GET", "/rm/exclude-none", {}),
    ("rm-include", "GET", "/rm/include", {}),
    ("rm-include-list", "GET", "/rm/include-list", {}),
    ("rm-exclude", "GET", "/rm/exclude", {}),
    ("rm-exclude-nested", "GET", "/rm/exclude-nested", {}),
    ("rm-list-include", "GET", "/rm/list-include", {}),
    ("rm-precedence", "GET", "/rm/precedence", {}),
    ("rm-disabled", "GET", "/rm/disabled", {}),
    ("rm-returns-response", "GET", "/rm/returns-response", {}),
    ("rm-response-annotation", "GET", "/rm/response-annotation", {}),
    ("rm-none-annotation-204", "GET", "/rm/none-annotation", {}),
    ("rm-created-201", "POST", "/rm/created", {}),
    ("rm-injected", "GET", "/rm/injected", {}),
    ("rm-explicit-json", "GET", "/rm/explicit-json", {}),
    ("rm-explicit-json-floats", "GET", "/rm/explicit-json-floats", {}),
    ("rm-html", "GET", "/rm/html", {}),
    ("rm-plain", "GET", "/rm/plain", {}),
    ("rm-router-explicit", "GET", "/rm/router-explicit", {}),
    ("rm-router-default-included", "GET", "/inc/rm/router-default", {}),
    ("rm-dataclass", "GET", "/rm/dataclass", {}),
    ("rm-dataclass-options", "GET", "/rm/dataclass-options", {}),
    ("rm-typeddict", "GET", "/rm/typeddict", {}),
    ("rm-struct", "GET", "/rm/struct", {}),
    ("rm-struct-instance", "GET", "/rm/struct-instance", {}),
    ("rm-struct-list", "GET", "/rm/struct-list", {}),
    ("rm-struct-unset", "GET", "/rm/struct-unset", {}),
    ("rm-struct-by-name", "GET", "/rm/struct-by-name", {}),
    ("rm-struct-in-any", "GET", "/rm/struct-in-any", {}),
    ("rm-struct-invalid", "GET", "/rm/struct-invalid", {}),
    ("rm-subclass", "GET", "/rm/subclass", {}),
    ("rm-after-validator", "GET", "/rm/after-validator", {}),
    ("rm-revalidate-always", "GET", "/rm/revalidate-always", {}),
    ("rm-same-model-options", "GET", "/rm/same-model-options", {}),
    ("rm-invalid-missing", "GET", "/rm/invalid/missing", {}),
    ("rm-invalid-type", "GET", "/rm/invalid/type", {}),
    ("rm-invalid-str-sync", "GET", "/rm/invalid/str", {}),
    ("rm-invalid-none", "GET", "/rm/invalid/none", {}),
]


class PassThrough:
    """A pure ASGI middleware that does nothing: installing it makes an app's middleware stack take its ASGI
    form (the cross-checks of behaviour that differs between the native and the ASGI stack use it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)
