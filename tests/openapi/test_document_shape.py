"""``fulmen.openapi._document`` reproduces FastAPI's last step: its pydantic OpenAPI models' round trip.

FastAPI validates the document it built with ``fastapi.openapi.models.OpenAPI`` and dumps it with
``by_alias=True, exclude_none=True``; key order, floats, URLs and which path items keep their order all come
from that. ``shape_document`` does the same without pydantic; here it is compared with the real thing on the
documents FastAPI builds for the corpus, and on random documents (hypothesis).
"""

import copy
import enum
import json
import warnings
from typing import Any

import fastapi.openapi.utils
import pydantic
import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import OpenAPI
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fulmen.openapi._document import normalize_url, shape_document
from tests.openapi import apps
from tests.openapi.compare import first_difference


def fastapi_shape(doc: dict[str, Any]) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jsonable_encoder(OpenAPI(**copy.deepcopy(doc)), by_alias=True, exclude_none=True)  # type: ignore[no-any-return]


def check(doc: dict[str, Any]) -> None:
    expected = fastapi_shape(doc)
    actual = shape_document(copy.deepcopy(doc))
    if json.dumps(expected) != json.dumps(actual):
        raise AssertionError(str(first_difference(expected, actual)))


@pytest.mark.parametrize(
    "build",
    [
        apps.build_parameters,
        apps.build_bodies,
        apps.build_rich_models,
        apps.build_responses,
        apps.build_metadata,
        apps.build_callbacks,
        apps.build_security,
        apps.build_forms,
    ],
)
def test_shapes_fastapis_own_documents(build: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dicts FastAPI builds, before its model round trip, come out of ``shape_document`` as FastAPI's."""
    captured: list[dict[str, Any]] = []
    real = fastapi.openapi.utils.OpenAPI

    def capture(**kwargs: Any) -> Any:
        captured.append(copy.deepcopy(kwargs))
        return real(**kwargs)

    monkeypatch.setattr(fastapi.openapi.utils, "OpenAPI", capture)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = build(fastapi).openapi()
    assert json.dumps(shape_document(captured[-1])) == json.dumps(expected)


def test_path_item_with_parameters_keeps_its_order() -> None:
    """A parameter's ``"in"`` needs a lax conversion, so pydantic's smart union keeps the path item as is."""
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {
                "get": {
                    "parameters": [{"name": "q", "in": "query", "schema": {"minimum": 1, "type": "integer"}}]
                }
            },
            "/b": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {"a/b": {"schema": {"minimum": 1, "type": "integer"}}},
                            "description": "d",
                        }
                    }
                }
            },
        },
    }
    out = shape_document(doc)
    assert out["paths"]["/a"]["get"]["parameters"][0] == {
        "name": "q",
        "in": "query",
        "schema": {"minimum": 1, "type": "integer"},
    }
    assert json.dumps(out["paths"]["/b"]) == json.dumps(
        {
            "get": {
                "responses": {
                    "200": {
                        "description": "d",
                        "content": {"a/b": {"schema": {"type": "integer", "minimum": 1.0}}},
                    }
                }
            }
        }
    )
    check(doc)


def test_urls_normalised_like_pydantic() -> None:
    for url in ["https://example.com", "HTTPS://Example.COM:443/a?b#c", "http://x.io:8080", "mailto:a@b.c"]:
        assert normalize_url(url) == str(pydantic.AnyUrl(url))


# -- random documents ----------------------------------------------------------------------------------------
class Tag(str, enum.Enum):
    a = "alpha"


TEXT = st.text(alphabet="abcXY_-/ {}.", min_size=0, max_size=6)
NAME = st.text(alphabet="abcxyz_", min_size=1, max_size=5)
JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False), TEXT)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAME, inner, max_size=3)),
    max_leaves=6,
)
NUMBER = st.one_of(st.integers(-3, 10), st.floats(-3, 10, allow_nan=False), st.sampled_from([3.0, 0.5]))
TYPES = st.sampled_from(["string", "integer", "number", "object", "array", "boolean", "null"])


def schemas(depth: int = 2) -> st.SearchStrategy[Any]:
    if depth == 0:
        sub: st.SearchStrategy[Any] = st.just({"type": "string"})
    else:
        sub = schemas(depth - 1)
    keys: dict[str, st.SearchStrategy[Any]] = {
        "type": st.one_of(TYPES, st.lists(TYPES, min_size=1, max_size=2)),
        "title": TEXT,
        "description": st.one_of(TEXT, st.none()),
        "minimum": NUMBER,
        "exclusiveMaximum": NUMBER,
        "multipleOf": st.sampled_from([1, 2.5, 5]),
        "maxLength": st.one_of(st.integers(0, 5), st.just(3.0)),
        "pattern": TEXT,
        "default": JSON,
        "examples": st.lists(JSON, max_size=2),
        "enum": st.lists(JSON_LEAF, min_size=1, max_size=3),
        "const": JSON_LEAF,
        "$ref": st.just("#/components/schemas/X"),
        "items": st.one_of(sub, st.booleans()),
        "anyOf": st.lists(sub, max_size=2),
        "properties": st.dictionaries(NAME, sub, max_size=2),
        "additionalProperties": st.one_of(st.booleans(), sub),
        "required": st.lists(NAME, max_size=2),
        # sets: FastAPI writes their items in hash order, so only one item each
        "dependentRequired": st.dictionaries(NAME, st.lists(NAME, max_size=1), max_size=1),
        "deprecated": st.one_of(st.booleans(), st.just(1)),
        "discriminator": st.fixed_dictionaries(
            {"propertyName": NAME}, optional={"mapping": st.dictionaries(NAME, TEXT, max_size=1), "x": JSON}
        ),
        "externalDocs": st.fixed_dictionaries({"url": st.sampled_from(["https://e.com", "https://e.com/x"])}),
        "x-extra": JSON,
        "zz": JSON,
    }
    return st.fixed_dictionaries({}, optional=keys)


MEDIA = st.dictionaries(
    st.sampled_from(["application/json", "text/plain"]),
    st.fixed_dictionaries(
        {},
        optional={
            "schema": schemas(),
            "example": JSON,
            "examples": st.dictionaries(
                NAME,
                st.fixed_dictionaries(
                    {}, optional={"value": JSON, "summary": TEXT, "externalValue": st.just("https://e.com")}
                ),
                max_size=2,
            ),
        },
    ),
    max_size=2,
)
PARAMETER = st.fixed_dictionaries(
    {"name": NAME, "in": st.sampled_from(["query", "header", "path", "cookie"])},
    optional={
        "required": st.booleans(),
        "schema": schemas(),
        "description": st.one_of(TEXT, st.none()),
        "deprecated": st.booleans(),
        "example": JSON,
    },
)
RESPONSE = st.fixed_dictionaries(
    {},
    optional={
        "description": TEXT,
        "content": MEDIA,
        "headers": st.dictionaries(
            NAME, st.fixed_dictionaries({}, optional={"description": TEXT, "schema": schemas(1)}), max_size=1
        ),
        "x-r": JSON,
    },
)


def operations(depth: int) -> st.SearchStrategy[Any]:
    optional: dict[str, st.SearchStrategy[Any]] = {
        "tags": st.lists(st.one_of(TEXT, st.just(Tag.a)), max_size=2),
        "summary": TEXT,
        "description": st.one_of(TEXT, st.none()),
        "operationId": TEXT,
        "parameters": st.lists(PARAMETER, max_size=2),
        "requestBody": st.fixed_dictionaries(
            {"content": MEDIA}, optional={"required": st.booleans(), "description": TEXT}
        ),
        "responses": st.dictionaries(st.sampled_from(["200", "404", "default", "4XX"]), RESPONSE, max_size=2),
        "deprecated": st.one_of(st.booleans(), st.just(1)),
        "security": st.lists(st.dictionaries(NAME, st.lists(NAME, max_size=2), max_size=1), max_size=2),
        "externalDocs": st.fixed_dictionaries(
            {"url": st.just("https://e.com")}, optional={"description": TEXT}
        ),
        "servers": st.lists(
            st.fixed_dictionaries({"url": st.sampled_from(["https://s.com", "/api"])}), max_size=1
        ),
        "x-op": JSON,
    }
    if depth > 0:
        optional["callbacks"] = st.dictionaries(
            NAME, st.dictionaries(TEXT, path_items(depth - 1), max_size=1), max_size=1
        )
    return st.fixed_dictionaries({}, optional=optional)


def path_items(depth: int = 1) -> st.SearchStrategy[Any]:
    ops = operations(depth)
    return st.fixed_dictionaries(
        {},
        optional={
            "get": ops,
            "post": ops,
            "put": ops,
            "summary": TEXT,
            "parameters": st.lists(PARAMETER, max_size=1),
            "x-p": JSON,
        },
    )


SCHEMES = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("apiKey"), "in": st.sampled_from(["query", "header", "cookie"]), "name": NAME},
        optional={"description": TEXT},
    ),
    st.fixed_dictionaries(
        {"type": st.just("http"), "scheme": st.sampled_from(["basic", "bearer", "digest"])},
        optional={"bearerFormat": TEXT, "description": TEXT},
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("oauth2"),
            "flows": st.fixed_dictionaries(
                {},
                optional={
                    "password": st.fixed_dictionaries(
                        {"tokenUrl": TEXT},
                        optional={"scopes": st.dictionaries(NAME, TEXT, max_size=2), "refreshUrl": TEXT},
                    ),
                    "authorizationCode": st.fixed_dictionaries(
                        {"tokenUrl": TEXT, "authorizationUrl": TEXT},
                        optional={"scopes": st.dictionaries(NAME, TEXT, max_size=1)},
                    ),
                },
            ),
        },
        optional={"description": TEXT},
    ),
    st.fixed_dictionaries({"type": st.just("openIdConnect"), "openIdConnectUrl": TEXT}),
)

DOCUMENTS = st.fixed_dictionaries(
    {
        "openapi": st.just("3.1.0"),
        "info": st.fixed_dictionaries(
            {"title": TEXT, "version": TEXT},
            optional={
                "summary": TEXT,
                "description": st.one_of(TEXT, st.none()),
                "termsOfService": TEXT,
                "contact": st.fixed_dictionaries(
                    {}, optional={"name": TEXT, "url": st.just("https://c.com"), "x-c": JSON}
                ),
                "license": st.fixed_dictionaries(
                    {"name": TEXT}, optional={"identifier": TEXT, "url": st.just("https://l.com/a")}
                ),
            },
        ),
        "paths": st.dictionaries(st.sampled_from(["/a", "/b/{x}", "/c"]), path_items(), max_size=3),
    },
    optional={
        "servers": st.lists(
            st.fixed_dictionaries(
                {"url": st.sampled_from(["https://s.com", "/api", "http://x.org"])},
                optional={
                    "description": TEXT,
                    "variables": st.dictionaries(
                        NAME,
                        st.fixed_dictionaries(
                            {"default": TEXT}, optional={"enum": st.lists(TEXT, min_size=1, max_size=2)}
                        ),
                        max_size=1,
                    ),
                },
            ),
            max_size=2,
        ),
        "components": st.fixed_dictionaries(
            {},
            optional={
                "schemas": st.dictionaries(NAME, schemas(), max_size=3),
                "securitySchemes": st.dictionaries(NAME, SCHEMES, max_size=3),
                "responses": st.dictionaries(NAME, RESPONSE, max_size=1),
            },
        ),
        "webhooks": st.dictionaries(NAME, path_items(0), max_size=2),
        "tags": st.lists(
            st.fixed_dictionaries(
                {"name": TEXT},
                optional={
                    "description": TEXT,
                    "externalDocs": st.fixed_dictionaries({"url": st.just("https://t.com")}),
                },
            ),
            max_size=2,
        ),
        "externalDocs": st.fixed_dictionaries(
            {"url": st.just("https://d.com")}, optional={"description": TEXT}
        ),
        "x-top": JSON,
    },
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(DOCUMENTS)
def test_random_documents_shaped_as_fastapi_shapes_them(doc: dict[str, Any]) -> None:
    try:
        fastapi_shape(doc)
    except pydantic.ValidationError:
        assume(False)  # FastAPI itself refuses such a document
    check(doc)
