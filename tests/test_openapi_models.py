"""``fulmen.openapi.models`` validates and dumps OpenAPI objects as ``fastapi.openapi.models`` does."""

import importlib
import inspect
from typing import Any

import fastapi
import fastapi.openapi.models as fa_models
import pydantic
import pytest

import fulmen
import fulmen.openapi.models as fu_models

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Shop",
        "version": "1.0",
        "contact": {"name": "Ops", "url": "https://example.com/ops", "email": "ops@example.com"},
        "license": {"name": "MIT", "identifier": "MIT"},
        "x-logo": {"url": "https://example.com/logo.png"},
    },
    "servers": [
        {"url": "https://{region}.example.com", "variables": {"region": {"default": "eu", "enum": ["eu"]}}}
    ],
    "paths": {
        "/items/{item_id}": {
            "get": {
                "tags": ["items"],
                "operationId": "read_item",
                "parameters": [
                    {"name": "item_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                    {"$ref": "#/components/parameters/Limit"},
                ],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}},
                        "headers": {"X-Rate": {"schema": {"type": "integer"}}},
                    },
                    "x-note": "an extension among the responses",
                },
                "callbacks": {
                    "done": {"{$request.body#/url}": {"post": {"responses": {"200": {"description": "ok"}}}}}
                },
                "security": [{"key": []}],
            },
            "x-path-extension": True,
        },
        "x-top": 1,
    },
    "components": {
        "schemas": {
            "Item": {
                "type": "object",
                "title": "Item",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                    "anything": True,
                    "price": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}]},
                },
                "additionalProperties": False,
                "$defs": {"Inner": {"const": 1}},
                "x-internal": "kept",
            }
        },
        "parameters": {
            "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 10}}
        },
        "securitySchemes": {
            "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
            "basic": {"type": "http", "scheme": "basic"},
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "oauth": {
                "type": "oauth2",
                "flows": {
                    "password": {"tokenUrl": "token", "scopes": {"read": "Read"}},
                    "authorizationCode": {"authorizationUrl": "auth", "tokenUrl": "token"},
                },
            },
            "oidc": {"type": "openIdConnect", "openIdConnectUrl": "https://example.com/.well-known"},
        },
    },
    "tags": [{"name": "items", "externalDocs": {"url": "https://example.com/docs"}}],
}


def _public_names(module: Any) -> set[str]:
    """Names a user imports: the module's classes and its type aliases (not what it imported for itself)."""
    own = set()
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(value) and value.__module__ == module.__name__:
            own.add(name)
    return own | {"SchemaType", "SchemaOrBool", "SecurityScheme", "APIKeyIn", "SecuritySchemeType"}


def test_every_public_name_is_there() -> None:
    missing = sorted(name for name in _public_names(fa_models) if not hasattr(fu_models, name))
    assert missing == []


def _dump(module: Any, data: dict[str, Any]) -> dict[str, Any]:
    dumped: dict[str, Any] = module.OpenAPI(**data).model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def test_a_document_round_trips_as_in_fastapi() -> None:
    assert _dump(fu_models, DOCUMENT) == _dump(fa_models, DOCUMENT)
    assert _dump(fu_models, DOCUMENT)["components"]["schemas"]["Item"]["x-internal"] == "kept"


def _app(fw: Any) -> Any:
    app = fw.FastAPI(title="Generated", openapi_tags=[{"name": "a", "description": "A"}])

    @app.get("/a/{x}", tags=["a"])
    def read(x: int, q: str | None = None) -> dict[str, int]:
        return {"x": x}

    return app


def test_fastapis_generated_document_validates() -> None:
    document = _app(fastapi).openapi()
    assert _dump(fu_models, document) == _dump(fa_models, document)
    assert _dump(fu_models, _app(fulmen).openapi()) == _dump(fa_models, _app(fulmen).openapi())


def _errors(module: Any, name: str, data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The validation errors ``module.name(**data)`` raises; ``[("accepted",)]`` when it raises none."""
    try:
        getattr(module, name)(**data)
    except pydantic.ValidationError as exc:
        return [(e["type"], e["loc"], e["msg"]) for e in exc.errors()]
    return [("accepted",)]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("Schema", {"type": True}),
        ("Schema", {"type": "text"}),
        ("Schema", {"minLength": -1, "multipleOf": 0}),
        ("Info", {"version": "1"}),
        ("Contact", {"url": "not a url"}),
        ("Contact", {"email": "not an address"}),
        ("ServerVariable", {"default": "a", "enum": []}),
        ("Parameter", {"name": "q", "in": "body"}),
        ("APIKey", {"in": "nowhere", "name": "k"}),
        ("HTTPBearer", {"scheme": "basic"}),
        ("OAuthFlows", {"password": {}}),
        ("OAuthFlowAuthorizationCode", {"tokenUrl": "t"}),
        ("RequestBody", {}),
        ("Response", {"content": {}}),
        ("Reference", {}),
        ("Tag", {"description": "no name"}),
    ],
)
def test_invalid_objects_fail_as_in_fastapi(name: str, data: dict[str, Any]) -> None:
    expected = _errors(fa_models, name, data)
    assert _errors(fu_models, name, data) == expected
    if "email" not in data:  # an e-mail address is checked only when email-validator is installed
        assert expected != [("accepted",)]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("Schema", {"type": ["string", "null"], "$ref": "#/x", "not": False, "if": {"type": "string"}}),
        ("Schema", {"type": "array", "prefixItems": [True, {"const": 1}], "dependentRequired": {"a": ["b"]}}),
        ("MediaType", {"schema": {"$ref": "#/a"}, "examples": {"one": {"value": 1, "x-extra": 2}}}),
        ("Parameter", {"name": "q", "in": "query", "example": None, "schema": {"type": "string"}}),
        ("APIKey", {"in": "cookie", "name": "session"}),
        ("HTTPBase", {"scheme": "digest", "description": "d"}),
        ("OAuth2", {"flows": {"implicit": {"authorizationUrl": "a"}}}),
        ("OpenIdConnect", {"openIdConnectUrl": "u"}),
        ("Reference", {"$ref": "#/a", "summary": "dropped"}),
        ("Discriminator", {"propertyName": "kind", "mapping": {"a": "#/A"}, "extra": "dropped"}),
        ("Link", {"operationId": "op", "parameters": {"id": "$response.body#/id"}}),
        ("Components", {"examples": {"e": {"summary": "s", "externalValue": "https://example.com/e"}}}),
        ("Server", {"url": "/relative"}),
    ],
)
def test_valid_objects_dump_as_in_fastapi(name: str, data: dict[str, Any]) -> None:
    def dump(module: Any) -> Any:
        model = getattr(module, name)(**data)
        return (
            model.model_dump(mode="json", by_alias=True, exclude_none=True),
            model.model_dump(mode="json"),
        )

    assert dump(fu_models) == dump(fa_models)


def test_defaults_and_aliases_as_in_fastapi() -> None:
    for module in (fu_models, fa_models):
        assert module.APIKey(**{"in": "header", "name": "k"}).type_ == module.SecuritySchemeType.apiKey
        assert module.HTTPBearer().scheme == "bearer"
        assert module.OAuthFlowPassword(tokenUrl="t").scopes == {}
        assert module.Schema(type="array").type == "array"


@pytest.mark.parametrize("name", ["fastapi", "fulmen"])
def test_a_custom_scheme_with_these_models_is_documented(name: str) -> None:
    fw = importlib.import_module(name)
    models = importlib.import_module(f"{name}.openapi.models")
    security_base = importlib.import_module(f"{name}.security.base")
    app = fw.FastAPI()

    class TokenInQuery(security_base.SecurityBase):  # type: ignore[misc]
        def __init__(self) -> None:
            self.model = models.APIKey(
                **{"in": models.APIKeyIn.query, "name": "token"}, description="a token"
            )
            self.scheme_name = "TokenInQuery"

        async def __call__(self, request: fw.Request) -> str | None:
            return request.query_params.get("token")

    @app.get("/")
    def root(token: str | None = fw.Security(TokenInQuery())) -> Any:
        return token

    assert app.openapi()["components"]["securitySchemes"] == {
        "TokenInQuery": {"type": "apiKey", "description": "a token", "in": "query", "name": "token"}
    }
