"""``request.url`` and the ``URL`` API, cross-checked against Starlette (FastAPI's ``Request.url``).

The URL methods are compared call by call with ``starlette.datastructures.URL``; the request URL for the same
targets through every front door (``serve``) with what FastAPI's TestClient answers.
"""

from collections.abc import Callable
from typing import Any

import fastapi
import httpx
import pytest
import starlette.datastructures

import fulmen
from fulmen.datastructures import URL
from fulmen.testclient import TestClient

URLS = [
    "http://testserver/a/b?x=1&y=2&x=3",
    "https://user:pw@example.com:8443/p?q=1#frag",
    "http://[::1]:8000/v6?a=",
    "ws://host/socket",
    "/relative/path?z=9",
    "",
]

CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("str", str),
    ("repr", repr),
    ("components", lambda u: tuple(u.components)),
    ("parts", lambda u: (u.scheme, u.netloc, u.path, u.query, u.fragment)),
    ("netloc parts", lambda u: (u.username, u.password, u.hostname, u.port, u.is_secure)),
    ("port", lambda u: str(u.replace(port=9000))),
    ("no port", lambda u: str(u.replace(port=None))),
    ("hostname", lambda u: str(u.replace(hostname="other"))),
    ("ipv6 hostname", lambda u: str(u.replace(hostname="::2"))),
    ("username", lambda u: str(u.replace(username="bob"))),
    ("password", lambda u: str(u.replace(username="bob", password="secret"))),
    ("scheme", lambda u: str(u.replace(scheme="https"))),
    ("netloc", lambda u: str(u.replace(netloc="h:1"))),
    ("path", lambda u: str(u.replace(path="/new"))),
    ("query", lambda u: str(u.replace(query=""))),
    ("fragment", lambda u: str(u.replace(fragment="f"))),
    ("include", lambda u: str(u.include_query_params(x="9", b="v w"))),
    ("replace params", lambda u: str(u.replace_query_params(z="1", k=2))),
    ("remove one", lambda u: str(u.remove_query_params("x"))),
    ("remove several", lambda u: str(u.remove_query_params(["x", "a", "q"]))),
    ("eq", lambda u: (u == str(u), u == "other")),
]


def _outcome(call: Callable[[Any], Any], url: Any) -> Any:
    try:
        return call(url)
    except Exception as exc:
        return type(exc).__name__


@pytest.mark.parametrize("text", URLS)
@pytest.mark.parametrize(("label", "call"), CALLS, ids=[label for label, _ in CALLS])
def test_url_methods_match_starlette(text: str, label: str, call: Callable[[Any], Any]) -> None:
    assert _outcome(call, URL(text)) == _outcome(call, starlette.datastructures.URL(text))


def test_url_from_components_and_scope_match_starlette() -> None:
    for components in ({"scheme": "https", "netloc": "ex.com", "path": "/p"}, {"path": "/only"}):
        assert str(URL(**components)) == str(starlette.datastructures.URL(**components))
    scope = {
        "type": "http",
        "scheme": "http",
        "server": ("10.0.0.1", 8080),
        "path": "/a b/caf\u00e9",
        "query_string": b"x=%20",
        "headers": [(b"host", b"example.com:81")],
    }
    assert str(URL(scope=scope)) == str(starlette.datastructures.URL(scope=scope))
    scope["headers"] = []
    assert str(URL(scope=scope)) == str(starlette.datastructures.URL(scope=scope))
    with pytest.raises(ValueError):
        URL("http://x/", scope=scope)


def _url_app(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.middleware("http")
    async def seen_by_middleware(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-mw-path"] = request.url.path.encode("utf-8").decode("latin-1")
        return response

    @app.get("/{p:path}")
    async def anything(p: str, request: fw.Request) -> Any:
        url = request.url
        return {
            "p": p,
            "path": url.path,
            "query": url.query,
            "url": str(url).replace(str(request.base_url), "<base>/"),
            "with_query": str(url.include_query_params(k="v w")).replace(str(request.base_url), "<base>/"),
        }

    return app


TARGETS = [
    "/a%20b",
    "/caf%C3%A9",
    "/x%2Fy",
    "/%25",
    "/a%3Fb",
    "/h%23sh",
    "/plus+sign",
    "/q?x=%20&y=caf%C3%A9",
]


@pytest.mark.parametrize("target", TARGETS)
def test_request_url_is_decoded_as_in_fastapi(serve: Callable[..., httpx.Client], target: str) -> None:
    with TestClient(_url_app(fastapi)) as client:
        expected = client.get(target)
    got = serve(_url_app(fulmen)).get(target)
    assert got.status_code == expected.status_code == 200
    assert got.json() == expected.json()
    assert got.headers["x-mw-path"] == expected.headers["x-mw-path"]
    assert got.json()["path"] == "/" + got.json()["p"].replace("?", "%3F").replace("#", "%23")
