"""Server-Sent Events: the wire format, ServerSentEvent checks, EventSourceResponse on every front door,
keep-alive pings and disconnects."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pydantic
import pytest

import fulmen.sse
from fulmen import FastAPI
from fulmen.responses import EventSourceResponse, Response, StreamingResponse
from fulmen.sse import (
    KEEPALIVE_COMMENT,
    ServerSentEvent,
    encode_event,
    event_source_response,
    format_sse_event,
)
from tests.engine.conftest import RawConn

pytestmark = pytest.mark.timeout(30)


class Point(pydantic.BaseModel):
    x: int
    label: str = "p"


# -- wire format ---------------------------------------------------------------------------------------------
def test_format_every_field() -> None:
    assert format_sse_event(data_str="hi", event="greet", id="7", retry=1500, comment="note") == (
        b": note\nevent: greet\ndata: hi\nid: 7\nretry: 1500\n\n"
    )


def test_format_splits_lines_on_every_terminator() -> None:
    assert format_sse_event(data_str="a\r\nb\rc\nd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert format_sse_event(comment="one\ntwo") == b": one\n: two\n\n"
    assert format_sse_event(data_str="end\n") == b"data: end\ndata: \n\n"
    assert format_sse_event() == b"\n"


def test_encode_items() -> None:
    assert encode_event({"a": 1, "b": [1.5, float("inf")]}) == b'data: {"a": 1, "b": [1.5, null]}\n\n'
    assert encode_event("hello") == b'data: "hello"\n\n'
    assert encode_event("é") == b'data: "\\u00e9"\n\n'
    assert encode_event(Point(x=1)) == b'data: {"x": 1, "label": "p"}\n\n'  # jsonable_encoder + json.dumps
    assert encode_event(ServerSentEvent(data=Point(x=2), event="pt")) == (
        b'event: pt\ndata: {"x":2,"label":"p"}\n\n'
    )
    assert encode_event(ServerSentEvent(raw_data="<b>x</b>\nline2")) == b"data: <b>x</b>\ndata: line2\n\n"
    assert encode_event(ServerSentEvent(comment="ping")) == b": ping\n\n"
    assert encode_event(ServerSentEvent(data=None, id="5", retry=0)) == b"id: 5\nretry: 0\n\n"
    assert encode_event(3, serialize=lambda item: f"<{item}>") == b"data: <3>\n\n"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": 1, "raw_data": "x"}, "Cannot set both 'data' and 'raw_data'"),
        ({"event": "a\nb"}, "SSE 'event' must be a single line"),
        ({"id": "a\rb"}, "SSE 'id' must be a single line"),
        ({"id": "a\0b"}, "SSE 'id' must not contain null characters"),
        ({"retry": -1}, "SSE 'retry' must be an integer >= 0"),
    ],
)
def test_server_sent_event_checks(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerSentEvent(**kwargs)


def test_server_sent_event_value_semantics() -> None:
    assert ServerSentEvent(data=1, id="x") == ServerSentEvent(data=1, id="x")
    assert ServerSentEvent(data=1) != ServerSentEvent(data=2)
    assert repr(ServerSentEvent(data=1, event="e")) == "ServerSentEvent(data=1, event='e')"
    assert issubclass(EventSourceResponse, StreamingResponse)
    assert fulmen.sse.EventSourceResponse is EventSourceResponse


# -- through the front doors ---------------------------------------------------------------------------------
def _app(log: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/direct")
    async def direct() -> Response:
        async def gen() -> AsyncIterator[Any]:
            yield b"data: raw\n\n"
            yield "event: s\ndata: str\n\n"
            yield ServerSentEvent(data={"k": "v"}, id="3")

        return EventSourceResponse(gen())

    @app.get("/generated")
    async def generated() -> Response:
        async def gen() -> AsyncIterator[Any]:
            yield {"n": 1}
            yield "text"
            yield ServerSentEvent(raw_data="plain", event="custom")
            yield Point(x=3)

        return event_source_response(gen(), headers={"x-extra": "1"})

    @app.post("/sync")
    def sync_events() -> Response:
        def gen() -> Iterator[Any]:
            log.append(threading.current_thread().name)
            yield 1
            yield [2, 3]

        return event_source_response(gen(), status_code=201)

    @app.get("/slow")
    async def slow() -> Response:
        async def gen() -> AsyncIterator[Any]:
            yield "first"
            await asyncio.sleep(0.35)
            yield "second"

        return event_source_response(gen())

    @app.get("/no-ping")
    async def no_ping() -> Response:
        async def gen() -> AsyncIterator[Any]:
            await asyncio.sleep(0.2)
            yield "only"

        return event_source_response(gen(), ping=False)

    @app.get("/fails")
    async def fails() -> Response:
        async def gen() -> AsyncIterator[Any]:
            yield "ok"
            raise RuntimeError("generator failed")

        return event_source_response(gen())

    return app


def test_event_source_response_direct(serve: Callable[..., httpx.Client]) -> None:
    client = serve(_app([]))
    r = client.get("/direct")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.content == b'data: raw\n\nevent: s\ndata: str\n\ndata: {"k": "v"}\nid: 3\n\n'


def test_generator_events(serve: Callable[..., httpx.Client]) -> None:
    client = serve(_app([]))
    r = client.get("/generated")
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-accel-buffering"] == "no"
    assert r.headers["x-extra"] == "1"
    assert r.content == (
        b'data: {"n": 1}\n\ndata: "text"\n\nevent: custom\ndata: plain\n\ndata: {"x": 3, "label": "p"}\n\n'
    )


def test_sync_generator_runs_in_the_pool(serve: Callable[..., httpx.Client]) -> None:
    log: list[str] = []
    client = serve(_app(log))
    r = client.post("/sync")
    assert (r.status_code, r.content) == (201, b"data: 1\n\ndata: [2, 3]\n\n")
    assert log and log[0].startswith("fulmen-sync")


def test_keepalive_pings_while_idle(
    serve: Callable[..., httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fulmen.sse, "_PING_INTERVAL", 0.1)
    client = serve(_app([]))
    body = client.get("/slow").content
    assert body.startswith(b'data: "first"\n\n' + KEEPALIVE_COMMENT)
    assert body.endswith(KEEPALIVE_COMMENT + b'data: "second"\n\n')
    assert 2 <= body.count(KEEPALIVE_COMMENT) <= 4
    assert client.get("/no-ping").content == b'data: "only"\n\n'


def test_generator_error_ends_the_stream(serve: Callable[..., httpx.Client], front_door: str) -> None:
    client = serve(_app([]))
    if front_door == "asgi":
        # In process, the error reaches the test client after the first event was sent.
        assert client.get("/fails").content == b'data: "ok"\n\n'
        return
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/fails")  # the connection closes before the last chunk: a truncated response


def test_disconnect_stops_the_generator_and_its_producer(
    serve: Callable[..., httpx.Client], front_door: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if front_door == "asgi":
        pytest.skip("needs a socket")
    monkeypatch.setattr(fulmen.sse, "_PING_INTERVAL", 0.05)
    closed = threading.Event()
    app = FastAPI()

    @app.get("/events")
    async def events() -> Response:
        async def gen() -> AsyncIterator[Any]:
            try:
                yield "hello"
                await asyncio.sleep(3600)
            finally:
                closed.set()

        return event_source_response(gen())

    client = serve(app)
    port = client.base_url.port
    assert port is not None
    conn = RawConn(port)
    conn.send(b"GET /events HTTP/1.1\r\nHost: t\r\n\r\n")
    conn.read_head()
    deadline = time.monotonic() + 5
    while conn.buf.count(KEEPALIVE_COMMENT) < 2:  # pings flow while the generator sleeps
        assert time.monotonic() < deadline
        conn._fill()
    assert b'data: "hello"' in conn.buf
    conn.close()
    assert closed.wait(5), "the generator was not closed after the client left"
