"""An in-process test client with FastAPI's TestClient API, built on httpx (``pip install "fulmen[dev]"``).

Requests go through the app's ASGI front door on an event loop in a helper thread, so lifespan state and
connections created at startup live on one loop for the whole ``with TestClient(app)`` block.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import unquote

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
            "server": (url.host, url.port or default_port),
            "state": dict(client.app_state),
            "extensions": {},
        }
        if client.raise_server_exceptions:
            scope[_RAISE_KEY] = True
        body = request.read()
        status, out_headers, content = client._portal().run(
            _call_asgi(client.app, scope, body, client.raise_server_exceptions)
        )
        return httpx.Response(status, headers=out_headers, content=content, request=request)


async def _call_asgi(
    app: Any, scope: dict[str, Any], body: bytes, raise_exceptions: bool
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
            chunks.append(message.get("body", b""))

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
        self._lifespan_receive: asyncio.Queue[dict[str, Any]] | None = None
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
    async def _start_lifespan(self) -> None:
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._lifespan_send, self._lifespan_receive = to_app, from_app
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.app_state}

        async def run() -> None:
            try:
                await self.app(scope, to_app.get, from_app.put)
            except BaseException as exc:  # surfaced to the test through the startup message
                await from_app.put({"type": "lifespan.error", "exc": exc})

        self._lifespan_task = asyncio.get_running_loop().create_task(run())
        await to_app.put({"type": "lifespan.startup"})
        message = await from_app.get()
        if message["type"] == "lifespan.error":
            raise message["exc"]
        if message["type"] == "lifespan.startup.failed":
            await self._drain_lifespan_error()
            raise RuntimeError(message.get("message", "lifespan startup failed"))

    async def _drain_lifespan_error(self) -> None:
        if self._lifespan_task is not None:
            try:
                await self._lifespan_task
            except BaseException:
                pass

    async def _stop_lifespan(self) -> None:
        assert self._lifespan_send is not None and self._lifespan_receive is not None
        await self._lifespan_send.put({"type": "lifespan.shutdown"})
        message = await self._lifespan_receive.get()
        if message["type"] == "lifespan.error":
            raise message["exc"]
        if self._lifespan_task is not None:
            await self._lifespan_task
        if message["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(message.get("message", "lifespan shutdown failed"))

    def __enter__(self) -> TestClient:
        self._portal().run(self._start_lifespan())
        self._in_context = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            if self._in_context:
                self._in_context = False
                self._portal().run(self._stop_lifespan())
        finally:
            self.close()

    def close(self) -> None:
        """Close the client and stop its event loop thread."""
        super().close()
        if self._loop_thread is not None:
            self._loop_thread.close()
            self._loop_thread = None
