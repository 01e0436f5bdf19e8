"""The OpenAPI 3.1 document as pydantic models, importable as ``fastapi.openapi.models`` is.

Code written for FastAPI builds or checks documents with these (``OpenAPI(**app.openapi())``, a custom
scheme's ``model = OAuth2(flows=OAuthFlows(...))``), so they validate, alias and dump as FastAPI's do:
every object but ``Reference`` and ``Discriminator`` keeps unknown keys (``x-...`` extensions), and
Python-unfriendly names use aliases (``schema_`` is ``"schema"``, ``in_`` is ``"in"``, ``ref`` is ``"$ref"``).
fulmen's own generator doesn't use them, so ``import fulmen`` never imports pydantic; this module does.
"""

from __future__ import annotations

import importlib.util
from enum import Enum
from typing import Annotated, Any, Literal, Optional, Union

try:
    from pydantic import AnyUrl, BaseModel, ConfigDict, Field, with_config
except ImportError as exc:  # pragma: no cover - pydantic is an optional dependency
    raise ImportError('fulmen.openapi.models needs pydantic: pip install "fulmen[pydantic]"') from exc
from typing_extensions import TypedDict

from fulmen.security.models import APIKeyIn, SecuritySchemeType

# An e-mail address is checked when email-validator is installed, as in FastAPI (found, not imported here:
# pydantic imports it when an address is validated).
if importlib.util.find_spec("email_validator") is None:  # pragma: no cover - depends on the environment
    EmailStr = str
else:
    from pydantic import EmailStr

__all__ = [
    "XML",
    "APIKey",
    "APIKeyIn",
    "BaseModelWithConfig",
    "Components",
    "Contact",
    "Discriminator",
    "Encoding",
    "Example",
    "ExternalDocumentation",
    "HTTPBase",
    "HTTPBearer",
    "Header",
    "Info",
    "License",
    "Link",
    "MediaType",
    "OAuth2",
    "OAuthFlow",
    "OAuthFlowAuthorizationCode",
    "OAuthFlowClientCredentials",
    "OAuthFlowImplicit",
    "OAuthFlowPassword",
    "OAuthFlows",
    "OpenAPI",
    "OpenIdConnect",
    "Operation",
    "Parameter",
    "ParameterBase",
    "ParameterInType",
    "PathItem",
    "Reference",
    "RequestBody",
    "Response",
    "Schema",
    "SchemaOrBool",
    "SchemaType",
    "SecurityBase",
    "SecurityScheme",
    "SecuritySchemeType",
    "Server",
    "ServerVariable",
    "Tag",
]


class BaseModelWithConfig(BaseModel):
    """An OpenAPI object: declared fields are validated, any other key (an ``x-`` extension) is kept."""

    model_config = ConfigDict(extra="allow")


# -- metadata: info, servers, tags, external docs ------------------------------------------------------------
class Contact(BaseModelWithConfig):
    """Who to contact about the API."""

    name: str | None = None
    url: AnyUrl | None = None
    email: EmailStr | None = None


class License(BaseModelWithConfig):
    """The API's licence: a name, and an SPDX identifier or a URL."""

    name: str
    identifier: str | None = None
    url: AnyUrl | None = None


class Info(BaseModelWithConfig):
    """The document's ``info``: title and version are required."""

    title: str
    summary: str | None = None
    description: str | None = None
    termsOfService: str | None = None
    contact: Contact | None = None
    license: License | None = None
    version: str


class ServerVariable(BaseModelWithConfig):
    """A ``{name}`` in a server URL template: its default and, optionally, its allowed values."""

    enum: Annotated[list[str] | None, Field(min_length=1)] = None
    default: str
    description: str | None = None


class Server(BaseModelWithConfig):
    """A base URL the API is served at (may be relative or a template)."""

    url: AnyUrl | str
    description: str | None = None
    variables: dict[str, ServerVariable] | None = None


class ExternalDocumentation(BaseModelWithConfig):
    """A link to documentation kept elsewhere."""

    description: str | None = None
    url: AnyUrl


class Tag(BaseModelWithConfig):
    """An entry of the document's ``tags`` (``openapi_tags=[...]``)."""

    name: str
    description: str | None = None
    externalDocs: ExternalDocumentation | None = None


class Reference(BaseModel):
    """``{"$ref": "#/components/..."}``; nothing else is allowed beside it."""

    ref: str = Field(alias="$ref")


# -- JSON Schema 2020-12, as OpenAPI 3.1 uses it -------------------------------------------------------------
#: The JSON Schema primitive type names.
SchemaType = Literal["array", "boolean", "integer", "null", "number", "object", "string"]


class Discriminator(BaseModel):
    """Which property tells the members of a ``oneOf``/``anyOf`` apart."""

    propertyName: str
    mapping: dict[str, str] | None = None


class XML(BaseModelWithConfig):
    """How a property is written in XML."""

    name: str | None = None
    namespace: str | None = None
    prefix: str | None = None
    attribute: bool | None = None
    wrapped: bool | None = None


_NonNegative = Annotated[Optional[int], Field(ge=0)]


class Schema(BaseModelWithConfig):
    """A JSON Schema (2020-12) with OpenAPI's additions; keywords that are Python names end with ``_``."""

    # core vocabulary
    schema_: str | None = Field(default=None, alias="$schema")
    vocabulary: str | None = Field(default=None, alias="$vocabulary")
    id: str | None = Field(default=None, alias="$id")
    anchor: str | None = Field(default=None, alias="$anchor")
    dynamicAnchor: str | None = Field(default=None, alias="$dynamicAnchor")
    ref: str | None = Field(default=None, alias="$ref")
    dynamicRef: str | None = Field(default=None, alias="$dynamicRef")
    defs: dict[str, SchemaOrBool] | None = Field(default=None, alias="$defs")
    comment: str | None = Field(default=None, alias="$comment")
    # applying subschemas
    allOf: list[SchemaOrBool] | None = None
    anyOf: list[SchemaOrBool] | None = None
    oneOf: list[SchemaOrBool] | None = None
    not_: SchemaOrBool | None = Field(default=None, alias="not")
    if_: SchemaOrBool | None = Field(default=None, alias="if")
    then: SchemaOrBool | None = None
    else_: SchemaOrBool | None = Field(default=None, alias="else")
    dependentSchemas: dict[str, SchemaOrBool] | None = None
    prefixItems: list[SchemaOrBool] | None = None
    items: SchemaOrBool | None = None
    contains: SchemaOrBool | None = None
    properties: dict[str, SchemaOrBool] | None = None
    patternProperties: dict[str, SchemaOrBool] | None = None
    additionalProperties: SchemaOrBool | None = None
    propertyNames: SchemaOrBool | None = None
    unevaluatedItems: SchemaOrBool | None = None
    unevaluatedProperties: SchemaOrBool | None = None
    # structural validation
    type: SchemaType | list[SchemaType] | None = None
    enum: list[Any] | None = None
    const: Any | None = None
    multipleOf: float | None = Field(default=None, gt=0)
    maximum: float | None = None
    exclusiveMaximum: float | None = None
    minimum: float | None = None
    exclusiveMinimum: float | None = None
    maxLength: _NonNegative = None
    minLength: _NonNegative = None
    pattern: str | None = None
    maxItems: _NonNegative = None
    minItems: _NonNegative = None
    uniqueItems: bool | None = None
    maxContains: _NonNegative = None
    minContains: _NonNegative = None
    maxProperties: _NonNegative = None
    minProperties: _NonNegative = None
    required: list[str] | None = None
    dependentRequired: dict[str, set[str]] | None = None
    # format and string-encoded content
    format: str | None = None
    contentEncoding: str | None = None
    contentMediaType: str | None = None
    contentSchema: SchemaOrBool | None = None
    # meta-data annotations
    title: str | None = None
    description: str | None = None
    default: Any | None = None
    deprecated: bool | None = None
    readOnly: bool | None = None
    writeOnly: bool | None = None
    examples: list[Any] | None = None
    # OpenAPI's own keywords
    discriminator: Discriminator | None = None
    xml: XML | None = None
    externalDocs: ExternalDocumentation | None = None
    example: Any | None = Field(
        default=None,
        deprecated="Deprecated in OpenAPI 3.1.0 that now uses JSON Schema 2020-12, although still supported. "
        "Use examples instead.",
    )


#: A JSON Schema is an object or a boolean (``true`` accepts anything, ``false`` nothing).
SchemaOrBool = Union[Schema, bool]


@with_config(ConfigDict(extra="allow"))
class Example(TypedDict, total=False):
    """One entry of ``openapi_examples={...}`` (a parameter's or a body's named examples)."""

    summary: str | None
    description: str | None
    value: Any | None
    externalValue: AnyUrl | None


# -- parameters, bodies, responses ---------------------------------------------------------------------------
class ParameterInType(Enum):
    """Where a parameter is sent."""

    query = "query"
    header = "header"
    path = "path"
    cookie = "cookie"


class Encoding(BaseModelWithConfig):
    """How one property of a multipart or form body is encoded."""

    contentType: str | None = None
    headers: dict[str, Header | Reference] | None = None
    style: str | None = None
    explode: bool | None = None
    allowReserved: bool | None = None


class MediaType(BaseModelWithConfig):
    """A body's schema and examples for one content type."""

    schema_: Schema | Reference | None = Field(default=None, alias="schema")
    example: Any | None = None
    examples: dict[str, Example | Reference] | None = None
    encoding: dict[str, Encoding] | None = None


class ParameterBase(BaseModelWithConfig):
    """What parameters and response headers have in common."""

    description: str | None = None
    required: bool | None = None
    deprecated: bool | None = None
    style: str | None = None
    explode: bool | None = None
    allowReserved: bool | None = None
    schema_: Schema | Reference | None = Field(default=None, alias="schema")
    example: Any | None = None
    examples: dict[str, Example | Reference] | None = None
    content: dict[str, MediaType] | None = None


class Parameter(ParameterBase):
    """A path, query, header or cookie parameter of an operation."""

    name: str
    in_: ParameterInType = Field(alias="in")


class Header(ParameterBase):
    """A response header (a parameter without ``name`` and ``in``)."""


class RequestBody(BaseModelWithConfig):
    """An operation's body, by content type."""

    description: str | None = None
    content: dict[str, MediaType]
    required: bool | None = None


class Link(BaseModelWithConfig):
    """How a response's values feed another operation."""

    operationRef: str | None = None
    operationId: str | None = None
    parameters: dict[str, Any | str] | None = None
    requestBody: Any | str | None = None
    description: str | None = None
    server: Server | None = None


class Response(BaseModelWithConfig):
    """One documented response of an operation."""

    description: str
    headers: dict[str, Header | Reference] | None = None
    content: dict[str, MediaType] | None = None
    links: dict[str, Link | Reference] | None = None


# -- paths and operations ------------------------------------------------------------------------------------
class Operation(BaseModelWithConfig):
    """One method on one path; ``responses`` values may also be ``x-`` extensions (anything)."""

    tags: list[str] | None = None
    summary: str | None = None
    description: str | None = None
    externalDocs: ExternalDocumentation | None = None
    operationId: str | None = None
    parameters: list[Parameter | Reference] | None = None
    requestBody: RequestBody | Reference | None = None
    responses: dict[str, Response | Any] | None = None
    callbacks: dict[str, dict[str, PathItem] | Reference] | None = None
    deprecated: bool | None = None
    security: list[dict[str, list[str]]] | None = None
    servers: list[Server] | None = None


class PathItem(BaseModelWithConfig):
    """The operations on one path."""

    ref: str | None = Field(default=None, alias="$ref")
    summary: str | None = None
    description: str | None = None
    get: Operation | None = None
    put: Operation | None = None
    post: Operation | None = None
    delete: Operation | None = None
    options: Operation | None = None
    head: Operation | None = None
    patch: Operation | None = None
    trace: Operation | None = None
    servers: list[Server] | None = None
    parameters: list[Parameter | Reference] | None = None


# -- security schemes ----------------------------------------------------------------------------------------
class SecurityBase(BaseModelWithConfig):
    """A ``components.securitySchemes`` entry; ``type_`` is written ``"type"``."""

    type_: SecuritySchemeType = Field(alias="type")
    description: str | None = None


class APIKey(SecurityBase):
    """An API key in a query parameter, header or cookie."""

    type_: SecuritySchemeType = Field(default=SecuritySchemeType.apiKey, alias="type")
    in_: APIKeyIn = Field(alias="in")
    name: str


class HTTPBase(SecurityBase):
    """An HTTP ``Authorization`` scheme (``basic``, ``digest`` ...)."""

    type_: SecuritySchemeType = Field(default=SecuritySchemeType.http, alias="type")
    scheme: str


class HTTPBearer(HTTPBase):
    """HTTP ``bearer`` authentication, with an optional token format hint."""

    scheme: Literal["bearer"] = "bearer"
    bearerFormat: str | None = None


class OAuthFlow(BaseModelWithConfig):
    """What every OAuth2 flow has: its scopes and an optional refresh URL."""

    refreshUrl: str | None = None
    scopes: dict[str, str] = {}  # pydantic copies it per instance


class OAuthFlowImplicit(OAuthFlow):
    """The implicit flow (an authorization URL)."""

    authorizationUrl: str


class OAuthFlowPassword(OAuthFlow):
    """The resource-owner password flow (a token URL)."""

    tokenUrl: str


class OAuthFlowClientCredentials(OAuthFlow):
    """The client-credentials flow (a token URL)."""

    tokenUrl: str


class OAuthFlowAuthorizationCode(OAuthFlow):
    """The authorization-code flow (both URLs)."""

    authorizationUrl: str
    tokenUrl: str


class OAuthFlows(BaseModelWithConfig):
    """The flows an OAuth2 scheme offers."""

    implicit: OAuthFlowImplicit | None = None
    password: OAuthFlowPassword | None = None
    clientCredentials: OAuthFlowClientCredentials | None = None
    authorizationCode: OAuthFlowAuthorizationCode | None = None


class OAuth2(SecurityBase):
    """OAuth2 with its flows."""

    type_: SecuritySchemeType = Field(default=SecuritySchemeType.oauth2, alias="type")
    flows: OAuthFlows


class OpenIdConnect(SecurityBase):
    """OpenID Connect discovery."""

    type_: SecuritySchemeType = Field(default=SecuritySchemeType.openIdConnect, alias="type")
    openIdConnectUrl: str


#: Any security scheme object (tried in this order when validating).
SecurityScheme = Union[APIKey, HTTPBase, OAuth2, OpenIdConnect, HTTPBearer]


# -- the document --------------------------------------------------------------------------------------------
class Components(BaseModelWithConfig):
    """Reusable objects the document refers to with ``$ref``."""

    schemas: dict[str, Schema | Reference] | None = None
    responses: dict[str, Response | Reference] | None = None
    parameters: dict[str, Parameter | Reference] | None = None
    examples: dict[str, Example | Reference] | None = None
    requestBodies: dict[str, RequestBody | Reference] | None = None
    headers: dict[str, Header | Reference] | None = None
    securitySchemes: dict[str, SecurityScheme | Reference] | None = None
    links: dict[str, Link | Reference] | None = None
    callbacks: dict[str, dict[str, PathItem] | Reference | Any] | None = None
    pathItems: dict[str, PathItem | Reference] | None = None


class OpenAPI(BaseModelWithConfig):
    """A whole OpenAPI document; ``paths`` values may also be ``x-`` extensions (anything)."""

    openapi: str
    info: Info
    jsonSchemaDialect: str | None = None
    servers: list[Server] | None = None
    paths: dict[str, PathItem | Any] | None = None
    webhooks: dict[str, PathItem | Reference] | None = None
    components: Components | None = None
    security: list[dict[str, list[str]]] | None = None
    tags: list[Tag] | None = None
    externalDocs: ExternalDocumentation | None = None


# The recursive references (Schema in Schema, PathItem in Operation, Header in Encoding) resolve now.
for _model in (Schema, Encoding, Operation, Components, OpenAPI):
    _model.model_rebuild()
del _model
