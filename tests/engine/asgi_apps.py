"""Foreign ASGI apps for tests/engine/test_interface_asgi.py: FastAPI, Starlette and raw ASGI callables.

Importable by ``fulmen run --interface asgi tests.engine.asgi_apps:<name>`` subprocesses too.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


class Recorder:
    """Thread-safe list of what the apps saw, with a wait for the test thread."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._cond = threading.Condition()

    def add(self, item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Any]], bool], timeout: float = 5.0) -> list[Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.items), timeout):
                raise AssertionError(f"timed out; recorded: {self.items!r}")
            return list(self.items)

    def clear(self) -> None:
        with self._cond:
            self.items.clear()


RECORD = Recorder()
#: Opened by a test to let the raw app's /gate route start reading its body.
GATE = threading.Event()


# -- FastAPI -------------------------------------------------------------------------------------------------
@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    print("fastapi lifespan: startup", file=sys.stderr, flush=True)
    yield {"greeting": "hello from lifespan", "counter": [0]}
    print("fastapi lifespan: shutdown", file=sys.stderr, flush=True)


fastapi_app = FastAPI(lifespan=_lifespan)


class Item(BaseModel):
    name: str
    price: float


@fastapi_app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}


@fastapi_app.post("/items")
async def create_item(item: Item) -> dict[str, Any]:
    return {"name": item.name, "price": item.price, "kind": "created"}


@fastapi_app.get("/stream")
async def stream() -> StreamingResponse:
    async def numbers() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"part {i}\n".encode()
            await asyncio.sleep(0)

    return StreamingResponse(numbers(), media_type="text/plain")


def _background_job(tag: str) -> None:
    RECORD.add(("background", tag))


@fastapi_app.post("/background/{tag}")
async def background(tag: str, tasks: BackgroundTasks) -> dict[str, str]:
    tasks.add_task(_background_job, tag)
    return {"scheduled": tag}


@fastapi_app.get("/state")
async def state(request: Request) -> dict[str, Any]:
    # The lifespan state is shallow-copied per request: the dict is new, the list inside is shared.
    request.state.greeting = "changed in this request only"
    counter = request.state.counter
    counter[0] += 1
    return {"root_path": request.scope.get("root_path"), "count": counter[0]}


@fastapi_app.get("/state/greeting")
async def greeting(request: Request) -> dict[str, Any]:
    return {"greeting": request.state.greeting, "client": request.client.host if request.client else None}


@fastapi_app.post("/upload-size")
async def upload_size(request: Request) -> dict[str, int]:
    chunks = 0
    size = 0
    async for chunk in request.stream():
        chunks += 1
        size += len(chunk)
    return {"chunks": chunks, "size": size}


@fastapi_app.websocket("/ws")
async def ws_echo(websocket: WebSocket) -> None:
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol="echo.v1" if "echo.v1" in offered else None)
    greeting = websocket.state.greeting
    await websocket.send_text(f"welcome: {greeting}")
    try:
        while True:
            text = await websocket.receive_text()
            if text == "bye":
                await websocket.close(code=4001, reason="bye now")
                return
            await websocket.send_text(f"echo: {text}")
    except WebSocketDisconnect as exc:
        RECORD.add(("ws-disconnect", exc.code))


@fastapi_app.websocket("/ws-deny")
async def ws_deny(websocket: WebSocket) -> None:
    await websocket.close(code=1008)  # before accept: the handshake is refused with 403


# -- Starlette -----------------------------------------------------------------------------------------------
async def _hello(request: StarletteRequest) -> PlainTextResponse:
    return PlainTextResponse(f"hello {request.path_params['name']}")


async def _echo_json(request: StarletteRequest) -> JSONResponse:
    data = await request.json()
    return JSONResponse({"got": data, "method": request.method, "query": dict(request.query_params)})


starlette_app = Starlette(
    routes=[Route("/hello/{name}", _hello), Route("/json", _echo_json, methods=["POST"])]
)


# -- raw ASGI callables --------------------------------------------------------------------------------------
async def _send_text(send: Any, text: str, status: int = 200) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_all(receive: Any, path: str) -> tuple[list[Any], bool]:
    """Read the body messages; return them and whether the client went away."""
    seen: list[Any] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            RECORD.add((path, "http.disconnect"))
            return seen, True
        seen.append((len(message.get("body", b"")), message.get("more_body", False)))
        if not message.get("more_body", False):
            return seen, False


async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A plain ASGI 3 app without lifespan support (raises on that scope before receiving)."""
    if scope["type"] == "lifespan":
        raise RuntimeError("this app does not do lifespan")
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/echo":
        # Echo each body chunk back as it arrives, in a streamed (chunked) response.
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                RECORD.add((path, "http.disconnect"))
                return
            await send({"type": "http.response.body", "body": message.get("body", b""), "more_body": True})
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/len":
        seen, gone = await _read_all(receive, path)
        if gone:
            return
        RECORD.add((path, seen))
        await _send_text(send, f"{sum(n for n, _ in seen)} bytes in {len(seen)} messages")
    elif path == "/gate":
        RECORD.add((path, "waiting"))
        while not GATE.is_set():
            await asyncio.sleep(0.01)
        RECORD.add((path, "reading"))
        seen, gone = await _read_all(receive, path)
        if not gone:
            await _send_text(send, f"{sum(n for n, _ in seen)} bytes")
    elif path in ("/unsized", "/unsized-stream"):
        # No content-length: the server frames the body (content-length or chunked); HEAD sends none.
        start = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        await send(start)
        body = b"" if scope["method"] == "HEAD" else b"hello"
        if path == "/unsized-stream" and body:
            await send({"type": "http.response.body", "body": body, "more_body": True})
            body = b""
        await send({"type": "http.response.body", "body": body})
    elif path == "/no-read":
        await _send_text(send, "answered without reading the body")
    elif path == "/slow":
        await asyncio.sleep(0.3)
        await _send_text(send, "slow")
    elif path == "/disconnect":
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                RECORD.add((path, "http.disconnect", time.monotonic()))
                return
    else:
        await _send_text(send, f"{scope['method']} {path}")


async def failing_lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reports a failed lifespan startup."""
    if scope["type"] == "lifespan":
        message = await receive()
        assert message["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return
    await _send_text(send, "never served")


class ASGITwoStyle:
    """An ASGI 2 application (a class instantiated with the scope): refused with a clear error."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:  # pragma: no cover - never served
        await _send_text(send, "asgi2")


def wsgi_hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """A WSGI app, for the interface checks."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"wsgi"]
