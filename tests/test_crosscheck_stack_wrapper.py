"""Cross-check of a ``build_middleware_stack`` wrapper set on the app instance, against FastAPI.

OpenTelemetry's ``FastAPIInstrumentor.instrument_app(app)`` replaces ``app.build_middleware_stack`` on the
instance with a function that calls the original, expects Starlette's ``ServerErrorMiddleware`` back, puts
its own layers around that middleware's ``.app`` and returns the result, which the app then serves.
``instrument`` below does the same with our own layers (no OpenTelemetry involved): a tracing-like layer
that names the request from ``scope["app"].routes`` before the app runs and reads ``scope["route"]`` after,
as OpenTelemetry's span name and ``http.target`` metric attribute do. fulmen must serve the wrapper's app,
through every front door, with or without its own middleware.
"""

import types
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.routing import Match

import fulmen
from tests.crosscheck_apps import PassThrough
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def span_name(scope: dict[str, Any]) -> str:
    """``"GET /items/{item_id}"`` for the request, found before the app answers (as a tracer names spans)."""
    template = None
    for route in scope["app"].routes:
        contexts = getattr(route, "effective_route_contexts", None)  # FastAPI's lazily included routers
        for candidate in contexts() if callable(contexts) else [route]:
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                return f"{scope['method']} {candidate.path}"
            if match is Match.PARTIAL and template is None:
                template = candidate.path
    return scope["method"] if template is None else f"{scope['method']} {template}"


class SpanLayer:
    """Names the request on the way in; reports the name and the route left in the scope on the way out."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        name = span_name(scope)

        async def reporting_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                target = getattr(scope.get("route"), "path_format", None) or "-"
                extra = [(b"x-span", name.encode()), (b"x-target", target.encode())]
                if "test.exception" in scope:  # seen by ExceptionRecorder before the 500 was sent
                    extra.append((b"x-exception", scope["test.exception"].encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, reporting_send)


class ExceptionRecorder:
    """Notes an exception on its way out (as a tracer records it on the open span) and lets it go on."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            scope["test.exception"] = type(exc).__name__
            raise


def instrument(app: Any) -> None:
    """Wrap ``app.build_middleware_stack`` on the instance, in OpenTelemetry's instrument_app manner."""
    original = app.build_middleware_stack

    def build_middleware_stack(self: Any) -> Any:
        outer = original()
        assert isinstance(outer, ServerErrorMiddleware), type(outer)
        recorder = ExceptionRecorder(outer.app)
        inner = ServerErrorMiddleware(app=recorder, handler=outer.handler, debug=outer.debug)
        return ServerErrorMiddleware(app=SpanLayer(inner))

    app.build_middleware_stack = types.MethodType(build_middleware_stack, app)


def build(fw: Any, middleware: str) -> Any:
    app = fw.FastAPI()
    router = fw.APIRouter(prefix="/api")

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> Any:
        return {"item_id": item_id}

    @app.post("/only-post")
    def only_post() -> Any:
        return {}

    @router.get("/users/{name}")
    def read_user(name: str) -> Any:
        return {"name": name}

    @app.get("/missing")
    def missing() -> Any:
        raise fw.HTTPException(404, "no such thing")

    @app.get("/boom")
    async def boom(request: fw.Request) -> Any:
        request.state.seen = "yes"
        raise LookupError("boom")

    @app.get("/boom-sync")
    def boom_sync() -> Any:
        raise KeyError("boom")

    @app.exception_handler(500)
    async def server_error(request: Any, exc: Exception) -> Any:
        state = getattr(request.state, "seen", None)
        return fw.responses.JSONResponse({"error": type(exc).__name__, "state": state}, status_code=500)

    app.include_router(router)
    if middleware == "native":

        @app.middleware("http")
        async def tag(request: Any, call_next: Any) -> Any:
            response = await call_next(request)
            response.headers["x-tag"] = "1"
            return response

    elif middleware == "asgi":
        app.add_middleware(PassThrough)
    instrument(app)
    return app


CASES: list[Case] = [
    ("path-param", "GET", "/items/3", {}),
    ("invalid-param", "GET", "/items/x", {}),
    ("included-router", "GET", "/api/users/ann", {}),
    ("wrong-method", "GET", "/only-post", {}),
    ("http-exception", "GET", "/missing", {}),
    # After an unhandled exception a server may close the connection (uvicorn does): ask for a fresh one.
    ("unhandled-exception", "GET", "/boom", {"headers": {"connection": "close"}}),
    ("unhandled-in-thread", "GET", "/boom-sync", {"headers": {"connection": "close"}}),
    ("not-found", "GET", "/nowhere", {}),
]
MIDDLEWARE = ["none", "native", "asgi"]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, dict[str, Answer]]:
    return {mw: fastapi_answers_for(lambda fw, mw=mw: build(fw, mw), CASES) for mw in MIDDLEWARE}


@pytest.mark.parametrize("middleware", MIDDLEWARE)
def test_wrapped_stack_serves_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, dict[str, Answer]], middleware: str
) -> None:
    assert_same_as_fastapi(serve(build(fulmen, middleware)), CASES, fastapi_answers[middleware])


def test_unwrapped_app_returns_itself_and_keeps_its_direct_path() -> None:
    """Without a wrapper nothing changes: the engine still calls ``handle`` directly."""
    app = fulmen.FastAPI()
    assert app.build_middleware_stack() is app
    assert not app.asgi_middleware_installed


def test_otel_middleware_in_the_wrapper_silences_native_telemetry() -> None:
    """As FastAPI 0.165: OpenTelemetry's contrib middleware in the stack reports requests; fulmen doesn't."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from fulmen.testclient import TestClient

    # A stand-in with contrib's module and class name: fulmen recognises the layer by them.
    otel_like = type(
        "OpenTelemetryMiddleware", (SpanLayer,), {"__module__": "opentelemetry.instrumentation.asgi"}
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = fulmen.FastAPI(telemetry={"tracer_provider": provider})

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> Any:
        return {"item_id": item_id}

    original = app.build_middleware_stack

    def build_middleware_stack(self: Any) -> Any:
        return ServerErrorMiddleware(app=otel_like(original().app))

    app.build_middleware_stack = types.MethodType(build_middleware_stack, app)  # type: ignore[method-assign]
    with TestClient(app) as client:
        r = client.get("/items/1")
    assert r.headers["x-span"] == "GET /items/{item_id}" and r.headers["x-target"] == "/items/{item_id}"
    assert exporter.get_finished_spans() == ()


class Tag:
    """A pure ASGI middleware adding ``x-tag`` to every response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def tagging_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-tag", b"1")]}
            await send(message)

        await self.app(scope, receive, tagging_send)


@pytest.mark.parametrize("fw_name", ["fastapi", "fulmen"])
def test_middleware_stack_reset_lets_middleware_be_added(fw_name: str) -> None:
    """Starlette's ``app.middleware_stack``: None until built; set to None, the stack is built again."""
    import fastapi

    from fulmen.testclient import TestClient

    fw = fastapi if fw_name == "fastapi" else fulmen
    app = fw.FastAPI()

    @app.get("/")
    def root() -> Any:
        return "root"

    assert app.middleware_stack is None
    client = TestClient(app)
    assert "x-tag" not in client.get("/").headers
    assert app.middleware_stack is not None
    with pytest.raises(RuntimeError, match="Cannot add middleware after an application has started"):
        app.add_middleware(Tag)
    app.middleware_stack = None
    app.add_middleware(Tag)
    r = client.get("/")
    assert (r.status_code, r.json(), r.headers["x-tag"]) == (200, "root", "1")


@pytest.mark.parametrize("fw_name", ["fastapi", "fulmen"])
def test_unwrapping_after_start_serves_the_plain_stack(fw_name: str) -> None:
    """OpenTelemetry's uninstrument_app: the original method back, ``middleware_stack`` set to its result."""
    import fastapi

    from fulmen.testclient import TestClient

    fw = fastapi if fw_name == "fastapi" else fulmen
    app = build(fw, "asgi")
    client = TestClient(app)
    assert client.get("/items/1").headers["x-span"] == "GET /items/{item_id}"
    app.build_middleware_stack = type(app).build_middleware_stack.__get__(app)  # contrib's saved original
    app.middleware_stack = app.build_middleware_stack()
    r = client.get("/items/1")
    assert (r.status_code, r.json(), "x-span" in r.headers) == (200, {"item_id": 1}, False)


def test_wrapper_runs_once(serve: Callable[..., httpx.Client]) -> None:
    """fulmen builds with its own method and calls the wrapper once, when the app is first called."""
    app = build(fulmen, "none")
    wrapper = app.build_middleware_stack
    calls = []

    def counting(self: Any) -> Any:
        calls.append(1)
        return wrapper()

    app.build_middleware_stack = types.MethodType(counting, app)
    client = serve(app)
    assert [client.get("/items/1").headers["x-span"] for _ in range(2)] == ["GET /items/{item_id}"] * 2
    assert len(calls) == 1
