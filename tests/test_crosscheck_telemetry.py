"""Cross-check the built-in OpenTelemetry instrumentation (``telemetry={...}``) against FastAPI 0.165.

The same app is built with ``fastapi`` and ``fulmen`` (``build``), each with its own in-memory tracer, meter
and logger providers. FastAPI answers in-process; fulmen through every front door. Compared: the spans
(name, kind, status, parent, attributes), the metric points' attributes and counts, and the log records.
Attributes that name the connection (server address and port) differ by front door and are left out.
"""

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import fastapi
import httpx
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fulmen
import fulmen.telemetry
from fulmen.testclient import TestClient
from tests.test_websockets import Door

_CONNECTION_ATTRIBUTES = {"server.address", "server.port"}


class Sink:
    """In-memory providers for one app, and what they collected."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)
        self.logs = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider(shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.logs))

    def config(self, **options: Any) -> dict[str, Any]:
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "logger_provider": self.logger_provider,
            **options,
        }

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()

    def span_summary(self) -> list[tuple[Any, ...]]:
        spans = self.spans.get_finished_spans()
        ids = {s.context.span_id: s.name for s in spans}
        out = []
        for s in spans:
            attributes = {k: v for k, v in (s.attributes or {}).items() if k not in _CONNECTION_ATTRIBUTES}
            parent = ids.get(s.parent.span_id) if s.parent is not None else None
            out.append((s.name, s.kind.name, s.status.status_code.name, parent, sorted(attributes.items())))
        return sorted(out, key=repr)

    def metric_summary(self) -> list[tuple[Any, ...]]:
        data = self.reader.get_metrics_data()
        out: list[tuple[Any, ...]] = []
        if data is None:
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "count", None)
                        if value is None:
                            value = point.value
                        bounds = getattr(point, "explicit_bounds", None)
                        out.append(
                            (metric.name, metric.unit, sorted(point.attributes.items()), value, bounds)
                        )
        return sorted(out, key=repr)

    def log_summary(self) -> list[tuple[Any, ...]]:
        out = []
        for data in self.logs.get_finished_logs():
            record = data.log_record
            attributes = dict(record.attributes or {})
            attributes.pop("exception.stacktrace", None)
            out.append(
                (record.event_name, record.severity_text, str(record.body), sorted(attributes.items()))
            )
        return sorted(out, key=repr)


@pytest.fixture
def sinks() -> Iterator[Callable[[], Sink]]:
    made: list[Sink] = []

    def make() -> Sink:
        made.append(Sink())
        return made[-1]

    yield make
    for sink in made:
        sink.close()


class Failure(Exception):
    """Raised by an endpoint, answered by no handler: a 500."""


def build(fw: Any, config: dict[str, Any]) -> Any:
    """One app with a route of each kind the telemetry tells apart."""
    app = fw.FastAPI(telemetry=config)
    router = fw.APIRouter(prefix="/v1")

    def dependency(token: str = "t") -> str:
        return token

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, token: Annotated[str, fw.Depends(dependency)]) -> dict[str, Any]:
        return {"item_id": item_id, "token": token}

    @app.get("/sync")
    def sync_route() -> str:
        return "sync"

    @app.post("/create", status_code=201)
    async def create(payload: dict[str, int]) -> dict[str, int]:
        return payload

    @app.get("/fail")
    def fail() -> None:
        raise Failure("boom")

    @app.get("/denied")
    async def denied() -> None:
        raise fw.HTTPException(503, "Unavailable")

    @router.get("/users/{name}")
    async def user(name: str) -> fw.responses.PlainTextResponse:
        return fw.responses.PlainTextResponse(name)

    app.include_router(router)
    return app


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/items/3?page=2&sig=secret", {}),
    ("GET", "/items/x", {}),
    ("GET", "/sync", {}),
    ("GET", "/sync/", {}),
    ("POST", "/create", {"json": {"a": 1}}),
    ("POST", "/create", {"content": b"{", "headers": {"content-type": "application/json"}}),
    ("GET", "/fail", {}),
    ("GET", "/denied", {}),
    ("POST", "/sync", {}),
    ("PROPFIND", "/sync", {}),
    ("GET", "/missing", {}),
    ("GET", "/v1/users/ann", {}),
    ("DELETE", "/v1/users/ann", {}),
]


def _send(client: httpx.Client, method: str, path: str, options: dict[str, Any]) -> tuple[int, bytes]:
    response = client.request(method, path, follow_redirects=False, **options)
    return response.status_code, response.content


def _settle(sink: Sink, expected: Sink) -> None:
    # Over a real socket the client can see the response before the server span ends and the duration is
    # recorded: wait until fulmen's sink holds as many of both as FastAPI's.
    def count(of: Sink) -> tuple[int, int]:
        servers = [s for s in of.spans.get_finished_spans() if s.kind.name == "SERVER"]
        durations = [m for m in of.metric_summary() if m[0] == "http.server.request.duration"]
        return len(servers), sum(m[3] for m in durations)

    want = count(expected)
    deadline = time.monotonic() + 5
    while count(sink) != want and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("index", range(len(REQUESTS)), ids=[f"{m} {p}" for m, p, _ in REQUESTS])
def test_request_telemetry_matches_fastapi(
    serve: Callable[..., httpx.Client], sinks: Callable[[], Sink], index: int
) -> None:
    method, path, options = REQUESTS[index]
    expected_sink, actual_sink = sinks(), sinks()
    with TestClient(build(fastapi, expected_sink.config()), raise_server_exceptions=False) as c:
        expected = _send(c, method, path, options)
    actual = _send(serve(build(fulmen, actual_sink.config())), method, path, options)
    _settle(actual_sink, expected_sink)
    assert actual == expected
    assert actual_sink.span_summary() == expected_sink.span_summary()
    assert actual_sink.metric_summary() == expected_sink.metric_summary()
    assert actual_sink.log_summary() == expected_sink.log_summary()


@pytest.mark.parametrize(
    "options",
    [
        {"tracing": False},
        {"metrics": False},
        {"logs": False, "operation_spans": False},
        {"exclude": lambda scope: scope["path"] == "/sync"},
    ],
    ids=["no-tracing", "no-metrics", "no-logs-no-operations", "excluded"],
)
def test_configuration_matches_fastapi(
    serve: Callable[..., httpx.Client], sinks: Callable[[], Sink], options: dict[str, Any]
) -> None:
    expected_sink, actual_sink = sinks(), sinks()
    with TestClient(build(fastapi, expected_sink.config(**options)), raise_server_exceptions=False) as c:
        expected = [_send(c, "GET", p, {}) for p in ("/sync", "/fail")]
    client = serve(build(fulmen, actual_sink.config(**options)))
    actual = [_send(client, "GET", p, {}) for p in ("/sync", "/fail")]
    _settle(actual_sink, expected_sink)
    assert actual == expected
    assert actual_sink.span_summary() == expected_sink.span_summary()
    assert actual_sink.metric_summary() == expected_sink.metric_summary()
    assert actual_sink.log_summary() == expected_sink.log_summary()


def test_trace_context_is_propagated_from_the_request(
    serve: Callable[..., httpx.Client], sinks: Callable[[], Sink]
) -> None:
    sink = sinks()
    client = serve(build(fulmen, sink.config()))
    trace_id, parent_id = "0123456789abcdef0123456789abcdef", "0123456789abcdef"
    client.get("/sync", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    deadline = time.monotonic() + 5
    while not any(s.kind.name == "SERVER" for s in sink.spans.get_finished_spans()):
        assert time.monotonic() < deadline, "no server span"
        time.sleep(0.01)
    spans = sink.spans.get_finished_spans()
    assert {s.context.trace_id for s in spans} == {int(trace_id, 16)}
    (server,) = [s for s in spans if s.kind.name == "SERVER"]
    assert server.parent is not None and server.parent.span_id == int(parent_id, 16)


def test_no_telemetry_without_providers_or_opentelemetry() -> None:
    app = fulmen.FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    app.build_middleware_stack()
    assert app._native_telemetry is None
    assert not app.telemetry_enabled


def build_background(fw: Any, config: dict[str, Any], seen: list[Any]) -> Any:
    """Background tasks of every kind: a sync function, an async one, a partial, an async callable object."""
    from opentelemetry import trace

    app = fw.FastAPI(telemetry=config)

    def note(label: str) -> None:
        seen.append((label, getattr(trace.get_current_span(), "name", None)))

    async def async_note(label: str) -> None:
        note(label)

    class AsyncCallable:
        async def __call__(self, label: str) -> None:
            note(label)

    @app.get("/later")
    async def later(tasks: fw.BackgroundTasks) -> str:
        tasks.add_task(note, "sync")
        tasks.add_task(async_note, "async")
        tasks.add_task(functools.partial(async_note, "partial"))
        tasks.add_task(AsyncCallable(), "callable")
        return "ok"

    return app


def test_background_task_spans_match_fastapi(
    serve: Callable[..., httpx.Client], sinks: Callable[[], Sink]
) -> None:
    expected_sink, actual_sink = sinks(), sinks()
    expected_seen: list[Any] = []
    actual_seen: list[Any] = []
    with TestClient(build_background(fastapi, expected_sink.config(), expected_seen)) as c:
        expected = _send(c, "GET", "/later", {})
    actual = _send(serve(build_background(fulmen, actual_sink.config(), actual_seen)), "GET", "/later", {})
    deadline = time.monotonic() + 5
    while len(actual_seen) < len(expected_seen) and time.monotonic() < deadline:
        time.sleep(0.01)
    _settle(actual_sink, expected_sink)
    assert actual == expected
    assert actual_seen == expected_seen
    assert actual_sink.span_summary() == expected_sink.span_summary()


def test_async_callable_object_is_awaited_as_a_background_task() -> None:
    from fulmen.background import BackgroundTasks

    done: list[str] = []

    class Task:
        async def __call__(self, value: str) -> None:
            done.append(value)

    tasks = BackgroundTasks()
    tasks.add_task(Task(), "called")
    tasks.add_task(functools.partial(Task(), "partial"))
    asyncio.run(tasks())
    assert done == ["called", "partial"]


def build_websockets(fw: Any, config: dict[str, Any]) -> Any:
    """WebSocket routes: a served connection, an endpoint that fails, a path parameter that doesn't parse."""
    app = fw.FastAPI(telemetry=config)

    def room_name(room: str) -> str:
        return room.upper()

    @app.websocket("/echo/{room}")
    async def echo(websocket: fw.WebSocket, name: Annotated[str, fw.Depends(room_name)]) -> None:
        await websocket.accept()
        await websocket.send_text(name + ":" + await websocket.receive_text())
        await websocket.close()

    @app.websocket("/fail")
    async def fail(websocket: fw.WebSocket) -> None:
        await websocket.accept()
        raise Failure("boom")

    @app.websocket("/number/{value}")
    async def number(websocket: fw.WebSocket, value: int) -> None:
        await websocket.accept()
        await websocket.close()

    return app


def _converse(door: Any, path: str) -> str:
    """Connect, say hello, and report what came back (or how the connection ended)."""
    try:
        with door.connect(path) as session:
            session.send_text("hello")
            return str(session.receive_text())
    except Exception as exc:  # the failures differ by client; the telemetry is what is compared
        return type(exc).__name__


@pytest.mark.parametrize("path", ["/echo/lobby", "/fail", "/number/x"])
def test_websocket_telemetry_matches_fastapi(
    serve: Callable[..., httpx.Client], front_door: str, sinks: Callable[[], Sink], path: str
) -> None:
    expected_sink, actual_sink = sinks(), sinks()
    app = build_websockets(fastapi, expected_sink.config())
    with TestClient(app, raise_server_exceptions=False) as client:
        _converse(Door("asgi", client), path)
    _converse(Door(front_door, serve(build_websockets(fulmen, actual_sink.config()))), path)
    _settle(actual_sink, expected_sink)
    assert actual_sink.span_summary() == expected_sink.span_summary()
    assert actual_sink.log_summary() == expected_sink.log_summary()
    assert actual_sink.metric_summary() == expected_sink.metric_summary() == []


class OpenTelemetryMiddleware:
    """Stands in for opentelemetry-instrumentation-asgi's middleware (matched by module and name)."""

    __module__ = "opentelemetry.instrumentation.asgi"

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def test_contrib_asgi_middleware_turns_native_telemetry_off(
    serve: Callable[..., httpx.Client], sinks: Callable[[], Sink]
) -> None:
    expected_sink, actual_sink = sinks(), sinks()
    apps = []
    for fw, sink in ((fastapi, expected_sink), (fulmen, actual_sink)):
        app = build(fw, sink.config())
        app.add_middleware(OpenTelemetryMiddleware)
        apps.append(app)
    with TestClient(apps[0]) as client:
        expected = _send(client, "GET", "/sync", {})
    assert _send(serve(apps[1]), "GET", "/sync", {}) == expected
    assert expected_sink.span_summary() == actual_sink.span_summary() == []
    assert expected_sink.metric_summary() == actual_sink.metric_summary() == []


_GLOBAL_PROVIDER_SCRIPT = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fulmen
import fulmen.telemetry
from fulmen.testclient import TestClient

early = fulmen.FastAPI()
early.get("/")(lambda: "early")
with TestClient(early) as client:
    client.get("/")  # started before any provider was set: not instrumented (decided at start-up)
    client.get("/")
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
late = fulmen.FastAPI()
late.get("/")(lambda: "late")
with TestClient(late) as client:
    client.get("/")
print(sorted(span.name for span in exporter.get_finished_spans()))
with TestClient(early) as client:  # started again (lifespan startup) after the providers were set
    client.get("/")
print(len([span for span in exporter.get_finished_spans() if span.name == "GET /"]))
"""


def test_global_providers_instrument_apps_that_start_after_them() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FASTAPI_OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_PROVIDER_SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    names = ["GET /", "fastapi.dependencies", "fastapi.endpoint", "fastapi.serialization"]
    assert done.stdout.split("\n")[:2] == [repr(names), "2"]


def test_an_app_without_telemetry_never_imports_opentelemetry() -> None:
    import os
    import subprocess
    import sys

    script = (
        "import sys, fulmen\n"
        "from fulmen.testclient import TestClient\n"
        "app = fulmen.FastAPI()\n"
        "app.get('/')(lambda: 1)\n"
        "assert TestClient(app).get('/').json() == 1\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'opentelemetry'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_telemetry_data_for_a_processor(sinks: Callable[[], Sink]) -> None:
    """``get_telemetry_data()`` inside the request: the request, the parsed body, the values, the errors."""
    from opentelemetry.sdk.trace import SpanProcessor

    sink = sinks()
    seen: list[Any] = []

    class Reader(SpanProcessor):
        def on_end(self, span: Any) -> None:
            data = fulmen.telemetry.get_telemetry_data()
            if span.name == "fastapi.endpoint" and data is not None:
                seen.append((data.request.url.path, data.body, data.values, data.errors))

    sink.tracer_provider.add_span_processor(Reader())
    app = build(fulmen, sink.config())
    with TestClient(app) as client:
        assert client.post("/create", json={"a": 1}).status_code == 201
        assert client.post("/create", json={"a": "x"}).status_code == 422
    assert seen == [("/create", {"a": 1}, {"payload": {"a": 1}}, [])]
    assert fulmen.telemetry.get_telemetry_data() is None


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "not-a-url"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "console"},
    ],
    ids=["bad-url", "grpc", "console"],
)
def test_environment_configuration_errors_warn_as_fastapi(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sinks: Callable[[], Sink],
    env: dict[str, str],
) -> None:
    """A bad OTEL_* environment is a warning at startup; the app starts and its own providers still work."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FASTAPI_OTEL_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    warnings = []
    for fw in (fastapi, fulmen):
        sink = sinks()
        caplog.clear()
        app = build(fw, sink.config(auto_configure=True))
        with caplog.at_level(logging.WARNING), TestClient(app) as client:
            assert client.get("/sync").json() == "sync"
        assert [s.name for s in sink.spans.get_finished_spans() if s.kind.name == "SERVER"] == ["GET /sync"]
        warnings.append(
            [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING]
        )
    assert warnings[1] == warnings[0]
    assert len(warnings[0]) == 1


@pytest.mark.parametrize("path", ["/child/items/5", "/child/items/x", "/child/missing"])
def test_mounted_app_is_reported_by_its_parent(
    serve: Callable[..., httpx.Client], sinks: Callable[[], Sink], path: str
) -> None:
    """A plain app mounted in an instrumented one: the parent's span names the child's route template, and
    the child's steps are in operation spans under it, as in FastAPI."""

    def build_mounted(fw: Any, config: dict[str, Any]) -> Any:
        child = fw.FastAPI()

        @child.get("/items/{item_id}")
        def item(item_id: int) -> int:
            return item_id

        parent = fw.FastAPI(telemetry=config)
        parent.mount("/child", child)
        return parent

    expected_sink, actual_sink = sinks(), sinks()
    with TestClient(build_mounted(fastapi, expected_sink.config()), raise_server_exceptions=False) as client:
        expected = _send(client, "GET", path, {})
    actual = _send(serve(build_mounted(fulmen, actual_sink.config())), "GET", path, {})
    _settle(actual_sink, expected_sink)
    assert actual == expected
    assert actual_sink.span_summary() == expected_sink.span_summary()
    assert actual_sink.metric_summary() == expected_sink.metric_summary()


_LIFESPAN_PROVIDER_SCRIPT = """
import contextlib

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fulmen
from fulmen.testclient import TestClient

exporter = InMemorySpanExporter()


@contextlib.asynccontextmanager
async def lifespan(app):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield


app = fulmen.FastAPI(lifespan=lifespan)
app.get("/")(lambda: "ok")
with TestClient(app) as client:
    client.get("/")
print(sorted(span.name for span in exporter.get_finished_spans() if span.kind.name == "SERVER"))
"""


def test_global_providers_set_in_the_lifespan_instrument_the_app() -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FASTAPI_OTEL_"))}
    done = subprocess.run(
        [sys.executable, "-c", _LIFESPAN_PROVIDER_SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['GET /']"


def test_instrumented_routes_keep_their_body_limits(
    serve: Callable[..., httpx.Client], sinks: Callable[[], Sink]
) -> None:
    """Instrumenting recompiles the routes at start-up: the limits of the app, its mount point and the route
    itself must wrap the new handlers too."""
    sink = sinks()
    app = fulmen.FastAPI(telemetry=sink.config(), max_body_size=10)

    @app.post("/raw")
    async def raw(request: fulmen.Request) -> Any:
        return {"size": len(await request.body())}

    @app.post("/wide", max_body_size=100)
    async def wide(request: fulmen.Request) -> Any:
        return {"size": len(await request.body())}

    client = serve(app)
    assert client.post("/raw", content=b"x" * 17).status_code == 413
    assert client.post("/raw", content=b"x" * 5).json() == {"size": 5}
    assert client.post("/wide", content=b"x" * 50).json() == {"size": 50}
    assert client.post("/wide", content=b"x" * 101).status_code == 413
    assert sink.spans.get_finished_spans()  # the app was instrumented
