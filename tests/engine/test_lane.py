"""The compiled engine's lane (fulmen.engine.lane, _lane.pyx): same bytes as HttpProtocol, or HttpProtocol's.

Every request below goes to one server with the lane and one without (``FULMEN_LANE=0``), and the answers
must be the same, byte for byte apart from the date: the lane may only answer what it answers exactly like
HttpProtocol, and hand everything else over without losing a byte. The lane exists only in a compiled build
(``FULMEN_COMPILE=1``); CI's compiled job sets FULMEN_EXPECT_COMPILED=1, and these tests fail there if the
lane is missing.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from fulmen import FastAPI, HTTPException, Request
from fulmen.background import BackgroundTasks
from fulmen.engine import lane
from fulmen.exceptions import FastAPIDeprecationWarning
from fulmen.responses import JSONResponse, PlainTextResponse
from tests.engine.conftest import TEST_SETTINGS, EngineThread, RawConn

if not lane.available():
    if os.environ.get("FULMEN_EXPECT_COMPILED") == "1":
        raise RuntimeError(
            "FULMEN_EXPECT_COMPILED=1 but fulmen.engine._lane is missing: the lane wasn't built"
        )
    pytest.skip(
        "the lane is only in a compiled build (FULMEN_COMPILE=1 pip install .), or FULMEN_LANE=0",
        allow_module_level=True,
    )

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("lane_test_var")
SEEN: list[Any] = []


class Custom(Exception):
    pass


class Point(msgspec.Struct):
    x: int
    y: int


class UserModel(BaseModel):
    name: str
    age: int


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/")
    async def root():
        return {"message": "Hello, World!"}

    @app.get("/created", status_code=201)
    async def created():
        return {"ok": True}

    @app.get("/nested")
    async def nested():
        return {"a": {"b": [1, 2.5, None]}, "c": "d"}

    @app.get("/float")
    async def floats():
        return {"x": 1.5, "big": 1e20}

    @app.get("/big")
    async def big():
        return {"n": 2**70}

    @app.get("/sa")
    async def sa():
        return {"_sa_instance_state": 1, "k": "v", "_other": 2}

    @app.get("/list")
    async def a_list():
        return [1, "two", False]

    @app.get("/struct")
    async def struct():
        return Point(1, 2)

    @app.get("/response")
    async def response():
        r = JSONResponse({"r": 1}, headers={"x-a": "b"})
        r.set_cookie("c", "d")
        return r

    @app.get("/text")
    async def text():
        return PlainTextResponse("plain")

    @app.get("/teapot")
    async def teapot():
        raise HTTPException(418, "short and stout", headers={"x-tea": "1"})

    @app.get("/boom")
    async def boom():
        raise RuntimeError("boom")

    @app.get("/custom")
    async def custom():
        raise Custom()

    @app.exception_handler(Custom)
    async def on_custom(request: Request, exc: Custom) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "trace": request.headers.get("x-trace"),
                "path": request.url.path,
                "query": request.url.query,
                "method": request.method,
                "body": body.decode(),
            },
            status_code=409,
        )

    @app.get("/sleep")
    async def sleep():
        await asyncio.sleep(0.01)
        return {"slept": True}

    @app.get("/sleep-raise")
    async def sleep_raise():
        await asyncio.sleep(0.01)
        raise HTTPException(404, "gone after a while")

    @app.get("/task")
    async def task():
        return {"task": asyncio.current_task() is not None}

    @app.get("/ctx")
    async def ctx():
        before = VAR.get("unset")
        VAR.set("set by /ctx")
        return {"before": before}

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        return {"item_id": item_id}

    @app.get("/items/me")  # declared after the template: /items/{item_id} answers it (422)
    async def me():
        return {"me": "never"}

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        return {"client": request.client.host if request.client else None, "host": request.headers["host"]}

    @app.get("/annotated")  # a return annotation is a response model: HttpProtocol's
    async def annotated() -> dict[str, int]:
        return {"a": 1}

    @app.post("/points")
    async def post_point(point: Point):
        return {"x": point.x, "y": point.y}

    @app.post("/users")
    async def post_user(user: UserModel):
        if user.name == "raise":
            raise Custom()
        return {"name": user.name, "age": user.age}

    @app.post("/")
    async def post_root():
        return {"posted": True}

    return app


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[EngineThread, EngineThread]]:
    with_lane = EngineThread(make_app(), **TEST_SETTINGS)
    os.environ[lane.ENV] = "0"
    try:
        without = EngineThread(make_app(), **TEST_SETTINGS)
    finally:
        del os.environ[lane.ENV]
    yield with_lane, without
    with_lane.stop()
    without.stop()


H = b"Host: t\r\n"
JSON = b"Content-Type: application/json\r\n"
POINT = b'{"x":1,"y":2}'
USER = b'{"name":"Ada","age":36}'


def _post(path: bytes, body: bytes, extra: bytes = b"", ctype: bytes = JSON) -> list[bytes]:
    """One read: a POST of ``body`` to ``path`` (``ctype``: the Content-Type line, or none)."""
    return [
        b"POST "
        + path
        + b" HTTP/1.1\r\n"
        + H
        + ctype
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    ]


CASES: dict[str, list[bytes]] = {
    "plain": [b"GET / HTTP/1.1\r\n" + H + b"\r\n"],
    "query": [b"GET /?a=1&b=%20 HTTP/1.1\r\n" + H + b"\r\n"],
    "status 201": [b"GET /created HTTP/1.1\r\n" + H + b"\r\n"],
    "nested": [b"GET /nested HTTP/1.1\r\n" + H + b"\r\n"],
    "floats": [b"GET /float HTTP/1.1\r\n" + H + b"\r\n"],
    "int over 64 bits": [b"GET /big HTTP/1.1\r\n" + H + b"\r\n"],
    "_sa keys": [b"GET /sa HTTP/1.1\r\n" + H + b"\r\n"],
    "list": [b"GET /list HTTP/1.1\r\n" + H + b"\r\n"],
    "struct": [b"GET /struct HTTP/1.1\r\n" + H + b"\r\n"],
    "response": [b"GET /response HTTP/1.1\r\n" + H + b"\r\n"],
    "text": [b"GET /text HTTP/1.1\r\n" + H + b"\r\n"],
    "HTTPException": [b"GET /teapot HTTP/1.1\r\n" + H + b"\r\n"],
    "unhandled": [b"GET /boom HTTP/1.1\r\n" + H + b"\r\n"],
    "custom handler": [b"GET /custom?q=1 HTTP/1.1\r\n" + H + b"X-Trace:  abc \r\n\r\n"],
    "suspends": [b"GET /sleep HTTP/1.1\r\n" + H + b"\r\n"],
    "suspends, raises": [b"GET /sleep-raise HTTP/1.1\r\n" + H + b"\r\n"],
    "current task": [b"GET /task HTTP/1.1\r\n" + H + b"\r\n"],
    "shadowed static": [b"GET /items/me HTTP/1.1\r\n" + H + b"\r\n"],
    "template": [b"GET /items/3 HTTP/1.1\r\n" + H + b"\r\n"],
    "template, query": [b"GET /items/-3?x=1 HTTP/1.1\r\n" + H + b"\r\n"],
    "template, invalid": [b"GET /items/abc HTTP/1.1\r\n" + H + b"\r\n"],
    "template, int over 64 bits": [b"GET /items/123456789012345678901234567890 HTTP/1.1\r\n" + H + b"\r\n"],
    "template, empty segment": [b"GET /items/ HTTP/1.1\r\n" + H + b"\r\n"],
    "template, deeper": [b"GET /items/3/x HTTP/1.1\r\n" + H + b"\r\n"],
    "template, percent-encoded": [b"GET /items/%33 HTTP/1.1\r\n" + H + b"\r\n"],
    "response model": [b"GET /annotated HTTP/1.1\r\n" + H + b"\r\n"],
    "POST Struct": _post(b"/points", POINT),
    "POST model": _post(b"/users", USER),
    "POST model, query": _post(b"/users?x=1", USER),
    "POST model, handler raises": _post(b"/users", b'{"name":"raise","age":36}'),
    "POST invalid": _post(b"/users", b'{"name":"Ada","age":"x"}'),
    "POST not JSON": _post(b"/points", b'{"x":'),
    "POST missing body": _post(b"/points", b""),
    "POST text/plain": _post(b"/points", POINT, ctype=b"Content-Type: text/plain\r\n"),
    "POST no content type": _post(b"/points", POINT, ctype=b""),
    "POST charset": _post(b"/points", POINT, ctype=b"Content-Type: application/json; charset=utf-8\r\n"),
    "POST two content types": _post(b"/points", POINT, ctype=b"Content-Type: text/plain\r\n" + JSON),
    "POST Expect": _post(b"/points", POINT, extra=b"Expect: 100-continue\r\n"),
    "POST chunked": [
        b"POST /points HTTP/1.1\r\n"
        + H
        + JSON
        + b"Transfer-Encoding: chunked\r\n\r\nd\r\n"
        + POINT
        + b"\r\n0\r\n\r\n"
    ],
    "POST body in two reads": [_post(b"/points", POINT)[0][:-5], _post(b"/points", POINT)[0][-5:]],
    "PUT": [_post(b"/points", POINT)[0].replace(b"POST", b"PUT", 1)],
    "404": [b"GET /nope HTTP/1.1\r\n" + H + b"\r\n"],
    "trailing slash": [b"GET /nested/ HTTP/1.1\r\n" + H + b"\r\n"],
    "percent-encoded": [b"GET /%6Eested HTTP/1.1\r\n" + H + b"\r\n"],
    "fragment": [b"GET /?x#frag HTTP/1.1\r\n" + H + b"\r\n"],
    "absolute-form": [b"GET http://other:81/ HTTP/1.1\r\n" + H + b"\r\n"],
    "POST": [b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0\r\n\r\n"],
    "HEAD": [b"HEAD / HTTP/1.1\r\n" + H + b"\r\n"],
    "GET with a body": [b"GET / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc"],
    "GET chunked": [b"GET / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
    "HTTP/1.0": [b"GET / HTTP/1.0\r\n\r\n"],
    "HTTP/1.0 keep-alive": [b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"],
    "Connection: close": [b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n"],
    "Connection: Keep-Alive": [b"GET / HTTP/1.1\r\n" + H + b"Connection: Keep-Alive\r\n\r\n"],
    "upper-case HOST": [b"GET / HTTP/1.1\r\nHOST: t\r\n\r\n"],
    "missing Host": [b"GET / HTTP/1.1\r\n\r\n"],
    "two Hosts": [b"GET / HTTP/1.1\r\n" + H + H + b"\r\n"],
    "bad Host": [b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"],
    "Host with trailing space": [b"GET / HTTP/1.1\r\nHost: t  \r\n\r\n"],
    "too many headers": [
        b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(25)) + b"\r\n"
    ],
    "header bytes over the limit": [b"GET / HTTP/1.1\r\n" + H + b"X-Big: " + b"v" * 5000 + b"\r\n\r\n"],
    "malformed": [b"GET / HTTP/1.1\r\nHost t\r\n\r\n"],
    "pipelined": [b"GET / HTTP/1.1\r\n" + H + b"\r\nGET /nested HTTP/1.1\r\n" + H + b"\r\n"],
    "pipelined, second partial": [
        b"GET / HTTP/1.1\r\n" + H + b"\r\nGET /nes",
        b"ted HTTP/1.1\r\n" + H + b"\r\n",
    ],
    "head in two reads": [b"GET / HTT", b"P/1.1\r\n" + H + b"\r\n"],
    "forwarded from a trusted peer": [b"GET /echo HTTP/1.1\r\n" + H + b"X-Forwarded-For: 10.1.2.3\r\n\r\n"],
    "forwarded to a lane route": [b"GET / HTTP/1.1\r\n" + H + b"X-Forwarded-For: 10.1.2.3\r\n\r\n"],
    "WebSocket upgrade": [
        b"GET / HTTP/1.1\r\n" + H + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ],
}
RESPONSES = {"pipelined": 2, "pipelined, second partial": 2}


def _conversation(port: int, chunks: list[bytes], count: int) -> list[tuple[Any, ...]]:
    """The responses to ``chunks`` (sent as separate reads), then to a plain GET / on the same connection."""
    out: list[tuple[Any, ...]] = []
    with RawConn(port) as conn:
        for chunk in chunks:
            conn.send(chunk)
            time.sleep(0.05)
        for _ in range(count):
            out.append(_shape(conn))
        if conn.is_closed(0.2):
            out.append(("closed",))
            return out
        conn.send(b"GET / HTTP/1.1\r\n" + H + b"\r\n")
        out.append(_shape(conn))
    return out


def _shape(conn: RawConn) -> tuple[Any, ...]:
    try:
        r = conn.read_response()
    except (ConnectionError, TimeoutError, OSError) as exc:
        return ("no response", type(exc).__name__)
    headers = [(k.lower(), v) for k, v in r.headers if k.lower() != "date"]
    return (r.status, headers, r.body)


@pytest.mark.parametrize("case", list(CASES))
def test_lane_answers_as_httpprotocol(servers: tuple[EngineThread, EngineThread], case: str) -> None:
    with_lane, without = servers
    chunks = CASES[case]
    count = RESPONSES.get(case, 1)
    expected = _conversation(without.port, chunks, count)
    got = _conversation(with_lane.port, chunks, count)
    assert got == expected


def test_lane_routes_are_the_simple_ones() -> None:
    table = lane.lane_table(make_app())
    assert set(table.static) == {
        b"/",
        b"/created",
        b"/nested",
        b"/float",
        b"/big",
        b"/sa",
        b"/list",
        b"/struct",
        b"/response",
        b"/text",
        b"/teapot",
        b"/boom",
        b"/custom",
        b"/sleep",
        b"/sleep-raise",
        b"/task",
        b"/ctx",
    }  # not /items/me (the template declared first answers it), /echo (a Request), /annotated, POST /
    assert table.static[b"/created"][2].startswith(b"HTTP/1.1 201 Created\r\n")
    assert set(table.templates) == {b"/items/"}
    assert set(table.posts) == {b"/points", b"/users"}  # not POST / (no body parameter)
    assert b"/items/me" in table.static_paths


def test_templates_another_route_could_match_are_not_lane_routes() -> None:
    app = FastAPI()

    @app.get("/users/{uid}")
    async def user(uid: int):
        return {"uid": uid}

    @app.get("/a/{x}")
    async def a(x: str):
        return {"x": x}

    @app.get("/{section}/{page}")
    async def page(section: str, page: str):
        return {}

    @app.get("/files/{rest:path}")
    async def files(rest: str):
        return {}

    @app.get("/b/{y}", dependencies=[])
    async def b(y: str, q: int = 0):  # a query parameter too
        return {}

    @app.get("/c/{z:int}")  # a convertor
    async def c(z: int):
        return {}

    @app.get("/d/item-{w}")  # not the whole segment
    async def d(w: str):
        return {}

    assert lane.lane_table(app).templates == {}  # /{section}/{page} could answer /users/1 and /a/x

    app2 = FastAPI()
    app2.get("/users/{uid}")(user)
    app2.get("/files/{rest:path}")(files)
    assert set(lane.lane_table(app2).templates) == {b"/users/"}
    app2.get("/{rest:path}")(files)
    assert lane.lane_table(app2).templates == {}


def test_apps_with_middleware_or_a_root_path_have_no_lane() -> None:
    from fulmen.middleware.gzip import GZipMiddleware

    app = make_app()
    app.add_middleware(GZipMiddleware)
    app.build_middleware_stack()
    assert lane.lane_table(app) == ({}, {}, frozenset(), {})
    with pytest.warns(FastAPIDeprecationWarning):
        assert lane.lane_table(FastAPI(root_path="/api")) == ({}, {}, frozenset(), {})

    other = FastAPI()

    @other.get("/dep", dependencies=[])
    async def plain():
        return {}

    @other.get("/model", response_model=dict[str, int])
    async def model() -> dict[str, int]:
        return {}

    @other.get("/class", response_class=PlainTextResponse)
    async def cls() -> str:
        return "x"

    @other.get("/sync")
    def sync() -> dict[str, int]:
        return {}

    assert set(lane.lane_table(other).static) == {b"/dep"}


def test_servers_with_a_root_path_or_the_access_log_have_no_lane(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="fulmen.access")  # the access log is on only when it would log
    for settings in ({"root_path": "/api"}, {"access_log": True}):
        engine = EngineThread(make_app(), **{**TEST_SETTINGS, **settings})
        try:
            with RawConn(engine.port) as conn:
                assert conn.request("GET", "/").status == 200
                assert {type(c).__name__ for c in engine.connections()} != {"LaneProtocol"}
        finally:
            engine.stop()


def test_connections_stay_on_the_lane_until_a_request_it_cannot_answer(
    servers: tuple[EngineThread, EngineThread],
) -> None:
    with_lane, _ = servers
    with RawConn(with_lane.port) as conn:
        for _ in range(3):
            assert conn.request("GET", "/").status == 200
        kinds = {type(c).__name__ for c in with_lane.connections()}
        assert "LaneProtocol" in kinds
        assert conn.request("GET", "/sleep").body == b'{"slept":true}'  # it waits for the endpoint itself
        assert conn.request("GET", "/items/7").body == b'{"item_id":7}'
        json = {"Content-Type": "application/json"}
        assert conn.request("POST", "/points", json, b'{"x":1,"y":2}').body == b'{"x":1,"y":2}'
        assert conn.request("POST", "/users", json, b'{"name":"A","age":1}').body == b'{"name":"A","age":1}'
        assert {type(c).__name__ for c in with_lane.connections()} == kinds
        assert conn.request("GET", "/nope").status == 404  # handed over...
        assert conn.request("GET", "/").status == 200  # ...and HttpProtocol answers from then on
        kinds = {type(c).__name__ for c in with_lane.connections()}
        assert kinds == {"HttpProtocol"}


def test_every_request_runs_in_its_own_context_and_task(servers: tuple[EngineThread, EngineThread]) -> None:
    with_lane, _ = servers
    with RawConn(with_lane.port) as conn:
        first = conn.request("GET", "/ctx")
        second = conn.request("GET", "/ctx")
        assert first.body == second.body == b'{"before":"unset"}'
        assert conn.request("GET", "/task").body == b'{"task":true}'


def test_lane_requests_count_for_max_requests(servers: tuple[EngineThread, EngineThread]) -> None:
    with_lane, _ = servers
    state = with_lane.server.state
    assert state is not None
    before = state.total_requests
    with RawConn(with_lane.port) as conn:
        for _ in range(5):
            conn.request("GET", "/")
    assert state.total_requests == before + 5


def test_background_tasks_of_a_returned_response_run_in_the_requests_context() -> None:
    app = FastAPI()

    async def note() -> None:
        SEEN.append(VAR.get("unset"))

    @app.get("/bg")
    async def bg() -> JSONResponse:
        VAR.set("from the handler")
        return JSONResponse({"ok": True}, background=_tasks(note))

    engine = EngineThread(app, **TEST_SETTINGS)
    try:
        SEEN.clear()
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/bg").status == 200
            deadline = time.monotonic() + 5
            while not SEEN and time.monotonic() < deadline:
                time.sleep(0.01)
        assert SEEN == ["from the handler"]
    finally:
        engine.stop()


def _tasks(fn: Any) -> BackgroundTasks:
    tasks = BackgroundTasks()
    tasks.add_task(fn)
    return tasks


def test_idle_lane_connections_close_after_the_keep_alive_timeout() -> None:
    engine = EngineThread(make_app(), **{**TEST_SETTINGS, "keep_alive_timeout": 0.3})
    try:
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/").status == 200
            time.sleep(0.15)
            assert conn.request("GET", "/").status == 200  # activity moves the deadline
            assert not conn.is_closed(0.15)
            assert conn.is_closed(2.0)
    finally:
        engine.stop()


def test_shutdown_closes_idle_lane_connections_and_finishes_running_ones() -> None:
    engine = EngineThread(make_app(), **TEST_SETTINGS)
    idle = RawConn(engine.port)
    busy = RawConn(engine.port)
    try:
        assert idle.request("GET", "/").status == 200
        busy.send(b"GET /sleep HTTP/1.1\r\n" + H + b"\r\n")
        started = time.monotonic()
        engine.stop()
        assert time.monotonic() - started < 5
        assert busy.read_response().body == b'{"slept":true}'
        assert idle.is_closed(2.0)
    finally:
        idle.close()
        busy.close()


def test_over_the_connection_cap_the_answer_is_503() -> None:
    engine = EngineThread(make_app(), **{**TEST_SETTINGS, "max_connections": 1})
    try:
        with RawConn(engine.port) as first:
            assert first.request("GET", "/").status == 200
            with RawConn(engine.port) as second:
                assert second.read_response().status == 503
    finally:
        engine.stop()
