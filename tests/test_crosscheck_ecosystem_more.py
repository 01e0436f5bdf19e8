"""Cross-check: what dependency-injection, auth and realtime libraries do with a fulmen app, as on FastAPI.

Each case reproduces what a library does with the app, the request or the scope, without importing the library
(fulmen's CI installs only FastAPI, Starlette and their kin).
"""

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import fastapi
import fastapi.responses  # the apps use ``fw.responses``
import httpx
import pytest
from starlette.datastructures import URL as StarletteURL
from starlette.middleware.sessions import SessionMiddleware

import fulmen
import fulmen.responses
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


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


def test_request_urls_pickle() -> None:
    import pickle

    url = fulmen.datastructures.new_url("http://example.com/a?b=1")
    copy = pickle.loads(pickle.dumps(url))
    assert copy == url and isinstance(copy, StarletteURL) and isinstance(copy, fulmen.datastructures.URL)


def build_wrapped_lifespan(fw: Any, log: list[str], *, own_lifespan: bool = False) -> Any:
    """An app with startup/shutdown handlers (or a lifespan) whose ``app.router.lifespan_context`` a library
    wraps at set-up, as integrations that start their own work with the app do."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        log.append("lifespan-in")
        yield {"pool": "from-lifespan"}
        log.append("lifespan-out")

    app = fw.FastAPI(
        lifespan=lifespan if own_lifespan else None,
        on_startup=None if own_lifespan else [lambda: log.append("startup")],
        on_shutdown=None if own_lifespan else [lambda: log.append("shutdown")],
    )
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def library_lifespan(app: Any) -> AsyncIterator[Any]:
        log.append("library-in")
        async with original(app) as state:
            yield state
        log.append("library-out")

    app.router.lifespan_context = library_lifespan

    @app.get("/log")
    def read_log() -> list[str]:
        return log

    return app


@pytest.mark.parametrize("own_lifespan", [False, True], ids=["handlers", "lifespan"])
def test_library_wrapping_the_lifespan_as_in_fastapi(
    serve: Callable[..., httpx.Client], own_lifespan: bool
) -> None:
    expected: list[str] = []
    with TestClient(build_wrapped_lifespan(fastapi, expected, own_lifespan=own_lifespan)) as client:
        at_request = client.get("/log").json()
    assert "library-in" in at_request and expected[-1] == "library-out"
    log: list[str] = []
    assert (
        serve(build_wrapped_lifespan(fulmen, log, own_lifespan=own_lifespan)).get("/log").json() == at_request
    )
    log.clear()
    with TestClient(build_wrapped_lifespan(fulmen, log, own_lifespan=own_lifespan)) as client:
        assert client.get("/log").json() == at_request
    assert log == expected


@pytest.mark.parametrize("fw", [fastapi, fulmen], ids=["fastapi", "fulmen"])
def test_entering_the_lifespan_context_outside_a_server(fw: Any) -> None:
    """A task worker starts the app's lifespan itself (taskiq-fastapi enters app.router.lifespan_context)."""
    log: list[str] = []
    app = fw.FastAPI(on_startup=[lambda: log.append("startup")], on_shutdown=[lambda: log.append("shutdown")])

    async def worker() -> Any:
        async with app.router.lifespan_context(app) as state:
            log.append("working")
        return state

    assert asyncio.run(worker()) is None
    assert log == ["startup", "working", "shutdown"]


class _Marker:
    """A container marker as ``Depends``' dependency (dependency-injector's ``Provide[...]``): calling it with
    nothing gives the marker back, and the endpoint's decorator swaps it for the service."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self) -> "_Marker":
        return self


def _inject(func: Callable[..., Any]) -> Callable[..., Any]:
    """An ``@inject``-style decorator: its signature is the endpoint's (``__wrapped__``); it swaps markers."""
    services = {"greeter": "hello from the container"}

    def swap(kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: services[v.name] if isinstance(v, _Marker) else v for k, v in kwargs.items()}

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, **swap(kwargs))

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **swap(kwargs))

    return wrapper


def build_injected(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/async/{item_id}")
    @_inject
    async def read_async(item_id: int, greeter: str = fw.Depends(_Marker("greeter")), q: str = "") -> Any:
        return {"item_id": item_id, "greeter": greeter, "q": q}

    @app.get("/sync")
    @_inject
    def read_sync(greeter: Annotated[str, fw.Depends(_Marker("greeter"))], n: int = 1) -> Any:
        return {"greeter": greeter, "n": n}

    return app


INJECTED_CASES: list[Case] = [
    ("async", "GET", "/async/3?q=x", {}),
    ("async-invalid", "GET", "/async/x", {}),
    ("sync", "GET", "/sync?n=2", {}),
    ("sync-invalid", "GET", "/sync?n=x", {}),
    ("openapi", "GET", "/openapi.json", {}),
]


def test_container_injection_decorator_as_in_fastapi(serve: Callable[..., httpx.Client]) -> None:
    assert_same_as_fastapi(
        serve(build_injected(fulmen)), INJECTED_CASES, fastapi_answers_for(build_injected, INJECTED_CASES)
    )


def _library_hooks_run(fw: Any) -> list[str]:
    """A library adds its start-up work to the app's router, by FastAPI's router API (no deprecation)."""
    log: list[str] = []
    app = fw.FastAPI(on_startup=[lambda: log.append("user start")])

    async def connect() -> None:
        log.append("library start")

    app.router.add_event_handler("startup", connect)
    app.router.on_startup.append(lambda: log.append("appended start"))
    app.router.add_event_handler("shutdown", lambda: log.append("library stop"))
    app.router.on_shutdown.append(lambda: log.append("appended stop"))

    @app.get("/log")
    def read_log() -> list[str]:
        return log

    with TestClient(app) as client:
        log.append(f"served {client.get('/log').status_code}")
    return log


def test_library_adds_event_handlers_as_in_fastapi() -> None:
    expected = _library_hooks_run(fastapi)
    assert expected[:3] == ["user start", "library start", "appended start"]
    assert _library_hooks_run(fulmen) == expected


def test_failed_startup_handler_ends_the_started_lifespan() -> None:
    """Startup handlers run after the lifespan's start: one that fails ends the lifespan it started."""
    log: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        log.append("in")
        try:
            yield
        finally:
            log.append("out")

    def failing() -> None:
        raise RuntimeError("no database")

    app = fulmen.FastAPI(lifespan=lifespan, on_startup=[failing])
    with pytest.raises(RuntimeError, match="no database"), TestClient(app):
        pass
    assert log == ["in", "out"]
