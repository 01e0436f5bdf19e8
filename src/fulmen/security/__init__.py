"""Security schemes and helpers, with the names and behaviour of ``fastapi.security``.

Each scheme is a callable dependency (``Depends(scheme)``) that reads the request and raises 401 when the
credentials are missing (or returns ``None`` with ``auto_error=False``); its ``model`` and ``scheme_name``
describe it to the OpenAPI generator. Importing this package loads neither pydantic nor multipart.
"""

from fulmen.security.api_key import APIKeyCookie, APIKeyHeader, APIKeyQuery
from fulmen.security.http import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    HTTPDigest,
)
from fulmen.security.oauth2 import (
    OAuth2,
    OAuth2AuthorizationCodeBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    OAuth2PasswordRequestFormStrict,
    SecurityScopes,
)
from fulmen.security.open_id_connect_url import OpenIdConnect

__all__ = [
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "HTTPAuthorizationCredentials",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "HTTPDigest",
    "OAuth2",
    "OAuth2AuthorizationCodeBearer",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "OAuth2PasswordRequestFormStrict",
    "OpenIdConnect",
    "SecurityScopes",
]
