"""API key schemes: a key read from a query parameter, a header or a cookie."""

from fulmen.exceptions import BaseHTTPException
from fulmen.requests import Request
from fulmen.security.base import SecurityBase
from fulmen.security.models import APIKeyIn, APIKeyModel


class APIKeyBase(SecurityBase):
    """Shared behaviour of the API key schemes: the dependency's value is the key, a string."""

    model: APIKeyModel

    def __init__(
        self,
        location: APIKeyIn,
        name: str,
        description: str | None,
        scheme_name: str | None,
        auto_error: bool,
    ) -> None:
        self.auto_error = auto_error
        self.model = APIKeyModel(in_=location, name=name, description=description)
        self.scheme_name = scheme_name or type(self).__name__

    def make_not_authenticated_error(self) -> BaseHTTPException:
        """The 401 raised when the key is missing.

        API keys have no standard ``WWW-Authenticate`` challenge, but a 401 must carry one (RFC 9110), so
        the challenge is ``APIKey`` (as in FastAPI).
        """
        return BaseHTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "APIKey"})

    def check_api_key(self, api_key: str | None) -> str | None:
        """Return the key, or raise 401 (``None`` with ``auto_error=False``) when it is missing or empty."""
        if not api_key:
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return api_key


class APIKeyQuery(APIKeyBase):
    """An API key in the query parameter ``name`` (``?api_key=...``)."""

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(APIKeyIn.query, name, description, scheme_name, auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.query_params.get(self.model.name))


class APIKeyHeader(APIKeyBase):
    """An API key in the header ``name`` (case-insensitive)."""

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(APIKeyIn.header, name, description, scheme_name, auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.headers.get(self.model.name))


class APIKeyCookie(APIKeyBase):
    """An API key in the cookie ``name``."""

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(APIKeyIn.cookie, name, description, scheme_name, auto_error)

    async def __call__(self, request: Request) -> str | None:
        return self.check_api_key(request.cookies.get(self.model.name))
