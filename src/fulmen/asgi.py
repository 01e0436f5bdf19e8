"""The ASGI front door: ``app(scope, receive, send)`` builds the same Request and sends the same Response."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, BinaryIO

from fulmen.datastructures import Address
from fulmen.requests import ClientDisconnect, Request
from fulmen.responses import FileResponse, PlainTextResponse, Response, read_file_chunk

if TYPE_CHECKING:
    from fulmen.app import Fulmen

logger = logging.getLogger("fulmen.error")

#: Where an unhandled exception waits (in the http scope) for the front door to re-raise it after the 500.
UNHANDLED_KEY = "fulmen.unhandled_exception"


async def asgi_entry(app: Fulmen, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Serve one ASGI connection scope (``http``, ``websocket`` or ``lifespan``)."""
    kind = scope["type"]
    if kind == "http":
        await _http(app, scope, receive, send)
    elif kind == "lifespan":
        await _lifespan(app, scope, receive, send)
    elif kind == "websocket":
        await _websocket(app, scope, receive, send)
    else:
        raise RuntimeError(f"fulmen does not handle ASGI scope type {kind!r} yet")


async def _http(app: Fulmen, scope: dict[str, Any], receive: Any, send: Any, handle: Any = None) -> None:
    """Serve one http scope: ``app.handle`` answers it, or ``handle`` when given (middleware bridges)."""
    reader = _ASGIBody(receive)
    client = scope.get("client")
    server = scope.get("server")
    path, raw_path, root_path = _under_root_path(scope)
    headers = [(k.lower(), v) for k, v in scope.get("headers", ())]
    state = scope.get("state")
    if state is None:
        # The lifespan state, copied for this request (as a server does) into the scope itself.
        lifespan_state = app.lifespan_state
        state = scope["state"] = dict(lifespan_state) if lifespan_state else {}
    request = Request(
        scope["method"],
        raw_path,
        scope.get("query_string", b""),
        headers,
        path=path,
        body=None,
        read_body=reader,
        client=Address(*client) if client else None,
        server=Address(*server) if server and server[1] is not None else None,
        scheme=scope.get("scheme", "http"),
        http_version=scope.get("http_version", "1.1"),
        root_path=root_path,
        app=app,
    )
    # As Starlette's: request.state is the scope's "state" dict, not a copy, so every layer of ASGI middleware
    # and the endpoint share it (a value the endpoint sets is seen by the middleware after call_next).
    # PERF: the dict itself; ``request.state`` wraps it on first use (most requests never ask).
    request._state = state
    request._asgi_scope = scope  # what ASGI middleware put in it (request.session, .user, .auth, .scope)
    request._disconnect_probe = reader
    if scope.get("fulmen.raise_server_exceptions"):
        request.scope_extra = {"fulmen.raise_server_exceptions": True}
    response = await (app.handle if handle is None else handle)(request)
    if response.streaming:  # PERF: a class attribute; plain responses keep the two-message path below
        await _send_streamed(response, request, receive, send, reader.received)
        return
    body = response.body
    if scope["method"] == "HEAD":
        body = b""
    if response.has_debug_info and "http.response.debug" in scope.get("extensions", ()):
        info = {"template": getattr(response, "template", None), "context": getattr(response, "context", {})}
        await send({"type": "http.response.debug", "info": info})
    try:
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers}
        )
        await send({"type": "http.response.body", "body": body})
    except BaseException as exc:
        await _abort_background(response, exc)
        raise
    if response.background is not None:
        await response.background()
    unhandled = scope.pop(UNHANDLED_KEY, None)
    if unhandled is not None:  # the 500 is out; the server hears of the error, as under Starlette
        raise unhandled


def _under_root_path(scope: dict[str, Any]) -> tuple[str, bytes, str]:
    """``(path, raw_path, root_path)`` of an http or websocket scope, the paths without the root path: ASGI
    servers give the full path, routes are declared without it."""
    path: str = scope.get("path") or "/"  # hand-made scopes (a response called directly) may have none
    raw_path: bytes | None = scope.get("raw_path")
    root_path: str = scope.get("root_path", "")
    size = len(root_path)
    # Only whole segments: "/apiary" is not under the root path "/api" (Starlette's rule too).
    if root_path and path.startswith(root_path) and (len(path) == size or path[size] == "/"):
        path = path[size:]
        if raw_path is not None:
            encoded = root_path.encode("utf-8")
            if raw_path.startswith(encoded):
                raw_path = raw_path[len(encoded) :]
    if raw_path is None:
        raw_path = path.encode("utf-8")
    return path, raw_path, root_path


class _ASGIBody:
    """The request body read from ``receive`` (``request.stream()``), and ``request.is_disconnected()``."""

    __slots__ = ("gone", "more", "pending", "receive", "watched")

    def __init__(self, receive: Any) -> None:
        self.receive = receive
        #: More ``http.request`` messages are to come.
        self.more = True
        #: ``http.disconnect`` was received.
        self.gone = False
        #: Body chunks that ``client_disconnected`` received before the app read them.
        self.pending: list[bytes] = []
        #: A disconnect watcher (``_disconnect_watcher``) is the one calling ``receive`` now.
        self.watched = False

    def received(self) -> bool:
        """The whole body has been received (``receive`` may be called by a disconnect watcher)."""
        return not self.more

    async def __call__(self) -> bytes:
        if self.pending:
            return self.pending.pop(0)
        while self.more:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                raise ClientDisconnect()
            self.more = message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                return chunk
        return b""

    def client_disconnected(self) -> bool:
        """Whether ``receive`` has ``http.disconnect`` ready, without waiting (as Starlette checks)."""
        if self.gone or self.watched:
            return self.gone
        message = poll_receive(self.receive)
        if message is not None:
            kind = message["type"]
            if kind == "http.disconnect":
                self.gone = True
            elif kind == "http.request" and self.more:
                # A body chunk the app hasn't read yet: kept for request.stream() (Starlette would drop it).
                self.more = message.get("more_body", False)
                chunk: bytes = message.get("body", b"")
                if chunk:
                    self.pending.append(chunk)
        return self.gone


def poll_receive(receive: Callable[[], Awaitable[Any]]) -> Any:
    """The message ``receive()`` returns without waiting, or None when it would wait.

    Its awaitable is stepped once by hand; if it suspends, ``CancelledError`` is thrown in at that point (as a
    cancelled scope does in Starlette's ``is_disconnected``), so it cleans up and receives nothing.
    """
    step = receive().__await__()
    try:
        step.send(None)
    except StopIteration as done:
        return done.value
    try:
        step.throw(asyncio.CancelledError())
    except StopIteration as done:  # it took the cancellation as "return now"
        return done.value
    except asyncio.CancelledError:
        return None
    step.close()  # it suspended again: give up on it
    return None


# -- sending responses ---------------------------------------------------------------------------------------
async def send_response(
    response: Response,
    request: Request,
    receive: Any,
    send: Any,
    body_done: Callable[[], bool] = lambda: True,
) -> None:
    """Send ``response`` to ``request`` over ASGI, streamed bodies included, then run its background task.

    ``body_done`` tells whether the request body has been received completely (so a disconnect watcher may
    call ``receive``); for ASGI apps built on fulmen responses, such as ``StaticFiles``.
    """
    if response.streaming:
        await _send_streamed(response, request, receive, send, body_done)
        return
    try:
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers}
        )
        await send({"type": "http.response.body", "body": b"" if request.method == "HEAD" else response.body})
    except BaseException as exc:
        await _abort_background(response, exc)
        raise
    if response.background is not None:
        await response.background()


async def send_to_scope(response: Response, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """``await response(scope, receive, send)``: send a streamed response to an ASGI http scope.

    For ASGI middleware that answers by itself (as with Starlette's responses); a file answers ``Range`` from
    the scope's headers, the body goes in ``more_body`` chunks, the background task runs after.
    """
    if scope["type"] == "websocket":  # a denial response: the same messages under the extension's names
        scope = {**scope, "type": "http", "method": "GET"}
        receive, send = never_disconnected, denial_send(send)
    elif scope["type"] != "http":
        raise RuntimeError(
            f"{type(response).__name__} can only be sent to an http or websocket scope, not {scope['type']!r}"
        )
    request = request_from_scope(scope)
    if scope.get("fulmen.raise_server_exceptions"):  # TestClient: a failing prepare() raises, as in Starlette
        request.scope_extra = {"fulmen.raise_server_exceptions": True}
    await send_response(response, request, receive, send)


def denial_send(send: Any) -> Any:
    """``send`` for an HTTP response that rejects a WebSocket handshake: ``http.response.*`` messages become
    the ``websocket.http.response.*`` messages of the ASGI denial-response extension."""

    async def renamed(message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind.startswith("http.response."):
            message = {**message, "type": "websocket." + kind}
        await send(message)

    return renamed


async def never_disconnected() -> dict[str, Any]:
    """``receive`` for a denial response: as in Starlette, the WebSocket client is not watched."""
    await asyncio.get_running_loop().create_future()  # never resolved; cancelled when the response is sent
    raise AssertionError("unreachable")  # pragma: no cover


def request_from_scope(scope: dict[str, Any]) -> Request:
    """A fulmen ``Request`` for an ASGI http scope, its path relative to ``root_path`` (as mounts give it)."""
    path, raw_path, root_path = _under_root_path(scope)
    client = scope.get("client")
    server = scope.get("server")
    return Request(
        scope.get("method", "GET"),
        raw_path,
        scope.get("query_string", b""),
        [(k.lower(), v) for k, v in scope.get("headers", ())],
        path=path,
        body=b"",
        client=Address(*client) if client else None,
        server=Address(*server) if server and server[1] is not None else None,
        scheme=scope.get("scheme", "http"),
        http_version=scope.get("http_version", "1.1"),
        root_path=root_path,
    )


class _ASGIBodyWriter:
    """``BodyWriter`` over ASGI ``send``: one ``http.response.body`` message (``more_body``) per chunk."""

    __slots__ = ("_send",)

    def __init__(self, send: Any) -> None:
        self._send = send

    async def write(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def write_file(self, file: BinaryIO, offset: int, count: int) -> None:
        from fulmen._concurrency import run_in_threadpool

        while count > 0:
            size = min(count, FileResponse.chunk_size)
            data: bytes = await run_in_threadpool(read_file_chunk, file, offset, size)
            if not data:
                raise RuntimeError(f"File {file.name!r} is shorter than expected")
            offset += len(data)
            count -= len(data)
            await self.write(data)


async def _abort_background(response: Response, exc: BaseException) -> None:
    """Sending failed or was cancelled: the background tasks don't run (as in Starlette), but a route's
    ``yield`` dependencies waiting in it still end, ``exc`` thrown into them."""
    abort = getattr(response.background, "abort", None)
    if abort is not None:
        await abort(exc)


async def _send_streamed(
    response: Response, request: Request, receive: Any, send: Any, body_done: Callable[[], bool]
) -> None:
    try:
        response = await response.prepare(request)
    except Exception:
        extra = request.scope_extra
        if extra is not None and extra.get("fulmen.raise_server_exceptions"):
            raise
        logger.exception("Exception preparing the response to %s %s", request.method, request.path)
        response = PlainTextResponse("Internal Server Error", status_code=500)
    if not response.streaming:  # a plain answer after all (400/416 for a bad Range)
        await send_response(response, request, receive, send)
        return
    try:
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers}
        )
        status = response.status_code
        if request.method == "HEAD" or status < 200 or status in (204, 304):
            await response.discard_body()
            finished = True
        else:
            finished = await _stream_body(response, request, receive, send, body_done)
        # The client went away: no final message; the background task still runs, as under Starlette.
        if finished:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except BaseException as exc:
        await _abort_background(response, exc)
        raise
    if response.background is not None:
        await response.background()


async def _stream_body(
    response: Response, request: Request, receive: Any, send: Any, body_done: Callable[[], bool]
) -> bool:
    """Send the body while watching for ``http.disconnect``; False when the client left before the end."""
    writer = _ASGIBodyWriter(send)
    watch = _disconnect_watcher(request, receive, body_done)
    if watch is None:  # the app is reading the request body right now: its reads will see a disconnect
        try:
            await response.send_body(writer)
        except OSError:  # ASGI 2.4 servers raise it from send() once the client is gone
            return False
        return True
    body_task = asyncio.ensure_future(response.send_body(writer))
    watch_task = asyncio.ensure_future(watch)
    try:
        await asyncio.wait((body_task, watch_task), return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Also when this coroutine is cancelled: stop the body (closing its iterator) and the watcher.
        for task in (watch_task, body_task):
            if not task.done():
                task.cancel()
        for task in (watch_task, body_task):
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                if task is not body_task:
                    raise
    if body_task.cancelled():
        return False
    exc = body_task.exception()
    if isinstance(exc, OSError):
        return False
    if exc is not None:
        raise exc
    return True


def _disconnect_watcher(
    request: Request, receive: Any, body_done: Callable[[], bool]
) -> Coroutine[Any, Any, None] | None:
    """A coroutine that returns when the client disconnects, or None when it can't call ``receive`` safely.

    When the app has not read the request body yet, the watcher becomes the only caller of ``receive`` and
    hands body chunks to ``request.stream()`` (the request's reader is swapped for one fed by the watcher).
    """
    # While the watcher calls ``receive``, request.is_disconnected() reads its finding instead of polling.
    probe = getattr(request, "_disconnect_probe", None)
    asgi_body = probe if isinstance(probe, _ASGIBody) else None
    if body_done():

        async def until_disconnect() -> None:
            if asgi_body is not None:
                asgi_body.watched = True
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass
                if asgi_body is not None:
                    asgi_body.gone = True
            finally:
                if asgi_body is not None:
                    asgi_body.watched = False

        return until_disconnect()
    if request._read_body is None:
        return None  # being read now (request.stream() holds the reader)
    chunks: deque[bytes] = deque()
    if asgi_body is not None and request._read_body is asgi_body:
        chunks.extend(asgi_body.pending)  # received by is_disconnected() before the app read them
        asgi_body.pending.clear()
    arrived = asyncio.Event()
    more = True
    gone = False

    async def read_body() -> bytes:
        while True:
            if chunks:
                return chunks.popleft()
            if not more:
                return b""
            if gone:
                raise ClientDisconnect()
            arrived.clear()
            await arrived.wait()

    async def watch() -> None:
        nonlocal more, gone
        if asgi_body is not None:
            asgi_body.watched = True
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone = True
                    if asgi_body is not None:
                        asgi_body.gone = True
                    return
                if more:
                    more = message.get("more_body", False)
                    chunk: bytes = message.get("body", b"")
                    if chunk:
                        chunks.append(chunk)
                    arrived.set()
        finally:
            gone = gone or more
            arrived.set()
            if asgi_body is not None:
                asgi_body.watched = False

    request._read_body = read_body
    return watch()


async def _lifespan(app: Fulmen, scope: dict[str, Any], receive: Any, send: Any) -> None:
    started = False
    message = await receive()
    assert message["type"] == "lifespan.startup"
    try:
        await app.startup()
        if app.lifespan_state is not None and "state" in scope:
            scope["state"].update(app.lifespan_state)
    except BaseException as exc:
        logger.exception("Application startup failed")
        await send({"type": "lifespan.startup.failed", "message": repr(exc)})
        raise
    started = True
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    assert message["type"] == "lifespan.shutdown"
    try:
        if started:
            await app.shutdown()
    except BaseException as exc:
        logger.exception("Application shutdown failed")
        await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
        raise
    await send({"type": "lifespan.shutdown.complete"})


# -- WebSockets ----------------------------------------------------------------------------------------------
async def _websocket(app: Fulmen, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Serve one websocket scope: the engine's ``WebSocket`` over the server's receive/send.

    Unhandled exceptions propagate to the server, as under Starlette (uvicorn answers the handshake with 500).
    """
    from fulmen.websockets import WebSocket

    request = websocket_request(scope, app)
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        send = _without_denial_responses(send)
    await app.handle_websocket(WebSocket(request, receive, send))


def websocket_request(scope: dict[str, Any], app: Fulmen | None = None) -> Request:
    """The handshake ``Request`` of an ASGI ``websocket`` scope (paths relative to its root path)."""
    path, raw_path, root_path = _under_root_path(scope)
    client = scope.get("client")
    server = scope.get("server")
    state = scope.get("state")
    request = Request(
        "GET",
        raw_path,
        scope.get("query_string", b""),
        [(k.lower(), v) for k, v in scope.get("headers", ())],
        path=path,
        body=b"",
        client=Address(*client) if client else None,
        server=Address(*server) if server and server[1] is not None else None,
        scheme=scope.get("scheme", "ws"),
        http_version=scope.get("http_version", "1.1"),
        root_path=root_path,
        app=app if app is not None else scope.get("app"),
        state=dict(state) if state else None,
    )
    request._asgi_scope = scope
    if scope.get("path_params"):
        request.path_params = dict(scope["path_params"])
    if scope.get("fulmen.raise_server_exceptions"):
        request.scope_extra = {"fulmen.raise_server_exceptions": True}
    return request


def _without_denial_responses(send: Any) -> Any:
    async def checked_send(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.http.response.start":
            raise RuntimeError("The server doesn't support the Websocket Denial Response extension.")
        await send(message)

    return checked_send
