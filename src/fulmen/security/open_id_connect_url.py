"""OpenID Connect: the scheme only documents the discovery URL; the value is the raw ``Authorization``."""

from fulmen.exceptions import BaseHTTPException
from fulmen.requests import Request
from fulmen.security.base import SecurityBase
from fulmen.security.models import OpenIdConnectModel


class OpenIdConnect(SecurityBase):
    """OpenID Connect; the dependency's value is the whole ``Authorization`` header, unparsed."""

    model: OpenIdConnectModel

    def __init__(
        self,
        *,
        openIdConnectUrl: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = OpenIdConnectModel(openIdConnectUrl=openIdConnectUrl, description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def make_not_authenticated_error(self) -> BaseHTTPException:
        """The 401 raised when the ``Authorization`` header is missing."""
        return BaseHTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})

    async def __call__(self, request: Request) -> str | None:
        authorization = request.headers.get("Authorization")
        if not authorization:
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return authorization
