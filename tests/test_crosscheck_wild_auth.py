"""Cross-check: Starlette's ``@requires`` and decorators that check ``isinstance(request, Request)``.

Recipes for FastAPI auth pair Starlette's ``AuthenticationMiddleware`` with ``@requires("authenticated")`` on
the route; ``requires`` (and rate-limit or cache decorators written the same way) asserts that the route's
``request`` is an instance of ``starlette.requests.Request``. fulmen's Request and WebSocket pass for
Starlette's classes once Starlette is imported. Checked against FastAPI through every front door.
"""

import base64
import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import starlette.requests
import starlette.websockets
from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser, requires
from starlette.middleware.authentication import AuthenticationMiddleware

import fulmen
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import Answer, Case, assert_same_as_fastapi, fastapi_answers_for


class HeaderBackend(AuthenticationBackend):
    """``Authorization: Basic <user:pw>`` makes an authenticated user; ``admin`` also gets the admin scope."""

    async def authenticate(self, conn: Any) -> Any:
        header = conn.headers.get("authorization")
        if header is None:
            return None
        name = base64.b64decode(header.split()[1]).decode().partition(":")[0]
        scopes = ["authenticated", "admin"] if name == "admin" else ["authenticated"]
        return AuthCredentials(scopes), SimpleUser(name)


def needs_request(func: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator as rate-limit libraries write them: find the request among the arguments, by its class."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request")
        if not isinstance(request, starlette.requests.Request):
            raise TypeError("the route needs a `request: Request` parameter")
        response = await func(*args, **kwargs)
        return {**response, "checked": request.url.path}

    return wrapper


def build(fw: Any) -> Any:
    app = fw.FastAPI()
    app.add_middleware(AuthenticationMiddleware, backend=HeaderBackend())

    @app.get("/")
    def home(request: fw.Request) -> Any:
        return {
            "name": request.user.display_name,
            "is_instance": isinstance(request, starlette.requests.Request),
        }

    @app.get("/private")
    @requires("authenticated")
    async def private(request: fw.Request) -> Any:
        return {"user": request.user.display_name}

    @app.get("/admin", name="admin")
    @requires(["authenticated", "admin"], status_code=404)
    def admin(request: fw.Request, page: int = 1) -> Any:
        return {"admin": request.user.display_name, "page": page}

    @app.get("/login", name="login")
    def login() -> Any:
        return "login page"

    @app.get("/account")
    @requires("authenticated", redirect="login")
    async def account(request: fw.Request) -> Any:
        return {"account": request.user.display_name}

    @app.get("/limited")
    @needs_request
    async def limited(request: fw.Request, q: str = "") -> Any:
        return {"q": q}

    @app.websocket("/ws")
    @requires("authenticated")
    async def ws(websocket: fw.WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "user": websocket.user.display_name,
                "is_instance": isinstance(websocket, starlette.websockets.WebSocket),
            }
        )
        await websocket.close()

    return app


BOB = {"authorization": "Basic " + base64.b64encode(b"bob:pw").decode()}
ADMIN = {"authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}

CASES: list[Case] = [
    ("home-anonymous", "GET", "/", {}),
    ("home-user", "GET", "/", {"headers": BOB}),
    ("private-anonymous-403", "GET", "/private", {}),
    ("private-user", "GET", "/private", {"headers": BOB}),
    ("admin-as-user-404", "GET", "/admin", {"headers": BOB}),
    ("admin", "GET", "/admin", {"headers": ADMIN, "params": {"page": "2"}}),
    ("admin-422", "GET", "/admin", {"headers": ADMIN, "params": {"page": "x"}}),
    ("account", "GET", "/account", {"headers": BOB}),
    ("decorator-finds-request", "GET", "/limited", {"params": {"q": "z"}}),
    ("openapi-sees-through-the-decorators", "GET", "/openapi.json", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_requires_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


def test_requires_redirects_to_the_named_route(serve: Callable[..., httpx.Client]) -> None:
    """``redirect=`` answers 303 to the route's URL with the request's URL as ``next`` (the host varies)."""
    client = serve(build(fulmen))
    response = client.get("/account", params={"a": "1"}, follow_redirects=False)
    base = str(client.base_url).rstrip("/")
    assert response.status_code == 303
    assert response.headers["location"] == f"{base}/login?next=" + quote(f"{base}/account?a=1", safe="")


def test_requires_on_a_websocket() -> None:
    with TestClient(build(fulmen)) as client:
        with client.websocket_connect("/ws", headers=BOB) as ws:
            assert ws.receive_json() == {"user": "bob", "is_instance": True}
        with pytest.raises(Exception) as denied, client.websocket_connect("/ws") as ws:
            ws.receive_json()
    assert getattr(denied.value, "code", None) == 1000  # requires() closes an unauthenticated socket
