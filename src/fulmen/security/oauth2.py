"""OAuth2 schemes, the password-flow request forms and ``SecurityScopes``."""

from typing import Annotated, Any

from fulmen.exceptions import HTTPException
from fulmen.params import Form
from fulmen.requests import Request
from fulmen.security.base import SecurityBase
from fulmen.security.models import OAuth2Model, OAuthFlow, OAuthFlows
from fulmen.security.utils import get_authorization_scheme_param


class OAuth2PasswordRequestForm:
    """The OAuth2 password-flow form (``username``, ``password``, ``scope`` ...), as a class dependency.

    ``scope`` arrives as one space-separated string; ``self.scopes`` is its list of words.
    ``grant_type`` is optional here; use ``OAuth2PasswordRequestFormStrict`` to require ``password``.
    """

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """``OAuth2PasswordRequestForm`` with ``grant_type`` required (equal to ``password``), per the spec."""

    def __init__(
        self,
        grant_type: Annotated[str, Form(pattern="^password$")],
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


class OAuth2(SecurityBase):
    """OAuth2 with any flows; the dependency's value is the raw ``Authorization`` header.

    ``flows`` is an ``OAuthFlows``, a dict such as ``{"password": {"tokenUrl": "token"}}``, or FastAPI's
    pydantic ``OAuthFlows`` model.
    """

    model: OAuth2Model

    def __init__(
        self,
        *,
        flows: OAuthFlows | dict[str, dict[str, Any]] | Any = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        coerced = OAuthFlows() if flows is None else OAuthFlows.coerce(flows)
        self.model = OAuth2Model(flows=coerced, description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def make_not_authenticated_error(self) -> HTTPException:
        """The 401 raised when there is no usable token (challenge ``Bearer``, as in FastAPI)."""
        return HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})

    async def __call__(self, request: Request) -> str | None:
        authorization = request.headers.get("Authorization")
        if not authorization:
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return authorization

    def _bearer_token(self, request: Request) -> str | None:
        authorization = request.headers.get("Authorization")
        scheme, param = get_authorization_scheme_param(authorization)
        if not authorization or scheme.lower() != "bearer":
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        return param


class OAuth2PasswordBearer(OAuth2):
    """OAuth2 password flow with a bearer token; the dependency's value is the token.

    ``tokenUrl`` is where clients get a token (relative URLs are relative to the API); it is only
    documented in OpenAPI, this class does not create that endpoint.
    """

    def __init__(
        self,
        tokenUrl: str,
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
        refreshUrl: str | None = None,
    ) -> None:
        flow = OAuthFlow(tokenUrl=tokenUrl, refreshUrl=refreshUrl, scopes=scopes or {})
        super().__init__(
            flows=OAuthFlows(password=flow),
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    async def __call__(self, request: Request) -> str | None:
        return self._bearer_token(request)


class OAuth2AuthorizationCodeBearer(OAuth2):
    """OAuth2 authorization-code flow with a bearer token; the dependency's value is the token."""

    def __init__(
        self,
        authorizationUrl: str,
        tokenUrl: str,
        refreshUrl: str | None = None,
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        flow = OAuthFlow(
            authorizationUrl=authorizationUrl, tokenUrl=tokenUrl, refreshUrl=refreshUrl, scopes=scopes or {}
        )
        super().__init__(
            flows=OAuthFlows(authorizationCode=flow),
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    async def __call__(self, request: Request) -> str | None:
        return self._bearer_token(request)


class SecurityScopes:
    """The scopes required by every ``Security()`` dependency in the chain.

    Declare a parameter of this type in a dependency to read the scopes its dependants asked for.
    """

    def __init__(self, scopes: list[str] | None = None) -> None:
        #: Every scope required, in order, without duplicates across the chain.
        self.scopes: list[str] = scopes or []
        #: The scopes joined with spaces (the format of ``WWW-Authenticate: Bearer scope="..."``).
        self.scope_str: str = " ".join(self.scopes)

    def __repr__(self) -> str:
        return f"SecurityScopes(scopes={self.scopes!r})"
