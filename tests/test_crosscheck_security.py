"""Cross-check: every security scheme answers as FastAPI's, and describes itself to OpenAPI the same way.

The app is written once as a function of the framework package (``fastapi`` or ``fulmen``), without
``from __future__ import annotations`` so both frameworks resolve the handlers' annotations. FastAPI's answers
are collected once, in-process; fulmen's come through every front door (``serve``). Compared: status, body
bytes and every header the app sets (``www-authenticate`` above all).
"""

import base64
import dataclasses
from collections.abc import Callable
from typing import Annotated, Any

import fastapi
import fastapi.security
import fastapi.security.http
import httpx
import pytest
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import OAuthFlows as FastAPIOAuthFlows

import fulmen
import fulmen.security
import fulmen.security.http
from fulmen.security.models import OAuthFlow, OAuthFlows
from fulmen.testclient import TestClient

Case = tuple[str, str, str, dict[str, Any]]


def build_security(fw: Any) -> Any:
    """One endpoint per scheme and ``auto_error`` setting; each echoes what its dependency returned."""
    sec = fw.security
    app = fw.FastAPI()
    Depends, Security = fw.Depends, fw.Security

    oauth2 = sec.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read me", "items": "Read items"})
    oauth2_opt = sec.OAuth2PasswordBearer(tokenUrl="token", auto_error=False)
    code = sec.OAuth2AuthorizationCodeBearer(authorizationUrl="authorize", tokenUrl="token")
    code_opt = sec.OAuth2AuthorizationCodeBearer(
        authorizationUrl="authorize", tokenUrl="token", auto_error=False
    )
    oauth2_base = sec.OAuth2(flows={"password": {"tokenUrl": "token"}})
    oauth2_base_opt = sec.OAuth2(auto_error=False)
    basic = sec.HTTPBasic()
    basic_realm = sec.HTTPBasic(realm="simple")
    basic_opt = sec.HTTPBasic(auto_error=False)
    bearer = sec.HTTPBearer()
    bearer_opt = sec.HTTPBearer(auto_error=False)
    digest = sec.HTTPDigest()
    digest_opt = sec.HTTPDigest(auto_error=False)
    other = sec.http.HTTPBase(scheme="other")
    other_opt = sec.http.HTTPBase(scheme="other", auto_error=False)
    key_header = sec.APIKeyHeader(name="X-Key")
    key_header_opt = sec.APIKeyHeader(name="X-Key", auto_error=False)
    key_query = sec.APIKeyQuery(name="key")
    key_query_opt = sec.APIKeyQuery(name="key", auto_error=False)
    key_cookie = sec.APIKeyCookie(name="session")
    key_cookie_opt = sec.APIKeyCookie(name="session", auto_error=False)
    oidc = sec.OpenIdConnect(openIdConnectUrl="/.well-known/openid-configuration")
    oidc_opt = sec.OpenIdConnect(openIdConnectUrl="/.well-known/openid-configuration", auto_error=False)

    def add_echo(path: str, scheme: Any) -> None:
        async def endpoint(value: Annotated[Any, Depends(scheme)]):
            return {"value": value}

        app.get(path)(endpoint)

    for path, scheme in [
        ("/oauth2", oauth2),
        ("/oauth2-opt", oauth2_opt),
        ("/code", code),
        ("/code-opt", code_opt),
        ("/oauth2-base", oauth2_base),
        ("/oauth2-base-opt", oauth2_base_opt),
        ("/basic", basic),
        ("/basic-realm", basic_realm),
        ("/basic-opt", basic_opt),
        ("/bearer", bearer),
        ("/bearer-opt", bearer_opt),
        ("/digest", digest),
        ("/digest-opt", digest_opt),
        ("/other", other),
        ("/other-opt", other_opt),
        ("/key-header", key_header),
        ("/key-header-opt", key_header_opt),
        ("/key-query", key_query),
        ("/key-query-opt", key_query_opt),
        ("/key-cookie", key_cookie),
        ("/key-cookie-opt", key_cookie_opt),
        ("/oidc", oidc),
        ("/oidc-opt", oidc_opt),
    ]:
        add_echo(path, scheme)

    # The credentials object returned as it is: FastAPI serialises its pydantic model, fulmen its dataclass.
    @app.get("/basic-raw")
    async def basic_raw(credentials: Annotated[Any, Depends(basic)]):
        return credentials

    @app.get("/bearer-raw")
    async def bearer_raw(credentials: Annotated[Any, Depends(bearer)]):
        return credentials

    # Either an API key or a bearer token: the usual way to combine two optional schemes.
    @app.get("/either")
    async def either(
        key: Annotated[Any, Depends(key_header_opt)], token: Annotated[Any, Depends(bearer_opt)]
    ):
        if key is None and token is None:
            raise fw.HTTPException(401, "Missing credentials")
        return {"key": key, "token": token.credentials if token else None}

    # SecurityScopes: the scopes of every Security() up the chain, checked against the token's.
    def current_user(security_scopes: sec.SecurityScopes, token: Annotated[str, Depends(oauth2)]):
        granted = token.split(",") if token else []
        authenticate = f'Bearer scope="{security_scopes.scope_str}"' if security_scopes.scopes else "Bearer"
        for scope in security_scopes.scopes:
            if scope not in granted:
                raise fw.HTTPException(
                    401, "Not enough permissions", headers={"WWW-Authenticate": authenticate}
                )
        return {"granted": granted, "required": security_scopes.scopes, "str": security_scopes.scope_str}

    def active_user(user: Annotated[dict, Security(current_user, scopes=["me"])]):
        return user

    @app.get("/scopes/me")
    async def scopes_me(user: Annotated[dict, Security(active_user)]):
        return user

    @app.get("/scopes/items")
    async def scopes_items(user: Annotated[dict, Security(active_user, scopes=["items"])]):
        return user

    @app.get("/scopes/none")
    async def scopes_none(user: Annotated[dict, Depends(current_user)]):
        return user

    @app.get("/scopes/dependencies", dependencies=[Security(current_user, scopes=["items", "me"])])
    async def scopes_dependencies():
        return {"ok": True}

    return app


def _basic(raw: bytes) -> dict[str, Any]:
    return {"headers": {"Authorization": "Basic " + base64.b64encode(raw).decode()}}


def _auth(value: str) -> dict[str, Any]:
    return {"headers": {"Authorization": value}}


# Authorization header values sent to every scheme that reads that header.
_AUTHORIZATION: list[tuple[str, dict[str, Any]]] = [
    ("none", {}),
    ("bearer", _auth("Bearer tok")),
    ("bearer-lower", _auth("bearer tok")),
    ("bearer-upper", _auth("BEARER tok")),
    ("bearer-no-token", _auth("Bearer")),
    # (no trailing whitespace: the HTTP parsers strip it on real sockets, so it can't be compared in-process)
    ("bearer-spaces", _auth("Bearer   tok")),
    ("bearer-two-words", _auth("Bearer tok more")),
    ("no-scheme", _auth("tok")),
    ("empty", _auth("")),
    ("basic-scheme", _basic(b"user:pass")),
    ("digest-scheme", _auth('Digest username="u", realm="r"')),
    ("other-scheme", _auth("Other xyz")),
    ("repeated", {"headers": [("Authorization", "Bearer first"), ("Authorization", "Bearer second")]}),
]

_AUTH_PATHS = [
    "/oauth2",
    "/oauth2-opt",
    "/code",
    "/code-opt",
    "/oauth2-base",
    "/oauth2-base-opt",
    "/bearer",
    "/bearer-opt",
    "/digest",
    "/digest-opt",
    "/other",
    "/other-opt",
    "/oidc",
    "/oidc-opt",
]

_BASIC: list[tuple[str, dict[str, Any]]] = [
    ("none", {}),
    ("ok", _basic(b"alice:secret")),
    ("empty-password", _basic(b"alice:")),
    ("empty-username", _basic(b":secret")),
    ("colon-in-password", _basic(b"alice:se:cret")),
    ("no-colon", _basic(b"alice")),
    ("not-ascii", _basic("zoë:pässword".encode())),
    ("bad-base64", _auth("Basic !!!not-base64")),
    ("bad-padding", _auth("Basic YWxpY2U6c2VjcmV0a")),
    ("non-ascii-header", {"headers": {"Authorization": "Basic YWxpY2U6c2VjcmV0é".encode("latin-1")}}),
    ("lower-scheme", {"headers": {"Authorization": "basic " + base64.b64encode(b"a:b").decode()}}),
    ("scheme-only", _auth("Basic")),
    ("wrong-scheme", _auth("Bearer tok")),
    ("empty", _auth("")),
]

_BASIC_PATHS = ["/basic", "/basic-realm", "/basic-opt", "/basic-raw"]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for path in _AUTH_PATHS:
        cases += [(f"{path[1:]}:{name}", "GET", path, kw) for name, kw in _AUTHORIZATION]
    for path in _BASIC_PATHS:
        cases += [(f"{path[1:]}:{name}", "GET", path, kw) for name, kw in _BASIC]
    cases += [(f"bearer-raw:{name}", "GET", "/bearer-raw", kw) for name, kw in _AUTHORIZATION[:3]]
    for suffix in ("", "-opt"):
        header, query, cookie = f"/key-header{suffix}", f"/key-query{suffix}", f"/key-cookie{suffix}"
        cases += [
            (f"{header[1:]}:none", "GET", header, {}),
            (f"{header[1:]}:ok", "GET", header, {"headers": {"X-Key": "k1"}}),
            (f"{header[1:]}:lower-name", "GET", header, {"headers": {"x-key": "k1"}}),
            (f"{header[1:]}:empty", "GET", header, {"headers": {"X-Key": ""}}),
            (f"{header[1:]}:other-header", "GET", header, {"headers": {"X-Other": "k1"}}),
            (f"{query[1:]}:none", "GET", query, {}),
            (f"{query[1:]}:ok", "GET", query + "?key=k1", {}),
            (f"{query[1:]}:empty", "GET", query + "?key=", {}),
            (f"{query[1:]}:repeated", "GET", query + "?key=a&key=b", {}),
            (f"{query[1:]}:escaped", "GET", query + "?key=a%20b%2Bc", {}),
            (f"{query[1:]}:wrong-case", "GET", query + "?KEY=k1", {}),
            (f"{cookie[1:]}:none", "GET", cookie, {}),
            (f"{cookie[1:]}:ok", "GET", cookie, {"headers": {"Cookie": "session=abc"}}),
            (f"{cookie[1:]}:among-others", "GET", cookie, {"headers": {"Cookie": "a=1; session=abc; b=2"}}),
            (f"{cookie[1:]}:empty", "GET", cookie, {"headers": {"Cookie": "session="}}),
            (f"{cookie[1:]}:other-cookie", "GET", cookie, {"headers": {"Cookie": "sid=abc"}}),
        ]
    cases += [
        ("either:none", "GET", "/either", {}),
        ("either:key", "GET", "/either", {"headers": {"X-Key": "k"}}),
        ("either:token", "GET", "/either", _auth("Bearer t")),
        ("either:both", "GET", "/either", {"headers": {"X-Key": "k", "Authorization": "Bearer t"}}),
        ("either:wrong-scheme", "GET", "/either", _auth("Basic abc")),
    ]
    for path in ("/scopes/me", "/scopes/items", "/scopes/none", "/scopes/dependencies"):
        cases += [
            (f"{path[1:]}:none", "GET", path, {}),
            (f"{path[1:]}:no-scopes", "GET", path, _auth("Bearer x")),
            (f"{path[1:]}:me", "GET", path, _auth("Bearer me")),
            (f"{path[1:]}:items", "GET", path, _auth("Bearer items")),
            (f"{path[1:]}:both", "GET", path, _auth("Bearer me,items")),
        ]
    return cases


CASES = _cases()

# Headers a server or transport adds by itself; everything else the app sets is compared.
_IGNORED_HEADERS = frozenset({"date", "server", "content-length", "connection", "keep-alive"})


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def show(self) -> str:
        return f"{self.status} {list(self.headers)} {self.body!r}"


def ask(client: httpx.Client, case: Case) -> Answer:
    _, method, url, kwargs = case
    r = client.request(method, url, **kwargs)
    headers = sorted(
        (k.decode("latin-1").lower(), v.decode("latin-1"))
        for k, v in r.headers.raw
        if k.decode("latin-1").lower() not in _IGNORED_HEADERS
    )
    return Answer(r.status_code, tuple(headers), r.content)


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    """FastAPI's answer to every case, collected once, in-process."""
    with TestClient(build_security(fastapi), raise_server_exceptions=False) as client:
        return {case[0]: ask(client, case) for case in CASES}


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


def test_cases_cover_every_outcome(fastapi_answers: dict[str, Answer]) -> None:
    """The cases exercise success, 401 with each challenge, and auto_error=False's None."""
    statuses = {a.status for a in fastapi_answers.values()}
    assert statuses == {200, 401}
    challenges = {v for a in fastapi_answers.values() for k, v in a.headers if k == "www-authenticate"}
    assert {"Bearer", "Basic", 'Basic realm="simple"', "Digest", "Other", "APIKey"} <= challenges
    assert any(a.body == b'{"value":null}' for a in fastapi_answers.values())


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    """Every case answers exactly as FastAPI does: status, body and headers."""
    client = serve(build_security(fulmen))
    failures = []
    for case in CASES:
        got, expected = ask(client, case), fastapi_answers[case[0]]
        if got != expected:
            failures.append(
                f"  [{case[0]}] {case[2]} {case[3]!r}\n    fastapi: {expected.show()}\n"
                f"    fulmen:  {got.show()}"
            )
    assert not failures, f"{len(failures)} of {len(CASES)} cases differ:\n" + "\n".join(failures)


# ------------------------------------------------------------------------------------------------------------
# The OAuth2 password request forms (need Form()): values reaching the class and the 422s.
# ------------------------------------------------------------------------------------------------------------
def build_forms(fw: Any) -> Any:
    sec = fw.security
    app = fw.FastAPI()

    @app.post("/token")
    async def token(form: Annotated[sec.OAuth2PasswordRequestForm, fw.Depends()]):
        return vars(form)

    @app.post("/strict")
    async def strict(form: Annotated[sec.OAuth2PasswordRequestFormStrict, fw.Depends()]):
        return vars(form)

    return app


_FORM_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("minimal", {"data": {"username": "u", "password": "p"}}),
    (
        "full",
        {
            "data": {
                "grant_type": "password",
                "username": "u",
                "password": "p",
                "scope": " me  items\tread ",
                "client_id": "cid",
                "client_secret": "cs",
            }
        },
    ),
    ("with-grant-type", {"data": {"grant_type": "password", "username": "u", "password": "p"}}),
    ("bad-grant-type", {"data": {"grant_type": "client_credentials", "username": "u", "password": "p"}}),
    ("grant-type-prefix", {"data": {"grant_type": "passwords", "username": "u", "password": "p"}}),
    ("missing-password", {"data": {"username": "u"}}),
    ("missing-both", {"data": {"scope": "me"}}),
    ("empty-body", {}),
    ("empty-values", {"data": {"username": "", "password": ""}}),
    ("multipart", {"files": {"x": ("x.txt", b"")}, "data": {"username": "u", "password": "p"}}),
]

FORM_CASES: list[Case] = [
    (f"{path[1:]}:{name}", "POST", path, kw) for path in ("/token", "/strict") for name, kw in _FORM_BODIES
]


def test_same_form_answers(serve: Callable[..., httpx.Client]) -> None:
    """The password forms answer as FastAPI's: fields reaching the class, and the exact 422 bodies."""
    with TestClient(build_forms(fastapi), raise_server_exceptions=False) as fastapi_client:
        expected = {case[0]: ask(fastapi_client, case) for case in FORM_CASES}
    assert {a.status for a in expected.values()} == {200, 422}
    client = serve(build_forms(fulmen))
    failures = []
    for case in FORM_CASES:
        got = ask(client, case)
        if got != expected[case[0]]:
            failures.append(
                f"  [{case[0]}]\n    fastapi: {expected[case[0]].show()}\n    fulmen:  {got.show()}"
            )
    assert not failures, f"{len(failures)} of {len(FORM_CASES)} cases differ:\n" + "\n".join(failures)


# ------------------------------------------------------------------------------------------------------------
# What the OpenAPI generator reads: model.to_openapi() must equal FastAPI's
# jsonable_encoder(model, by_alias=True, exclude_none=True), and scheme_name must match.
# ------------------------------------------------------------------------------------------------------------
SCHEMES: list[tuple[str, Callable[[Any], Any]]] = [
    ("password-bearer", lambda s: s.OAuth2PasswordBearer(tokenUrl="token")),
    (
        "password-bearer-full",
        lambda s: s.OAuth2PasswordBearer(
            tokenUrl="/auth/token",
            scheme_name="Login",
            scopes={"me": "Read me", "items": "Items"},
            description="Log in",
            refreshUrl="/auth/refresh",
        ),
    ),
    ("code-bearer", lambda s: s.OAuth2AuthorizationCodeBearer(authorizationUrl="a", tokenUrl="t")),
    (
        "code-bearer-full",
        lambda s: s.OAuth2AuthorizationCodeBearer(
            "a", "t", refreshUrl="r", scheme_name="Code", scopes={"x": "y"}, description="d"
        ),
    ),
    ("oauth2-empty", lambda s: s.OAuth2()),
    (
        "oauth2-flows",
        lambda s: s.OAuth2(
            flows={
                "implicit": {"authorizationUrl": "i", "scopes": {"a": "b"}},
                "clientCredentials": {"tokenUrl": "c", "refreshUrl": "r"},
                "password": {"tokenUrl": "p", "x-extra": 1},
                "x-flows-extra": {"k": "v"},
            },
            description="all flows",
        ),
    ),
    (
        "oauth2-pydantic-flows",
        lambda s: s.OAuth2(flows=FastAPIOAuthFlows(password={"tokenUrl": "p", "scopes": {"a": "b"}})),
    ),
    ("basic", lambda s: s.HTTPBasic()),
    ("basic-full", lambda s: s.HTTPBasic(scheme_name="B", realm="r", description="d")),
    ("bearer", lambda s: s.HTTPBearer()),
    ("bearer-full", lambda s: s.HTTPBearer(bearerFormat="JWT", scheme_name="Jwt", description="d")),
    ("digest", lambda s: s.HTTPDigest(description="d")),
    ("http-base", lambda s: s.http.HTTPBase(scheme="custom", scheme_name="C")),
    ("key-header", lambda s: s.APIKeyHeader(name="X-Key")),
    ("key-query", lambda s: s.APIKeyQuery(name="k", scheme_name="Q", description="d")),
    ("key-cookie", lambda s: s.APIKeyCookie(name="session")),
    ("oidc", lambda s: s.OpenIdConnect(openIdConnectUrl="https://id/.well-known", description="d")),
]


@pytest.mark.parametrize(("name", "make"), SCHEMES, ids=[name for name, _ in SCHEMES])
def test_openapi_model(name: str, make: Callable[[Any], Any]) -> None:
    """The security scheme object and name are those FastAPI puts in ``components.securitySchemes``."""
    theirs, ours = make(fastapi.security), make(fulmen.security)
    expected = jsonable_encoder(theirs.model, by_alias=True, exclude_none=True)
    assert ours.model.to_openapi() == expected
    assert list(ours.model.to_openapi()) == list(expected)  # same key order, so the JSON is byte-identical
    assert ours.scheme_name == theirs.scheme_name
    assert isinstance(ours, fulmen.security.base.SecurityBase)
    assert getattr(ours, "auto_error", None) is True


def test_missing_flow_url_is_rejected() -> None:
    """A flow without its required URL fails at construction (FastAPI: pydantic ValidationError)."""
    with pytest.raises(ValueError, match="'password' needs tokenUrl"):
        fulmen.security.OAuth2(flows={"password": {"scopes": {}}})
    with pytest.raises(ValueError, match="'authorizationCode' needs authorizationUrl and tokenUrl"):
        OAuthFlows(authorizationCode=OAuthFlow())
    with pytest.raises(TypeError, match="expected a dict"):
        fulmen.security.OAuth2(flows=["password"])
