"""Helpers shared by the middleware classes and the engine's ASGI adapter: headers, URLs, ASGI/Response."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fulmen.middleware import ASGIApp, Message, Receive, Scope
from fulmen.responses import Response

logger = logging.getLogger("fulmen.error")
_NO_BODY_STATUSES = frozenset({204, 304})


async def send_response(response: Response, scope: Scope, send: Any) -> None:
    """Send a (non-streaming) fulmen ``Response`` over ASGI; HEAD gets no body.

    On a websocket scope it is sent as the denial response (``websocket.http.response.*``).
    """
    prefix = "websocket." if scope["type"] == "websocket" else ""
    await send(
        {
            "type": prefix + "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    body = b"" if scope.get("method") == "HEAD" else response.body
    await send({"type": prefix + "http.response.body", "body": body})


async def collect_response(
    app: ASGIApp, scope: Scope, receive: Receive, finished: asyncio.Future[None] | None = None
) -> Response:
    """Run ASGI ``app`` for an http ``scope`` and return what it sends as a ``Response``.

    A body sent in one message gives a plain ``Response`` (content-length added when missing). A body sent in
    several (``more_body``) gives a ``StreamingResponse`` that yields the chunks as the app sends them, with
    backpressure: the app's ``send`` returns once its chunk has been taken. The app runs in its own task;
    an exception before the response starts propagates from here, one raised while streaming ends the
    stream with it, one raised after the response is complete is logged. An app that returns without
    starting a response is a RuntimeError. ``finished`` is resolved once the response is complete.
    """
    # PERF: one future to wait on (no asyncio.wait); the queue exists only for a streamed body.
    outcome: asyncio.Future[Response | BaseException] = asyncio.get_running_loop().create_future()
    return await await_cycle(_ReceiveCycle(app, scope, receive, outcome, finished), outcome)


def settle(future: asyncio.Future[Response | BaseException], outcome: Response | BaseException) -> None:
    """A ``ResponseCycle`` ``deliver`` that resolves the future given as its token."""
    if not future.done():  # cancelled when the caller was
        future.set_result(outcome)


async def await_cycle(cycle: ResponseCycle, outcome: asyncio.Future[Response | BaseException]) -> Response:
    """Start ``cycle`` (made with ``deliver=settle, token=outcome``) and return its ``Response``.

    The app's exception before its response started is raised here; cancelling the caller cancels the app.
    """
    task = cycle.start()
    try:
        result = await outcome
    except asyncio.CancelledError:
        task.cancel()
        raise
    if isinstance(result, BaseException):
        raise result
    return result


class ResponseCycle:
    """One run of an ASGI app for an http scope: its ``send`` messages become one ``Response``.

    ``deliver(token, outcome)`` is called once: from inside ``send`` as soon as the response is known (the
    whole body, or the first chunk of a streamed one), or from the task's end when the app failed (``fail``)
    or returned before that. Subclasses give ``receive``; ``waiter``, when set, is resolved once the response
    is complete (``finished``). See ``collect_response`` and ``await_cycle``.
    PERF: one slotted object with bound methods per request, instead of closures, cells and futures.
    """

    __slots__ = (
        "app",
        "chunks",
        "deliver",
        "delivered",
        "done",
        "finished",
        "has_length",
        "headers",
        "scope",
        "status",
        "task",
        "token",
        "waiter",
    )

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        deliver: Callable[[Any, Response | BaseException], object],
        token: object,
    ) -> None:
        self.app = app
        self.scope = scope
        self.deliver = deliver
        self.token = token
        self.task: asyncio.Task[None] | None = None
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        #: The app sent a content-length header.
        self.has_length = False
        #: A streamed body's chunks after the first (None until the app sends one with ``more_body``).
        self.chunks: asyncio.Queue[bytes | None] | None = None
        #: The app sent its last body message.
        self.done = False
        #: ``deliver`` was called.
        self.delivered = False
        #: The response is complete (the app sent its last body message, or ended).
        self.finished = False
        self.waiter: asyncio.Future[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Run the app in a new task (kept referenced until it ends: it may outlive its response)."""
        task = self.task = asyncio.get_running_loop().create_task(self.run())
        _running.add(task)
        return task

    def receive(self) -> Awaitable[Message]:
        """The app's ``receive``."""
        raise NotImplementedError

    def fail(self, exc: BaseException) -> None:
        """Deliver the exception the app failed with before its response."""
        self.deliver(self.token, exc)

    def complete(self) -> None:
        """The response is complete: resolve ``waiter``."""
        self.finished = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def send(self, message: Message) -> None:
        """The app's ``send``."""
        kind = message["type"]
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("ASGI app sent 'http.response.start' twice")
            self.status = int(message["status"])
            # PERF: one pass lower-cases, drops transfer-encoding (the engine frames the body itself) and
            # notes content-length.
            headers = self.headers
            for name, value in message.get("headers", ()):
                name = bytes(name).lower()
                if name == b"content-length":
                    self.has_length = True
                elif name == b"transfer-encoding":
                    continue
                headers.append((name, bytes(value)))
        elif kind == "http.response.body":
            status = self.status
            if status is None:
                raise RuntimeError("ASGI app sent 'http.response.body' before 'http.response.start'")
            if self.done:
                raise RuntimeError("ASGI app sent 'http.response.body' after the response was complete")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            self.done = not more
            chunks = self.chunks
            if not self.delivered:
                self.delivered = True
                if more:
                    task = self.task
                    assert task is not None
                    self.chunks = asyncio.Queue()
                    self.deliver(self.token, _streamed(status, self.headers, body, self.chunks, task))
                else:
                    # PERF: complete() and _plain_response inlined: this is every plain response's path.
                    self.finished = True
                    waiter = self.waiter
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
                    response = Response.__new__(Response)  # the headers are the app's: no rendering
                    response.status_code = status
                    response.background = None
                    response.body = body
                    headers = self.headers
                    if (
                        not self.has_length
                        and status >= 200
                        and status not in _NO_BODY_STATUSES
                        and self.scope.get("method") != "HEAD"  # no body sent: its length is unknown
                    ):
                        headers.append((b"content-length", str(len(body)).encode("latin-1")))
                    response.raw_headers = headers
                    self.deliver(self.token, response)
                    return
            elif body and chunks is not None:
                chunks.put_nowait(body)
                await chunks.join()  # backpressure: wait until the consumer has taken (and written) it
            if self.done:
                self.complete()
        # Other messages (early hints, debug info, extensions we don't advertise) carry no response data.

    async def run(self) -> None:
        """Run the app (the task's coroutine)."""
        try:
            await self.app(self.scope, self.receive, self.send)
        except Exception as exc:
            if not self.delivered:
                self.delivered = True
                self.fail(exc)  # the response never started: the caller raises or answers 500
                return
            if self.chunks is not None:
                raise  # a streamed body's consumer awaits the task: the stream ends with this exception
            # PERF: logged here rather than from a done-callback on every request's task.
            logger.error("Exception in ASGI application after its response", exc_info=exc)
        finally:
            task = self.task
            if task is not None:
                _running.discard(task)
            if self.chunks is not None:
                self.chunks.put_nowait(None)  # the end of the stream, whether the app finished or failed
            if not self.finished:
                self.complete()
            if not self.delivered:
                self.delivered = True
                if self.status is None:
                    self.fail(RuntimeError("No response returned."))
                else:  # started, but no body message
                    # A HEAD answer's missing length stays missing (the GET's body was not sent).
                    has_length = self.has_length or self.scope.get("method") == "HEAD"
                    response = _plain_response(self.status, self.headers, has_length, b"")
                    self.deliver(self.token, response)


class _ReceiveCycle(ResponseCycle):
    """``collect_response``'s cycle: a given ``receive``, the outcome future, a ``finished`` future."""

    __slots__ = ("_receive",)

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        receive: Receive,
        outcome: asyncio.Future[Response | BaseException],
        finished: asyncio.Future[None] | None,
    ) -> None:
        super().__init__(app, scope, settle, outcome)
        self._receive = receive
        self.waiter = finished

    def receive(self) -> Awaitable[Message]:
        return self._receive()


def _plain_response(
    status: int, headers: list[tuple[bytes, bytes]], has_length: bool, body: bytes
) -> Response:
    """A ``Response`` from an ASGI app's (already filtered) headers and whole body; content-length added."""
    # PERF: the headers are the app's: skip Response.__init__'s rendering and header building.
    response = Response.__new__(Response)
    response.status_code = status
    response.background = None
    response.body = body
    if not has_length and status >= 200 and status not in _NO_BODY_STATUSES:
        headers.append((b"content-length", str(len(body)).encode("latin-1")))
    response.raw_headers = headers
    return response


def _streamed(
    status: int,
    headers: list[tuple[bytes, bytes]],
    first: bytes,
    queue: asyncio.Queue[bytes | None],
    task: asyncio.Task[None],
) -> Response:
    """A ``StreamingResponse`` yielding the chunks an ASGI app sends (``first``, then ``queue``'s)."""
    from fulmen.responses import StreamingResponse

    async def body() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            while True:
                chunk = await queue.get()
                if chunk is None:
                    break
                yield chunk
                queue.task_done()  # the previous chunk has been written: let the app send the next
            await task  # the app's exception, if it failed mid-stream
        finally:
            if not task.done():
                task.cancel()  # the client went away, or the body is not sent (HEAD)

    response = StreamingResponse(body(), status_code=status)
    response.raw_headers = headers  # transfer-encoding already dropped (ResponseCycle.send)
    return response


#: The apps' tasks still running (asyncio keeps only weak references to tasks).
_running: set[asyncio.Task[None]] = set()


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)
