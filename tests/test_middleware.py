"""Middleware through every front door: ``@app.middleware("http")``, ``add_middleware``, the built-ins.

Built-in middleware is tested in both stack forms: ``native`` (every middleware native: a chain of handles,
no ASGI on the engine) and ``asgi`` (a pass-through pure ASGI middleware is installed too, so the whole stack
runs in ASGI form and the engine goes through its ASGI adapter).
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fulmen import BackgroundTasks, FastAPI, HTTPException, Request
from fulmen.engine.asgi_adapter import ASGIAdapter
from fulmen.engine.server import served_app
from fulmen.middleware import UNBOUND_APP, Middleware
from fulmen.middleware.base import BaseHTTPMiddleware
from fulmen.middleware.cors import CORSMiddleware
from fulmen.middleware.gzip import GZipMiddleware
from fulmen.middleware.httpsredirect import HTTPSRedirectMiddleware
from fulmen.middleware.trustedhost import TrustedHostMiddleware
from fulmen.responses import JSONResponse, PlainTextResponse, Response
from fulmen.testclient import TestClient
from tests.crosscheck_apps import PassThrough

Serve = Callable[..., httpx.Client]


# -- pure ASGI middleware written here (stand-ins for ecosystem middleware) ---------------------------------
class TagASGI:
    """Adds ``x-asgi: <tag>`` to responses and strips a ``/v1`` prefix from the path (a scope rewrite)."""

    def __init__(self, app: Any, tag: str = "asgi") -> None:
        self.app = app
        self.tag = tag.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/v1/"):
            scope = dict(scope, path=scope["path"][3:], raw_path=scope["raw_path"][3:])

        async def tagging_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                previous = [v for k, v in headers if k == b"x-order"]
                headers = [(k, v) for k, v in headers if k != b"x-order"]
                headers.append((b"x-order", b",".join([*previous, self.tag])))
                headers.append((b"x-asgi", self.tag))
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, tagging_send)


class ScopeRecorder:
    """Records the http scope it sees and answers by itself (the app behind it is never called)."""

    seen: list[dict[str, Any]]

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = await receive()
        self.seen.append({**scope, "body": message.get("body", b"")})
        await send({"type": "http.response.start", "status": 202, "headers": [(b"x-recorded", b"1")]})
        await send({"type": "http.response.body", "body": b"recorded"})


@pytest.fixture(params=["native", "asgi"])
def mode(request: pytest.FixtureRequest) -> str:
    """How the stack is built: every middleware native, or in ASGI form (a pure ASGI middleware installed)."""
    return str(request.param)


def make_app(mode: str = "native") -> FastAPI:
    app = FastAPI()
    if mode == "asgi":
        app.add_middleware(PassThrough)

    @app.get("/text")
    def text() -> Response:
        return PlainTextResponse("hello")

    @app.get("/big")
    def big() -> Response:
        return PlainTextResponse("fulmen " * 400)

    @app.get("/png")
    def png() -> Response:
        return Response(b"\x89PNG" * 400, media_type="image/png")

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        return {"body": (await request.body()).decode(), "path": request.url.path}

    @app.get("/missing")
    def missing() -> None:
        raise HTTPException(404, "nope", headers={"X-Why": "missing"})

    @app.get("/boom")
    def boom() -> None:
        raise ValueError("boom")

    return app


# ------------------------------------------------------------------------------------------------------------
# @app.middleware("http")
# ------------------------------------------------------------------------------------------------------------
def test_http_middleware_order_last_added_is_outermost(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    calls: list[str] = []

    def tracer(name: str) -> Any:
        async def mw(request: Request, call_next: Any) -> Response:
            calls.append(name + ">")
            response = await call_next(request)
            calls.append("<" + name)
            previous = response.headers.get("x-order")
            response.headers["X-Order"] = f"{previous},{name}" if previous else name
            return response

        return mw

    app.middleware("http")(tracer("first"))
    app.middleware("http")(tracer("second"))

    class Third(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: Any) -> Response:
            calls.append("third>")
            response = await call_next(request)
            calls.append("<third")
            response.headers["X-Order"] = response.headers["x-order"] + ",third"
            return response

    app.add_middleware(Third)
    client = serve(app)
    r = client.get("/text")
    assert r.status_code == 200
    assert r.text == "hello"
    assert r.headers["x-order"] == "first,second,third"
    assert calls == ["third>", "second>", "first>", "<first", "<second", "<third"]


def test_call_next_response_headers_are_editable(serve: Serve, mode: str) -> None:
    app = make_app(mode)

    @app.middleware("http")
    async def add_process_time_header(request: Request, call_next: Any) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        response.headers["X-Process-Time"] = str(time.perf_counter() - start)
        del response.headers["content-type"]
        response.headers["Content-Type"] = "text/x-replaced"
        response.set_cookie("seen", "yes")
        return response

    client = serve(app)
    r = client.get("/text")
    assert r.text == "hello"
    assert 0 <= float(r.headers["x-process-time"]) < 5
    assert r.headers["content-type"] == "text/x-replaced"
    assert r.cookies["seen"] == "yes"
    assert r.headers["content-length"] == "5"


def test_http_exception_reaches_middleware_as_its_response(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    seen: list[int] = []

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        seen.append(response.status_code)
        response.headers["X-Seen"] = str(response.status_code)
        return response

    client = serve(app)
    r = client.get("/missing")
    assert (r.status_code, r.json()) == (404, {"detail": "nope"})
    assert r.headers["x-why"] == "missing"
    assert r.headers["x-seen"] == "404"
    r = client.get("/no-such-route")
    assert r.status_code == 404
    assert r.headers["x-seen"] == "404"
    r = client.post("/text")
    assert r.status_code == 405
    assert r.headers["x-seen"] == "405"
    r = client.post("/echo", content=b"{")
    assert r.status_code == 200  # the echo route reads raw bytes
    assert seen == [404, 404, 405, 200]


def test_custom_exception_handler_runs_inside_middleware(serve: Serve, mode: str) -> None:
    app = make_app(mode)

    class Conflict(Exception):
        pass

    @app.get("/conflict")
    def conflict() -> None:
        raise Conflict()

    @app.exception_handler(Conflict)
    async def on_conflict(request: Request, exc: Conflict) -> Response:
        return JSONResponse({"conflict": True}, status_code=409)

    @app.middleware("http")
    async def tag(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["X-Tag"] = "yes"
        return response

    r = serve(app).get("/conflict")
    assert (r.status_code, r.json(), r.headers["x-tag"]) == (409, {"conflict": True}, "yes")


def test_unhandled_exception_is_raised_by_call_next(serve: Serve, mode: str) -> None:
    app = make_app(mode)

    @app.middleware("http")
    async def catch(request: Request, call_next: Any) -> Response:
        try:
            return await call_next(request)
        except ValueError as exc:
            return JSONResponse({"caught": str(exc)}, status_code=418)

    r = serve(app).get("/boom")
    assert (r.status_code, r.json()) == (418, {"caught": "boom"})


@pytest.mark.parametrize("where", ["route", "before-call-next", "after-call-next"])
def test_unhandled_exception_is_a_500_without_middleware_headers(serve: Serve, mode: str, where: str) -> None:
    app = make_app(mode)

    @app.middleware("http")
    async def failing(request: Request, call_next: Any) -> Response:
        if where == "before-call-next":
            raise RuntimeError("before")
        response = await call_next(request)
        if where == "after-call-next":
            raise RuntimeError("after")
        return response

    app.add_middleware(CORSMiddleware, allow_origins=["*"])
    client = serve(app)
    r = client.get("/boom" if where == "route" else "/text", headers={"Origin": "https://a.example"})
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    # The 500 is made outside every middleware, as Starlette's ServerErrorMiddleware: no CORS headers.
    assert "access-control-allow-origin" not in r.headers
    # The connection (engine, uvicorn) is still usable.
    again = client.get("/text")
    assert again.status_code == (200 if where == "route" else 500)


@pytest.mark.parametrize("key", [500, Exception])
def test_500_and_exception_handlers_run_outside_middleware(serve: Serve, mode: str, key: Any) -> None:
    app = make_app(mode)

    @app.exception_handler(key)
    async def on_error(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": type(exc).__name__, "path": request.url.path}, status_code=503)

    @app.middleware("http")
    async def tag(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["X-Tag"] = "yes"
        return response

    client = serve(app)
    r = client.get("/boom")
    assert (r.status_code, r.json()) == (503, {"error": "ValueError", "path": "/boom"})
    assert "x-tag" not in r.headers
    assert client.get("/text").headers["x-tag"] == "yes"


def test_middleware_short_circuits_and_shares_request(serve: Serve, mode: str) -> None:
    app = make_app(mode)

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, Any]:
        return {"user": request.state.user}

    @app.middleware("http")
    async def auth(request: Request, call_next: Any) -> Response:
        token = request.headers.get("x-token")
        if token is None:
            return JSONResponse({"detail": "no token"}, status_code=401)
        request.state.user = token.upper()
        return await call_next(request)

    client = serve(app)
    assert client.get("/whoami").status_code == 401
    assert client.get("/whoami", headers={"X-Token": "ann"}).json() == {"user": "ANN"}


def test_body_read_in_middleware_is_still_readable_by_the_route(serve: Serve, mode: str) -> None:
    app = make_app(mode)

    @app.middleware("http")
    async def peek(request: Request, call_next: Any) -> Response:
        body = await request.body()
        response = await call_next(request)
        response.headers["X-Body-Length"] = str(len(body))
        return response

    r = serve(app).post("/echo", content=b"x" * 3000)
    assert r.json() == {"body": "x" * 3000, "path": "/echo"}
    assert r.headers["x-body-length"] == "3000"


def test_background_tasks_still_run_with_middleware(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    done: list[str] = []

    @app.get("/bg")
    def bg(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(done.append, "ran")
        return {"ok": True}

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        return await call_next(request)

    assert serve(app).get("/bg").json() == {"ok": True}
    deadline = time.monotonic() + 5
    while not done and time.monotonic() < deadline:
        time.sleep(0.01)
    assert done == ["ran"]


def test_head_request_through_middleware(serve: Serve) -> None:
    app = make_app()

    @app.middleware("http")
    async def tag(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["X-Method"] = request.method
        return response

    client = serve(app)
    get, head = client.get("/text"), client.head("/text")
    assert (head.status_code, head.content, head.headers["x-method"]) == (200, b"", "HEAD")
    assert head.headers["content-length"] == get.headers["content-length"] == "5"


def test_middleware_decorator_rejects_unknown_type() -> None:
    app = FastAPI()
    with pytest.raises(Exception, match="only 'http'"):
        app.middleware("websocket")


# ------------------------------------------------------------------------------------------------------------
# add_middleware with pure ASGI middleware (ecosystem)
# ------------------------------------------------------------------------------------------------------------
def test_pure_asgi_middleware_on_every_front_door(serve: Serve) -> None:
    app = make_app()

    @app.middleware("http")
    async def inner(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["X-Order"] = "inner"
        return response

    app.add_middleware(TagASGI, tag="tag")

    @app.middleware("http")
    async def outer(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["X-Order"] = response.headers["x-order"] + ",outer"
        return response

    client = serve(app)
    r = client.get("/v1/text")  # the ASGI middleware rewrites the path
    assert (r.status_code, r.text) == (200, "hello")
    assert r.headers["x-asgi"] == "tag"
    assert r.headers["x-order"] == "inner,tag,outer"
    r = client.post("/v1/echo", content=b"abc")
    assert r.json() == {"body": "abc", "path": "/echo"}
    r = client.get("/missing")
    assert (r.status_code, r.headers["x-why"], r.headers["x-order"]) == (404, "missing", "inner,tag,outer")
    r = client.get("/boom")
    assert (r.status_code, r.text) == (500, "Internal Server Error")
    assert "x-asgi" not in r.headers
    assert app.asgi_middleware_installed


def test_starlette_cors_and_gzip_middleware(serve: Serve) -> None:
    from starlette.middleware.cors import CORSMiddleware as StarletteCORS
    from starlette.middleware.gzip import GZipMiddleware as StarletteGZip

    app = make_app()
    app.add_middleware(StarletteGZip, minimum_size=100)
    app.add_middleware(StarletteCORS, allow_origins=["https://a.example"], allow_methods=["*"])
    client = serve(app)
    r = client.get("/big", headers={"Origin": "https://a.example", "Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.text == "fulmen " * 400  # httpx decompressed it
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) < 400
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    r = client.options(
        "/echo", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "PUT"}
    )
    assert (r.status_code, r.text) == (200, "OK")
    assert app.asgi_middleware_installed


def test_asgi_middleware_sees_the_request_scope_on_every_front_door(serve: Serve, front_door: str) -> None:
    app = make_app()
    app.add_middleware(ScopeRecorder)
    client = serve(app)
    r = client.post("/some/p%20th?a=1&b=2", content=b"body!", headers={"X-Custom": "yes"})
    assert (r.status_code, r.text, r.headers["x-recorded"]) == (202, "recorded", "1")
    recorder = app.user_middleware[0]
    assert recorder.cls is ScopeRecorder
    # The recorder instance is the one in the built ASGI stack; find it through the scope it recorded.
    stack = app._asgi_stack
    while stack is not None and not isinstance(stack, ScopeRecorder):
        stack = getattr(stack, "app", None)
    assert isinstance(stack, ScopeRecorder)
    scope = stack.seen[-1]
    assert scope["type"] == "http"
    assert scope["method"] == "POST"
    assert scope["path"] == "/some/p th"
    assert scope["raw_path"] == b"/some/p%20th"
    assert scope["query_string"] == b"a=1&b=2"
    assert scope["scheme"] == "http"
    assert scope["body"] == b"body!"
    headers = dict(scope["headers"])
    assert headers[b"x-custom"] == b"yes"
    if front_door != "asgi":
        assert scope["client"][0] == "127.0.0.1"
        assert scope["server"][1] == int(str(client.base_url).rsplit(":", 1)[1])


def test_fulmen_middleware_wraps_any_asgi_app(serve: Serve, front_door: str) -> None:
    """The built-ins are plain ASGI middleware: around a bare ASGI app, on the engine via its adapter."""

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"chunk-" * 100, "more_body": True})
        await send({"type": "http.response.body", "body": b"end"})

    app: Any = GZipMiddleware(CORSMiddleware(bare, allow_origins=["*"]), minimum_size=10)
    served = ASGIAdapter(app) if front_door == "engine" else app
    client = serve(served)
    r = client.get("/", headers={"Origin": "https://x.example", "Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.text == "chunk-" * 100 + "end"
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.headers["vary"] == "Origin, Accept-Encoding"


def test_middleware_constructor_argument(serve: Serve) -> None:
    app = FastAPI(
        middleware=[
            Middleware(TagASGI, tag="outer"),
            Middleware(CORSMiddleware, allow_origins=["https://a.example"]),
        ]
    )

    @app.get("/")
    def root() -> dict[str, bool]:
        return {"ok": True}

    r = serve(app).get("/", headers={"Origin": "https://a.example"})
    assert r.json() == {"ok": True}
    assert r.headers["x-asgi"] == "outer"
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    assert repr(app.user_middleware[0]) == "Middleware(TagASGI, tag='outer')"


def test_add_middleware_after_start_raises(serve: Serve) -> None:
    app = make_app()
    app.add_middleware(CORSMiddleware, allow_origins=["*"])
    client = serve(app)
    assert client.get("/text").status_code == 200
    with pytest.raises(RuntimeError, match="Cannot add middleware after an application has started"):
        app.add_middleware(GZipMiddleware)
    with pytest.raises(RuntimeError):
        app.middleware("http")(lambda request, call_next: call_next(request))


def test_add_middleware_after_start_raises_without_middleware(serve: Serve) -> None:
    app = make_app()
    assert serve(app).get("/text").status_code == 200
    with pytest.raises(RuntimeError, match="after an application has started"):
        app.add_middleware(GZipMiddleware)


# ------------------------------------------------------------------------------------------------------------
# How the stack is built (what the hot path pays)
# ------------------------------------------------------------------------------------------------------------
def test_no_middleware_leaves_handle_untouched() -> None:
    app = make_app()
    assert "handle" not in vars(app)
    assert served_app(app) is app
    assert "handle" not in vars(app) and "handle_exception" not in vars(app)
    assert app.handle.__func__ is FastAPI.handle  # type: ignore[attr-defined]
    assert not app.asgi_middleware_installed


def test_native_stack_is_a_chain_of_handles() -> None:
    app = make_app()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["*"])
    app.add_middleware(CORSMiddleware, allow_origins=["*"])
    assert served_app(app) is app  # the engine keeps calling app.handle: no ASGI translation
    assert not app.asgi_middleware_installed
    assert app._asgi_stack is None
    handle = vars(app)["handle"]
    assert asyncio.iscoroutinefunction(handle)

    async def call() -> Response:
        request = Request("GET", b"/text", b"", [(b"host", b"x"), (b"origin", b"https://o.example")])
        return await app.handle(request)

    response = asyncio.run(call())
    assert response.body == b"hello"
    assert (b"access-control-allow-origin", b"*") in response.raw_headers


def test_trusted_host_allowing_everything_adds_no_layer() -> None:
    async def inner(request: Request) -> Response:
        return Response()

    middleware = TrustedHostMiddleware(UNBOUND_APP, allowed_hosts=["*"])
    assert middleware.wrap_handle(inner) is inner


def test_asgi_middleware_makes_the_engine_use_the_adapter() -> None:
    app = make_app("asgi")
    served = served_app(app)
    assert isinstance(served, ASGIAdapter)
    assert served.app is app
    assert app.asgi_middleware_installed


def test_unbound_app_refuses_asgi_calls() -> None:
    with pytest.raises(RuntimeError, match="native stack"):
        asyncio.run(UNBOUND_APP({}, None, None))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode_", ["native", "asgi"])
def test_testclient_raise_server_exceptions_through_middleware(mode_: str) -> None:
    app = make_app(mode_)

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        return await call_next(request)

    with TestClient(app) as client, pytest.raises(ValueError, match="boom"):
        client.get("/boom")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500


# ------------------------------------------------------------------------------------------------------------
# CORSMiddleware
# ------------------------------------------------------------------------------------------------------------
def test_cors_simple_requests(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["https://a.example"],
        allow_origin_regex=r"https://.*\.b\.example",
        expose_headers=["X-One", "X-Two"],
    )
    client = serve(app)
    r = client.get("/text", headers={"Origin": "https://a.example"})
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    assert r.headers["access-control-expose-headers"] == "X-One, X-Two"
    assert r.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in r.headers
    r = client.get("/text", headers={"Origin": "https://x.b.example"})
    assert r.headers["access-control-allow-origin"] == "https://x.b.example"
    r = client.get("/text", headers={"Origin": "https://x.b.example.evil"})
    assert "access-control-allow-origin" not in r.headers
    assert r.headers["vary"] == "Origin"
    r = client.get("/text")
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-expose-headers" not in r.headers
    assert r.headers["vary"] == "Origin"
    assert r.text == "hello"


def test_cors_wildcard_and_credentials(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_credentials=True)
    client = serve(app)
    r = client.get("/text", headers={"Origin": "https://any.example"})
    # With credentials, "*" is not allowed by browsers: the origin is echoed instead.
    assert r.headers["access-control-allow-origin"] == "https://any.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    r = client.options(
        "/text", headers={"Origin": "https://any.example", "Access-Control-Request-Method": "GET"}
    )
    assert r.headers["access-control-allow-origin"] == "https://any.example"
    assert r.headers["access-control-allow-credentials"] == "true"

    plain = make_app(mode)
    plain.add_middleware(CORSMiddleware, allow_origins=["*"])
    client = serve(plain)
    r = client.get("/text", headers={"Origin": "https://any.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    r = client.options(
        "/text", headers={"Origin": "https://any.example", "Access-Control-Request-Method": "GET"}
    )
    assert r.headers["access-control-allow-origin"] == "*"


def test_cors_preflight(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["https://a.example"],
        allow_methods=["GET", "POST"],
        allow_headers=["X-Token"],
        max_age=42,
    )
    client = serve(app)
    ok = {"Origin": "https://a.example", "Access-Control-Request-Method": "POST"}
    r = client.options("/echo", headers={**ok, "Access-Control-Request-Headers": "X-Token, content-type"})
    assert (r.status_code, r.text) == (200, "OK")
    assert r.headers["access-control-allow-origin"] == "https://a.example"
    assert r.headers["access-control-allow-methods"] == "GET, POST"
    assert r.headers["access-control-max-age"] == "42"
    allowed = "Accept, Accept-Language, Content-Language, Content-Type, X-Token"
    assert r.headers["access-control-allow-headers"] == allowed
    assert r.headers["vary"].startswith("Origin, Access-Control-Request-Method")
    r = client.options("/echo", headers={**ok, "Access-Control-Request-Method": "DELETE"})
    assert (r.status_code, r.text) == (400, "Disallowed CORS method")
    r = client.options(
        "/echo", headers={**ok, "Origin": "https://evil.example", "Access-Control-Request-Headers": "X-Bad"}
    )
    assert (r.status_code, r.text) == (400, "Disallowed CORS origin, headers")
    assert "access-control-allow-origin" not in r.headers
    # A preflight never reaches the app: not even an unknown path.
    assert client.options("/nowhere", headers=ok).status_code == 200
    # OPTIONS without Access-Control-Request-Method is an ordinary request (405: no OPTIONS route).
    r = client.options("/echo", headers={"Origin": "https://a.example"})
    assert r.status_code == 405
    assert r.headers["access-control-allow-origin"] == "https://a.example"


def test_cors_merges_existing_vary_and_replaces_its_own_headers(serve: Serve, mode: str) -> None:
    app = make_app(mode)

    @app.get("/own")
    def own() -> Response:
        headers = {"Vary": "Cookie", "Access-Control-Allow-Origin": "https://mine.example"}
        return PlainTextResponse("own", headers=headers)

    app.add_middleware(CORSMiddleware, allow_origins=["*"])
    r = serve(app).get("/own", headers={"Origin": "https://a.example"})
    assert r.headers["vary"] == "Cookie, Origin"
    assert r.headers.get_list("access-control-allow-origin") == ["*"]


# ------------------------------------------------------------------------------------------------------------
# GZipMiddleware
# ------------------------------------------------------------------------------------------------------------
def test_gzip_compresses_when_accepted(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    app.add_middleware(GZipMiddleware, minimum_size=100, compresslevel=6)
    client = serve(app)
    r = client.get("/big", headers={"Accept-Encoding": "gzip"})
    assert r.text == "fulmen " * 400
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    expected = gzip.compress(("fulmen " * 400).encode(), compresslevel=6, mtime=0)
    assert int(r.headers["content-length"]) == len(expected)


def test_gzip_leaves_responses_alone_when_it_must(serve: Serve, mode: str) -> None:
    app = make_app(mode)

    @app.get("/encoded")
    def encoded() -> Response:
        return PlainTextResponse("e" * 2000, headers={"Content-Encoding": "x-custom"})

    app.add_middleware(GZipMiddleware, minimum_size=100)
    client = serve(app)
    small = client.get("/text", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers and "vary" not in small.headers
    not_accepted = client.get("/big", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in not_accepted.headers
    assert not_accepted.headers["vary"] == "Accept-Encoding"  # the body is large: the answer varies
    assert not_accepted.headers["content-length"] == str(len("fulmen " * 400))
    png = client.get("/png", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in png.headers and png.content == b"\x89PNG" * 400
    r = client.get("/encoded", headers={"Accept-Encoding": "gzip"})  # httpx can't decode x-custom: raw body
    assert r.headers["content-encoding"] == "x-custom" and r.content == b"e" * 2000


def test_gzip_thread_offload_for_large_bodies(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    payload = bytes(range(256)) * 2048  # 512 KiB

    @app.get("/huge")
    def huge() -> Response:
        return Response(payload, media_type="application/octet-stream")

    app.add_middleware(GZipMiddleware, thread_minimum_size=64 * 1024)
    r = serve(app).get("/huge", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == payload


# ------------------------------------------------------------------------------------------------------------
# TrustedHostMiddleware and HTTPSRedirectMiddleware
# ------------------------------------------------------------------------------------------------------------
def test_trusted_host(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    app.add_middleware(
        TrustedHostMiddleware, allowed_hosts=["example.com", "*.example.org", "www.example.net"]
    )
    client = serve(app, follow_redirects=False)
    assert client.get("/text", headers={"Host": "example.com"}).text == "hello"
    assert client.get("/text", headers={"Host": "example.com:9000"}).text == "hello"
    assert client.get("/text", headers={"Host": "deep.api.example.org"}).text == "hello"
    r = client.get("/text", headers={"Host": "example.org"})
    assert (r.status_code, r.text) == (400, "Invalid host header")
    r = client.get("/text", headers={"Host": "evil.com"})
    assert (r.status_code, r.text) == (400, "Invalid host header")
    r = client.get("/text?q=1", headers={"Host": "example.net"})
    assert (r.status_code, r.headers["location"]) == (307, "http://www.example.net/text?q=1")


def test_trusted_host_patterns_are_checked() -> None:
    with pytest.raises(AssertionError, match=r"\*\.example\.com"):
        TrustedHostMiddleware(UNBOUND_APP, allowed_hosts=["*example.com"])
    with pytest.raises(AssertionError):
        TrustedHostMiddleware(UNBOUND_APP, allowed_hosts=["api.*.com"])


def test_trusted_host_without_www_redirect(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["www.example.net"], www_redirect=False)
    r = serve(app, follow_redirects=False).get("/text", headers={"Host": "example.net"})
    assert (r.status_code, r.text) == (400, "Invalid host header")


def test_https_redirect(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    app.add_middleware(HTTPSRedirectMiddleware)
    client = serve(app, follow_redirects=False)
    r = client.get("/text?a=1", headers={"Host": "example.com"})
    assert (r.status_code, r.headers["location"]) == (307, "https://example.com/text?a=1")
    r = client.get("/a/b", headers={"Host": "example.com:80"})
    assert r.headers["location"] == "https://example.com/a/b"
    r = client.post("/echo", headers={"Host": "example.com:8443"})
    assert (r.status_code, r.headers["location"]) == (307, "https://example.com:8443/echo")


# ------------------------------------------------------------------------------------------------------------
# Streamed responses through middleware
# ------------------------------------------------------------------------------------------------------------
def make_streaming_app(mode: str) -> FastAPI:
    from fulmen.responses import FileResponse, StreamingResponse

    app = make_app(mode)

    @app.get("/stream")
    def stream() -> Response:
        return StreamingResponse((f"part-{i};" for i in range(200)), media_type="text/plain")

    @app.get("/events")
    async def events() -> Response:
        async def gen() -> Any:
            for i in range(50):
                yield f"data: {i}\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    @app.get("/file")
    def file() -> Response:
        return FileResponse(__file__, media_type="text/plain")

    return app


def test_streamed_response_through_http_middleware_and_gzip(serve: Serve, mode: str, front_door: str) -> None:
    app = make_streaming_app(mode)

    @app.middleware("http")
    async def tag(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["X-Tag"] = "streamed"
        return response

    app.add_middleware(GZipMiddleware, minimum_size=10_000)  # a stream is compressed whatever its size
    client = serve(app)
    expected = "".join(f"part-{i};" for i in range(200))
    r = client.get("/stream", headers={"Accept-Encoding": "gzip"})
    assert (r.status_code, r.text, r.headers["x-tag"]) == (200, expected, "streamed")
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    if front_door != "asgi":  # the in-process TestClient buffers the body and httpx adds a content-length
        assert "content-length" not in r.headers  # chunked
    r = client.get("/stream", headers={"Accept-Encoding": "identity"})
    assert r.text == expected
    assert "content-encoding" not in r.headers and r.headers["vary"] == "Accept-Encoding"
    r = client.get("/events", headers={"Accept-Encoding": "gzip"})  # text/event-stream is never compressed
    assert "content-encoding" not in r.headers and r.text.startswith("data: 0\n\ndata: 1\n\n")
    head = client.head("/stream", headers={"Accept-Encoding": "gzip"})
    assert (head.status_code, head.content, head.headers["x-tag"]) == (200, b"", "streamed")


def test_file_response_through_gzip(serve: Serve, mode: str, front_door: str) -> None:
    app = make_streaming_app(mode)
    app.add_middleware(GZipMiddleware)
    client = serve(app)
    with open(__file__, "rb") as f:
        content = f.read()
    r = client.get("/file", headers={"Accept-Encoding": "gzip"})
    assert (r.status_code, r.content) == (200, content)
    assert r.headers["content-encoding"] == "gzip"
    assert "etag" in r.headers
    if front_door != "asgi":  # the in-process TestClient buffers the body and httpx adds a content-length
        assert "content-length" not in r.headers  # the file's length no longer applies: chunked
    r = client.get("/file", headers={"Accept-Encoding": "gzip", "Range": "bytes=10-19"})
    assert (r.status_code, r.content) == (206, content[10:20])  # partial content is never compressed
    assert "content-encoding" not in r.headers
    r = client.get("/file", headers={"Accept-Encoding": "identity"})
    assert (r.content, r.headers["content-length"]) == (content, str(len(content)))


def test_streamed_response_is_not_buffered_by_middleware(serve: Serve, front_door: str, mode: str) -> None:
    """Chunks reach the client as they are produced, also through an ASGI middleware on the engine."""
    if front_door == "asgi":
        pytest.skip("the in-process TestClient collects the whole response before returning it")
    import threading

    from fulmen.responses import StreamingResponse

    app = make_app(mode)
    signal = threading.Event()

    @app.get("/live")
    async def live() -> Response:
        async def gen() -> Any:
            yield "first;"
            for _ in range(500):
                if signal.is_set():
                    yield "second-after-the-client-saw-the-first"
                    return
                await asyncio.sleep(0.01)
            yield "second-timed-out"

        return StreamingResponse(gen(), media_type="text/plain")

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Response:
        return await call_next(request)

    app.add_middleware(GZipMiddleware, minimum_size=1)
    received = []
    with serve(app).stream("GET", "/live", headers={"Accept-Encoding": "gzip"}) as r:
        for chunk in r.iter_text():
            received.append(chunk)
            signal.set()
    assert "".join(received) == "first;second-after-the-client-saw-the-first"


def test_asgi_app_failing_mid_stream_ends_the_response(serve: Serve, front_door: str) -> None:
    """An exception after the response started can't become a 500: the stream is cut short."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("mid-stream")

    served: Any = ASGIAdapter(app) if front_door == "engine" else app
    client = serve(served)
    if front_door == "asgi":
        r = client.get("/")  # the TestClient keeps what was sent before the failure
        assert (r.status_code, r.content) == (200, b"partial")
        return
    with pytest.raises(httpx.HTTPError):
        client.get("/")


class ServerHeaderMiddleware:
    """The custom native middleware of docs/middleware.md."""

    def __init__(self, app: Any, value: str = "fulmen") -> None:
        self.app = app
        self.header = (b"server", value.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_with_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_header)

    def wrap_handle(self, handle: Any) -> Any:
        header = self.header

        async def with_header(request: Request) -> Response:
            response = await handle(request)
            response.raw_headers.append(header)
            return response

        return with_header


def test_custom_native_middleware_from_the_docs(serve: Serve, mode: str) -> None:
    app = make_app(mode)
    app.add_middleware(ServerHeaderMiddleware, value="docs")
    r = serve(app).get("/text")
    assert (r.text, r.headers.get_list("server")[-1]) == ("hello", "docs")
    assert app.asgi_middleware_installed is (mode == "asgi")


def test_a_middleware_that_fails_to_build_never_lets_requests_through() -> None:
    app = make_app()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com"])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["*bad.example"])  # raises when built
    with pytest.raises(AssertionError, match="Domain wildcard"):
        served_app(app)  # the engine's start-up fails
    # Still unbuilt: every later attempt fails again; no request is ever served without the middleware.
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/text", headers={"Host": "evil.com"}).status_code == 500
    assert client.get("/text", headers={"Host": "evil.com"}).status_code == 500
    with pytest.raises(AssertionError):
        app.handle(Request("GET", b"/text", b"", [(b"host", b"evil.com")]))
    assert not app.asgi_middleware_installed
