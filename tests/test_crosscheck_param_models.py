"""Cross-check query, header and cookie parameter models against FastAPI: same requests, same answers.

The app follows FastAPI's tutorial pages (Query / Header / Cookie Parameter Models, extra parameters
forbidden) and adds the corners: optional models, aliases, lists, models in dependencies, a model beside plain
parameters. FastAPI's answers are collected in-process; fulmen's come through every front door. FastAPI takes
only Pydantic models; fulmen also gets a msgspec Struct and a dataclass in their place and must answer the
same. The OpenAPI parameters (the model flattened into one parameter per field) are compared too.

No ``from __future__ import annotations`` here: both frameworks must resolve the handlers' annotations.
"""

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional

import fastapi
import httpx
import msgspec
import pydantic
import pytest

import fulmen
from fulmen.exceptions import FastAPIError
from tests.test_crosscheck_fastapi import Answer, ask, assert_same_as_fastapi

Case = tuple[str, str, str, dict[str, Any]]


class FilterParams(pydantic.BaseModel):
    limit: int = pydantic.Field(100, gt=0, le=100)
    offset: int = pydantic.Field(0, ge=0)
    order_by: Literal["created_at", "updated_at"] = "created_at"
    tags: list[str] = []


class StrictFilter(pydantic.BaseModel):
    model_config = {"extra": "forbid"}

    limit: int = 10
    tags: list[str] = []


class StrictFilterStruct(msgspec.Struct, forbid_unknown_fields=True):
    limit: int = 10
    tags: list[str] = []


@dataclasses.dataclass
class PageData:
    page: int
    size: int = 20


class Page(pydantic.BaseModel):
    page: int
    size: int = 20


class Search(pydantic.BaseModel):
    model_config = {"populate_by_name": True}

    text: str = pydantic.Field(alias="q")
    lang: Optional[str] = pydantic.Field(None, validation_alias=pydantic.AliasChoices("lang", "language"))


class CommonHeaders(pydantic.BaseModel):
    host: str
    save_data: bool
    if_modified_since: Optional[str] = None
    traceparent: Optional[str] = None
    x_tag: list[str] = []


class CommonHeadersStruct(msgspec.Struct):
    host: str
    save_data: bool
    if_modified_since: Optional[str] = None
    traceparent: Optional[str] = None
    x_tag: list[str] = []


class StrictHeaders(pydantic.BaseModel):
    model_config = {"extra": "forbid"}

    host: str
    user_agent: str


class Cookies(pydantic.BaseModel):
    session_id: str
    fatebook_tracker: Optional[str] = None
    googall_tracker: Optional[str] = None


class StrictCookies(pydantic.BaseModel):
    model_config = {"extra": "forbid"}

    session_id: str


def _is_fulmen(fw: Any) -> bool:
    return fw.__name__ == "fulmen"


def build_models(fw: Any, variant: str = "pydantic") -> Any:
    """Parameter models from FastAPI's tutorial and around it; ``variant`` picks fulmen's model classes."""
    app = fw.FastAPI()
    Query, Header, Cookie, Depends = fw.Query, fw.Header, fw.Cookie, fw.Depends
    StrictT: Any = StrictFilter
    PageT: Any = Page
    HeadersT: Any = CommonHeaders
    if _is_fulmen(fw) and variant == "struct":
        StrictT, HeadersT = StrictFilterStruct, CommonHeadersStruct
    elif _is_fulmen(fw) and variant == "dataclass":
        PageT = PageData

    def dump(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, pydantic.BaseModel):
            return value.model_dump()
        if isinstance(value, msgspec.Struct):
            return msgspec.structs.asdict(value)
        return dataclasses.asdict(value)

    # -- tutorial: Query Parameter Models -------------------------------------------------------------------
    @app.get("/items/")
    async def read_items(filter_query: Annotated[FilterParams, Query()]):
        return filter_query

    @app.get("/strict/")
    async def strict(filter_query: Annotated[StrictT, Query()]):  # type: ignore[valid-type]
        return dump(filter_query)

    @app.get("/page/")
    async def page(p: Annotated[PageT, Query()], q: Optional[str] = None):  # type: ignore[valid-type]
        return {"page": dump(p), "q": q}

    @app.get("/optional-page/")
    async def optional_page(p: Annotated[Optional[Page], Query()] = None):
        return dump(p)

    @app.get("/search/")
    async def search(s: Annotated[Search, Query()]):
        return s.model_dump()

    def paging(p: Annotated[Page, Query()]) -> dict[str, Any]:
        return {"from": (p.page - 1) * p.size, "size": p.size}

    @app.get("/dep/")
    async def dep(window: Annotated[dict, Depends(paging)]):  # type: ignore[type-arg]
        return window

    # -- tutorial: Header Parameter Models ------------------------------------------------------------------
    @app.get("/headers/")
    async def headers(h: Annotated[HeadersT, Header()]):  # type: ignore[valid-type]
        return dump(h)

    @app.get("/headers-as-is/")
    async def headers_as_is(h: Annotated[CommonHeaders, Header(convert_underscores=False)]):
        return h.model_dump()

    @app.get("/strict-headers/")
    async def strict_headers(h: Annotated[StrictHeaders, Header()]):
        return h.model_dump()

    # -- tutorial: Cookie Parameter Models ------------------------------------------------------------------
    @app.get("/cookies/")
    async def cookies(c: Annotated[Cookies, Cookie()]):
        return c.model_dump()

    @app.get("/strict-cookies/")
    async def strict_cookies(c: Annotated[StrictCookies, Cookie()]):
        return c.model_dump()

    return app


_HOST = {"host": "testserver"}  # headers echoed back must not depend on the server's address
_BASE_HEADERS = {**_HOST, "accept": "*/*", "accept-encoding": "gzip, deflate", "connection": "keep-alive"}

CASES: list[Case] = [
    # Query Parameter Models
    ("items-defaults", "GET", "/items/", {}),
    ("items-values", "GET", "/items/?limit=5&offset=2&order_by=updated_at&tags=a&tags=b", {}),
    ("items-one-tag", "GET", "/items/?tags=solo", {}),
    ("items-bad-limit", "GET", "/items/?limit=0", {}),
    ("items-not-int", "GET", "/items/?limit=many&offset=-1", {}),
    ("items-bad-literal", "GET", "/items/?order_by=name", {}),
    ("items-extra-ignored", "GET", "/items/?tool=plumbus&limit=3", {}),
    ("items-repeated-scalar", "GET", "/items/?limit=1&limit=7", {}),
    ("items-empty-value", "GET", "/items/?limit=", {}),
    ("strict-ok", "GET", "/strict/?limit=3&tags=x", {}),
    ("strict-extra", "GET", "/strict/?tool=plumbus", {}),
    ("strict-extra-repeated", "GET", "/strict/?tool=a&tool=b&limit=2", {}),
    ("strict-extra-and-invalid", "GET", "/strict/?limit=x&tool=a", {}),
    ("page-ok", "GET", "/page/?page=3&q=hi", {}),
    ("page-missing", "GET", "/page/?q=hi", {}),
    ("page-invalid", "GET", "/page/?page=one&size=two", {}),
    ("optional-page-none", "GET", "/optional-page/", {}),
    ("optional-page-other-keys", "GET", "/optional-page/?other=1", {}),
    ("optional-page-sent", "GET", "/optional-page/?page=2", {}),
    ("optional-page-incomplete", "GET", "/optional-page/?size=5", {}),
    ("search-alias", "GET", "/search/?q=cats&language=en", {}),
    ("search-by-name", "GET", "/search/?text=dogs&lang=de", {}),
    ("search-missing", "GET", "/search/?lang=fr", {}),
    ("dep-ok", "GET", "/dep/?page=2&size=10", {}),
    ("dep-invalid", "GET", "/dep/?page=0x", {}),
    # Header Parameter Models
    ("headers-ok", "GET", "/headers/", {"headers": {**_HOST, "save-data": "true", "x-tag": "a"}}),
    (
        "headers-repeated-list",
        "GET",
        "/headers/",
        {"headers": [("host", "testserver"), ("save-data", "1"), ("x-tag", "a"), ("x-tag", "b")]},
    ),
    ("headers-missing", "GET", "/headers/", {"headers": _HOST}),
    ("headers-invalid-bool", "GET", "/headers/", {"headers": {**_HOST, "save-data": "perhaps"}}),
    ("headers-underscore-sent", "GET", "/headers/", {"headers": {**_HOST, "save_data": "true"}}),
    (
        "headers-mixed-case",
        "GET",
        "/headers/",
        {"headers": {**_HOST, "Save-Data": "off", "If-Modified-Since": "x"}},
    ),
    ("headers-as-is-hyphen", "GET", "/headers-as-is/", {"headers": {**_HOST, "save-data": "true"}}),
    ("headers-as-is-underscore", "GET", "/headers-as-is/", {"headers": {**_HOST, "save_data": "yes"}}),
    ("strict-headers-extra", "GET", "/strict-headers/", {"headers": _BASE_HEADERS}),
    # Cookie Parameter Models
    ("cookies-ok", "GET", "/cookies/", {"headers": {"cookie": "session_id=abc; fatebook_tracker=t1"}}),
    ("cookies-missing", "GET", "/cookies/", {}),
    ("cookies-other-only", "GET", "/cookies/", {"headers": {"cookie": "googall_tracker=g"}}),
    ("strict-cookies-ok", "GET", "/strict-cookies/", {"headers": {"cookie": "session_id=abc"}}),
    (
        "strict-cookies-extra",
        "GET",
        "/strict-cookies/",
        {"headers": {"cookie": "session_id=abc; santa_tracker=good-list-please"}},
    ),
]

VARIANTS = ["pydantic", "struct", "dataclass"]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    """FastAPI's answer to every case, collected once (in-process, through fulmen's TestClient)."""
    with fulmen.testclient.TestClient(build_models(fastapi), raise_server_exceptions=False) as client:
        return {case[0]: ask(client, case) for case in CASES}


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("variant", VARIANTS)
def test_same_answers(
    variant: str, serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    """Every request is answered exactly as FastAPI answers it (status, body, headers)."""
    client = serve(build_models(fulmen, variant))
    assert_same_as_fastapi(client, CASES, fastapi_answers)


def test_fastapi_answers_are_not_trivial(fastapi_answers: dict[str, Answer]) -> None:
    """The comparison covers successes and 422s, extra-field rejections among them."""
    statuses = {a.status for a in fastapi_answers.values()}
    assert statuses == {200, 422}
    assert b"extra_forbidden" in fastapi_answers["strict-headers-extra"].body
    assert b'"save-data"' in fastapi_answers["headers-missing"].body
    assert fastapi_answers["optional-page-none"].body == b"null"


def test_openapi_flattens_models_as_fastapi_does() -> None:
    """Each model field is its own parameter: name, location, required, schema, description, deprecation."""

    def build(fw: Any) -> Any:
        app = build_models(fw)

        class Described(pydantic.BaseModel):
            model_config = {"extra": "forbid"}

            limit: int = pydantic.Field(10, gt=0, description="How many", examples=[5])
            old: Optional[str] = pydantic.Field(None, deprecated=True)
            q: Optional[str] = pydantic.Field(None, alias="search")

        @app.get("/described/")
        async def described(
            d: Annotated[Described, fw.Query()],
            h: Annotated[Optional[CommonHeaders], fw.Header()] = None,
            n: int = 0,
        ):
            return d

        return app

    expected = build(fastapi).openapi()
    got = build(fulmen).openapi()
    assert got["paths"] == expected["paths"]
    assert got["components"] == expected["components"]
    parameters = got["paths"]["/described/"]["get"]["parameters"]
    assert [p["name"] for p in parameters][:4] == ["limit", "old", "search", "n"]
    assert all(not p["required"] for p in parameters if p["in"] == "header")  # an optional model's fields


@pytest.mark.parametrize(
    ("annotation", "marker"),
    [(Page, "Path"), (Optional[list[Page]], "Query"), (Any, "Cookie")],
    ids=["path-model", "list-of-models", "not-a-model"],
)
def test_declarations_that_cannot_be_served(annotation: Any, marker: str) -> None:
    """A model from the path, a list of models or a dict from a cookie: start-up errors naming the route."""
    app = fulmen.FastAPI()
    kind = getattr(fulmen, marker)
    path = "/{p}" if marker == "Path" else "/"
    annotated = dict[str, Any] if annotation is Any else annotation

    async def handler(p: Annotated[annotated, kind()]) -> None:  # type: ignore[valid-type]
        return None

    with pytest.raises(FastAPIError, match=r"route GET '/(\{p\})?', parameter 'p'"):
        app.get(path)(handler)
