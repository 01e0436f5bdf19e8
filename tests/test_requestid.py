"""``RequestIdMiddleware`` through every front door, in both stack forms.

``native``: the middleware is the only one (a chain of handles, no ASGI on the engine); ``asgi``: a pure
ASGI pass-through is installed too, so the whole stack takes its ASGI form and the middleware runs
its ``__call__``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fastapi
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fulmen import BackgroundTasks, Depends, FastAPI, HTTPException, Request, WebSocket
from fulmen.engine.accesslog import JsonAccessFormatter
from fulmen.engine.server import served_app
from fulmen.middleware import UNBOUND_APP, is_native
from fulmen.middleware.requestid import (
    RequestIdFilter,
    RequestIdMiddleware,
    _new_id,
    get_request_id,
    request_id,
)
from fulmen.responses import FileResponse, PlainTextResponse, StreamingResponse
from fulmen.testclient import TestClient
from tests.crosscheck_apps import PassThrough
from tests.engine.conftest import EngineThread, RawConn

Serve = Callable[..., httpx.Client]
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(params=["native", "asgi"])
def stack(request: pytest.FixtureRequest) -> str:
    """The middleware stack's form: every layer native, or ASGI (a pure ASGI middleware installed too)."""
    return str(request.param)


def make_app(stack: str, **options: Any) -> FastAPI:
    app = FastAPI()
    if stack == "asgi":
        app.add_middleware(PassThrough)
    app.add_middleware(RequestIdMiddleware, **options)
    return app


def echo_app(stack: str, **options: Any) -> FastAPI:
    app = make_app(stack, **options)

    @app.get("/")
    async def root(request: Request) -> dict[str, Any]:
        return {
            "var": get_request_id(),
            "state": request.state.request_id,
            "header": request.headers.get(options.get("header_name", "X-Request-ID")),
        }

    return app


def test_is_native() -> None:
    assert is_native(RequestIdMiddleware)


def test_default_ids_are_uuid4_hex() -> None:
    """The default generator makes what ``uuid.uuid4().hex`` makes (version 4, RFC 4122 variant)."""
    ids = {_new_id() for _ in range(2000)}
    assert len(ids) == 2000
    for value in ids:
        assert HEX32.fullmatch(value)
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, value)


# -- the ID: made, taken, replaced ---------------------------------------------------------------------------
def test_generated_id_everywhere(serve: Serve, stack: str) -> None:
    client = serve(echo_app(stack))
    seen = set()
    for _ in range(3):
        response = client.get("/")
        rid = response.headers["x-request-id"]
        assert HEX32.fullmatch(rid)
        # update_request_header: the handler's own view of the header is the ID in use
        assert response.json() == {"var": rid, "state": rid, "header": rid}
        assert response.headers.get_list("x-request-id") == [rid]
        seen.add(rid)
    assert len(seen) == 3


@pytest.mark.parametrize(
    "incoming",
    ["abc", "0f3c9d2e-8b7a-4c1d-9e2f-3a4b5c6d7e8f", "Root=1-5759e988-bd862e3fe1be46a994272793", "a" * 128],
)
def test_valid_incoming_id_is_kept(serve: Serve, stack: str, incoming: str) -> None:
    response = serve(echo_app(stack)).get("/", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming
    assert response.json() == {"var": incoming, "state": incoming, "header": incoming}


@pytest.mark.parametrize(
    "incoming",
    ["a" * 129, "has space", 'quote"d', "semi;colon", "<script>", "tab\there", "caf\xe9", ""],
)
def test_invalid_incoming_id_is_replaced(
    serve: Serve, stack: str, incoming: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.requestid")
    response = serve(echo_app(stack)).get("/", headers=[(b"X-Request-ID", incoming.encode("latin-1"))])
    rid = response.headers["x-request-id"]
    assert HEX32.fullmatch(rid)
    assert response.json() == {"var": rid, "state": rid, "header": rid}
    # The bad value is never echoed: not in the response, not in the log.
    replaced = [r for r in caplog.records if r.name == "fulmen.requestid"]
    if incoming:
        assert incoming not in response.text
        assert all(incoming not in r.getMessage() for r in caplog.records)
        assert [r.getMessage() for r in replaced] == [
            "Replaced an invalid X-Request-ID request header with a new request ID"
        ]
    else:
        assert replaced == []  # an empty header counts as none


def test_first_of_repeated_headers_wins(serve: Serve, stack: str) -> None:
    response = serve(echo_app(stack)).get(
        "/", headers=[(b"x-request-id", b"first"), (b"x-request-id", b"second")]
    )
    assert response.headers["x-request-id"] == "first"


def test_options_header_generator_validator(serve: Serve, stack: str) -> None:
    counter = iter(range(1000))
    app = echo_app(
        stack,
        header_name="X-Correlation-ID",
        generator=lambda: f"gen-{next(counter)}",
        validator=lambda value: value.startswith("ok-"),
        max_length=10,
    )
    client = serve(app)
    first = client.get("/")
    assert "x-request-id" not in first.headers
    assert first.headers["x-correlation-id"].startswith("gen-")
    assert first.json()["header"] == first.headers["x-correlation-id"]
    assert client.get("/", headers={"X-Correlation-ID": "ok-1"}).headers["x-correlation-id"] == "ok-1"
    assert (
        client.get("/", headers={"X-Correlation-ID": "nope"}).headers["x-correlation-id"].startswith("gen-")
    )
    assert (
        client.get("/", headers={"X-Correlation-ID": "ok-1234567890"})
        .headers["x-correlation-id"]
        .startswith("gen-")
    )


def test_update_request_header_off(serve: Serve, stack: str) -> None:
    client = serve(echo_app(stack, update_request_header=False))
    body = client.get("/").json()
    assert body["header"] is None and HEX32.fullmatch(body["var"])
    body = client.get("/", headers={"X-Request-ID": "bad value"}).json()
    assert body["header"] == "bad value" and HEX32.fullmatch(body["var"])


# -- trust ---------------------------------------------------------------------------------------------------
def test_trust_incoming_false_never_reads(serve: Serve, stack: str) -> None:
    response = serve(echo_app(stack, trust_incoming=False)).get("/", headers={"X-Request-ID": "abc"})
    rid = response.headers["x-request-id"]
    assert HEX32.fullmatch(rid)
    assert response.json() == {"var": rid, "state": rid, "header": rid}


def test_trust_incoming_networks(serve: Serve, stack: str, front_door: str) -> None:
    untrusted = serve(echo_app(stack, trust_incoming=["10.0.0.0/8", "::1"]))
    assert HEX32.fullmatch(untrusted.get("/", headers={"X-Request-ID": "abc"}).headers["x-request-id"])
    trusted = serve(echo_app(stack, trust_incoming="127.0.0.0/8"))
    got = trusted.get("/", headers={"X-Request-ID": "abc"}).headers["x-request-id"]
    if front_door == "asgi":
        # TestClient's client is ("testclient", 50000): not an address, never trusted
        assert HEX32.fullmatch(got)
    else:
        assert got == "abc"  # a real socket from 127.0.0.1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"header_name": "X Request"}, "header_name must be an HTTP header name"),
        ({"header_name": ""}, "header_name must be an HTTP header name"),
        ({"trust_incoming": ["10.0.0.0/8", "proxy.local"]}, "'proxy.local' is not an IP address"),
        ({"trust_incoming": "10.0.0.300"}, "'10.0.0.300' is not an IP address"),
        ({"max_length": 0}, "max_length must be a positive int"),
        ({"generator": "uuid4"}, "generator must be a callable"),
        ({"validator": 3}, "validator must be a callable or None"),
    ],
)
def test_wrong_options_fail_at_start_up(options: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        RequestIdMiddleware(UNBOUND_APP, **options)
    # fulmen's engine builds the stack when it starts serving; TestClient (as an ASGI server) on first use.
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        served_app(echo_app("native", **options))
    app = echo_app("native", **options)
    with pytest.raises((ValueError, TypeError), match=re.escape(message)), TestClient(app) as client:
        client.get("/")


def test_generator_returning_non_str_is_a_500_with_a_clear_log(
    serve: Serve, caplog: pytest.LogCaptureFixture, front_door: str
) -> None:
    app = echo_app("native", generator=lambda: 42)
    response = serve(app).get("/")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    if front_door == "engine":  # the engine logs it itself (under an ASGI server the server does)
        errors = [r.exc_info[1] for r in caplog.records if r.exc_info]
        assert any("generator returned int, not str" in str(e) for e in errors), errors


# -- error answers carry the header --------------------------------------------------------------------------
def error_app(stack: str) -> FastAPI:
    app = make_app(stack)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout", headers={"X-Teapot": "yes"})

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/sync-boom")
    def sync_boom() -> None:
        raise RuntimeError("boom")

    return app


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),
        ("POST", "/items/1", 405),
        ("GET", "/items/one", 422),
        ("GET", "/teapot", 418),
        ("GET", "/boom", 500),
        ("GET", "/sync-boom", 500),
    ],
)
def test_error_answers_carry_the_id(serve: Serve, stack: str, method: str, path: str, status: int) -> None:
    client = serve(error_app(stack))
    response = client.request(method, path, headers={"X-Request-ID": f"err-{status}"})
    assert response.status_code == status
    assert response.headers.get_list("x-request-id") == [f"err-{status}"]
    if status != 500:
        assert "detail" in response.json()  # FastAPI's shapes are untouched


def test_500_with_custom_handler_carries_the_id(serve: Serve, stack: str) -> None:
    app = error_app(stack)

    @app.exception_handler(Exception)
    async def oops(request: Request, exc: Exception) -> PlainTextResponse:
        return PlainTextResponse(f"oops {get_request_id()}", status_code=500)

    response = serve(app).get("/boom", headers={"X-Request-ID": "custom-500"})
    assert response.status_code == 500
    assert response.text == "oops custom-500"
    assert response.headers.get_list("x-request-id") == ["custom-500"]


def test_only_a_mounted_sub_app_pays(serve: Serve) -> None:
    """The middleware on a mounted sub-app: its routes get IDs, the outer app's routes are untouched."""
    app = FastAPI()
    sub = FastAPI()
    sub.add_middleware(RequestIdMiddleware)

    @app.get("/")
    async def root(request: Request) -> dict[str, Any]:
        return {"var": get_request_id(), "state": getattr(request.state, "request_id", None)}

    @sub.get("/")
    async def sub_root() -> dict[str, Any]:
        return {"var": get_request_id()}

    app.mount("/traced", sub)
    client = serve(app)
    plain = client.get("/")
    assert "x-request-id" not in plain.headers
    assert plain.json() == {"var": None, "state": None}
    traced = client.get("/traced/")
    assert traced.json() == {"var": traced.headers["x-request-id"]}


def test_handler_setting_the_header_is_believed(serve: Serve, stack: str) -> None:
    app = make_app(stack)

    @app.get("/")
    async def root() -> PlainTextResponse:
        return PlainTextResponse("x", headers={"X-Request-ID": "mine"})

    assert serve(app).get("/").headers.get_list("x-request-id") == ["mine"]


def test_streamed_and_file_responses(serve: Serve, stack: str, tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"0123456789")
    app = make_app(stack)

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            yield f"{get_request_id()}|".encode()
            await asyncio.sleep(0)
            yield f"{get_request_id()}".encode()

        return StreamingResponse(parts(), media_type="text/plain")

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(path)

    client = serve(app)
    response = client.get("/stream", headers={"X-Request-ID": "s-1"})
    assert response.headers["x-request-id"] == "s-1"
    assert response.text == "s-1|s-1"  # the body is produced in the request's context
    response = client.get("/file", headers={"X-Request-ID": "f-1", "Range": "bytes=2-4"})
    assert (response.status_code, response.content, response.headers["x-request-id"]) == (206, b"234", "f-1")


# -- how far the contextvar reaches --------------------------------------------------------------------------
def test_contextvar_reaches_dependencies_threads_and_after_the_response(serve: Serve, stack: str) -> None:
    seen: dict[str, str | None] = {}
    done = threading.Event()
    app = make_app(stack)

    async def async_dep() -> AsyncIterator[None]:
        seen["yield_enter"] = get_request_id()
        yield
        seen["yield_exit"] = get_request_id()

    def sync_dep() -> str | None:
        seen["sync_dep_thread"] = request_id.get()
        return request_id.get()

    def background(name: str) -> None:
        seen[name] = get_request_id()

    async def async_background() -> None:
        seen["async_background"] = get_request_id()
        done.set()

    @app.get("/async")
    async def async_route(
        tasks: BackgroundTasks, _: None = Depends(async_dep), dep: Any = Depends(sync_dep)
    ) -> str:
        tasks.add_task(background, "sync_background")
        tasks.add_task(async_background)
        return str(dep)

    @app.get("/sync")
    def sync_route() -> str | None:
        return get_request_id()  # a ``def`` handler, in the thread pool

    client = serve(app)
    response = client.get("/async", headers={"X-Request-ID": "ctx-1"})
    assert response.json() == "ctx-1"
    assert done.wait(5)
    deadline = 50
    while "yield_exit" not in seen and deadline:  # the exit may run just after the response is out
        threading.Event().wait(0.02)
        deadline -= 1
    assert seen == {
        "yield_enter": "ctx-1",
        "sync_dep_thread": "ctx-1",
        "yield_exit": "ctx-1",
        "sync_background": "ctx-1",
        "async_background": "ctx-1",
    }
    assert client.get("/sync", headers={"X-Request-ID": "ctx-2"}).json() == "ctx-2"
    assert get_request_id() is None  # nothing leaks into the test's own context


def test_concurrent_requests_keep_their_own_id(serve: Serve, stack: str, front_door: str) -> None:
    app = make_app(stack)
    arrived = 0
    lock = threading.Lock()
    all_in = asyncio.Event()
    loops: list[asyncio.AbstractEventLoop] = []
    wanted = 8 if front_door != "asgi" else 1  # the TestClient sends one request at a time

    @app.get("/wait/{n}")
    async def wait(n: int) -> dict[str, Any]:
        nonlocal arrived
        before = get_request_id()
        with lock:
            arrived += 1
            if arrived >= wanted:
                all_in.set()
        # Every request is inside its handler at once before any answers: their contexts interleave.
        try:
            await asyncio.wait_for(all_in.wait(), 5)
        except TimeoutError:
            pass
        await asyncio.sleep(0)
        loops.append(asyncio.get_running_loop())
        return {"n": n, "before": before, "after": get_request_id()}

    client = serve(app)

    def one(n: int) -> tuple[int, dict[str, Any], str]:
        response = client.get(f"/wait/{n}", headers={"X-Request-ID": f"req-{n}"})
        return response.status_code, response.json(), response.headers["x-request-id"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    for n, (status, body, header) in enumerate(results):
        assert status == 200
        assert body == {"n": n, "before": f"req-{n}", "after": f"req-{n}"}
        assert header == f"req-{n}"


def test_websocket_sees_the_id() -> None:
    app = make_app("native")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"{get_request_id()}|{websocket.state.request_id}")
        await websocket.close()

    with (
        TestClient(app) as client,
        client.websocket_connect("/ws", headers={"X-Request-ID": "ws-1"}) as socket,
    ):
        assert socket.receive_text() == "ws-1|ws-1"


# -- logging -------------------------------------------------------------------------------------------------
@pytest.fixture
def app_log() -> Iterator[io.StringIO]:
    """A handler with ``RequestIdFilter`` on an app logger, formatting ``%(request_id)s``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter(default_value="-"))
    handler.setFormatter(logging.Formatter("%(request_id)s %(message)s"))
    logger = logging.getLogger("tests.requestid.app")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_logging_filter(serve: Serve, stack: str, app_log: io.StringIO) -> None:
    logger = logging.getLogger("tests.requestid.app")
    app = make_app(stack)

    @app.get("/log")
    async def log() -> str:
        logger.info("in the handler")
        return "ok"

    @app.get("/log-sync")
    def log_sync() -> str:
        logger.info("in a def handler")
        return "ok"

    client = serve(app)
    client.get("/log", headers={"X-Request-ID": "log-1"})
    client.get("/log-sync", headers={"X-Request-ID": "log-2"})
    logger.info("outside")
    assert app_log.getvalue().splitlines() == ["log-1 in the handler", "log-2 in a def handler", "- outside"]


def test_logging_filter_max_length_and_default() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert RequestIdFilter().filter(record) and record.request_id is None
    token = request_id.set("0123456789abcdef")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
        assert RequestIdFilter(max_length=8).filter(record) and record.request_id == "01234567"
    finally:
        request_id.reset(token)


def test_access_log_carries_the_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.access")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonAccessFormatter())
    access = logging.getLogger("fulmen.access")
    access.addHandler(handler)
    app = echo_app("native")
    plain = FastAPI()

    @plain.get("/")
    async def root() -> str:
        return "plain"

    engine = EngineThread(app, access_log=True)
    other = EngineThread(plain, access_log=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as client:
            rid = client.get("/").headers["x-request-id"]
            client.get("/missing", headers={"X-Request-ID": "given"})
        with httpx.Client(base_url=f"http://127.0.0.1:{other.port}") as client:
            client.get("/")
    finally:
        engine.stop()
        other.stop()
        access.removeHandler(handler)
    messages = [r.getMessage() for r in caplog.records if r.name == "fulmen.access"]
    assert messages[0].endswith(f'"GET / HTTP/1.1" 200 {rid}')
    assert messages[1].endswith('"GET /missing HTTP/1.1" 404 given')
    assert messages[2].endswith('"GET / HTTP/1.1" 200')  # no middleware: the line uvicorn writes
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("request_id") for line in lines] == [rid, "given", None]


# -- behaviour reference: asgi-correlation-id ----------------------------------------------------------------
def test_crosscheck_asgi_correlation_id(serve: Serve) -> None:
    """Same header behaviour as asgi-correlation-id (validator=None) on FastAPI, where both define it."""
    pytest.importorskip(
        "asgi_correlation_id", reason="pip install --target DIR asgi-correlation-id to cross-check"
    )
    from asgi_correlation_id import CorrelationIdMiddleware, correlation_id

    theirs = fastapi.FastAPI()
    theirs.add_middleware(CorrelationIdMiddleware, validator=None)

    @theirs.get("/")
    async def their_root(request: fastapi.Request) -> dict[str, Any]:
        return {"var": correlation_id.get(), "header": request.headers.get("x-request-id")}

    @theirs.get("/teapot")
    async def their_teapot() -> None:
        raise fastapi.HTTPException(418, "teapot")

    ours = FastAPI()
    ours.add_middleware(RequestIdMiddleware)

    @ours.get("/")
    async def our_root(request: Request) -> dict[str, Any]:
        return {"var": get_request_id(), "header": request.headers.get("x-request-id")}

    @ours.get("/teapot")
    async def our_teapot() -> None:
        raise HTTPException(418, "teapot")

    def shape(client: httpx.Client, path: str, headers: dict[str, str]) -> tuple[Any, ...]:
        response = client.get(path, headers=headers)
        rid = response.headers.get("x-request-id", "")
        body = response.json()
        if path == "/":
            assert body == {"var": rid, "header": rid}
        generated = bool(HEX32.fullmatch(rid)) and rid not in headers.values()
        return response.status_code, generated or rid, len(response.headers.get_list("x-request-id"))

    their_client = TestClient(theirs)
    our_client = serve(ours)
    for path, headers in [
        ("/", {}),
        ("/", {"X-Request-ID": "abc-123"}),
        ("/", {"x-request-id": "0f3c9d2e8b7a4c1d9e2f3a4b5c6d7e8f"}),
        ("/nowhere", {"X-Request-ID": "abc"}),
        ("/teapot", {"X-Request-ID": "abc"}),
    ]:
        assert shape(our_client, path, headers) == shape(their_client, path, headers), (path, headers)


def test_the_example_runs(serve: Serve) -> None:
    """examples/request_id.py, as docs/requestid.md shows it."""
    import importlib.util

    path = Path(__file__).parent.parent / "examples" / "request_id.py"
    spec = importlib.util.spec_from_file_location("example_request_id", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stream = io.StringIO()
    handler = module.handler
    handler.setStream(stream)
    try:
        response = serve(module.app).get("/items/3", headers={"X-Request-ID": "demo-1"})
    finally:
        module.log.removeHandler(handler)
    assert response.json() == {"item_id": 3, "request_id": "demo-1"}
    assert response.headers["x-request-id"] == "demo-1"
    assert stream.getvalue() == "INFO [demo-1] example: reading item 3\n"


def test_body_too_large_carries_the_id(serve: Serve, stack: str) -> None:
    app = FastAPI(max_body_size=10)
    if stack == "asgi":
        app.add_middleware(PassThrough)
    app.add_middleware(RequestIdMiddleware)

    @app.post("/")
    async def root(data: dict[str, Any]) -> dict[str, Any]:
        return data

    response = serve(app).post("/", json={"a": "x" * 100}, headers={"X-Request-ID": "big-1"})
    assert response.status_code == 413
    assert response.headers["x-request-id"] == "big-1"


def test_websocket_on_every_front_door(front_door: str) -> None:
    """A WebSocket endpoint sees the ID on the engine and under uvicorn (the stack's ASGI form serves it)."""
    from websockets.sync.client import connect

    from tests.conftest import _UvicornThread

    app = make_app("native")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"{get_request_id()}|{websocket.state.request_id}")
        await websocket.close()

    if front_door == "asgi":
        with (
            TestClient(app) as client,
            client.websocket_connect("/ws", headers={"X-Request-ID": "ws-2"}) as ws_,
        ):
            assert ws_.receive_text() == "ws-2|ws-2"
        return
    if front_door == "uvicorn":
        server = _UvicornThread(app)
        port, stop = server.port, server.stop
    else:
        engine = EngineThread(app)
        port, stop = engine.port, engine.stop
    try:
        with connect(f"ws://127.0.0.1:{port}/ws", additional_headers={"X-Request-ID": "ws-2"}) as socket:
            assert socket.recv(timeout=5) == "ws-2|ws-2"
    finally:
        stop()


@pytest.fixture(scope="module")
def engine_echo() -> Iterator[int]:
    """One engine serving the echo app for the property test (a server per example would be slow)."""
    engine = EngineThread(echo_app("native"))
    try:
        yield engine.port
    finally:
        engine.stop()


ALLOWED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~:+/=@")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.binary(max_size=200).filter(lambda b: b"\r" not in b and b"\n" not in b))
def test_any_incoming_value_is_kept_only_when_safe(engine_echo: int, value: bytes) -> None:
    """Whatever bytes a client sends as X-Request-ID (raw, on a socket): the response carries exactly that
    value when it is 1-128 safe characters, else a fresh uuid4 hex, never anything else and never a 500."""
    with RawConn(engine_echo) as conn:
        conn.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: " + value + b"\r\nConnection: close\r\n\r\n")
        response = conn.read_response()
    if response.status == 400:
        # Control characters: the engine's parser rejects the request before any middleware runs.
        assert any((c < 0x20 and c != 0x09) or c == 0x7F for c in value), value
        return
    assert response.status == 200
    rid = response.header("x-request-id")
    assert rid is not None
    seen = value.strip(b" \t")  # optional whitespace around a field value is not part of it (RFC 9110)
    if 0 < len(seen) <= 128 and set(seen) <= ALLOWED:
        assert rid == seen.decode("ascii")
    else:
        assert HEX32.fullmatch(rid), (value, rid)
    assert json.loads(response.body) == {"var": rid, "state": rid, "header": rid}


def test_cors_exposes_the_header_as_documented(serve: Serve) -> None:
    from fulmen.middleware.cors import CORSMiddleware

    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(
        CORSMiddleware, allow_origins=["https://app.example.com"], expose_headers=["X-Request-ID"]
    )

    @app.get("/")
    async def root() -> str:
        return "ok"

    response = serve(app).get("/", headers={"Origin": "https://app.example.com", "X-Request-ID": "cors-1"})
    assert response.headers["access-control-expose-headers"] == "X-Request-ID"
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["x-request-id"] == "cors-1"
