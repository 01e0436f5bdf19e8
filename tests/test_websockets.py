"""WebSockets through every front door: fulmen's engine, the ASGI door (TestClient) and uvicorn.

Real-socket doors are driven with the ``websockets`` client library, the ASGI door with
``TestClient.websocket_connect``; the ``ws`` fixture gives both one API (``Door.connect``). What differs by
design between a real server and the TestClient (a refused handshake is an HTTP 403 on a socket but a
``WebSocketDisconnect`` with the close code in the TestClient, as in Starlette) is asserted per door.
FastAPI is the spec: the same app built with ``fastapi`` and ``fulmen`` is compared through fulmen's
TestClient, which drives any ASGI app (``test_crosscheck_*``; Starlette's own TestClient warns on import
here). Engine-only behaviour (framing, keepalive, limits, backpressure, shutdown) is at the end of the file,
on raw sockets where the client library would hide it.
"""

import base64
import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import fastapi
import httpx
import pytest
import starlette.websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_client_connect

import fulmen
from fulmen import WebSocket, WebSocketDisconnect
from fulmen.routing import APIWebSocketRoute
from fulmen.testclient import TestClient, WebSocketDenialResponse
from tests.engine.conftest import EngineThread

# ------------------------------------------------------------------------------------------------------------
# One client API over the three front doors
# ------------------------------------------------------------------------------------------------------------


class Rejected(Exception):
    """The handshake was refused: ``status`` as a real server answers it; ``code`` the TestClient's close."""

    def __init__(
        self,
        status: int,
        code: int | None = None,
        reason: Any = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, code)
        self.status = status
        self.code = code
        self.reason = reason
        self.body = body
        #: The refusal's HTTP headers (real servers only), names lower-cased.
        self.headers = headers or {}


class Session:
    """An open WebSocket, the same methods whatever is underneath."""

    def __init__(self, raw: Any, subprotocol: str | None, headers: dict[str, str]) -> None:
        self.raw = raw
        self.accepted_subprotocol = subprotocol
        self.response_headers = headers

    def send_text(self, data: str) -> None:
        if isinstance(self.raw, _Real):
            self.raw.conn.send(data)
        else:
            self.raw.send_text(data)

    def send_bytes(self, data: bytes) -> None:
        if isinstance(self.raw, _Real):
            self.raw.conn.send(data)
        else:
            self.raw.send_bytes(data)

    def send_json(self, data: Any) -> None:
        self.send_text(json.dumps(data))

    def _receive(self) -> str | bytes:
        if isinstance(self.raw, _Real):
            try:
                return self.raw.conn.recv(timeout=5)
            except ConnectionClosed as exc:
                rcvd = exc.rcvd
                raise WebSocketDisconnect(
                    rcvd.code if rcvd is not None else 1006, rcvd.reason if rcvd else ""
                ) from None
        message = self.raw.receive()
        if message["type"] == "websocket.close":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason", ""))
        return message["text"] if message.get("text") is not None else message["bytes"]

    def receive_text(self) -> str:
        data = self._receive()
        assert isinstance(data, str), data
        return data

    def receive_bytes(self) -> bytes:
        data = self._receive()
        assert isinstance(data, bytes), data
        return data

    def receive_json(self) -> Any:
        return json.loads(self.receive_text())

    def close(self, code: int = 1000, reason: str = "") -> None:
        if isinstance(self.raw, _Real):
            self.raw.conn.close(code, reason)
        else:
            self.raw.close(code, reason)


class _Real:
    def __init__(self, conn: Any) -> None:
        self.conn = conn


class Door:
    """A served app: ``http`` (an httpx client) and ``connect(path)`` for WebSockets."""

    def __init__(self, kind: str, http: httpx.Client) -> None:
        self.kind = kind
        self.http = http

    @property
    def real(self) -> bool:
        return self.kind != "asgi"

    @contextlib.contextmanager
    def connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> Iterator[Session]:
        if self.kind == "asgi":
            assert isinstance(self.http, TestClient)
            try:
                ctx = self.http.websocket_connect(path, subprotocols=subprotocols, headers=headers)
                raw = ctx.__enter__()
            except WebSocketDenialResponse as exc:
                raise Rejected(exc.status_code, body=exc.content) from None
            except WebSocketDisconnect as exc:
                raise Rejected(403, exc.code, exc.reason) from None
            try:
                yield Session(raw, raw.accepted_subprotocol, {})
            finally:
                ctx.__exit__(None, None, None)
            return
        url = str(self.http.base_url).replace("http://", "ws://").rstrip("/") + path
        try:
            conn = ws_client_connect(
                url,
                subprotocols=subprotocols,  # type: ignore[arg-type]
                additional_headers=headers,
                open_timeout=5,
                close_timeout=2,
                **options,
            )
        except InvalidStatus as exc:
            response = exc.response
            headers = {k.lower(): v for k, v in response.headers.raw_items()}
            raise Rejected(response.status_code, body=bytes(response.body or b""), headers=headers) from None
        with conn:
            assert conn.response is not None
            response_headers = {k.lower(): v for k, v in conn.response.headers.raw_items()}
            yield Session(_Real(conn), conn.subprotocol, response_headers)


@pytest.fixture
def ws(serve: Callable[..., httpx.Client], front_door: str) -> Callable[[Any], Door]:
    """``door = ws(app)``: the app served through the current front door."""

    def make(app: Any) -> Door:
        return Door(front_door, serve(app))

    return make


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.01)


# ------------------------------------------------------------------------------------------------------------
# The app, written once against a framework module (fulmen or fastapi)
# ------------------------------------------------------------------------------------------------------------


def build_app(fw: Any) -> Any:
    """A WebSocket app; ``events`` (also at GET /events) records what the endpoints saw."""
    WS = fw.WebSocket  # the framework's class, used in annotations below
    events: list[Any] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield {"greeting": "hello"}

    app = fw.FastAPI(lifespan=lifespan)
    app.state.events = events

    @app.get("/events")
    async def get_events() -> Any:
        return events

    @app.websocket("/echo")
    async def echo(websocket: WS) -> None:
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    events.append(["echo-closed", message.get("code")])
                    return
                if message.get("text") is not None:
                    await websocket.send_text(message["text"])
                else:
                    await websocket.send_bytes(message["bytes"])
        finally:
            events.append(["echo-done"])

    @app.websocket("/json")
    async def json_echo(websocket: WS) -> None:
        await websocket.accept()
        async for data in websocket.iter_json():
            await websocket.send_json({"got": data, "state": websocket.state.greeting})
        events.append(["json-done"])

    def token(x_token: Annotated[str, fw.Header()]) -> str:
        return x_token

    async def session_dep() -> Any:
        events.append(["dep-start"])
        try:
            yield "session"
        finally:
            events.append(["dep-end"])

    @app.websocket("/items/{item_id}")
    async def items(
        websocket: WS,
        item_id: int,
        q: str | None = None,
        tok: str = fw.Depends(token),
        sess: str = fw.Depends(session_dep),
        flavour: Annotated[str | None, fw.Cookie()] = None,
    ) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "item_id": item_id,
                "q": q,
                "token": tok,
                "session": sess,
                "flavour": flavour,
                "path": websocket.url.path,
                "scheme": websocket.url.scheme,
                "path_params": websocket.path_params,
                "query": dict(websocket.query_params),
            }
        )
        await websocket.close()

    @app.websocket("/subprotocol")
    async def subprotocol(websocket: WS) -> None:
        offered = websocket.headers.get("sec-websocket-protocol", "")
        choice = "v2" if "v2" in offered else None
        await websocket.accept(subprotocol=choice, headers=[(b"x-custom", b"yes")])
        await websocket.send_text(offered)
        await websocket.close()

    @app.websocket("/close")
    async def close(websocket: WS, code: int = 1000, reason: str = "") -> None:
        await websocket.accept()
        await websocket.send_text("bye")
        await websocket.close(code=code, reason=reason)

    @app.websocket("/ws-exc")
    async def ws_exc(websocket: WS, after: bool = False) -> None:
        if after:
            await websocket.accept()
            await websocket.send_text("accepted")
        raise fw.WebSocketException(code=4004, reason="not today")

    @app.websocket("/http-exc")
    async def http_exc(websocket: WS) -> None:
        raise fw.HTTPException(status_code=401, detail="who are you")

    @app.websocket("/crash")
    async def crash(websocket: WS) -> None:
        raise RuntimeError("boom")

    @app.websocket("/wait-close")
    async def wait_close(websocket: WS) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except fw.WebSocketDisconnect as exc:
            events.append(["client-closed", exc.code, exc.reason])

    router = fw.APIRouter(prefix="/r", dependencies=[fw.Depends(token)])

    @router.websocket("/hello")
    async def hello(websocket: WS, name: str = "world") -> None:
        await websocket.accept()
        await websocket.send_text(f"hello {name}")
        await websocket.close()

    app.include_router(router, prefix="/v1")
    return app


# ------------------------------------------------------------------------------------------------------------
# Every front door
# ------------------------------------------------------------------------------------------------------------


def test_echo_text_bytes_and_disconnect(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with door.connect("/echo") as session:
        session.send_text("hello")
        assert session.receive_text() == "hello"
        session.send_bytes(b"\x00\xffbinary")
        assert session.receive_bytes() == b"\x00\xffbinary"
        big = "é" * 70_000
        session.send_text(big)
        assert session.receive_text() == big
        session.close(4100, "done")
    events = wait_for(
        lambda: door.http.get("/events").json() if len(door.http.get("/events").json()) >= 2 else None
    )
    assert events == [["echo-closed", 4100], ["echo-done"]]


def test_iter_json_send_json_and_lifespan_state(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with door.connect("/json") as session:
        session.send_json({"a": [1, 2]})
        assert session.receive_json() == {"got": {"a": [1, 2]}, "state": "hello"}
        session.send_json("ünïcode")
        assert session.receive_json() == {"got": "ünïcode", "state": "hello"}
    assert wait_for(lambda: ["json-done"] in door.http.get("/events").json())


def test_parameters_dependencies_and_yield_teardown(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    headers = {"x-token": "secret", "cookie": "flavour=mint"}
    with door.connect("/items/42?q=abc", headers=headers) as session:
        data = session.receive_json()
        with pytest.raises(WebSocketDisconnect) as info:
            session.receive_text()
        assert info.value.code == 1000
    assert data == {
        "item_id": 42,
        "q": "abc",
        "token": "secret",
        "session": "session",
        "flavour": "mint",
        "path": "/items/42",
        "scheme": "ws",
        "path_params": {"item_id": "42"},
        "query": {"q": "abc"},
    }
    assert wait_for(lambda: door.http.get("/events").json() == [["dep-start"], ["dep-end"]])


def test_validation_error_refuses_the_handshake(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with pytest.raises(Rejected) as info, door.connect("/items/not-a-number", headers={"x-token": "t"}):
        pass
    assert info.value.status == 403
    if not door.real:  # the TestClient shows FastAPI's close: 1008 with the errors as the reason
        assert info.value.code == 1008
        assert info.value.reason == [
            {
                "type": "int_parsing",
                "loc": ["path", "item_id"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": "not-a-number",
            }
        ]
    with pytest.raises(Rejected) as info, door.connect("/items/1"):  # missing x-token header
        pass
    assert info.value.status == 403
    if not door.real:
        assert info.value.reason[0]["loc"] == ["header", "x-token"]


def test_unknown_path_is_refused_with_403(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with pytest.raises(Rejected) as info, door.connect("/nowhere"):
        pass
    assert info.value.status == 403
    if door.real:  # the refusal as uvicorn writes it: an empty text/plain body
        assert info.value.headers["content-type"] == "text/plain; charset=utf-8"
        assert info.value.headers["content-length"] == "0"
    if not door.real:
        assert info.value.code == 1000


def test_subprotocol_and_accept_headers(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with door.connect("/subprotocol", subprotocols=["v1", "v2"]) as session:
        assert session.accepted_subprotocol == "v2"
        assert session.receive_text() == "v1, v2"
        if door.real:
            assert session.response_headers["x-custom"] == "yes"
        else:
            assert session.raw.extra_headers == [(b"x-custom", b"yes")]


def test_server_close_code_and_reason(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with door.connect("/close?code=4321&reason=see+you") as session:
        assert session.receive_text() == "bye"
        with pytest.raises(WebSocketDisconnect) as info:
            session.receive_text()
    assert (info.value.code, info.value.reason) == (4321, "see you")


def test_client_close_code_reaches_the_endpoint(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with door.connect("/wait-close") as session:
        session.close(4001, "leaving")
    assert wait_for(lambda: door.http.get("/events").json()) == [["client-closed", 4001, "leaving"]]


def test_websocket_exception_before_and_after_accept(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with pytest.raises(Rejected) as info, door.connect("/ws-exc"):
        pass
    assert info.value.status == 403
    if not door.real:
        assert (info.value.code, info.value.reason) == (4004, "not today")
    with door.connect("/ws-exc?after=true") as session:
        assert session.receive_text() == "accepted"
        with pytest.raises(WebSocketDisconnect) as closed:
            session.receive_text()
    assert (closed.value.code, closed.value.reason) == (4004, "not today")


def test_http_exception_before_accept_is_a_denial_response(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with pytest.raises(Rejected) as info, door.connect("/http-exc"):
        pass
    assert info.value.status == 401
    assert json.loads(info.value.body) == {"detail": "who are you"}


def test_router_prefix_and_router_dependencies(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    with door.connect("/v1/r/hello?name=ada", headers={"x-token": "t"}) as session:
        assert session.receive_text() == "hello ada"
    with pytest.raises(Rejected) as info, door.connect("/v1/r/hello"):  # router dependency: x-token
        pass
    assert info.value.status == 403


def test_unhandled_exception_before_accept(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    if door.real:
        with pytest.raises(Rejected) as info, door.connect("/crash"):
            pass
        assert info.value.status == 500
    else:  # as Starlette's TestClient: the app's exception reaches the test
        with pytest.raises(RuntimeError, match="boom"), door.connect("/crash"):
            pass


def test_http_routes_unaffected_by_websocket_routes(ws: Callable[[Any], Door]) -> None:
    door = ws(build_app(fulmen))
    assert door.http.get("/events").json() == []
    # A plain GET to a WebSocket path is not a route for HTTP.
    assert door.http.get("/echo").status_code == 404


def test_mounted_sub_application(ws: Callable[[Any], Door]) -> None:
    app = fulmen.FastAPI()
    sub = fulmen.FastAPI()

    @sub.websocket("/live/{room}")
    async def live(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.send_json({"room": room, "root_path": websocket.request.root_path})
        await websocket.close()

    app.mount("/sub", sub)
    door = ws(app)
    with door.connect("/sub/live/blue") as session:
        assert session.receive_json() == {"room": "blue", "root_path": "/sub"}


def test_starlette_websocket_disconnect_is_caught(ws: Callable[[Any], Door]) -> None:
    """An endpoint written for FastAPI catches ``starlette.websockets.WebSocketDisconnect`` and compares its
    states with ``starlette.websockets.WebSocketState``."""
    closed: list[Any] = []
    app = fulmen.FastAPI()
    State = starlette.websockets.WebSocketState

    @app.websocket("/ws")
    async def endpoint(websocket: starlette.websockets.WebSocket) -> None:
        await websocket.accept()
        # Both operand orders: Starlette's member on the left goes through fulmen's reflected __eq__.
        assert websocket.application_state == State.CONNECTED
        assert State.CONNECTED == websocket.client_state  # noqa: SIM300
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except starlette.websockets.WebSocketDisconnect as exc:
            assert websocket.client_state == State.DISCONNECTED
            closed.append((exc.code, type(exc).__name__, isinstance(exc, fulmen.WebSocketDisconnect)))

    door = ws(app)
    with door.connect("/ws") as session:
        session.send_text("hi")
        assert session.receive_text() == "hi"
        session.close(4001, "bye")
    assert wait_for(lambda: closed) == [(4001, "WebSocketDisconnect", True)]


def test_mounted_starlette_application(ws: Callable[[Any], Door]) -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    async def star(websocket: Any) -> None:
        await websocket.accept()
        await websocket.send_text(f"starlette {websocket.url.path}")
        await websocket.close()

    app = fulmen.FastAPI()
    app.mount("/star", Starlette(routes=[WebSocketRoute("/ws", star)]))
    door = ws(app)
    with door.connect("/star/ws") as session:
        assert session.receive_text() == "starlette /star/ws"


def test_pure_asgi_middleware_passes_websockets(ws: Callable[[Any], Door]) -> None:
    seen: list[str] = []

    class Recorder:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["type"])
            await self.app(scope, receive, send)

    app = build_app(fulmen)
    app.add_middleware(Recorder)
    door = ws(app)
    with door.connect("/echo") as session:
        session.send_text("through middleware")
        assert session.receive_text() == "through middleware"
    assert "websocket" in seen


def test_websocket_built_from_an_asgi_scope(ws: Callable[[Any], Door]) -> None:
    """Starlette's ``WebSocket(scope, receive, send)`` works in pure ASGI middleware."""

    class Guard:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "websocket":
                websocket = WebSocket(scope, receive, send)
                if websocket.query_params.get("key") != "open":
                    await websocket.close(code=4003)
                    return
            await self.app(scope, receive, send)

    app = build_app(fulmen)
    app.add_middleware(Guard)
    door = ws(app)
    with pytest.raises(Rejected) as info, door.connect("/echo"):
        pass
    assert info.value.status == 403
    if not door.real:
        assert info.value.code == 4003
    with door.connect("/echo?key=open") as session:
        session.send_text("let in")
        assert session.receive_text() == "let in"


# ------------------------------------------------------------------------------------------------------------
# Cross-check with FastAPI (TestClient on both sides)
# ------------------------------------------------------------------------------------------------------------


def _outcome(client: Any, path: str, sends: list[Any], headers: dict[str, str] | None = None) -> Any:
    """What a client observes: received messages, then how it ended (close code/reason or denial)."""
    seen: list[Any] = []
    try:
        with client.websocket_connect(path, headers=headers) as session:
            seen.append(["accepted", session.accepted_subprotocol, session.extra_headers])
            for item in sends:
                if isinstance(item, bytes):
                    session.send_bytes(item)
                else:
                    session.send_text(item)
                seen.append(session.receive())
            while True:
                message = session.receive()
                seen.append(message)
                if message["type"] == "websocket.close":
                    break
    except Exception as exc:  # denial responses are Exceptions too
        status = getattr(exc, "status_code", None)
        if status is not None:
            return seen, ("denied", status, exc.json())  # type: ignore[attr-defined]
        return seen, ("refused", getattr(exc, "code", None), getattr(exc, "reason", None))
    return seen, ("open",)


CROSSCHECK_CASES: list[tuple[str, list[Any], dict[str, str] | None]] = [
    ("/items/7?q=z", [], {"x-token": "t", "cookie": "flavour=lime"}),
    ("/items/x", [], {"x-token": "t"}),
    ("/items/7", [], None),
    ("/nowhere", [], None),
    ("/close?code=4001&reason=r", [], None),
    ("/close?code=bad", [], None),
    ("/ws-exc", [], None),
    ("/ws-exc?after=1", [], None),
    ("/http-exc", [], None),
    ("/v1/r/hello?name=x", [], {"x-token": "t"}),
    ("/v1/r/hello", [], None),
    ("/subprotocol", [], {"sec-websocket-protocol": "v2"}),
]


@pytest.mark.parametrize(("path", "sends", "headers"), CROSSCHECK_CASES, ids=[c[0] for c in CROSSCHECK_CASES])
def test_crosscheck_with_fastapi(path: str, sends: list[Any], headers: dict[str, str] | None) -> None:
    with TestClient(build_app(fastapi)) as reference, TestClient(build_app(fulmen)) as ours:
        expected = _outcome(reference, path, sends, headers)
        got = _outcome(ours, path, sends, headers)
    assert got == expected


def test_crosscheck_messages_with_fastapi() -> None:
    sends = ["a", b"\x01\x02", '{"k": 1}']
    with TestClient(build_app(fastapi)) as reference, TestClient(build_app(fulmen)) as ours:
        results = []
        for client in (reference, ours):
            with client.websocket_connect("/echo") as session:
                out = []
                for item in sends:
                    if isinstance(item, bytes):
                        session.send_bytes(item)
                    else:
                        session.send_text(item)
                    out.append(session.receive())
                session.close(1000)
            results.append(out)
    assert results[0] == results[1]


def build_starlette_exception_app(fw: Any, with_handler: bool) -> Any:
    """Starlette's ``WebSocketException`` raised and used as a handler key, as FastAPI code may do."""
    from starlette.exceptions import WebSocketException as StarletteWebSocketException

    WS = fw.WebSocket
    app = fw.FastAPI()
    if with_handler:

        @app.exception_handler(StarletteWebSocketException)
        async def handled(websocket: Any, exc: Any) -> None:
            await websocket.close(code=4999, reason=f"handled {exc.code}")

    @app.websocket("/starlette-exc")
    async def starlette_exc(websocket: WS) -> None:
        await websocket.accept()
        raise StarletteWebSocketException(4003, "starlette reason")

    @app.websocket("/own-exc")
    async def own_exc(websocket: WS) -> None:
        await websocket.accept()
        raise fw.WebSocketException(4005, "own reason")

    return app


@pytest.mark.parametrize("with_handler", [False, True], ids=["default", "starlette-handler"])
@pytest.mark.parametrize("path", ["/starlette-exc", "/own-exc"])
def test_starlette_websocket_exception_as_in_fastapi(
    ws: Callable[[Any], Door], path: str, with_handler: bool
) -> None:
    """Starlette's WebSocketException closes the socket, and its handler catches fulmen's, as in FastAPI."""
    with TestClient(build_starlette_exception_app(fastapi, with_handler)) as reference:
        expected = _outcome(reference, path, [])
    door = ws(build_starlette_exception_app(fulmen, with_handler))
    with door.connect(path) as session, pytest.raises(WebSocketDisconnect) as closed:
        session.receive_text()
    assert expected[1] == ("open",)
    assert expected[0][-1]["type"] == "websocket.close"
    assert (closed.value.code, closed.value.reason) == (expected[0][-1]["code"], expected[0][-1]["reason"])


def test_testclient_reraises_endpoint_errors() -> None:
    app = fulmen.FastAPI()

    @app.websocket("/late-crash")
    async def late_crash(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()
        raise ValueError("after a message")

    client = TestClient(app)
    with (
        pytest.raises(ValueError, match="after a message"),
        client.websocket_connect("/late-crash") as session,
    ):
        session.send_text("go")
        session.receive_text()


def test_starlette_style_route_and_router_method() -> None:
    app = fulmen.FastAPI()

    @app.websocket_route("/plain")
    async def plain(websocket):  # type: ignore[no-untyped-def]  # no annotation: Starlette's form
        await websocket.accept()
        await websocket.send_text(f"plain {websocket.url.path}")
        await websocket.close()

    router = fulmen.APIRouter(prefix="/api")

    async def numbered(websocket: WebSocket, n: int) -> None:
        await websocket.accept()
        await websocket.send_json({"n": n})
        await websocket.close()

    router.add_api_websocket_route("/n/{n}", numbered)
    app.include_router(router)
    with TestClient(app) as client:
        with client.websocket_connect("/plain") as session:
            assert session.receive_text() == "plain /plain"
        with client.websocket_connect("/api/n/5") as session:
            assert session.receive_json() == {"n": 5}


def test_declaration_errors() -> None:
    app = fulmen.FastAPI()

    def sync_endpoint(websocket: WebSocket) -> None:
        pass

    with pytest.raises(fulmen.FastAPIError, match="async def"):
        app.add_api_websocket_route("/s", sync_endpoint)

    async def with_body(websocket: WebSocket, item: dict[str, int]) -> None:
        pass

    with pytest.raises(fulmen.FastAPIError, match="request body"):
        app.add_api_websocket_route("/b", with_body)

    async def first(websocket: WebSocket, a: str) -> None:
        pass

    async def second(websocket: WebSocket, b: str) -> None:
        pass

    app.add_api_websocket_route("/dup/{a}", first)
    with pytest.raises(fulmen.FastAPIError, match="conflicts"):
        app.add_api_websocket_route("/dup/{b}", second)
    assert [r.path for r in app.routes if isinstance(r, APIWebSocketRoute)] == ["/dup/{a}"]


# ------------------------------------------------------------------------------------------------------------
# The engine: framing, limits, keepalive, backpressure, shutdown (raw sockets where needed)
# ------------------------------------------------------------------------------------------------------------


def _engine_app() -> Any:
    app = fulmen.FastAPI()
    app.state.received = []

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    @app.websocket("/sink")
    async def sink(websocket: WebSocket) -> None:
        # Accepts, then reads nothing until told (through /release): the client's frames pile up.
        await websocket.accept()
        await app.state.release.wait()
        async for text in websocket.iter_text():
            app.state.received.append(text)

    @app.websocket("/flood")
    async def flood(websocket: WebSocket) -> None:
        await websocket.accept()
        app.state.sent = 0
        chunk = b"x" * 65536
        while True:
            await websocket.send_bytes(chunk)
            app.state.sent += 1

    @app.websocket("/idle")
    async def idle(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            app.state.received.append(exc.code)

    @app.websocket("/returns")
    async def returns(websocket: WebSocket) -> None:
        await websocket.accept()

    @app.websocket("/late-crash")
    async def late_crash(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("after accept")

    return app


@pytest.fixture
def engine_ws() -> Iterator[EngineThread]:
    import asyncio

    app = _engine_app()
    engine = EngineThread(app, ws_max_size=1000, ws_max_queue=4)
    assert engine.loop is not None
    app.state.release = engine.call(asyncio.Event)
    yield engine
    engine.stop()


def _handshake(port: int, path: str, extra: bytes = b"") -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, head
        head += chunk
    head, _, rest = head.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock, rest


def _frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _read_frames(
    sock: socket.socket, buffered: bytes = b"", until_close: bool = True, until: int = 0
) -> list[tuple[int, bytes]]:
    """Server frames (unmasked) until a close frame (or ``until`` frames) or EOF."""
    data = buffered
    frames: list[tuple[int, bytes]] = []
    while True:
        while len(data) >= 2:
            n = data[1] & 0x7F
            offset = 2
            if n == 126:
                if len(data) < 4:
                    break
                n, offset = struct.unpack("!H", data[2:4])[0], 4
            elif n == 127:
                if len(data) < 10:
                    break
                n, offset = struct.unpack("!Q", data[2:10])[0], 10
            if len(data) < offset + n:
                break
            frames.append((data[0] & 0x0F, data[offset : offset + n]))
            data = data[offset + n :]
            if (frames[-1][0] == 8 and until_close) or len(frames) == until:
                return frames
        try:
            chunk = sock.recv(65536)
        except OSError:
            return frames
        if not chunk:
            return frames
        data += chunk


def _close_code(frames: list[tuple[int, bytes]]) -> int | None:
    for opcode, payload in frames:
        if opcode == 8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    return None


def test_engine_fragmented_messages_and_ping(engine_ws: EngineThread) -> None:
    sock, rest = _handshake(engine_ws.port, "/echo")
    with sock:
        # A text message in three fragments with a ping between them; "é" is split across fragments.
        text = "fragé"
        encoded = text.encode()
        sock.sendall(
            _frame(1, encoded[:5], fin=False)
            + _frame(9, b"are you there")
            + _frame(0, encoded[5:6], fin=False)
            + _frame(0, encoded[6:], fin=True)
        )
        frames = _read_frames(sock, rest, until=2)
        sock.sendall(_frame(8, struct.pack("!H", 1000)))
        frames += _read_frames(sock)
    assert frames == [(10, b"are you there"), (1, "fragé".encode()), (8, struct.pack("!H", 1000))]


def test_engine_protocol_errors_close_with_the_right_code(engine_ws: EngineThread) -> None:
    cases = [
        (_frame(1, b"\xff\xfe"), 1007),  # invalid UTF-8
        (_frame(1, b"ok", fin=False) + _frame(1, b"again"), 1002),  # new message mid-fragments
        (_frame(2, b"x" * 1001), 1009),  # over ws_max_size
        (_frame(1, b"a" * 600, fin=False) + _frame(0, b"a" * 600), 1009),  # fragments add up over it
        (b"\x81\x05hello", 1002),  # unmasked client frame
        (_frame(8, struct.pack("!H", 999)), 1002),  # invalid close code
    ]
    for data, code in cases:
        sock, rest = _handshake(engine_ws.port, "/echo")
        with sock:
            sock.sendall(data)
            frames = _read_frames(sock, rest)
        assert _close_code(frames) == code, (data[:8], frames)


def test_engine_permessage_deflate_is_negotiated(engine_ws: EngineThread) -> None:
    url = f"ws://127.0.0.1:{engine_ws.port}/echo"
    with ws_client_connect(url) as conn:  # offers permessage-deflate by default
        assert conn.response is not None
        assert "permessage-deflate" in conn.response.headers["Sec-WebSocket-Extensions"]
        text = "compressible " * 50
        conn.send(text)
        assert conn.recv(timeout=5) == text
    with ws_client_connect(url, compression=None) as conn:
        assert conn.response is not None
        assert "Sec-WebSocket-Extensions" not in conn.response.headers
        conn.send("plain")
        assert conn.recv(timeout=5) == "plain"


def test_engine_handshake_errors_are_http_answers(engine_ws: EngineThread) -> None:
    for request, status in [
        (b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", b"400"),
        (
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            b"400",
        ),
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            b"405",
        ),
    ]:
        with socket.create_connection(("127.0.0.1", engine_ws.port), timeout=5) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 " + status), answer


def test_engine_upgrade_after_pipelined_request(engine_ws: EngineThread) -> None:
    """An HTTP request pipelined before the handshake is answered first, then the connection upgrades."""
    sock = socket.create_connection(("127.0.0.1", engine_ws.port), timeout=5)
    with sock:
        sock.sendall(
            b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            + _frame(1, b"after upgrade")
        )
        data = b""
        while b"after upgrade" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    first, _, second = data.partition(b"HTTP/1.1 101")
    assert first.startswith(b"HTTP/1.1 404")
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in second  # RFC 6455's sample accept key


def test_engine_read_backpressure(engine_ws: EngineThread) -> None:
    sock, _ = _handshake(engine_ws.port, "/sink")
    with sock:
        for i in range(12):
            sock.sendall(_frame(1, f"m{i}".encode()))
        session = wait_for(
            lambda: next((c for c in engine_ws.connections() if getattr(c, "_reading_paused", False)), None)
        )
        assert session is not None, "reading should pause while the endpoint doesn't consume"
        app = engine_ws.app
        engine_ws.call(app.state.release.set)
        assert wait_for(lambda: len(app.state.received) == 12)
        assert app.state.received == [f"m{i}" for i in range(12)]
        assert not engine_ws.call(lambda: session._reading_paused)


def test_engine_write_backpressure(engine_ws: EngineThread) -> None:
    sock, _ = _handshake(engine_ws.port, "/flood")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    with sock:
        time.sleep(0.5)  # the client reads nothing: the endpoint must stall, not buffer without bound
        app = engine_ws.app
        stalled_at = app.state.sent
        time.sleep(0.3)
        assert app.state.sent == stalled_at
        assert stalled_at < 200  # 64 KiB messages: far less than 13 MB went out
        sock.settimeout(2)
        got = 0
        while got < 2 * 65536 * 10:
            got += len(sock.recv(1 << 20))
        assert wait_for(lambda: app.state.sent > stalled_at)


def test_engine_keepalive_ping_timeout() -> None:
    app = _engine_app()
    engine = EngineThread(app, ws_ping_interval=0.1, ws_ping_timeout=0.2)
    try:
        sock, rest = _handshake(engine.port, "/idle")
        with sock:
            frames = _read_frames(sock, rest)  # the raw client never answers the pings
        assert frames[0] == (9, frames[0][1]) and len(frames[0][1]) == 4
        assert _close_code(frames) == 1011
        assert wait_for(lambda: app.state.received) == [1011]
    finally:
        engine.stop()


def test_engine_keepalive_pings_answered_keep_the_socket_open() -> None:
    app = _engine_app()
    engine = EngineThread(app, ws_ping_interval=0.05, ws_ping_timeout=0.2)
    try:
        with ws_client_connect(f"ws://127.0.0.1:{engine.port}/echo") as conn:  # answers pings by itself
            time.sleep(0.5)
            conn.send("still here")
            assert conn.recv(timeout=5) == "still here"
    finally:
        engine.stop()


def test_engine_endpoint_return_and_crash_close_codes(engine_ws: EngineThread) -> None:
    for path, code in [("/returns", 1000), ("/late-crash", 1011)]:
        sock, rest = _handshake(engine_ws.port, path)
        with sock:
            frames = _read_frames(sock, rest)
            sock.sendall(_frame(8, frames[-1][1]))
        assert _close_code(frames) == code


def test_engine_shutdown_closes_open_sockets_with_1012() -> None:
    app = _engine_app()
    engine = EngineThread(app)
    sock, rest = _handshake(engine.port, "/idle")
    with sock:
        stopper = threading.Thread(target=engine.stop)
        stopper.start()
        frames = _read_frames(sock, rest)
        sock.sendall(_frame(8, struct.pack("!H", 1012)))
        stopper.join(10)
    assert _close_code(frames) == 1012
    assert app.state.received == [1012]
    assert not stopper.is_alive()


def test_engine_close_timeout_drops_a_silent_peer() -> None:
    app = fulmen.FastAPI()

    @app.websocket("/bye")
    async def bye(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(1000)

    engine = EngineThread(app, ws_close_timeout=0.2)
    try:
        sock, rest = _handshake(engine.port, "/bye")
        with sock:
            started = time.monotonic()
            frames = _read_frames(sock, rest, until_close=False)  # never answers the close: EOF comes
            assert _close_code(frames) == 1000
            assert time.monotonic() - started < 3
    finally:
        engine.stop()


def test_native_middleware_also_guards_websockets(ws: Callable[[Any], Door]) -> None:
    """Built-in middleware runs natively for HTTP; WebSocket connections still pass through it."""
    from fulmen.middleware.trustedhost import TrustedHostMiddleware

    strict = build_app(fulmen)
    strict.add_middleware(TrustedHostMiddleware, allowed_hosts=["good.example"])
    door = ws(strict)
    assert door.http.get("/echo").status_code == 400  # HTTP: the native path
    with pytest.raises(Rejected) as info, door.connect("/echo"):
        pass
    assert info.value.status == 400  # WebSocket: the same middleware, in ASGI form

    lenient = build_app(fulmen)
    lenient.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "testserver"])
    with ws(lenient).connect("/echo") as session:
        session.send_text("allowed")
        assert session.receive_text() == "allowed"
