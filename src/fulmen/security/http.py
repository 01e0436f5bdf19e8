"""HTTP authentication schemes (RFC 7235): Basic, Bearer, Digest and any other ``Authorization`` scheme."""

import dataclasses
from base64 import b64decode

from fulmen.exceptions import HTTPException
from fulmen.requests import Request
from fulmen.security.base import SecurityBase
from fulmen.security.models import HTTPBaseModel, HTTPBearerModel
from fulmen.security.utils import get_authorization_scheme_param


@dataclasses.dataclass(slots=True)
class HTTPBasicCredentials:
    """The username and password of an HTTP Basic ``Authorization`` header."""

    username: str
    password: str

    def model_dump(self) -> dict[str, str]:
        """The fields as a dict, as FastAPI's pydantic model dumps them."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(slots=True)
class HTTPAuthorizationCredentials:
    """The scheme (``"Bearer"``) and credentials (the token) of an ``Authorization`` header."""

    scheme: str
    credentials: str

    def model_dump(self) -> dict[str, str]:
        """The fields as a dict, as FastAPI's pydantic model dumps them."""
        return dataclasses.asdict(self)


class HTTPBase(SecurityBase):
    """Any HTTP ``Authorization`` scheme; the dependency's value is an ``HTTPAuthorizationCredentials``."""

    model: HTTPBaseModel | HTTPBearerModel

    def __init__(
        self,
        *,
        scheme: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = HTTPBaseModel(scheme=scheme, description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def make_authenticate_headers(self) -> dict[str, str]:
        """The ``WWW-Authenticate`` challenge sent with a 401."""
        return {"WWW-Authenticate": self.model.scheme.title()}

    def make_not_authenticated_error(self) -> HTTPException:
        """The 401 raised when the credentials are missing or unusable."""
        return HTTPException(401, "Not authenticated", headers=self.make_authenticate_headers())

    def _credentials(
        self, request: Request, expected_scheme: str | None
    ) -> HTTPAuthorizationCredentials | None:
        authorization = request.headers.get("Authorization")
        scheme, credentials = get_authorization_scheme_param(authorization)
        if not (authorization and scheme and credentials) or (
            expected_scheme is not None and scheme.lower() != expected_scheme
        ):
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        # Any scheme is accepted here, as in FastAPI: the base class does not check it.
        return self._credentials(request, None)


class HTTPBasic(HTTPBase):
    """HTTP Basic authentication; the dependency's value is an ``HTTPBasicCredentials``.

    A header that says ``Basic`` but does not decode (bad base64, not ASCII, no ``:``) is always a 401,
    even with ``auto_error=False``, as in FastAPI.
    """

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        realm: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = HTTPBaseModel(scheme="basic", description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.realm = realm
        self.auto_error = auto_error

    def make_authenticate_headers(self) -> dict[str, str]:
        if self.realm:
            return {"WWW-Authenticate": f'Basic realm="{self.realm}"'}
        return {"WWW-Authenticate": "Basic"}

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:  # type: ignore[override]
        authorization = request.headers.get("Authorization")
        scheme, param = get_authorization_scheme_param(authorization)
        if not authorization or scheme.lower() != "basic":
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        try:
            data = b64decode(param).decode("ascii")
        except ValueError as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
            raise self.make_not_authenticated_error() from exc
        username, separator, password = data.partition(":")
        if not separator:
            raise self.make_not_authenticated_error()
        return HTTPBasicCredentials(username=username, password=password)


class HTTPBearer(HTTPBase):
    """HTTP Bearer authentication: ``Authorization: Bearer <token>``."""

    def __init__(
        self,
        *,
        bearerFormat: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = HTTPBearerModel(bearerFormat=bearerFormat, description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, "bearer")


class HTTPDigest(HTTPBase):
    """HTTP Digest authentication: only checks that a ``Digest ...`` header is present; verifying is yours."""

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = HTTPBaseModel(scheme="digest", description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return self._credentials(request, "digest")
