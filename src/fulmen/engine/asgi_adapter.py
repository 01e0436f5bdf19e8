"""Serve an ASGI application on the engine: ``ASGIAdapter(app).handle(request)`` returns a ``Response``.

The engine calls ``handle(request)`` on whatever it serves. For a fulmen app whose middleware stack contains
an ASGI-only middleware, a fulmen app served with ``interface="asgi"``, or any other ASGI 3 application
(FastAPI, Starlette, Django), this adapter builds the ``http`` scope from the ``Request``, runs the app with
``receive``/``send`` and turns the sent messages into a ``Response``. The engine picks it once, at start-up
(``engine/server.py``); a fulmen app without ASGI middleware never goes through it.

- Request body: the class sets ``streams_request_body``, so the engine dispatches at the request head and
  ``receive`` hands the body over in ``http.request`` chunks as it arrives (``more_body``); a buffered body
  (a mount, the ASGI front door) comes in one message. After the body, ``receive`` waits and returns
  ``http.disconnect`` when the client leaves or the response is complete.
- Response: a body sent in one message becomes a plain ``Response``; one sent in several is streamed to the
  client as it comes (``StreamingResponse``).
- Lifespan: a fulmen app runs its own ``startup``/``shutdown``; any other app gets the ASGI ``lifespan`` scope
  (with a ``state`` dict shallow-copied into every http and websocket scope). An app that raises before it
  receives ``lifespan.startup`` doesn't support lifespan: logged, and serving goes on (as uvicorn's "auto").
- WebSockets: ``websocket_asgi`` runs the app for the engine's WebSocket sessions (``engine/websocket.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fulmen.foreign import url_path_provider
from fulmen.middleware import ASGIApp, Message, Scope
from fulmen.middleware._asgi import ResponseCycle, _running, await_cycle, settle
from fulmen.requests import ClientDisconnect, Request
from fulmen.responses import Response

logger = logging.getLogger("fulmen.error")

_ASGI = {"version": "3.0", "spec_version": "2.4"}
_LIFESPAN_ASGI = {"version": "3.0", "spec_version": "2.0"}
_T = TypeVar("_T")


class LifespanFailure(RuntimeError):
    """The ASGI app reported (or raised) a failure in the lifespan's startup or shutdown."""


def unix_server(request: Request) -> tuple[str, None] | None:
    """The ASGI scope's "server" for a request with no server address: ``(path, None)`` on a Unix socket
    (``--uds``, as uvicorn), else None."""
    state = getattr(getattr(request, "_disconnect_probe", None), "_state", None)
    path: str | None = getattr(state, "unix_path", None)
    return None if path is None else (path, None)


class ASGIAdapter:
    """An object with the engine's ``handle(request)`` interface, running an ASGI app behind it."""

    __slots__ = ("_lifespan", "app", "lifespan_state", "native")

    #: The engine dispatches requests at their head and streams the body to ``receive`` (streamed_body.py).
    streams_request_body = True

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        #: A fulmen app (own startup/shutdown and lifespan state) rather than a foreign ASGI app.
        self.native = callable(getattr(app, "handle", None)) and callable(getattr(app, "startup", None))
        #: A foreign app's ASGI lifespan ``state`` (None before its lifespan started, and for a fulmen app).
        self.lifespan_state: dict[str, Any] | None = None
        self._lifespan: _Lifespan | None = None

    def scope(self, request: Request) -> dict[str, Any]:
        """The ASGI ``http`` scope for ``request`` (``path`` and ``raw_path`` include the root path)."""
        root_path = request.root_path
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": request.http_version,
            "method": request.method,
            "scheme": request.scheme,
            "path": root_path + request.path,
            "raw_path": root_path.encode("utf-8") + request.raw_path if root_path else request.raw_path,
            "query_string": request.query_string,
            "root_path": root_path,
            "headers": request.raw_headers,
            "client": None if request.client is None else tuple(request.client),
            "server": unix_server(request) if request.server is None else tuple(request.server),
            "extensions": {},
        }
        state = self.lifespan_state
        if state is None and self.native:
            # A fulmen app with ASGI middleware: its lifespan state starts the scope's "state", as a server's.
            state = self.app.lifespan_state  # type: ignore[attr-defined]
        if state is not None:
            scope["state"] = state.copy()
        outer = request._mounted_from
        if outer is not None:
            # Mounted: as in a Starlette app, ``request.url_for`` inside resolves names from the outermost
            # router ("admin:statics"), under the outermost root path.
            scope["app_root_path"] = outer[1]
            scope["router"] = url_path_provider(outer[0])
            own = request._state
            if own is not None:
                # Starlette's mount shares the request's state dict: what middleware put in request.state
                # is seen inside, and the mounted app's additions are seen outside.
                shared = own if isinstance(own, dict) else own._state
                for key, value in (state or {}).items():
                    shared.setdefault(key, value)
                scope["state"] = shared
            asgi_scope: dict[str, Any] | None = getattr(request, "_asgi_scope", None)
            if asgi_scope is not None:
                # What ASGI middleware added to the scope (SessionMiddleware's ``session``, ``user``, ...).
                for key, value in asgi_scope.items():
                    scope.setdefault(key, value)
        if request.scope_extra:
            scope.update(request.scope_extra)
        return scope

    async def handle(self, request: Request) -> Response:
        """Run the app for ``request``; a streamed body comes back as a ``StreamingResponse``.

        The app's exceptions before its response starts propagate (the engine answers 500 and logs them).
        """
        outcome: asyncio.Future[Response | BaseException] = asyncio.get_running_loop().create_future()
        return await await_cycle(_HttpCycle(self.app, self.scope(request), request, settle, outcome), outcome)

    def start_request(
        self,
        request: Request,
        deliver: Callable[[_T, Response | BaseException], object],
        token: _T,
    ) -> asyncio.Task[None]:
        """Run the app for ``request`` in one task; ``deliver(token, outcome)`` gets its ``Response`` at once.

        What ``handle`` does, without a second task around the app: the engine's streaming-body connections
        call this and write the response from inside the app's ``send`` (as uvicorn does), one loop turn
        sooner. ``outcome`` is the exception the app failed with before a response, or ``ClientDisconnect``
        when that came after the app heard ``http.disconnect``.
        """
        # PERF: the caller's bound method and its token, rather than a closure per request; the task started
        # here rather than through ResponseCycle.start (one call less).
        cycle = _HttpCycle(self.app, self.scope(request), request, deliver, token)
        task = cycle.task = asyncio.get_running_loop().create_task(cycle.run())
        _running.add(task)
        return task

    async def websocket_asgi(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[Message]], send: Any
    ) -> None:
        """Run the app for a WebSocket scope built by the engine (a foreign app's gets the lifespan state)."""
        state = self.lifespan_state
        if state is not None:
            scope["state"] = state.copy()
        await self.app(scope, receive, send)

    async def startup(self) -> None:
        """Start the app: a fulmen app's own startup, else the ASGI lifespan (LifespanFailure if it fails)."""
        if self.native:
            await self.app.startup()  # type: ignore[attr-defined]
            return
        lifespan = self._lifespan = _Lifespan(self.app)
        await lifespan.startup()
        self.lifespan_state = lifespan.state

    async def shutdown(self) -> None:
        """Shut the app down: a fulmen app's own shutdown, else the ASGI lifespan's."""
        if self.native:
            await self.app.shutdown()  # type: ignore[attr-defined]
            return
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.shutdown()


class _HttpCycle(ResponseCycle):
    """One request's run of the app: ``receive`` gives the body as it arrives, then ``http.disconnect``."""

    __slots__ = ("body_done", "buffered", "reader", "told_disconnect")

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        request: Request,
        deliver: Callable[[Any, Response | BaseException], object],
        token: object,
    ) -> None:
        ResponseCycle.__init__(self, app, scope, deliver, token)
        # The engine's streamed body (engine/streamed_body.RequestBody), its connection watch (no body), a
        # front door's reader, or None when the body is buffered (then ``request._body`` holds it).
        self.reader: Callable[[], Awaitable[bytes]] | None = request._read_body
        self.buffered = request._body
        self.body_done = False
        #: The app was told the client left (its failure to answer is then not an error).
        self.told_disconnect = False

    def fail(self, exc: BaseException) -> None:
        if isinstance(exc, Exception) and self.told_disconnect:
            # The app gave up (no response, ClientDisconnect) after hearing the client left: not an error.
            error = ClientDisconnect("the client disconnected")
            error.__cause__ = exc
            exc = error
        self.deliver(self.token, exc)

    async def receive(self) -> Message:
        if not self.body_done:
            reader = self.reader
            if self.buffered is not None or reader is None:
                self.body_done = True
                return {"type": "http.request", "body": self.buffered or b"", "more_body": False}
            try:
                chunk = await reader()
            except ClientDisconnect:
                self.body_done = self.told_disconnect = True
                return {"type": "http.disconnect"}
            # PERF: a body that arrived whole goes over in one message (no empty closing message).
            more = bool(chunk) and not getattr(reader, "at_end", False)
            self.body_done = not more
            return {"type": "http.request", "body": chunk, "more_body": more}
        # Nothing more will arrive: the client counts as connected until it leaves or the response ends.
        if self.finished:
            self.told_disconnect = False
            return {"type": "http.disconnect"}
        disconnected = getattr(self.reader, "disconnected", None)
        if disconnected is not None and disconnected().done():
            # Already gone: say so without waiting (request.is_disconnected() polls receive this way).
            self.told_disconnect = True
            return {"type": "http.disconnect"}
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        try:
            if disconnected is None:
                await waiter
            else:
                await asyncio.wait((waiter, disconnected()), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.waiter = None
        self.told_disconnect = not waiter.done()
        return {"type": "http.disconnect"}


class _Lifespan:
    """One run of an ASGI app's ``lifespan`` scope: startup, then (later) shutdown."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.supported = True
        self._received = False
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._started: asyncio.Future[str | None] = loop.create_future()
        self._stopped: asyncio.Future[str | None] = loop.create_future()
        self._task: asyncio.Task[None] | None = None

    async def _receive(self) -> Message:
        self._received = True
        return await self._inbox.get()

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            target = self._started
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            target = self._stopped
        else:
            raise RuntimeError(f"unexpected ASGI lifespan message type {kind!r}")
        if target.done():
            raise RuntimeError(f"ASGI app sent {kind!r} twice")
        # None means complete; a string is the failure message.
        target.set_result(str(message.get("message", "")) if kind.endswith(".failed") else None)

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": _LIFESPAN_ASGI, "state": self.state}
        await self.app(scope, self._receive, self._send)

    async def startup(self) -> None:
        self._task = task = asyncio.get_running_loop().create_task(self._run())
        self._inbox.put_nowait({"type": "lifespan.startup"})
        await asyncio.wait((self._started, task), return_when=asyncio.FIRST_COMPLETED)
        if self._started.done():
            failure = self._started.result()
            if failure is not None:
                raise LifespanFailure(f"ASGI lifespan startup failed: {failure or '(no message)'}")
            return
        exc = None if task.cancelled() else task.exception()
        if exc is not None and self._received:
            raise LifespanFailure("ASGI lifespan startup raised an exception") from exc
        # Raised before receiving (or returned without answering): the app doesn't do lifespan.
        self.supported = False
        if exc is not None:
            logger.info("ASGI 'lifespan' protocol appears unsupported (%s: %s)", type(exc).__name__, exc)
        else:
            logger.info("ASGI 'lifespan' protocol appears unsupported (the app returned without answering)")

    async def shutdown(self) -> None:
        task = self._task
        if not self.supported or task is None:
            return
        if task.done():
            exc = None if task.cancelled() else task.exception()
            if exc is not None:
                raise LifespanFailure("ASGI lifespan ended with an exception before shutdown") from exc
            return
        self._inbox.put_nowait({"type": "lifespan.shutdown"})
        await asyncio.wait((self._stopped, task), return_when=asyncio.FIRST_COMPLETED)
        if self._stopped.done():
            failure = self._stopped.result()
            if failure is not None:
                raise LifespanFailure(f"ASGI lifespan shutdown failed: {failure or '(no message)'}")
            return
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            raise LifespanFailure("ASGI lifespan shutdown raised an exception") from exc
