"""Cross-check request-parameter declarations against FastAPI: defaults, metadata, aliases.

Each test builds the same app with FastAPI and with fulmen, collects FastAPI's answers in-process and sends
the same requests to fulmen through every front door (status, headers and body must match).

No ``from __future__ import annotations`` here: both frameworks must resolve the handlers' annotations.
"""

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional, Union

import fastapi
import httpx
import pydantic
import pytest

import fulmen
from fulmen.exceptions import FastAPIError
from tests.test_crosscheck_fastapi import assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def _double(value: Any) -> Any:
    return 0 if value is None else int(value) * 2


Doubled = Annotated[Optional[int], pydantic.BeforeValidator(_double)]


def build_defaults(fw: Any) -> Any:
    """Defaults with and without ``validate_default``, from the marker or from a pydantic ``Field``."""
    app = fw.FastAPI()
    calls: list[int] = []

    def factory() -> int:
        calls.append(1)
        return 4

    @app.post("/query")
    def query(
        made: Annotated[Doubled, fw.Query(default_factory=factory, validate_default=True)],
        pyd_factory: Annotated[int, pydantic.Field(default_factory=factory)],
        plain: Annotated[Doubled, fw.Query()] = 10,
        checked: Annotated[Doubled, fw.Query(validate_default=True)] = 10,
        from_field: Annotated[Doubled, pydantic.Field(validate_default=True), fw.Query()] = 10,
        overridden: Annotated[
            Doubled, pydantic.Field(validate_default=True), fw.Query(validate_default=False)
        ] = 10,
    ) -> Any:
        return [plain, checked, from_field, overridden, made, pyd_factory, len(calls)]

    @app.post("/header")
    def header(h: Annotated[Doubled, fw.Header(validate_default=True)] = 3) -> Any:
        return h

    @app.post("/cookie")
    def cookie(c: Annotated[Doubled, fw.Cookie(validate_default=True)] = None) -> Any:
        return c

    @app.post("/body")
    def body(b: Annotated[Doubled, fw.Body(embed=True, validate_default=True)] = 5) -> Any:
        return b

    @app.post("/whole-body")
    def whole_body(
        b: Annotated[list[int], pydantic.Field(default_factory=list, min_length=1, validate_default=True)],
    ) -> Any:
        return b

    @app.post("/form")
    def form(f: Annotated[Doubled, fw.Form(validate_default=True)] = 6) -> Any:
        return f

    @app.get("/invalid")
    def invalid(v: Annotated[int, fw.Query(gt=0, validate_default=True)] = -1) -> Any:
        return v

    return app


DEFAULT_CASES: list[Case] = [
    ("query-missing", "POST", "/query", {}),
    ("query-sent", "POST", "/query?plain=1&checked=1&from_field=1&overridden=1&made=1&pyd_factory=7", {}),
    ("header-missing", "POST", "/header", {}),
    ("header-sent", "POST", "/header", {"headers": {"h": "1"}}),
    ("cookie-missing", "POST", "/cookie", {}),
    ("body-missing", "POST", "/body", {"json": {}}),
    ("body-empty", "POST", "/body", {}),
    ("whole-body-missing", "POST", "/whole-body", {}),
    ("whole-body-sent", "POST", "/whole-body", {"json": [1]}),
    ("form-missing", "POST", "/form", {"data": {}}),
    ("invalid-default", "GET", "/invalid", {}),
    ("invalid-sent", "GET", "/invalid?v=2", {}),
]


def test_defaults_are_validated_when_asked(serve: Callable[..., httpx.Client]) -> None:
    """``validate_default=True`` (marker or pydantic ``Field``) runs the validator on a missing value's
    default, a pydantic ``Field(default_factory=...)`` supplies the default, an invalid default is a 422."""
    expected = fastapi_answers_for(build_defaults, DEFAULT_CASES)
    assert expected["invalid-default"].status == 422
    assert_same_as_fastapi(serve(build_defaults(fulmen)), DEFAULT_CASES, expected)


def build_path_aliases(fw: Any) -> Any:
    """Path parameters read under an alias or a ``validation_alias`` choice, some placeholders coming from an
    ``include_router`` prefix (the router's route doesn't have them when it is declared)."""
    app = fw.FastAPI()
    router = fw.APIRouter()
    ident = fw.Path(alias="unused", validation_alias=pydantic.AliasChoices("item_id", "id"), ge=1)

    def get_ident(value: Annotated[int, ident]) -> int:
        return value

    @router.get("/")
    def read(value: Annotated[int, fw.Depends(get_ident)]) -> Any:
        return value

    app.include_router(router, prefix="/items/{item_id}")
    app.include_router(router, prefix="/legacy/{id}")

    @app.get("/aliased/{p_alias}")
    def aliased(p: Annotated[str, fw.Path(alias="p_alias", min_length=2)]) -> Any:
        return p

    @app.get("/same/{shared}")
    def same(path: str = fw.Path(alias="shared"), query: str = fw.Query(alias="shared")) -> Any:
        return [path, query]

    @app.get("/unmatched/{legacy}")
    def unmatched(
        v: Annotated[int, fw.Path(alias="legacy", validation_alias=pydantic.AliasChoices("a", "b"))],
    ) -> Any:
        return v

    return app


PATH_CASES: list[Case] = [
    ("choice-first", "GET", "/items/3/", {}),
    ("choice-second", "GET", "/legacy/4/", {}),
    ("choice-invalid", "GET", "/legacy/x/", {}),
    ("choice-constraint", "GET", "/items/0/", {}),
    ("alias", "GET", "/aliased/ab", {}),
    ("alias-invalid", "GET", "/aliased/a", {}),
    ("path-and-query", "GET", "/same/p?shared=q", {}),
    ("path-and-query-missing", "GET", "/same/p", {}),
    ("unmatched-choices", "GET", "/unmatched/5", {}),
]


def test_path_parameters_read_their_alias(serve: Callable[..., httpx.Client]) -> None:
    """A ``Path()`` parameter is read from the placeholder its ``validation_alias`` choice, ``alias`` or name
    names; a router's route may take it from the prefix ``include_router`` adds; OpenAPI names it the same."""
    expected = fastapi_answers_for(build_path_aliases, PATH_CASES)
    assert expected["choice-second"].body == b"4"
    assert_same_as_fastapi(serve(build_path_aliases(fulmen)), PATH_CASES, expected)
    assert build_path_aliases(fulmen).openapi()["paths"] == build_path_aliases(fastapi).openapi()["paths"]


def test_path_placeholder_still_checked_on_the_app() -> None:
    """Declared on the app itself, a ``Path()`` whose placeholder the path lacks stays a start-up error."""
    app = fulmen.FastAPI()
    with pytest.raises(FastAPIError, match=r"declared with Path\(\) but '/' has no \{item\}"):

        @app.get("/")
        def read(value: Annotated[int, fulmen.Path(alias="item")]) -> None:
            return None


def build_options(fw: Any) -> Any:
    """The pydantic-only marker options: ``union_mode``, ``fail_fast``, a compiled ``pattern``."""
    app = fw.FastAPI()
    abc = re.compile("^abc$", re.IGNORECASE)

    @app.post("/union/{p}")
    def union(
        p: Annotated[Union[int, str], fw.Path(union_mode="left_to_right")],
        q: Annotated[Union[int, str], fw.Query(union_mode="left_to_right")],
        smart: Annotated[
            Union[int, str], pydantic.Field(union_mode="left_to_right"), fw.Query(union_mode="smart")
        ],
        b: Annotated[Union[int, str], fw.Body(union_mode="left_to_right")],
    ) -> Any:
        return [p, q, smart, b]

    @app.post("/fail-fast")
    def fail_fast(
        q: Annotated[list[int], fw.Query(fail_fast=True)],
        h: Annotated[list[int], fw.Header(fail_fast=True)],
        slow: Annotated[list[int], pydantic.Field(fail_fast=True), fw.Query(fail_fast=False)],
    ) -> Any:
        return [q, h, slow]

    @app.post("/form-fail-fast")
    def form_fail_fast(f: Annotated[list[int], fw.Form(fail_fast=True)]) -> Any:
        return f

    @app.post("/pattern/{p}")
    def pattern(
        p: Annotated[str, fw.Path(pattern=abc)],
        q: Annotated[str, fw.Query(pattern=abc)],
        c: Annotated[str, fw.Cookie(pattern=abc)] = "abc",
    ) -> Any:
        return [p, q, c]

    return app


OPTION_CASES: list[Case] = [
    ("union", "POST", "/union/1?q=2&smart=3", {"json": "4"}),
    ("fail-fast", "POST", "/fail-fast?q=a&q=b&slow=c&slow=d", {"headers": [("h", "x"), ("h", "y")]}),
    ("fail-fast-ok", "POST", "/fail-fast?q=1&slow=2", {"headers": {"h": "3"}}),
    ("form-fail-fast", "POST", "/form-fail-fast", {"data": {"f": ["a", "b"]}}),
    ("pattern-ok", "POST", "/pattern/ABC?q=Abc", {"headers": {"cookie": "c=aBC"}}),
    ("pattern-bad", "POST", "/pattern/xyz?q=abcd", {"headers": {"cookie": "c=abcd"}}),
]


def test_pydantic_only_options_are_applied(serve: Callable[..., httpx.Client]) -> None:
    """``union_mode``, ``fail_fast`` and a compiled ``pattern`` (with its flags) act as in FastAPI, a marker's
    setting winning over a pydantic ``Field``'s; OpenAPI documents the pattern the same way."""
    expected = fastapi_answers_for(build_options, OPTION_CASES)
    assert expected["union"].body == b'[1,2,"3",4]'
    assert_same_as_fastapi(serve(build_options(fulmen)), OPTION_CASES, expected)
    assert build_options(fulmen).openapi() == build_options(fastapi).openapi()


Counted = Annotated[
    int,
    pydantic.Field(alias="original", title="Original", description="From Field", examples=[1]),
]


class Cat(pydantic.BaseModel):
    kind: Literal["cat"]


class Dog(pydantic.BaseModel):
    kind: Literal["dog"]


def build_field_metadata(fw: Any) -> Any:
    """A pydantic ``Field()`` in ``Annotated`` beside a marker: its alias, metadata and discriminator apply
    where the marker leaves them unset; the marker's own settings (an explicit None too) win."""
    app = fw.FastAPI()

    @app.get("/query/{wire}")
    def query(
        path: Annotated[int, pydantic.Field(alias="wire"), fw.Path()],
        preserved: Annotated[Counted, fw.Query()],
        replaced: Annotated[Counted, fw.Query(alias="replacement", title="Replacement", description="Mine")],
        cleared: Annotated[Counted, fw.Query(alias=None, title=None, description=None, examples=None)],
        inferred: Annotated[int, pydantic.Field(alias="n", description="Inferred")] = 10,
        header: Annotated[int, pydantic.Field(alias="unused", validation_alias="x-wire"), fw.Header()] = 0,
        alone: Annotated[int, pydantic.Field(alias="a", description="ignored")] = fw.Query(7),
    ) -> Any:
        return [path, preserved, replaced, cleared, inferred, header, alone]

    @app.post("/body")
    def body(
        preserved: Annotated[Counted, fw.Body()],
        cleared: Annotated[Counted, fw.Body(alias=None, title=None)],
    ) -> Any:
        return [preserved, cleared]

    @app.post("/pet")
    def pet(p: Annotated[Union[Cat, Dog], pydantic.Field(discriminator="kind"), fw.Body()]) -> Any:
        return p

    return app


METADATA_CASES: list[Case] = [
    ("query", "GET", "/query/1?original=2&replacement=3&cleared=4&n=5", {"headers": {"x-wire": "6"}}),
    ("query-by-name", "GET", "/query/1?preserved=2&replaced=3&cleared=4&inferred=5&alone=8", {}),
    ("marker-as-default", "GET", "/query/1?original=2&replacement=3&cleared=4&a=9", {}),
    ("body", "POST", "/body", {"json": {"original": 1, "cleared": 2}}),
    ("pet", "POST", "/pet", {"json": {"kind": "dog"}}),
    ("pet-unknown", "POST", "/pet", {"json": {"kind": "cow"}}),
]


def test_pydantic_field_metadata_is_merged(serve: Callable[..., httpx.Client]) -> None:
    """Requests and the OpenAPI document treat ``Annotated[T, Field(...), Query(...)]`` as FastAPI does."""
    expected = fastapi_answers_for(build_field_metadata, METADATA_CASES)
    assert expected["query"].body == b"[1,2,3,4,5,6,7]"
    assert b"union_tag_invalid" in expected["pet-unknown"].body
    assert_same_as_fastapi(serve(build_field_metadata(fulmen)), METADATA_CASES, expected)
    assert build_field_metadata(fulmen).openapi() == build_field_metadata(fastapi).openapi()


class HeaderFallback(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    x_values: Annotated[list[int], pydantic.Field(alias="X-Second")] = []


def build_alias_choices(fw: Any) -> Any:
    """Header, cookie and query parameters read under ``AliasChoices``: errors and OpenAPI use the declared
    names as written (a header's case too); a header model's field read by name is located by header name."""
    app = fw.FastAPI()
    choices = pydantic.AliasChoices

    @app.get("/header")
    def header(
        x_value: Annotated[int, fw.Header(alias="ignored", validation_alias=choices("X-First", "X-Second"))],
        item_values: Annotated[list[str], fw.Header(validation_alias=choices("item_values", "X-Tag"))] = [],  # noqa: B006
        custom: Annotated[int, fw.Header(alias="X-Custom")] = 0,
    ) -> Any:
        return [x_value, item_values, custom]

    @app.get("/cookie")
    def cookie(
        v: Annotated[int, fw.Cookie(alias="ignored", validation_alias=choices("session", "old"))],
    ) -> Any:
        return v

    @app.get("/query")
    def query(
        v: Annotated[int, fw.Query(alias="ignored", validation_alias=choices("first", "second"))],
    ) -> Any:
        return v

    @app.get("/header-model")
    def header_model(data: Annotated[HeaderFallback, fw.Header()]) -> Any:
        return data.x_values

    return app


ALIAS_CASES: list[Case] = [
    ("header-second", "GET", "/header", {"headers": {"x-second": "2", "x-tag": "t"}}),
    ("header-invalid", "GET", "/header", {"headers": {"x-first": "bad", "x-custom": "bad"}}),
    ("header-missing", "GET", "/header", {}),
    ("cookie-old", "GET", "/cookie", {"headers": {"cookie": "old=3"}}),
    ("cookie-invalid", "GET", "/cookie", {"headers": {"cookie": "session=x"}}),
    ("query-invalid", "GET", "/query?second=x", {}),
    ("header-model-by-name", "GET", "/header-model", {"headers": {"x-values": "bad"}}),
    ("header-model-by-alias", "GET", "/header-model", {"headers": {"x-second": "4"}}),
]


def test_alias_choices_keep_declared_names(serve: Callable[..., httpx.Client]) -> None:
    """``AliasChoices`` and declared aliases name the parameter in errors and in OpenAPI as written."""
    expected = fastapi_answers_for(build_alias_choices, ALIAS_CASES)
    assert b'"X-First"' in expected["header-invalid"].body
    assert_same_as_fastapi(serve(build_alias_choices(fulmen)), ALIAS_CASES, expected)
    assert build_alias_choices(fulmen).openapi() == build_alias_choices(fastapi).openapi()


@pytest.mark.parametrize(
    ("path", "annotation", "in_query"),
    [
        ("/{p}", list[int], False),
        ("/{p}", dict[str, int], False),
        ("/{p}", Cat, False),
        ("/", list[Cat], True),
        ("/", Optional[dict[str, int]], True),
    ],
    ids=["path-list", "path-dict", "path-model", "query-list-of-models", "query-dict"],
)
def test_unsupported_parameter_types_fail_as_in_fastapi(path: str, annotation: Any, in_query: bool) -> None:
    """A structured type from the path or the query string is a start-up error that is both a ``FastAPIError``
    naming the route and an ``AssertionError`` (what FastAPI raises), so either ``except`` catches it."""
    for fw, error in ((fastapi, AssertionError), (fulmen, FastAPIError)):
        app = fw.FastAPI()
        declared = Annotated[annotation, fw.Query()] if in_query else annotation

        def handler(p: declared) -> None:  # type: ignore[valid-type]
            return None

        with pytest.raises(AssertionError, match="supported types") as caught:
            app.get(path)(handler)
        assert isinstance(caught.value, error)


SmallSet = Annotated[set[str], pydantic.Field(max_length=2)]


def build_nested_annotated(fw: Any) -> Any:
    """A sequence type alias carrying its own ``Annotated`` metadata, made optional around it."""
    app = fw.FastAPI()

    @app.get("/")
    def read(
        tags: Annotated[Optional[SmallSet], fw.Query()] = None,
        ids: Optional[Annotated[list[int], pydantic.Field(min_length=1)]] = fw.Query(None),
    ) -> Any:
        return [sorted(tags) if tags else tags, ids]

    return app


NESTED_CASES: list[Case] = [
    ("none", "GET", "/", {}),
    ("some", "GET", "/?tags=a&tags=b&ids=1&ids=2", {}),
    ("too-many", "GET", "/?tags=a&tags=b&tags=c", {}),
    ("bad-item", "GET", "/?ids=x", {}),
]


def test_optional_around_annotated_sequence(serve: Callable[..., httpx.Client]) -> None:
    """``Annotated[set[str], Field(...)] | None`` is a repeated query key with its constraints (FastAPI)."""
    expected = fastapi_answers_for(build_nested_annotated, NESTED_CASES)
    assert expected["some"].body == b'[["a","b"],[1,2]]'
    assert_same_as_fastapi(serve(build_nested_annotated(fulmen)), NESTED_CASES, expected)


@pytest.mark.parametrize("name", ["Path", "Query", "Header", "Cookie", "Body", "Form", "File"])
@pytest.mark.parametrize(
    "default", ["text", None, ..., 1, []], ids=["str", "none", "ellipsis", "int", "list"]
)
def test_marker_repr_matches_fastapi(name: str, default: Any) -> None:
    """``repr(Query("x"))`` reads as in FastAPI (logged declarations look the same): ``Query(x)``."""
    if name == "Path" and default is not ...:
        return
    assert repr(getattr(fulmen, name)(default)) == repr(getattr(fastapi, name)(default))


class Point(pydantic.BaseModel):
    x: int


def build_json_values(fw: Any) -> Any:
    """``Json[...]`` parameters: one value holding JSON text, a model or a list, from each source."""
    app = fw.FastAPI()

    @app.post("/")
    def read(
        q: Annotated[pydantic.Json[Point], fw.Query()],
        h: Annotated[pydantic.Json[Point], fw.Header()],
        c: Annotated[pydantic.Json[list[int]], fw.Cookie()],
        limit: Annotated[int, fw.Query()] = 10,
    ) -> Any:
        return [q, h, c, limit]

    @app.post("/form")
    def form(items: Annotated[pydantic.Json[list[str]], fw.Form()]) -> Any:
        return items

    return app


JSON_CASES: list[Case] = [
    ("ok", "POST", '/?q={"x":1}', {"headers": {"h": '{"x": 2}', "cookie": "c=[3]"}}),
    ("bad", "POST", '/?q={"x":"a"}&limit=2', {"headers": {"h": "nope", "cookie": "c=[3]"}}),
    ("form", "POST", "/form", {"data": {"items": '["a", "b"]'}}),
    ("form-bad", "POST", "/form", {"data": {"items": "[1"}}),
]


def test_json_parameters_are_single_values(serve: Callable[..., httpx.Client]) -> None:
    """``Json[Model]`` from the query, a header or a cookie is one parameter (not a parameter model), and
    ``Json[list[str]]`` from a form is one field (not a repeated key), as in FastAPI; OpenAPI agrees."""
    expected = fastapi_answers_for(build_json_values, JSON_CASES)
    assert expected["ok"].status == expected["form"].status == 200
    assert_same_as_fastapi(serve(build_json_values(fulmen)), JSON_CASES, expected)
    assert build_json_values(fulmen).openapi() == build_json_values(fastapi).openapi()


class Filters(pydantic.BaseModel):
    term: str
    tags: list[str] = []


def build_defaults_copied(fw: Any) -> Any:
    """A model instance as a parameter's default, changed by the handler; an unannotated path parameter."""
    app = fw.FastAPI()
    shared = Filters(term="default")

    @app.get("/filters")
    def filters(f: Annotated[Optional[Filters], fw.Query()] = shared) -> Any:
        assert f is not None
        f.tags.append("new")
        return f

    @app.get("/items/{item_id}")
    async def item(item_id):  # type: ignore[no-untyped-def]
        return {"item_id": item_id}

    return app


COPY_CASES: list[Case] = [
    ("first", "GET", "/filters", {}),
    ("second", "GET", "/filters", {}),
    ("sent", "GET", "/filters?term=t&tags=a", {}),
    ("untyped", "GET", "/items/42", {}),
]


def test_defaults_are_fresh_per_request(serve: Callable[..., httpx.Client]) -> None:
    """Every default is deep-copied per request (a model instance too), so a handler changing it doesn't leak
    into the next request; an unannotated parameter is documented with an empty schema."""
    expected = fastapi_answers_for(build_defaults_copied, COPY_CASES)
    assert expected["second"].body == b'{"term":"default","tags":["new"]}'
    assert_same_as_fastapi(serve(build_defaults_copied(fulmen)), COPY_CASES, expected)
    assert build_defaults_copied(fulmen).openapi() == build_defaults_copied(fastapi).openapi()
