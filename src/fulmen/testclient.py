"""An in-process test client with FastAPI's TestClient API, built on httpx (``pip install "fulmen[dev]"``).

Requests go through the app's ASGI front door on an event loop in a helper thread, so lifespan state and
connections created at startup live on one loop for the whole ``with TestClient(app)`` block.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sys
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote

from fulmen._typing import is_class
from fulmen.websockets import WebSocketDisconnect, disconnect_error

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'fulmen.testclient needs httpx: pip install "fulmen[dev]" (or pip install httpx)'
    ) from exc

T = TypeVar("T")

_RAISE_KEY = "fulmen.raise_server_exceptions"


class _LoopThread:
    """An event loop running in a daemon thread, to drive the async app from synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fulmen-testclient", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _ASGITransport(httpx.BaseTransport):
    def __init__(self, client: TestClient) -> None:
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        client = self._client
        url = request.url
        raw_path, _, _ = url.raw_path.partition(b"?")
        default_port = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(url.scheme, 80)
        headers = [(k.lower(), v) for k, v in request.headers.raw]
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": unquote(raw_path.decode("ascii")),
            "raw_path": raw_path,
            "query_string": url.query,
            "root_path": client.root_path,
            "headers": headers,
            "client": client.client_address,
            "server": (url.host, default_port if url.port is None else url.port),
            "state": dict(client.app_state),
            "extensions": {"http.response.debug": {}},
        }
        if client.raise_server_exceptions:
            scope[_RAISE_KEY] = True
        body = request.read()
        debug: dict[str, Any] = {}
        status, out_headers, content = client._portal().run(
            _call_asgi(client.app, scope, body, client.raise_server_exceptions, debug)
        )
        # A stream, not content=: httpx would add a content-length the app never sent (streamed responses have
        # none, as under Starlette's TestClient).
        stream = httpx.ByteStream(content)
        response = httpx.Response(status, headers=out_headers, stream=stream, request=request)
        info = debug.get("info")
        if info is not None:  # as Starlette's TestClient: the debug info, and a template response's parts
            response.extensions["http.response.debug"] = info
            if "template" in info:
                response.template = info["template"]  # type: ignore[attr-defined]
            if "context" in info:
                response.context = info["context"]  # type: ignore[attr-defined]
        return response


async def _call_asgi(
    app: Any, scope: dict[str, Any], body: bytes, raise_exceptions: bool, debug: dict[str, Any]
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    sent = False
    started = False
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # nothing more will arrive; as a connection that stays open
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
            status = message["status"]
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))  # a copy: the app may reuse a bytearray
        elif message["type"] == "http.response.debug":
            debug["info"] = message.get("info", {})

    try:
        await app(scope, receive, send)
    except Exception:
        if raise_exceptions:
            raise
        # As FastAPI's TestClient: the response already sent stands; with none, the client sees a 500.
        if not started:
            return 500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error"
    return status, headers, b"".join(chunks)


class TestClient(httpx.Client):
    """Call an app in-process: ``client.get("/")``; ``with TestClient(app):`` also runs its lifespan."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        backend: str = "asyncio",  # accepted for FastAPI compatibility; fulmen always uses asyncio
        backend_options: dict[str, Any] | None = None,
        cookies: Any = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        #: The (host, port) requests appear to come from (``request.client``).
        self.client_address = client
        self.raise_server_exceptions = raise_server_exceptions
        self.root_path = root_path
        self.app_state: dict[str, Any] = {}
        self._loop_thread: _LoopThread | None = None
        self._in_context = False
        self._lifespan_task: asyncio.Task[None] | None = None
        self._lifespan_send: asyncio.Queue[dict[str, Any]] | None = None
        self._lifespan_receive: asyncio.Queue[dict[str, Any] | None] | None = None
        default_headers = {"user-agent": "testclient"}
        default_headers.update(headers or {})
        super().__init__(
            base_url=base_url,
            headers=default_headers,
            transport=_ASGITransport(self),
            follow_redirects=follow_redirects,
            cookies=cookies,
        )

    def _portal(self) -> _LoopThread:
        if self._loop_thread is None:
            self._loop_thread = _LoopThread()
        return self._loop_thread

    # -- lifespan --------------------------------------------------------------------------------------------
    # As Starlette's TestClient: the app's lifespan runs as a task for the whole ``with`` block; when it
    # fails, the exception the app raised (a ``ConfigError`` in the lifespan, say) is raised in the test.
    async def _start_lifespan(self) -> None:
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        from_app: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._lifespan_send, self._lifespan_receive = to_app, from_app
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.app_state}

        async def run() -> None:
            try:
                await self.app(scope, to_app.get, from_app.put)
            finally:
                from_app.put_nowait(None)  # the app is done: whoever waits for a message looks at the task

        self._lifespan_task = asyncio.get_running_loop().create_task(run())
        await to_app.put({"type": "lifespan.startup"})
        message = await self._lifespan_message("startup")
        if message["type"] == "lifespan.startup.failed":
            await self._lifespan_message("startup")  # raises what the app raised, if it raised
            raise RuntimeError(message.get("message") or "lifespan startup failed")

    async def _lifespan_message(self, phase: str) -> dict[str, Any]:
        """The app's next lifespan message; when the app has ended instead, what it raised."""
        assert self._lifespan_receive is not None and self._lifespan_task is not None
        message = await self._lifespan_receive.get()
        if message is None:
            await self._lifespan_task
            raise RuntimeError(f"The app's lifespan returned without completing {phase}")
        return message

    async def _stop_lifespan(self) -> None:
        assert self._lifespan_send is not None
        await self._lifespan_send.put({"type": "lifespan.shutdown"})
        message = await self._lifespan_message("shutdown")
        if message["type"] == "lifespan.shutdown.failed":
            await self._lifespan_message("shutdown")
            raise RuntimeError(message.get("message") or "lifespan shutdown failed")
        if self._lifespan_task is not None:
            await self._lifespan_task

    def __enter__(self) -> TestClient:
        try:
            self._portal().run(self._start_lifespan())
        except BaseException:
            self._stop_loop()
            raise
        self._in_context = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        # As Starlette's: leaving the block ends the lifespan, not the client; later requests still work
        # (on a fresh event loop thread, stopped by ``close()``).
        try:
            if self._in_context:
                self._in_context = False
                self._portal().run(self._stop_lifespan())
        finally:
            self._stop_loop()

    def close(self) -> None:
        """Close the client and stop its event loop thread."""
        super().close()
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop_thread is not None:
            self._loop_thread.close()
            self._loop_thread = None

    # -- WebSockets (the session class is at the end of this module) -----------------------------------------
    def websocket_connect(
        self, url: str, subprotocols: Sequence[str] | None = None, **kwargs: Any
    ) -> WebSocketTestSession:
        """Open a WebSocket to the app: ``with client.websocket_connect("/ws") as ws: ws.send_text(...)``.

        Entering runs the handshake: an app that closes before accepting raises ``WebSocketDisconnect``
        (``WebSocketDenialResponse`` for an HTTP denial), as Starlette's TestClient does.
        """
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("connection", "upgrade")
        headers.setdefault("upgrade", "websocket")
        headers.setdefault("sec-websocket-key", "testserver==")
        headers.setdefault("sec-websocket-version", "13")
        if subprotocols is not None:
            headers.setdefault("sec-websocket-protocol", ", ".join(subprotocols))
        request = self.build_request("GET", url, headers=headers, **kwargs)
        return WebSocketTestSession(self, _websocket_scope(self, request))


# ------------------------------------------------------------------------------------------------------------
# WebSockets: ``TestClient.websocket_connect`` and its session (Starlette's TestClient API)
# ------------------------------------------------------------------------------------------------------------
class WebSocketDenialResponse(httpx.Response, WebSocketDisconnect):  # type: ignore[misc]
    """Raised by ``websocket_connect`` when the app rejects the handshake with an HTTP response."""


_denial_classes: dict[type, type[WebSocketDenialResponse]] = {}


def _denial_class() -> type[WebSocketDenialResponse]:
    """The class a denial raises: also Starlette's once a program has imported ``starlette.testclient``.

    FastAPI tests catch ``starlette.testclient.WebSocketDenialResponse``; fulmen doesn't depend on Starlette.
    """
    module = sys.modules.get("starlette.testclient")
    theirs = getattr(module, "WebSocketDenialResponse", None)
    if not is_class(theirs):
        return WebSocketDenialResponse
    cls = _denial_classes.get(theirs)
    if cls is None:
        cls = type("WebSocketDenialResponse", (WebSocketDenialResponse, theirs), {})
        cls.__module__ = __name__
        _denial_classes[theirs] = cls
    return cls


def _websocket_scope(client: TestClient, request: httpx.Request) -> dict[str, Any]:
    url = request.url
    raw_path, _, _ = url.raw_path.partition(b"?")
    scheme = "wss" if url.scheme in ("https", "wss") else "ws"
    subprotocols = [
        p.strip() for p in request.headers.get("sec-websocket-protocol", "").split(",") if p.strip()
    ]
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": url.query,
        "root_path": client.root_path,
        "headers": [(k.lower(), v) for k, v in request.headers.raw],
        "client": client.client_address,
        "server": (url.host, (443 if scheme == "wss" else 80) if url.port is None else url.port),
        "subprotocols": subprotocols,
        "state": dict(client.app_state),
        "extensions": {"websocket.http.response": {}},
    }
    if client.raise_server_exceptions:
        scope[_RAISE_KEY] = True
    return scope


class _AppEnded:
    """Put on the session's queue when the app returns (``error`` is what it raised, if anything)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class WebSocketTestSession:
    """One WebSocket between a test and the app, the app running on the TestClient's event loop.

    Methods mirror Starlette's: ``send_text/bytes/json``, ``receive``, ``receive_text/bytes/json``
    (``WebSocketDisconnect`` once the app has closed), ``close(code, reason)``. Leaving the ``with`` block
    sends a 1000 disconnect unless the test closed already, lets the app finish (it is cancelled if it is
    still busy a second later) and re-raises an exception the app raised that the test hasn't seen, when the
    client has ``raise_server_exceptions``.
    """

    __test__ = False

    def __init__(self, client: TestClient, scope: dict[str, Any]) -> None:
        self.scope = scope
        #: The subprotocol and extra headers the app accepted with.
        self.accepted_subprotocol: str | None = None
        self.extra_headers: list[tuple[bytes, bytes]] | None = None
        self._client = client
        self._portal = client._portal()
        self._from_app: queue.Queue[Any] = queue.Queue()
        self._to_app: asyncio.Queue[dict[str, Any]] | None = None
        self._future: Future[None] | None = None
        self._closed = False
        self._accepted = False
        self._error_seen = False
        self._disconnect_delivered = False
        #: Set when the app is done, or waits for a message after it has been told about the disconnect.
        self._idle = threading.Event()

    def __enter__(self) -> WebSocketTestSession:
        self._to_app = self._portal.run(_new_queue())
        self._future = asyncio.run_coroutine_threadsafe(self._run(), self._portal.loop)
        self.send({"type": "websocket.connect"})
        try:
            message = self.receive()
            self._raise_on_close(message)
        except BaseException:
            self._closed = True
            self._finish(raise_error=False)
            raise
        self.accepted_subprotocol = message.get("subprotocol")
        self.extra_headers = message.get("headers")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            if not self._closed:
                self.close(1000)
        finally:
            self._finish(raise_error=exc_type is None)

    # -- the app's side (runs on the loop) -------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            await self._client.app(self.scope, self._app_receive, self._app_send)
        except BaseException as exc:
            self._from_app.put(_AppEnded(exc))
            if not isinstance(exc, asyncio.CancelledError):
                return
            raise
        else:
            self._from_app.put(_AppEnded(None))
        finally:
            self._idle.set()

    async def _app_receive(self) -> dict[str, Any]:
        inbox = self._to_app
        assert inbox is not None
        if inbox.empty() and self._disconnect_delivered:
            self._idle.set()  # told about the disconnect and waiting for more: it is done with this socket
        message = await inbox.get()
        if message["type"] == "websocket.disconnect":
            self._disconnect_delivered = True
        return message

    async def _app_send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept":
            self._accepted = True
        self._from_app.put(message)

    # -- the test's side -------------------------------------------------------------------------------------
    def _finish(self, raise_error: bool) -> None:
        future = self._future
        if future is None:
            return
        self._idle.wait(1.0)
        if not future.done():
            future.cancel()
        error: BaseException | None = None
        while True:
            try:
                item = self._from_app.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _AppEnded):
                error = item.error
        if (
            raise_error
            and error is not None
            and not self._error_seen
            and not isinstance(error, asyncio.CancelledError)
            and self._client.raise_server_exceptions
        ):
            raise error

    def send(self, message: dict[str, Any]) -> None:
        """Send one ASGI message to the app (``websocket.receive``/``websocket.disconnect``)."""
        inbox = self._to_app
        assert inbox is not None, "use the session as a context manager"
        self._portal.loop.call_soon_threadsafe(inbox.put_nowait, message)

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self.send({"type": "websocket.receive", "text": data})

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self.send({"type": "websocket.receive", "bytes": data})

    def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as JSON in a text (or, with ``mode="binary"``, binary) message."""
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            self.send({"type": "websocket.receive", "text": text})
        else:
            self.send({"type": "websocket.receive", "bytes": text.encode("utf-8")})

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close from the client's side: the app receives ``websocket.disconnect`` with ``code``."""
        self._closed = True
        self.send({"type": "websocket.disconnect", "code": code, "reason": reason})

    def receive(self) -> dict[str, Any]:
        """The next ASGI message the app sent (blocks until there is one)."""
        item = self._from_app.get()
        if isinstance(item, _AppEnded):
            self._from_app.put(item)  # every later receive ends the same way
            if item.error is not None:
                self._error_seen = True
                raise item.error
            if not self._accepted:
                raise RuntimeError(
                    "The WebSocket endpoint returned without accepting or closing the connection"
                )
            # As fulmen's engine does when an endpoint returns without closing: a normal closure.
            return {"type": "websocket.close", "code": 1000, "reason": ""}
        message: dict[str, Any] = item
        return message

    def _raise_on_close(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "websocket.close":
            raise disconnect_error(message.get("code", 1000), message.get("reason", ""))
        if kind == "websocket.http.response.start":
            body: list[bytes] = []
            while True:
                part = self.receive()
                body.append(part.get("body", b""))
                if not part.get("more_body", False):
                    break
            raise _denial_class()(
                status_code=message["status"], headers=message.get("headers", []), content=b"".join(body)
            )

    def receive_text(self) -> str:
        """The next message as text; ``WebSocketDisconnect`` if the app closed."""
        message = self.receive()
        self._raise_on_close(message)
        text: str = message["text"]
        return text

    def receive_bytes(self) -> bytes:
        """The next message as bytes; ``WebSocketDisconnect`` if the app closed."""
        message = self.receive()
        self._raise_on_close(message)
        data: bytes = message["bytes"]
        return data

    def receive_json(self, mode: str = "text") -> Any:
        """The next message decoded as JSON."""
        message = self.receive()
        self._raise_on_close(message)
        text = message["text"] if mode == "text" else message["bytes"].decode("utf-8")
        return json.loads(text)


async def _new_queue() -> asyncio.Queue[dict[str, Any]]:
    return asyncio.Queue()
