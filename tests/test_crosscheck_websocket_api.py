"""Cross-check: Starlette's ``WebSocket`` API in FastAPI code beyond messages: denial responses of every kind
(streamed, file, with a background task) and the WebSocket as a read-only mapping over its scope.
"""

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi
import httpx
import pytest
import starlette.background

import fulmen
import fulmen.background
import fulmen.websockets
from fulmen.testclient import TestClient, WebSocketDenialResponse
from tests.test_websockets import Door, Rejected, wait_for

BACKGROUND = {"fastapi": starlette.background, "fulmen": fulmen.background}


def build(fw: Any, file: Path, events: list[str]) -> Any:
    app = fw.FastAPI()
    task = BACKGROUND[fw.__name__].BackgroundTask

    class Gate:
        """Pure ASGI middleware refusing a handshake itself, with a response sent as an ASGI app."""

        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "websocket" and scope["path"] == "/gated":

                async def chunks() -> Any:
                    yield b"gate "
                    yield b"closed"

                after = task(events.append, "gate")
                response = fw.responses.StreamingResponse(
                    chunks(), status_code=429, headers={"x-why": "gate"}, background=after
                )
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)

    app.add_middleware(Gate)

    @app.websocket("/stream-denial")
    async def stream_denial(websocket: fw.WebSocket) -> None:
        async def chunks() -> Any:
            yield b"not "
            yield b"here"

        response = fw.responses.StreamingResponse(
            chunks(), status_code=403, headers={"x-why": "stream"}, media_type="text/plain"
        )
        await websocket.send_denial_response(response)

    @app.websocket("/file-denial")
    async def file_denial(websocket: fw.WebSocket) -> None:
        response = fw.responses.FileResponse(file, status_code=404, headers={"x-why": "file"})
        await websocket.send_denial_response(response)

    @app.websocket("/plain-denial")
    async def plain_denial(websocket: fw.WebSocket) -> None:
        response = fw.responses.PlainTextResponse(
            "go away", status_code=401, headers={"x-why": "plain"}, background=task(events.append, "after")
        )
        await websocket.send_denial_response(response)

    @app.websocket("/mapping")
    async def mapping(websocket: fw.WebSocket) -> None:
        await websocket.accept()
        scope = websocket.scope
        await websocket.send_json(
            {
                "in": "type" in websocket,
                "missing": "nope" in websocket,
                "item": websocket["type"],
                "dict": dict(websocket)["type"],
                "len": len(websocket) == len(scope),
                "keys": sorted(websocket) == sorted(scope) == sorted(websocket.keys()),
                "get": websocket.get("nope", "default"),
                "equal_to_itself": websocket == websocket,
                "hashable": hash(websocket) == hash(websocket),
            }
        )
        await websocket.close()

    return app


@pytest.fixture
def ws(serve: Callable[..., httpx.Client], front_door: str) -> Callable[[Any], Door]:
    """``door = ws(app)``: the app served through the current front door (as in test_websockets)."""
    return lambda app: Door(front_door, serve(app))


DENIALS = ["/stream-denial", "/file-denial", "/plain-denial", "/gated"]


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "denied.txt"
    path.write_bytes(b"file says no")
    return path


def _fastapi_denial(path: str, file: Path) -> tuple[int, bytes, str, list[str]]:
    events: list[str] = []
    with (
        TestClient(build(fastapi, file, events)) as client,
        pytest.raises(WebSocketDenialResponse) as info,
        client.websocket_connect(path),
    ):
        pass  # pragma: no cover
    return info.value.status_code, info.value.content, info.value.headers["x-why"], events


@pytest.mark.parametrize("path", DENIALS)
def test_denial_responses_as_in_fastapi(ws: Callable[[Any], Door], data_file: Path, path: str) -> None:
    status, body, why, fastapi_events = _fastapi_denial(path, data_file)
    events: list[str] = []
    door = ws(build(fulmen, data_file, events))
    with pytest.raises(Rejected) as info, door.connect(path):
        pass  # pragma: no cover
    assert (info.value.status, info.value.body) == (status, body)
    if door.real:
        assert info.value.headers["x-why"] == why
    assert wait_for(lambda: events == fastapi_events), (events, fastapi_events)


def test_websocket_is_a_mapping_as_in_fastapi(ws: Callable[[Any], Door], data_file: Path) -> None:
    with TestClient(build(fastapi, data_file, [])) as client, client.websocket_connect("/mapping") as session:
        expected = session.receive_json()
    with ws(build(fulmen, data_file, [])).connect("/mapping") as session:
        assert session.receive_json() == expected


def test_disconnect_with_starlette_aliased_to_fulmen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A program that maps ``starlette.websockets`` to fulmen's module still gets its disconnects."""
    monkeypatch.setitem(sys.modules, "starlette.websockets", fulmen.websockets)
    monkeypatch.setattr(fulmen.websockets, "_catchable_disconnect", None)
    error = fulmen.websockets.disconnect_error(1001, "bye")
    assert type(error) is fulmen.websockets.WebSocketDisconnect
    assert (error.code, error.reason) == (1001, "bye")


def test_denial_without_the_server_extension_raises() -> None:
    """As Starlette's: no "websocket.http.response" extension on the server: RuntimeError, nothing sent."""
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "websocket.connect"}  # pragma: no cover

    async def send(message: Any) -> None:
        sent.append(message)  # pragma: no cover

    async def deny() -> None:
        scope = {"type": "websocket", "path": "/", "headers": [], "extensions": {}}
        websocket = fulmen.WebSocket(scope, receive, send)
        await websocket.send_denial_response(fulmen.responses.PlainTextResponse("no", status_code=403))

    with pytest.raises(RuntimeError, match="doesn't support the Websocket Denial Response extension"):
        asyncio.run(deny())
    assert sent == []
