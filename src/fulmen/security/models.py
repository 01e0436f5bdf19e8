"""What a security scheme tells the OpenAPI generator, without pydantic.

Each scheme's ``model`` is one of these small dataclasses. Field names are those of FastAPI's
``fastapi.openapi.models`` (``type_``, ``in_``, ``bearerFormat`` ...), and ``to_openapi()`` returns the
``components.securitySchemes`` entry exactly as FastAPI writes it (aliases applied, ``None`` left out, keys in
FastAPI's order).
"""

import dataclasses
from collections.abc import Mapping
from enum import Enum
from typing import Any


class SecuritySchemeType(str, Enum):
    """The OpenAPI ``type`` of a security scheme."""

    apiKey = "apiKey"
    http = "http"
    oauth2 = "oauth2"
    openIdConnect = "openIdConnect"


class APIKeyIn(str, Enum):
    """Where an API key is sent."""

    query = "query"
    header = "header"
    cookie = "cookie"


def _base(type_: SecuritySchemeType, description: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_.value}
    if description is not None:
        out["description"] = description
    return out


@dataclasses.dataclass(slots=True)
class APIKeyModel:
    """An API key in a query parameter, header or cookie."""

    in_: APIKeyIn
    name: str
    description: str | None = None
    type_: SecuritySchemeType = SecuritySchemeType.apiKey

    def to_openapi(self) -> dict[str, Any]:
        """The OpenAPI security scheme object."""
        out = _base(self.type_, self.description)
        out["in"] = self.in_.value
        out["name"] = self.name
        return out


@dataclasses.dataclass(slots=True)
class HTTPBaseModel:
    """An HTTP authentication scheme (``basic``, ``digest``, or any other RFC 7235 scheme)."""

    scheme: str
    description: str | None = None
    type_: SecuritySchemeType = SecuritySchemeType.http

    def to_openapi(self) -> dict[str, Any]:
        """The OpenAPI security scheme object."""
        out = _base(self.type_, self.description)
        out["scheme"] = self.scheme
        return out


@dataclasses.dataclass(slots=True)
class HTTPBearerModel:
    """HTTP ``bearer`` authentication, with an optional token format hint."""

    bearerFormat: str | None = None
    description: str | None = None
    scheme: str = "bearer"
    type_: SecuritySchemeType = SecuritySchemeType.http

    def to_openapi(self) -> dict[str, Any]:
        """The OpenAPI security scheme object."""
        out = _base(self.type_, self.description)
        out["scheme"] = self.scheme
        if self.bearerFormat is not None:
            out["bearerFormat"] = self.bearerFormat
        return out


@dataclasses.dataclass(slots=True)
class OAuthFlow:
    """One OAuth2 flow; which URLs are required depends on the flow (see ``OAuthFlows``)."""

    refreshUrl: str | None = None
    scopes: dict[str, str] = dataclasses.field(default_factory=dict)
    authorizationUrl: str | None = None
    tokenUrl: str | None = None
    #: Keys beyond the standard ones (``x-...`` extensions), kept as given.
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_openapi(self) -> dict[str, Any]:
        """The OpenAPI OAuth flow object."""
        out: dict[str, Any] = {}
        if self.refreshUrl is not None:
            out["refreshUrl"] = self.refreshUrl
        out["scopes"] = dict(self.scopes)
        if self.authorizationUrl is not None:
            out["authorizationUrl"] = self.authorizationUrl
        if self.tokenUrl is not None:
            out["tokenUrl"] = self.tokenUrl
        out.update((k, v) for k, v in self.extra.items() if v is not None)
        return out


_FLOW_FIELDS = ("refreshUrl", "scopes", "authorizationUrl", "tokenUrl")
#: The URLs each standard flow must have.
_REQUIRED_URLS: dict[str, tuple[str, ...]] = {
    "implicit": ("authorizationUrl",),
    "password": ("tokenUrl",),
    "clientCredentials": ("tokenUrl",),
    "authorizationCode": ("authorizationUrl", "tokenUrl"),
}


def _as_mapping(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    # A pydantic model (e.g. fastapi.openapi.models.OAuthFlows) passed by code written for FastAPI.
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        data = dump(by_alias=True, exclude_none=True)
        if isinstance(data, Mapping):
            return data
    raise TypeError(f"expected a dict of OAuth2 flow fields, got {type(value).__name__}")


def _make_flow(kind: str, value: Any) -> OAuthFlow:
    if isinstance(value, OAuthFlow):
        flow = value
    else:
        data = _as_mapping(value)
        flow = OAuthFlow(
            refreshUrl=data.get("refreshUrl"),
            scopes=dict(data.get("scopes") or {}),
            authorizationUrl=data.get("authorizationUrl"),
            tokenUrl=data.get("tokenUrl"),
            extra={k: v for k, v in data.items() if k not in _FLOW_FIELDS},
        )
    missing = [name for name in _REQUIRED_URLS[kind] if getattr(flow, name) is None]
    if missing:
        raise ValueError(f"OAuth2 flow {kind!r} needs {' and '.join(missing)}")
    return flow


@dataclasses.dataclass(slots=True)
class OAuthFlows:
    """The OAuth2 flows a scheme supports (each ``None`` when not offered)."""

    implicit: OAuthFlow | None = None
    password: OAuthFlow | None = None
    clientCredentials: OAuthFlow | None = None
    authorizationCode: OAuthFlow | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind in _REQUIRED_URLS:
            value = getattr(self, kind)
            if value is not None:
                setattr(self, kind, _make_flow(kind, value))

    @classmethod
    def coerce(cls, value: Any) -> "OAuthFlows":
        """Build from an ``OAuthFlows``, a dict (``{"password": {"tokenUrl": ...}}``) or a pydantic model."""
        if isinstance(value, OAuthFlows):
            return value
        data = _as_mapping(value)
        return cls(
            **{kind: data.get(kind) for kind in _REQUIRED_URLS},
            extra={k: v for k, v in data.items() if k not in _REQUIRED_URLS},
        )

    def to_openapi(self) -> dict[str, Any]:
        """The OpenAPI OAuth flows object."""
        out: dict[str, Any] = {}
        for kind in _REQUIRED_URLS:
            flow: OAuthFlow | None = getattr(self, kind)
            if flow is not None:
                out[kind] = flow.to_openapi()
        out.update((k, v) for k, v in self.extra.items() if v is not None)
        return out


@dataclasses.dataclass(slots=True)
class OAuth2Model:
    """OAuth2 with its flows."""

    flows: OAuthFlows = dataclasses.field(default_factory=OAuthFlows)
    description: str | None = None
    type_: SecuritySchemeType = SecuritySchemeType.oauth2

    def to_openapi(self) -> dict[str, Any]:
        """The OpenAPI security scheme object."""
        out = _base(self.type_, self.description)
        out["flows"] = self.flows.to_openapi()
        return out


@dataclasses.dataclass(slots=True)
class OpenIdConnectModel:
    """OpenID Connect discovery."""

    openIdConnectUrl: str
    description: str | None = None
    type_: SecuritySchemeType = SecuritySchemeType.openIdConnect

    def to_openapi(self) -> dict[str, Any]:
        """The OpenAPI security scheme object."""
        out = _base(self.type_, self.description)
        out["openIdConnectUrl"] = self.openIdConnectUrl
        return out


#: Any scheme model; every one has ``to_openapi()``.
SecuritySchemeModel = APIKeyModel | HTTPBaseModel | HTTPBearerModel | OAuth2Model | OpenIdConnectModel
