"""``fulmen.security``: FastAPI's security tutorial apps, rewritten for fulmen, through every front door.

The apps follow FastAPI's "Security" tutorial (first steps, current user, simple OAuth2, scopes, HTTP Basic)
with the import changed; the JWT/password-hashing steps use a fake token so the tests need no extra library.
Non-tutorial schemes (API keys, HTTP Bearer/Digest, OpenID Connect, authorization code) are covered with the
examples of FastAPI's reference pages.
"""

import base64
import secrets
import subprocess
import sys
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel

from fulmen import Depends, FastAPI, HTTPException, Security, status
from fulmen.requests import Request
from fulmen.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    HTTPDigest,
    OAuth2AuthorizationCodeBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    OAuth2PasswordRequestFormStrict,
    OpenIdConnect,
    SecurityScopes,
)
from fulmen.security.utils import get_authorization_scheme_param

Serve = Callable[..., httpx.Client]


def basic(username: str, password: str) -> dict[str, str]:
    raw = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


# ------------------------------------------------------------------------------------------------------------
# Tutorial: first steps (OAuth2PasswordBearer)
# ------------------------------------------------------------------------------------------------------------
def first_steps_app() -> FastAPI:
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

    @app.get("/items/")
    async def read_items(token: Annotated[str, Depends(oauth2_scheme)]):
        return {"token": token}

    return app


def test_first_steps(serve: Serve) -> None:
    client = serve(first_steps_app())
    r = client.get("/items/", headers={"Authorization": "Bearer testtoken"})
    assert (r.status_code, r.json()) == (200, {"token": "testtoken"})

    r = client.get("/items/")
    assert (r.status_code, r.json()) == (401, {"detail": "Not authenticated"})
    assert r.headers["www-authenticate"] == "Bearer"

    r = client.get("/items/", headers={"Authorization": "Non-existent testtoken"})
    assert (r.status_code, r.json()) == (401, {"detail": "Not authenticated"})
    assert r.headers["www-authenticate"] == "Bearer"


# ------------------------------------------------------------------------------------------------------------
# Tutorial: get current user
# ------------------------------------------------------------------------------------------------------------
class User(BaseModel):
    username: str
    email: str | None = None
    full_name: str | None = None
    disabled: bool | None = None


class UserInDB(User):
    hashed_password: str


def current_user_app() -> FastAPI:
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

    def fake_decode_token(token: str) -> User:
        return User(username=token + "fakedecoded", email="john@example.com", full_name="John Doe")

    async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> User:
        return fake_decode_token(token)

    @app.get("/users/me")
    async def read_users_me(current_user: Annotated[User, Depends(get_current_user)]):
        return current_user

    return app


def test_get_current_user(serve: Serve) -> None:
    client = serve(current_user_app())
    r = client.get("/users/me", headers={"Authorization": "Bearer testtoken"})
    assert r.status_code == 200
    assert r.json() == {
        "username": "testtokenfakedecoded",
        "email": "john@example.com",
        "full_name": "John Doe",
        "disabled": None,
    }
    r = client.get("/users/me", headers={"Authorization": "Notexistent testtoken"})
    assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (
        401,
        {"detail": "Not authenticated"},
        "Bearer",
    )


# ------------------------------------------------------------------------------------------------------------
# Tutorial: simple OAuth2 with password and bearer (needs Form() for /token)
# ------------------------------------------------------------------------------------------------------------
FAKE_USERS_DB: dict[str, dict[str, Any]] = {
    "johndoe": {
        "username": "johndoe",
        "full_name": "John Doe",
        "email": "johndoe@example.com",
        "hashed_password": "fakehashedsecret",
        "disabled": False,
    },
    "alice": {
        "username": "alice",
        "full_name": "Alice Wonderson",
        "email": "alice@example.com",
        "hashed_password": "fakehashedsecret2",
        "disabled": True,
    },
}


def fake_hash_password(password: str) -> str:
    return "fakehashed" + password


def get_user(db: dict[str, dict[str, Any]], username: str) -> UserInDB | None:
    if username in db:
        return UserInDB(**db[username])
    return None


def simple_oauth2_app(with_login: bool = True) -> FastAPI:
    """The tutorial app; ``with_login=False`` leaves out ``/token`` (the only route that needs Form())."""
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")

    async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> UserInDB:
        user = get_user(FAKE_USERS_DB, token)
        if not user:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Not authenticated",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return user

    async def get_current_active_user(
        current_user: Annotated[User, Depends(get_current_user)],
    ) -> User:
        if current_user.disabled:
            raise HTTPException(status_code=400, detail="Inactive user")
        return current_user

    async def login(form_data: Annotated[OAuth2PasswordRequestForm, Depends()]):
        user_dict = FAKE_USERS_DB.get(form_data.username)
        if not user_dict:
            raise HTTPException(status_code=400, detail="Incorrect username or password")
        user = UserInDB(**user_dict)
        if not fake_hash_password(form_data.password) == user.hashed_password:
            raise HTTPException(status_code=400, detail="Incorrect username or password")
        return {"access_token": user.username, "token_type": "bearer"}

    if with_login:
        app.post("/token")(login)

    @app.get("/users/me")
    async def read_users_me(current_user: Annotated[User, Depends(get_current_active_user)]):
        return current_user

    return app


def test_simple_oauth2_login(serve: Serve) -> None:
    client = serve(simple_oauth2_app())
    r = client.post("/token", data={"username": "johndoe", "password": "secret"})
    assert (r.status_code, r.json()) == (200, {"access_token": "johndoe", "token_type": "bearer"})
    token = r.json()["access_token"]
    r = client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, r.json()["username"]) == (200, "johndoe")

    for data in ({"username": "johndoe", "password": "incorrect"}, {"username": "foo", "password": "secret"}):
        r = client.post("/token", data=data)
        assert (r.status_code, r.json()) == (400, {"detail": "Incorrect username or password"})


def test_simple_oauth2_current_user(serve: Serve) -> None:
    client = serve(simple_oauth2_app(with_login=False))
    r = client.get("/users/me", headers={"Authorization": "Bearer johndoe"})
    assert r.status_code == 200
    assert r.json() == {
        "username": "johndoe",
        "email": "johndoe@example.com",
        "full_name": "John Doe",
        "disabled": False,
        "hashed_password": "fakehashedsecret",
    }
    r = client.get("/users/me", headers={"Authorization": "Bearer alice"})
    assert (r.status_code, r.json()) == (400, {"detail": "Inactive user"})

    for headers in ({}, {"Authorization": "Bearer nonexistent"}, {"Authorization": "Notexistent johndoe"}):
        r = client.get("/users/me", headers=headers)
        assert (r.status_code, r.json()) == (401, {"detail": "Not authenticated"})
        assert r.headers["www-authenticate"] == "Bearer"


def test_password_form_fields(serve: Serve) -> None:
    """The form's fields reach the class: ``scope`` split into ``scopes``, optional ones default to None."""
    app = FastAPI()

    @app.post("/token")
    async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]):
        return vars(form)

    @app.post("/strict")
    async def strict(form: Annotated[OAuth2PasswordRequestFormStrict, Depends()]):
        return vars(form)

    client = serve(app)
    r = client.post("/token", data={"username": "u", "password": "p"})
    assert r.status_code == 200
    assert r.json() == {
        "grant_type": None,
        "username": "u",
        "password": "p",
        "scopes": [],
        "client_id": None,
        "client_secret": None,
    }
    full = {
        "grant_type": "password",
        "username": "u",
        "password": "p",
        "scope": "me  items\tread",
        "client_id": "cid",
        "client_secret": "cs",
    }
    for path in ("/token", "/strict"):
        r = client.post(path, data=full)
        assert r.status_code == 200
        assert r.json()["scopes"] == ["me", "items", "read"]
        assert r.json()["client_secret"] == "cs"

    # Missing fields and a grant_type other than "password" are 422s (exact bodies: the cross-check).
    assert client.post("/token", data={"username": "u"}).status_code == 422
    assert (
        client.post("/token", data={"username": "u", "password": "p", "grant_type": "x"}).status_code == 422
    )
    assert client.post("/strict", data={"username": "u", "password": "p"}).status_code == 422


# ------------------------------------------------------------------------------------------------------------
# Tutorial: OAuth2 scopes (the JWT replaced by a fake "username|scope scope" token)
# ------------------------------------------------------------------------------------------------------------
def scopes_app(with_login: bool = True) -> FastAPI:
    """The tutorial app; ``with_login=False`` leaves out ``/token`` (the only route that needs Form())."""
    app = FastAPI()
    oauth2_scheme = OAuth2PasswordBearer(
        tokenUrl="token",
        scopes={"me": "Read information about the current user.", "items": "Read items."},
    )

    async def get_current_user(
        security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2_scheme)]
    ) -> User:
        if security_scopes.scopes:
            authenticate_value = f'Bearer scope="{security_scopes.scope_str}"'
        else:
            authenticate_value = "Bearer"
        credentials_exception = HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": authenticate_value},
        )
        username, sep, scope = token.partition("|")
        user = get_user(FAKE_USERS_DB, username)
        if not sep or user is None:
            raise credentials_exception
        token_scopes = scope.split()
        for needed in security_scopes.scopes:
            if needed not in token_scopes:
                raise HTTPException(
                    status_code=status.HTTP_401_UNAUTHORIZED,
                    detail="Not enough permissions",
                    headers={"WWW-Authenticate": authenticate_value},
                )
        return user

    async def get_current_active_user(
        current_user: Annotated[User, Security(get_current_user, scopes=["me"])],
    ) -> User:
        if current_user.disabled:
            raise HTTPException(status_code=400, detail="Inactive user")
        return current_user

    async def login(form_data: Annotated[OAuth2PasswordRequestForm, Depends()]):
        user = get_user(FAKE_USERS_DB, form_data.username)
        if not user or fake_hash_password(form_data.password) != user.hashed_password:
            raise HTTPException(status_code=400, detail="Incorrect username or password")
        return {"access_token": f"{user.username}|{' '.join(form_data.scopes)}", "token_type": "bearer"}

    if with_login:
        app.post("/token")(login)

    @app.get("/users/me/")
    async def read_users_me(current_user: Annotated[User, Depends(get_current_active_user)]):
        return {"username": current_user.username}

    @app.get("/users/me/items/")
    async def read_own_items(
        current_user: Annotated[User, Security(get_current_active_user, scopes=["items"])],
    ):
        return [{"item_id": "Foo", "owner": current_user.username}]

    @app.get("/status/")
    async def read_system_status(current_user: Annotated[User, Depends(get_current_user)]):
        return {"status": "ok"}

    return app


def test_scopes(serve: Serve) -> None:
    client = serve(scopes_app(with_login=False))

    def get(path: str, token: str) -> httpx.Response:
        return client.get(path, headers={"Authorization": f"Bearer {token}"})

    r = get("/users/me/", "johndoe|me")
    assert (r.status_code, r.json()) == (200, {"username": "johndoe"})
    r = get("/users/me/items/", "johndoe|me items")
    assert (r.status_code, r.json()) == (200, [{"item_id": "Foo", "owner": "johndoe"}])
    r = get("/status/", "johndoe|")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})

    # The endpoint's scope comes first, then the dependency's: scope_str is "items me".
    r = get("/users/me/items/", "johndoe|me")
    assert (r.status_code, r.json()) == (401, {"detail": "Not enough permissions"})
    assert r.headers["www-authenticate"] == 'Bearer scope="items me"'
    r = get("/users/me/", "johndoe|items")
    assert (r.status_code, r.json()) == (401, {"detail": "Not enough permissions"})
    assert r.headers["www-authenticate"] == 'Bearer scope="me"'
    r = get("/users/me/", "nobody|me")
    assert (r.status_code, r.json()) == (401, {"detail": "Could not validate credentials"})
    r = get("/status/", "garbage")
    assert (r.status_code, r.headers["www-authenticate"]) == (401, "Bearer")
    r = get("/users/me/", "alice|me")
    assert (r.status_code, r.json()) == (400, {"detail": "Inactive user"})

    r = client.get("/users/me/items/")
    assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (
        401,
        {"detail": "Not authenticated"},
        "Bearer",
    )


def test_scopes_token(serve: Serve) -> None:
    client = serve(scopes_app())
    r = client.post("/token", data={"username": "johndoe", "password": "secret", "scope": "me items"})
    assert (r.status_code, r.json()) == (200, {"access_token": "johndoe|me items", "token_type": "bearer"})
    token = r.json()["access_token"]
    r = client.get("/users/me/items/", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


# ------------------------------------------------------------------------------------------------------------
# Tutorial: HTTP Basic auth
# ------------------------------------------------------------------------------------------------------------
def http_basic_app() -> FastAPI:
    app = FastAPI()
    security = HTTPBasic()

    @app.get("/users/me")
    def read_current_user(credentials: Annotated[HTTPBasicCredentials, Depends(security)]):
        return {"username": credentials.username, "password": credentials.password}

    return app


def test_http_basic(serve: Serve) -> None:
    client = serve(http_basic_app())
    r = client.get("/users/me", auth=("john", "secret"))
    assert (r.status_code, r.json()) == (200, {"username": "john", "password": "secret"})

    for headers in (
        {},
        {"Authorization": "Basic notabase64token"},
        {"Authorization": "Basic " + base64.b64encode(b"johnsecret").decode()},
        {"Authorization": "Bearer xyz"},
    ):
        r = client.get("/users/me", headers=headers)
        assert (r.status_code, r.json()) == (401, {"detail": "Not authenticated"}), headers
        assert r.headers["www-authenticate"] == "Basic"


def http_basic_check_app() -> FastAPI:
    app = FastAPI()
    security = HTTPBasic()

    def get_current_username(credentials: Annotated[HTTPBasicCredentials, Depends(security)]) -> str:
        is_correct_username = secrets.compare_digest(credentials.username.encode("utf8"), b"stanleyjobson")
        is_correct_password = secrets.compare_digest(credentials.password.encode("utf8"), b"swordfish")
        if not (is_correct_username and is_correct_password):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Incorrect username or password",
                headers={"WWW-Authenticate": "Basic"},
            )
        return credentials.username

    @app.get("/users/me")
    def read_current_user(username: Annotated[str, Depends(get_current_username)]):
        return {"username": username}

    return app


def test_http_basic_check(serve: Serve) -> None:
    client = serve(http_basic_check_app())
    r = client.get("/users/me", auth=("stanleyjobson", "swordfish"))
    assert (r.status_code, r.json()) == (200, {"username": "stanleyjobson"})
    for user, password in (("stanleyjobson", "wrong"), ("alice", "swordfish")):
        r = client.get("/users/me", auth=(user, password))
        assert (r.status_code, r.json()) == (401, {"detail": "Incorrect username or password"})
        assert r.headers["www-authenticate"] == "Basic"


def test_http_basic_realm_and_optional(serve: Serve) -> None:
    app = FastAPI()
    with_realm = HTTPBasic(realm="simple")
    optional = HTTPBasic(auto_error=False)

    @app.get("/realm")
    def realm(credentials: Annotated[HTTPBasicCredentials, Depends(with_realm)]):
        return credentials

    @app.get("/optional")
    def opt(credentials: Annotated[HTTPBasicCredentials | None, Depends(optional)]):
        return {"credentials": credentials}

    client = serve(app)
    r = client.get("/realm")
    assert (r.status_code, r.headers["www-authenticate"]) == (401, 'Basic realm="simple"')
    r = client.get("/realm", headers=basic("a", "b:c"))
    assert (r.status_code, r.json()) == (200, {"username": "a", "password": "b:c"})
    r = client.get("/optional")
    assert (r.status_code, r.json()) == (200, {"credentials": None})
    r = client.get("/optional", headers={"Authorization": "Bearer t"})
    assert (r.status_code, r.json()) == (200, {"credentials": None})
    # A Basic header that doesn't decode is an error even with auto_error=False (as in FastAPI).
    r = client.get("/optional", headers={"Authorization": "Basic %%%"})
    assert (r.status_code, r.headers["www-authenticate"]) == (401, "Basic")


# ------------------------------------------------------------------------------------------------------------
# Reference examples: HTTP Bearer / Digest, API keys, OpenID Connect, authorization code
# ------------------------------------------------------------------------------------------------------------
def test_http_bearer_and_digest(serve: Serve) -> None:
    app = FastAPI()
    bearer, bearer_opt, digest = HTTPBearer(bearerFormat="JWT"), HTTPBearer(auto_error=False), HTTPDigest()

    @app.get("/bearer")
    def read_bearer(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]):
        return {"scheme": credentials.scheme, "credentials": credentials.credentials}

    @app.get("/bearer-opt")
    def read_bearer_opt(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_opt)]):
        return {"credentials": credentials}

    @app.get("/digest")
    def read_digest(credentials: Annotated[HTTPAuthorizationCredentials, Depends(digest)]):
        return credentials

    client = serve(app)
    r = client.get("/bearer", headers={"Authorization": "bearer abc.def"})
    assert (r.status_code, r.json()) == (200, {"scheme": "bearer", "credentials": "abc.def"})
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        r = client.get("/bearer", headers=headers)
        assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (
            401,
            {"detail": "Not authenticated"},
            "Bearer",
        )
    r = client.get("/bearer-opt", headers={"Authorization": "Basic abc"})
    assert (r.status_code, r.json()) == (200, {"credentials": None})
    r = client.get("/bearer-opt", headers={"Authorization": "Bearer t"})
    assert r.json() == {"credentials": {"scheme": "Bearer", "credentials": "t"}}

    r = client.get("/digest", headers={"Authorization": 'Digest username="u", nonce="n"'})
    assert (r.status_code, r.json()) == (200, {"scheme": "Digest", "credentials": 'username="u", nonce="n"'})
    r = client.get("/digest", headers={"Authorization": "Bearer t"})
    assert (r.status_code, r.headers["www-authenticate"]) == (401, "Digest")


def test_api_keys(serve: Serve) -> None:
    app = FastAPI()
    query_scheme = APIKeyQuery(name="api_key")
    header_scheme = APIKeyHeader(name="x-key")
    cookie_scheme = APIKeyCookie(name="session")
    optional = APIKeyHeader(name="x-key", auto_error=False)

    @app.get("/query")
    async def read_query(api_key: str = Depends(query_scheme)):
        return {"api_key": api_key}

    @app.get("/header")
    async def read_header(key: str = Depends(header_scheme)):
        return {"key": key}

    @app.get("/cookie")
    async def read_cookie(session: str = Depends(cookie_scheme)):
        return {"session": session}

    @app.get("/optional")
    async def read_optional(key: str | None = Depends(optional)):
        return {"key": key}

    client = serve(app)
    assert client.get("/query?api_key=secret").json() == {"api_key": "secret"}
    assert client.get("/header", headers={"X-Key": "secret"}).json() == {"key": "secret"}
    assert client.get("/cookie", headers={"Cookie": "session=s1"}).json() == {"session": "s1"}
    assert client.get("/optional").json() == {"key": None}
    assert client.get("/optional", headers={"x-key": ""}).json() == {"key": None}
    for path in ("/query", "/query?api_key=", "/header", "/cookie"):
        r = client.get(path)
        assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (
            401,
            {"detail": "Not authenticated"},
            "APIKey",
        )


def test_open_id_connect_and_authorization_code(serve: Serve) -> None:
    app = FastAPI()
    oidc = OpenIdConnect(openIdConnectUrl="/openid")
    code = OAuth2AuthorizationCodeBearer(authorizationUrl="authorize", tokenUrl="token")

    @app.get("/oidc")
    async def read_oidc(authorization: Annotated[str, Depends(oidc)]):
        return {"authorization": authorization}

    @app.get("/code")
    async def read_code(token: Annotated[str, Depends(code)]):
        return {"token": token}

    client = serve(app)
    # OpenIdConnect hands over the header as it is: verifying it is the app's job.
    r = client.get("/oidc", headers={"Authorization": "Whatever x y"})
    assert (r.status_code, r.json()) == (200, {"authorization": "Whatever x y"})
    r = client.get("/code", headers={"Authorization": "Bearer tok"})
    assert (r.status_code, r.json()) == (200, {"token": "tok"})
    for path in ("/oidc", "/code"):
        r = client.get(path)
        assert (r.status_code, r.json(), r.headers["www-authenticate"]) == (
            401,
            {"detail": "Not authenticated"},
            "Bearer",
        )


def test_custom_scheme_subclass(serve: Serve) -> None:
    """A subclass overriding ``__call__`` (token from a cookie, as in FastAPI recipes) is used as written."""

    class OAuth2PasswordBearerWithCookie(OAuth2PasswordBearer):
        async def __call__(self, request: Request) -> str | None:
            scheme, param = get_authorization_scheme_param(request.cookies.get("access_token"))
            if scheme.lower() != "bearer":
                if self.auto_error:
                    raise self.make_not_authenticated_error()
                return None
            return param

    app = FastAPI()
    scheme = OAuth2PasswordBearerWithCookie(tokenUrl="token")

    @app.get("/me")
    async def me(token: Annotated[str, Depends(scheme)]):
        return {"token": token}

    client = serve(app)
    r = client.get("/me", headers={"Cookie": 'access_token="Bearer abc"'})
    assert (r.status_code, r.json()) == (200, {"token": "abc"})
    r = client.get("/me", headers={"Authorization": "Bearer abc"})
    assert (r.status_code, r.headers["www-authenticate"]) == (401, "Bearer")


# ------------------------------------------------------------------------------------------------------------
# Helpers and import cost
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("", "")),
        ("", ("", "")),
        ("Bearer", ("Bearer", "")),
        ("Bearer abc", ("Bearer", "abc")),
        ("Bearer   abc  ", ("Bearer", "abc")),
        ("Bearer a b", ("Bearer", "a b")),
        (" Bearer abc", ("", "Bearer abc")),
    ],
)
def test_get_authorization_scheme_param(value: str | None, expected: tuple[str, str]) -> None:
    assert get_authorization_scheme_param(value) == expected


def test_security_scopes() -> None:
    assert (SecurityScopes().scopes, SecurityScopes().scope_str) == ([], "")
    scopes = SecurityScopes(["me", "items"])
    assert (scopes.scopes, scopes.scope_str) == (["me", "items"], "me items")
    assert repr(scopes) == "SecurityScopes(scopes=['me', 'items'])"


def test_credentials_are_plain_dataclasses() -> None:
    assert HTTPBasicCredentials(username="a", password="b") == HTTPBasicCredentials("a", "b")
    assert HTTPAuthorizationCredentials(scheme="Bearer", credentials="t").credentials == "t"


def test_import_is_cheap() -> None:
    """Importing fulmen.security (every scheme) loads neither pydantic nor a multipart parser."""
    code = (
        "import sys, fulmen.security, fulmen.security.http, fulmen.security.oauth2;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'multipart', 'python_multipart', 'fastapi', 'starlette')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_not_exported_from_top_level() -> None:
    """As in FastAPI, the schemes live in ``fulmen.security`` only."""
    import fulmen

    assert not hasattr(fulmen, "OAuth2PasswordBearer")
    assert not hasattr(fulmen, "HTTPBasic")
