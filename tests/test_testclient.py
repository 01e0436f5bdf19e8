"""``fulmen.testclient.TestClient`` behaves as FastAPI's: cookies, files/data, auth, redirects, server
exceptions, base URL, default headers and cookies, lifespan; and ``httpx.AsyncClient`` with
``httpx.ASGITransport`` drives a fulmen app for async tests.

These tests are about the in-process client itself, so they don't go through ``serve``. FastAPI's own
TestClient (Starlette's) on the same app built with FastAPI is the reference: each test runs both.
"""

import asyncio
import base64
import sys
import warnings
from contextlib import asynccontextmanager
from typing import Annotated, Any

import fastapi
import httpx
import pytest

import fulmen
import fulmen.responses
from fulmen.testclient import TestClient


def build(fw: Any) -> Any:
    """One app per framework: echo what the client sent, set cookies, redirect, fail."""
    app = fw.FastAPI()
    responses = fw.responses

    @app.get("/echo")
    async def echo(request: fw.Request):
        return {
            "url": str(request.url),
            "host": request.headers.get("host"),
            "user_agent": request.headers.get("user-agent"),
            "x_default": request.headers.get("x-default"),
            "authorization": request.headers.get("authorization"),
            "cookies": request.cookies,
            "client": list(request.client) if request.client else None,
        }

    @app.get("/set-cookie")
    async def set_cookie(response: fw.Response, name: str = "session", value: str = "abc"):
        response.set_cookie(name, value)
        return {"set": name}

    @app.get("/delete-cookie")
    async def delete_cookie(response: fw.Response):
        response.delete_cookie("session")
        return {}

    @app.get("/redirect")
    async def redirect():
        return responses.RedirectResponse("/echo")

    @app.get("/redirect-setting-cookie")
    async def redirect_setting_cookie():
        r = responses.RedirectResponse("/echo", status_code=303)
        r.set_cookie("via", "redirect")
        return r

    @app.post("/upload")
    async def upload(
        file: fw.UploadFile,
        token: Annotated[str, fw.Form()],
        tags: Annotated[list[str], fw.Form()] = [],  # noqa: B006
    ):
        return {
            "filename": file.filename,
            "content": (await file.read()).decode(),
            "token": token,
            "tags": tags,
        }

    @app.post("/form")
    async def form(name: Annotated[str, fw.Form()], age: Annotated[int, fw.Form()]):
        return {"name": name, "age": age}

    @app.get("/boom")
    def boom():
        raise ValueError("boom")

    @app.get("/teapot")
    async def teapot():
        raise fw.HTTPException(status_code=418, detail="short and stout")

    return app


def _starlette_test_client() -> Any:
    with warnings.catch_warnings():
        # Starlette 1.0 deprecates its httpx-based TestClient in favour of httpx2; it is still the reference.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient as StarletteTestClient
    return StarletteTestClient


def both(**options: Any) -> list[tuple[str, Any]]:
    """fulmen's TestClient on the fulmen app, and FastAPI's TestClient on the FastAPI app (the reference)."""
    return [
        ("fulmen", TestClient(build(fulmen), **options)),
        ("fastapi", _starlette_test_client()(build(fastapi), **options)),
    ]


def test_cookies_are_kept_between_requests() -> None:
    for _, client in both():
        with client:
            assert client.get("/echo").json()["cookies"] == {}
            client.get("/set-cookie")
            assert client.get("/echo").json()["cookies"] == {"session": "abc"}
            client.get("/set-cookie", params={"name": "other", "value": "x"})
            assert client.get("/echo").json()["cookies"] == {"session": "abc", "other": "x"}
            assert client.cookies["session"] == "abc"
            client.get("/delete-cookie")
            assert client.get("/echo").json()["cookies"] == {"other": "x"}


def test_cookies_set_on_a_redirect_are_sent_to_the_target() -> None:
    for _, client in both():
        with client:
            r = client.get("/redirect-setting-cookie")
            assert r.status_code == 200
            assert r.json()["cookies"] == {"via": "redirect"}


def test_default_headers_cookies_and_base_url() -> None:
    results = {}
    for name, client in both(
        base_url="https://example.org:8443", headers={"x-default": "yes"}, cookies={"preset": "1"}
    ):
        with client:
            results[name] = client.get("/echo").json()
            # Per-request headers are merged with the defaults.
            assert client.get("/echo", headers={"x-default": "no"}).json()["x_default"] == "no"
    assert results["fulmen"] == results["fastapi"]
    assert results["fulmen"]["url"] == "https://example.org:8443/echo"
    assert results["fulmen"]["host"] == "example.org:8443"
    assert results["fulmen"]["x_default"] == "yes"
    assert results["fulmen"]["cookies"] == {"preset": "1"}


def test_default_base_url_user_agent_and_client_address() -> None:
    results = {name: client.get("/echo").json() for name, client in both()}
    assert results["fulmen"] == results["fastapi"]
    assert results["fulmen"]["url"] == "http://testserver/echo"
    assert results["fulmen"]["user_agent"] == "testclient"
    assert results["fulmen"]["client"] == ["testclient", 50000]
    custom = TestClient(build(fulmen), client=("10.1.2.3", 4321))
    assert custom.get("/echo").json()["client"] == ["10.1.2.3", 4321]


def test_auth() -> None:
    expected = "Basic " + base64.b64encode(b"user:pass").decode()
    for _, client in both():
        assert client.get("/echo", auth=("user", "pass")).json()["authorization"] == expected
        client.auth = ("user", "pass")
        assert client.get("/echo").json()["authorization"] == expected
        # Each client takes its own HTTP library's auth objects: fulmen's is httpx's client; Starlette 1.10's
        # TestClient is built on httpx2 when that is installed (the MCP SDK brings it).
        library = sys.modules[type(client).__mro__[1].__module__.partition(".")[0]]
        assert client.get("/echo", auth=library.BasicAuth("a", "b")).json()["authorization"] == (
            "Basic " + base64.b64encode(b"a:b").decode()
        )


def test_files_and_data() -> None:
    answers = {}
    for name, client in both():
        r = client.post(
            "/upload",
            files={"file": ("notes.txt", b"file content", "text/plain")},
            data={"token": "t", "tags": ["a", "b"]},
        )
        answers[name] = (r.status_code, r.json())
        r2 = client.post("/form", data={"name": "ann", "age": "30"})
        assert r2.json() == {"name": "ann", "age": 30}
        r3 = client.post("/form", data={"name": "ann", "age": "old"})
        assert r3.status_code == 422
    assert answers["fulmen"] == answers["fastapi"]
    assert answers["fulmen"] == (
        200,
        {"filename": "notes.txt", "content": "file content", "token": "t", "tags": ["a", "b"]},
    )


def test_follow_redirects() -> None:
    for _, client in both():
        r = client.get("/redirect")
        assert r.status_code == 200  # followed by default, as Starlette's TestClient
        assert r.history[0].status_code == 307
        r = client.get("/redirect", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (307, "/echo")
    for _, client in both(follow_redirects=False):
        r = client.get("/redirect")
        assert r.status_code == 307
        assert client.get("/redirect", follow_redirects=True).status_code == 200


def test_raise_server_exceptions() -> None:
    for _, client in both():
        with pytest.raises(ValueError, match="boom"):
            client.get("/boom")
        # HTTPException is an answer, not a server error.
        r = client.get("/teapot")
        assert (r.status_code, r.json()) == (418, {"detail": "short and stout"})
    for _, client in both(raise_server_exceptions=False):
        r = client.get("/boom")
        assert (r.status_code, r.text) == (500, "Internal Server Error")


def test_raise_server_exceptions_with_a_catch_all_handler() -> None:
    """A handler for ``Exception`` answers, yet the test still sees the error (Starlette re-raises it)."""
    for fw, client_class in ((fulmen, TestClient), (fastapi, _starlette_test_client())):
        app = build(fw)

        async def handler(request: Any, exc: Exception, fw: Any = fw) -> Any:
            return fw.responses.JSONResponse({"handled": str(exc)}, status_code=500)

        app.add_exception_handler(Exception, handler)
        with pytest.raises(ValueError, match="boom"):
            client_class(app).get("/boom")
        r = client_class(app, raise_server_exceptions=False).get("/boom")
        assert (r.status_code, r.json()) == (500, {"handled": "boom"})


def test_specific_handler_answers_without_raising() -> None:
    for fw, client_class in ((fulmen, TestClient), (fastapi, _starlette_test_client())):
        app = build(fw)

        async def handler(request: Any, exc: ValueError, fw: Any = fw) -> Any:
            return fw.responses.JSONResponse({"value_error": str(exc)}, status_code=400)

        app.add_exception_handler(ValueError, handler)
        r = client_class(app).get("/boom")
        assert (r.status_code, r.json()) == (400, {"value_error": "boom"})


def test_lifespan_runs_in_the_with_block() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Any):
        events.append("startup")
        yield {"db": "connected"}
        events.append("shutdown")

    app = fulmen.FastAPI(lifespan=lifespan)

    @app.get("/state")
    async def state(request: fulmen.Request):
        return {"db": request.state.db}

    with TestClient(app) as client:
        assert events == ["startup"]
        assert client.get("/state").json() == {"db": "connected"}
    assert events == ["startup", "shutdown"]


class ConfigError(Exception):
    pass


def _lifespan_app(fw: Any, fail: str) -> Any:
    """An app whose lifespan (or startup handler) raises ConfigError: at startup, shutdown or on_event."""

    @asynccontextmanager
    async def lifespan(app: Any):
        if fail == "startup":
            raise ConfigError("missing DB_URL")
        yield
        if fail == "shutdown":
            raise ConfigError("pool did not close")

    app = fw.FastAPI(lifespan=None if fail == "on_event" else lifespan)
    if fail == "on_event":

        @app.on_event("startup")
        def check_config() -> None:
            raise ConfigError("on_event")

    return app


@pytest.mark.parametrize("fail", ["startup", "shutdown", "on_event"])
def test_lifespan_errors_are_raised_as_they_are(fail: str) -> None:
    """The test sees the lifespan's own exception (type, message), as with FastAPI's TestClient."""
    seen = []
    for fw, client_class in ((fastapi, _starlette_test_client()), (fulmen, TestClient)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # on_event is deprecated in FastAPI
            app = _lifespan_app(fw, fail)
        with pytest.raises(ConfigError) as info, client_class(app):
            pass
        seen.append(str(info.value))
    assert seen[0] == seen[1]


def test_client_works_after_the_with_block() -> None:
    """Leaving ``with`` ends the lifespan, not the client (Starlette's TestClient keeps working too)."""
    for fw, client_class in ((fastapi, _starlette_test_client()), (fulmen, TestClient)):
        with client_class(build(fw)) as client:
            assert client.get("/teapot").status_code == 418
        assert client.get("/teapot").status_code == 418
        with client:  # and a second block runs the lifespan again
            assert client.get("/teapot").status_code == 418
        client.close()


def test_lifespan_state_ends_with_the_lifespan() -> None:
    """A later TestClient without ``with`` sees no state from an earlier client's lifespan."""
    answers = []
    for fw, client_class in ((fastapi, _starlette_test_client()), (fulmen, TestClient)):

        @asynccontextmanager
        async def lifespan(app: Any):
            yield {"pool": "P"}

        app = fw.FastAPI(lifespan=lifespan)

        @app.get("/pool")
        def pool(request: fw.Request) -> Any:
            return getattr(request.state, "pool", None)

        with client_class(app) as client:
            during = client.get("/pool").json()
        answers.append((during, client_class(app).get("/pool").json()))
    assert answers[1] == answers[0] == ("P", None)


def test_exception_in_an_exception_handler_is_raised_in_the_test() -> None:
    """With raise_server_exceptions, a handler that fails shows the test its error; else a 500."""
    for fw, client_class in ((fastapi, _starlette_test_client()), (fulmen, TestClient)):
        app = build(fw)

        async def broken_handler(request: Any, exc: Exception) -> Any:
            raise RuntimeError("handler failed")

        async def not_found(request: Any, exc: Exception, fw: Any = fw) -> Any:
            return fw.responses.JSONResponse({"raw": b"bytes are not JSON"}, status_code=404)

        app.add_exception_handler(ValueError, broken_handler)
        app.add_exception_handler(404, not_found)
        with pytest.raises(RuntimeError, match="handler failed"):
            client_class(app).get("/boom")
        with pytest.raises(TypeError):
            client_class(app).get("/nowhere")
        r = client_class(app, raise_server_exceptions=False).get("/boom")
        assert (r.status_code, r.text) == (500, "Internal Server Error")


def test_async_client_with_asgi_transport() -> None:
    app = build(fulmen)

    async def main() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as ac:
            out: dict[str, Any] = {}
            out["echo"] = (await ac.get("/echo")).json()
            await ac.get("/set-cookie")
            out["cookies"] = (await ac.get("/echo")).json()["cookies"]
            r = await ac.post("/upload", files={"file": ("a.txt", b"async")}, data={"token": "t"})
            out["upload"] = r.json()
            out["form"] = (await ac.post("/form", data={"name": "n", "age": "x"})).status_code
            out["redirect"] = (await ac.get("/redirect", follow_redirects=True)).status_code
            out["teapot"] = (await ac.get("/teapot")).status_code
            return out

    out = asyncio.run(main())
    assert out["echo"]["url"] == "http://test/echo"
    assert out["echo"]["host"] == "test"
    assert out["cookies"] == {"session": "abc"}
    assert out["upload"] == {"filename": "a.txt", "content": "async", "token": "t", "tags": []}
    assert out["form"] == 422
    assert out["redirect"] == 200
    assert out["teapot"] == 418


async def _raw_app(scope: Any, receive: Any, send: Any) -> None:
    """Plain ASGI: debug info (template responses send it), a reused bytearray body, the scope's server."""
    path = scope["path"]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    if path == "/debug":
        await send({"type": "http.response.debug", "info": {"blocks": ["nav"]}})
    elif path == "/template":
        await send({"type": "http.response.debug", "info": {"template": "t.html", "context": {"n": 1}}})
    if path == "/server":
        body = f"{list(scope['server'])} {dict(scope['headers'])[b'host'].decode()}".encode()
        await send({"type": "http.response.body", "body": body})
        return
    buffer = bytearray(b"one")
    await send({"type": "http.response.body", "body": buffer, "more_body": True})
    buffer[:] = b"two"
    await send({"type": "http.response.body", "body": buffer})


def _observe(client_class: Any) -> list[Any]:
    out: list[Any] = []
    client = client_class(_raw_app)
    for path in ("/plain", "/debug", "/template"):
        r = client.get(path)
        out.append(
            [
                r.content,
                r.extensions.get("http.response.debug"),
                getattr(r, "template", "-"),
                getattr(r, "context", "-"),
            ]
        )
    for base_url in ("http://[::1]:0", "http://[::1]:8000", "http://[::1]"):
        out.append(client_class(_raw_app, base_url=base_url).get("/server").text)
    return out


def test_raw_asgi_responses_as_starlette_test_client() -> None:
    """Debug info in ``response.extensions`` (template and context only when sent), body chunks copied as
    they are sent, an explicit port 0 in the base URL kept: as Starlette's TestClient."""
    assert _observe(TestClient) == _observe(_starlette_test_client())
