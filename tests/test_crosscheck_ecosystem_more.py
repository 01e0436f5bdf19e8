"""Cross-check: what dependency-injection, auth and realtime libraries do with a fulmen app, as on FastAPI.

Each case reproduces what a library does with the app, the request or the scope, without importing the library
(fulmen's CI installs only FastAPI, Starlette and their kin).
"""

from collections.abc import Callable
from typing import Any

import fastapi
import fastapi.responses  # the apps use ``fw.responses``
import httpx
from starlette.datastructures import URL as StarletteURL
from starlette.middleware.sessions import SessionMiddleware

import fulmen
import fulmen.responses
from fulmen.testclient import TestClient


def build_oauth_client(fw: Any) -> Any:
    """An OAuth client's login leg, as authlib's Starlette client does it: the callback URL from
    ``request.url_for`` is recognised as Starlette's ``URL`` (then ``str()``-ed) and the state kept in
    ``request.session`` (Starlette's ``SessionMiddleware``)."""
    app = fw.FastAPI()
    app.add_middleware(SessionMiddleware, secret_key="not-a-secret")

    @app.get("/login")
    async def login(request: fw.Request) -> Any:
        redirect_uri: Any = request.url_for("auth")
        if not isinstance(redirect_uri, StarletteURL):
            return {"error": f"not a Starlette URL: {type(redirect_uri).__mro__}"}
        request.session["_state_provider"] = {"redirect_uri": str(redirect_uri)}  # as authlib keeps it
        location = "https://provider.example/authorize?redirect_uri=" + redirect_uri.path
        return fw.responses.RedirectResponse(location, status_code=302)

    @app.get("/auth", name="auth")
    async def auth(request: fw.Request) -> Any:
        saved = request.session.pop("_state_provider", None)
        saved_path = saved and StarletteURL(saved["redirect_uri"]).path
        return {"saved_path": saved_path, "session": dict(request.session)}

    @app.get("/urls")
    async def urls(request: fw.Request) -> Any:
        return {
            name: isinstance(value, StarletteURL)
            for name, value in [
                ("url", request.url),
                ("base_url", request.base_url),
                ("url_for", request.url_for("auth")),
                ("replace", request.url.replace(query="a=1")),
            ]
        }

    return app


def oauth_flow(client: httpx.Client) -> list[Any]:
    """Login, then the provider's redirect back to the callback (twice: the state is used once)."""
    login = client.get("/login", follow_redirects=False)
    seen: list[Any] = [login.status_code, login.headers.get("location"), login.headers.get("vary")]
    seen.append(sorted(client.cookies.keys()))
    seen += [client.get("/auth").json(), client.get("/auth").json(), client.get("/urls").json()]
    return seen


def test_oauth_client_login_leg_as_in_fastapi(serve: Callable[..., httpx.Client]) -> None:
    with TestClient(build_oauth_client(fastapi)) as client:
        expected = oauth_flow(client)
    assert expected[-1] == {"url": True, "base_url": True, "url_for": True, "replace": True}
    assert oauth_flow(serve(build_oauth_client(fulmen))) == expected


def test_url_pickles_as_fulmen_url() -> None:
    import pickle

    url = fulmen.datastructures.URL("http://example.com/a?b=1")
    copy = pickle.loads(pickle.dumps(url))
    assert copy == url and isinstance(copy, StarletteURL) and isinstance(copy, fulmen.datastructures.URL)
