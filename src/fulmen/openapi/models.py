"""The OpenAPI objects code written for FastAPI imports from ``fastapi.openapi.models``.

FastAPI's are pydantic models; fulmen's security schemes describe themselves with the small dataclasses of
``fulmen.security.models``, re-exported here under FastAPI's names so that code such as
``OAuthFlowsModel(password={"tokenUrl": "token"})`` in a custom OAuth2 scheme keeps working. No pydantic.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from fulmen.security.models import (
    APIKeyIn,
    OAuthFlow,
    OAuthFlows,
    SecuritySchemeType,
)
from fulmen.security.models import APIKeyModel as APIKey
from fulmen.security.models import HTTPBaseModel as HTTPBase
from fulmen.security.models import HTTPBearerModel as HTTPBearer
from fulmen.security.models import OAuth2Model as OAuth2
from fulmen.security.models import OpenIdConnectModel as OpenIdConnect

__all__ = [
    "APIKey",
    "APIKeyIn",
    "Example",
    "HTTPBase",
    "HTTPBearer",
    "OAuth2",
    "OAuthFlow",
    "OAuthFlowAuthorizationCode",
    "OAuthFlowClientCredentials",
    "OAuthFlowImplicit",
    "OAuthFlowPassword",
    "OAuthFlows",
    "OpenIdConnect",
    "SecuritySchemeType",
]

#: FastAPI has one class per flow; a fulmen flow checks its required URLs when ``OAuthFlows`` takes it.
OAuthFlowImplicit = OAuthFlow
OAuthFlowPassword = OAuthFlow
OAuthFlowClientCredentials = OAuthFlow
OAuthFlowAuthorizationCode = OAuthFlow


class Example(TypedDict, total=False):
    """One entry of ``openapi_examples={...}`` (a parameter's or a body's named examples)."""

    summary: str | None
    description: str | None
    value: Any | None
    externalValue: str | None
