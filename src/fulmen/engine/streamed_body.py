"""Streamed request bodies: requests dispatched when their head is parsed, the body read as it arrives.

An app whose class sets ``streams_request_body = True`` (``ASGIAdapter``, ``WSGIAdapter``) is served by
``StreamingBodyProtocol`` instead of ``HttpProtocol`` (``server.protocol_factory`` decides once per server,
so a plain fulmen app runs exactly the buffered-body code). Each request gets ``Request(body=None,
read_body=RequestBody)``: awaiting the ``RequestBody`` returns the next chunk as it arrives, b"" at the end.

- A request is dispatched as soon as its head is parsed if nothing is ahead of it in the pipeline; one behind
  other requests waits until it is first (or until its body is complete, then it runs like a buffered one).
- Backpressure: more than ``HIGH_WATER`` unread bytes pause reading from the socket until the app reads.
  While paused for the app, the body timeout doesn't run (the client isn't the one stalling).
- ``Expect: 100-continue`` is answered when the app first waits for body bytes, never after its response
  started; a response finished before the body was asked for closes the connection afterwards.
- ``max_body_size``, a stalled body (``body_timeout``) or a malformed chunk after dispatch: the reader raises
  ``ClientDisconnect``, the engine answers the error status in place of the app's response (if the app's
  response has not started) and closes the connection.
- A body the app doesn't read is discarded once its response is complete; the connection stays open.
- The client leaving mid-body makes the reader raise ``ClientDisconnect``; ``disconnected()`` is a future
  resolved when the connection is lost (the ASGI adapter's ``http.disconnect``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from fulmen.engine.protocol import (
    _BODY,
    _CONTINUE,
    _IDLE,
    _METHODS,
    _T_BODY,
    _T_NONE,
    HttpProtocol,
    ServerState,
    _error_response,
    _Reject,
    _Slot,
    error_logger,
)
from fulmen.requests import BodyReader, ClientDisconnect, Request
from fulmen.responses import Response

#: Unread body bytes buffered per request before the connection stops reading (resumes below it).
HIGH_WATER = 64 * 1024


class _DisconnectNotice:
    """What a request's reader tells the app about its connection: ``disconnected()``, a future resolved when
    the client leaves (the ASGI adapter's ``http.disconnect``)."""

    __slots__ = ("_disconnected", "_lost")

    def __init__(self) -> None:
        self._disconnected: asyncio.Future[None] | None = None
        self._lost = False

    def _notify_lost(self) -> None:
        self._lost = True
        future = self._disconnected
        if future is not None and not future.done():
            future.set_result(None)

    def disconnected(self) -> asyncio.Future[None]:
        """A future resolved when the client's connection is lost (at once if it already is)."""
        future = self._disconnected
        if future is None:
            future = self._disconnected = asyncio.get_running_loop().create_future()
            if self._lost:
                future.set_result(None)
        return future


class RequestBody(_DisconnectNotice):
    """One request's body as it arrives: the connection feeds it, the app awaits ``body()`` for chunks."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_done",
        "_error",
        "_proto",
        "_waiter",
        "discard",
        "expect_continue",
        "response_started",
    )

    def __init__(self, proto: StreamingBodyProtocol, done: bool, expect_continue: bool) -> None:
        super().__init__()
        self._proto: StreamingBodyProtocol | None = proto
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = done
        self._error: ClientDisconnect | None = None
        self._waiter: asyncio.Future[None] | None = None
        #: ``100 Continue`` is owed to the client when the app first waits for the body.
        self.expect_continue = expect_continue
        #: The response has started: no ``100 Continue`` may be sent any more.
        self.response_started = False
        #: The response is complete: body bytes that still arrive are dropped.
        self.discard = False

    async def __call__(self) -> bytes:
        """The next chunk of the body (all that is buffered, joined), b"" at the end.

        Raises ``ClientDisconnect`` when the client left, the body broke a limit or was malformed.
        """
        while True:
            error = self._error
            if error is not None:
                raise error
            chunks = self._chunks
            if chunks:
                data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._buffered = 0
                proto = self._proto
                if proto is not None and not self._done:
                    proto._body_drained()
                return data
            if self._done:
                return b""
            if self.discard:
                raise ClientDisconnect("the response was sent before the request body was read")
            proto = self._proto
            if self.expect_continue and proto is not None:
                self.expect_continue = False
                if not self.response_started:
                    proto._send_continue()
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    @property
    def backlogged(self) -> bool:
        """More unread bytes than ``HIGH_WATER`` wait for the app while the body is still arriving."""
        return self._buffered > HIGH_WATER and not self._done

    @property
    def done(self) -> bool:
        """The whole body has arrived (it may not all have been read)."""
        return self._done

    def feed(self, data: bytes) -> None:
        if self.discard:
            return
        self._chunks.append(data)
        self._buffered += len(data)
        self._wake()

    def finish(self) -> None:
        """The body is complete."""
        self._done = True
        self._wake()

    def fail(self, error: ClientDisconnect) -> None:
        """The body can't be completed: the next read raises ``error``."""
        if not self._done:
            self._error = error
            self._chunks.clear()
            self._buffered = 0
            self._wake()

    def abandon(self) -> None:
        """The response is complete: drop what is buffered and what still arrives."""
        self.discard = True
        self.response_started = True
        self._chunks.clear()
        self._buffered = 0

    def connection_lost(self) -> None:
        """The connection is gone: wake ``wait_disconnected`` and fail an unfinished body."""
        self._proto = None
        self.fail(ClientDisconnect("the client closed the connection"))
        self._notify_lost()

    @property
    def at_end(self) -> bool:
        """The whole body has arrived and has been read."""
        return self._done and not self._chunks and self._error is None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class ConnectionWatch(_DisconnectNotice):
    """The reader of a request that has no body: b"" at once; ``disconnected()`` as ``RequestBody``'s.

    One per connection, shared by its requests without a body (see ``StreamingBodyProtocol``).
    """

    __slots__ = ()

    #: There is nothing to read.
    at_end = True
    done = True

    async def __call__(self) -> bytes:
        return b""

    def connection_lost(self) -> None:
        """The client left (or sent EOF): resolve ``disconnected()``."""
        self._notify_lost()


class StreamingBodyProtocol(HttpProtocol):
    """``HttpProtocol`` that dispatches each request at its head and streams its body to the app."""

    __slots__ = ("_bodies", "_in_head", "_reader", "_start_request", "_watch")

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        #: ``ASGIAdapter.start_request``: runs the app in one task and hands the response over from its
        #: ``send`` (no task around it); None for other apps, which go through ``handle``.
        self._start_request: Callable[..., asyncio.Future[Response]] | None = getattr(
            state.app, "start_request", None
        )
        #: The body still arriving (the request ``_slot`` is receiving), or None.
        self._reader: RequestBody | None = None
        #: The body of every request not yet answered, by slot (disconnect notice, discard).
        self._bodies: dict[_Slot, RequestBody] = {}
        #: The reader of requests without a body (ASGI apps only): tells them when the client leaves.
        self._watch = ConnectionWatch()
        self._in_head = False

    # -- parser callbacks ------------------------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        if self._start_request is not None and self._content_length <= 0 and not self._chunked:
            # PERF: no body (most GETs): nothing to stream; on_message_complete, which follows at once,
            # builds the request with an empty body and starts the app (no RequestBody, no _bodies entry).
            super().on_headers_complete()
            return
        self._in_head = True  # the base answers 100-continue from here; the reader does it on first read
        try:
            super().on_headers_complete()
        finally:
            self._in_head = False
        slot = self._slot
        if slot is None or self._ws_upgrade:
            return
        has_body = self._content_length > 0 or self._chunked
        reader = RequestBody(self, not has_body, slot.expect_continue)
        slot.expect_continue = False
        self._new_request(slot, None, reader)  # body: streamed
        self._bodies[slot] = reader
        if has_body:
            self._reader = reader
        self._pump()  # dispatches it now if nothing is ahead

    def _new_request(self, slot: _Slot, body: bytes | None, reader: BodyReader) -> None:
        """Build ``slot``'s ``Request`` (``body`` None: ``reader`` streams it)."""
        url = self._url
        # Keep in step with HttpProtocol.on_message_complete (the Request it builds for buffered bodies).
        if url[:1] == b"/" and url.find(b"#") < 0:  # PERF: find, not `in` (see on_message_complete)
            path, _, query = url.partition(b"?")
        else:
            path, query = self._split_target(url)
        method = self._parser.get_method()
        slot.request = Request(  # type: ignore[call-overload]  # the engine's app is any app
            _METHODS.get(method) or method.decode("latin-1"),
            path,
            query,
            self._headers,
            None,
            body,
            reader,
            self._client,
            self._server,
            self._scheme,
            "1.0" if slot.http10 else "1.1",
            self._root_path,
            self._app,
        )
        slot.request._disconnect_probe = self
        if self._forwarded:  # a trusted proxy sent forwarding headers
            self._apply_forwarded(slot.request, False)

    def on_body(self, body: bytes) -> None:
        size = self._body_size + len(body)
        self._body_size = size
        if size > self._max_body:
            self._raise(_Reject(413, "Content Too Large"))
        reader = self._reader
        if reader is not None:
            reader.feed(body)
            if reader.backlogged:
                self._pause_reading()

    def on_message_complete(self) -> None:
        slot = self._slot
        start = self._start_request
        self._phase = _IDLE
        self._completed += 1
        if slot is None:
            return
        if slot.request is None and start is not None:
            # A request without a body (see on_headers_complete): built buffered; the connection's watch as
            # its reader lets the app's http.disconnect still notice the client leaving.
            self._new_request(slot, b"", self._watch)  # a bad target raises with the slot still current
            self._slot = None
            slot.complete = True
            waiting = self._waiting
            if self._inflight or self._write_paused or len(waiting) != 1:
                self._pump()
                return
            # PERF: nothing else queued and the transport writable: start it here, without _pump's rounds
            # and _dispatch (its only other work, _RequestTimer's start time, was noted at the head).
            waiting.clear()
            self._inflight.append(slot)
            try:
                slot.task = start(slot.request, self._on_outcome, slot)
            except Exception:
                self._dispatch_failed(slot)
                self._pump()
            return
        self._slot = None
        reader = self._reader
        if reader is not None:
            self._reader = None
            reader.finish()
        slot.complete = True
        self._pump()

    # -- dispatch and write ----------------------------------------------------------------------------------
    def _pump(self) -> None:
        if self._in_head:
            return
        while True:
            super()._pump()
            waiting = self._waiting
            if self._closing or not waiting or self._inflight or self._write_paused:
                return
            slot = waiting[0]
            if slot.complete or slot.request is None:
                return
            # First in line with its body still arriving: run it now, the app reads the body as it comes.
            waiting.popleft()
            self._inflight.append(slot)
            self._dispatch(slot)
            if slot.response is None:
                return  # running: _on_task_done pumps again

    def _dispatch(self, slot: _Slot) -> None:
        start = self._start_request
        if start is None:
            super()._dispatch(slot)
            return
        try:
            # The app's task stands in for the handler's (abort() cancels it; _fail sees it running).
            slot.task = start(slot.request, self._on_outcome, slot)
        except Exception:
            self._dispatch_failed(slot)

    def _on_outcome(self, slot: _Slot, outcome: Response | BaseException) -> None:
        """The app's response (or the exception it failed with before one), from inside its task."""
        slot.task = None
        if self._closing or slot.response is not None:  # gone, or already answered by the engine (413 ...)
            if isinstance(outcome, Response) and outcome.streaming:
                self._loop.create_task(outcome.discard_body())  # stop the app's stream
            return
        if isinstance(outcome, BaseException):
            if isinstance(outcome, ClientDisconnect):
                self._drop_connection()
                return
            request = slot.request
            error_logger.error(
                "Exception handling %s %s",
                *(("-", "-") if request is None else (request.method, request.path)),
                exc_info=outcome,
            )
            outcome = _error_response(500, "Internal Server Error")
        slot.response = outcome
        inflight = self._inflight
        try:
            if (
                len(inflight) == 1
                and inflight[0] is slot
                and not self._waiting
                and not self._reading_paused
                and self._ws_handoff is None
            ):
                # PERF: the only request in flight and nothing queued (keep-alive without pipelining): what
                # _pump would do, without its rounds; with no body outstanding, what our _write adds is moot.
                inflight.popleft()
                if self._bodies:
                    self._write(slot)
                else:
                    super()._write(slot)
            else:
                self._pump()
        except Exception:
            error_logger.exception("Internal error while writing a response; closing the connection")
            self.abort()
            return
        if self._reader is None:
            super()._after_activity()  # PERF: our override only adds a check of the body being received
        else:
            self._after_activity()

    def _drop_connection(self) -> None:
        """The app stopped because the client left (it was told so): close quietly, no one to answer."""
        self._closing = True
        self._no_more_requests = True
        self._waiting.clear()
        self._inflight.clear()
        if self._transport is not None:
            self._flush_out()
            self._transport.close()

    def _write(self, slot: _Slot) -> None:
        reader = self._bodies.get(slot)
        response = slot.response
        if reader is not None and response is not None:
            if response.streaming:
                reader.response_started = True
                if reader.expect_continue and not reader.done:
                    slot.keep_alive = False  # the client may never send the body it was not invited to send
            else:
                self._request_answered(slot, reader)
        super()._write(slot)

    def _end_stream(self, slot: _Slot) -> None:
        reader = self._bodies.get(slot)
        if reader is not None:
            self._request_answered(slot, reader)
        super()._end_stream(slot)

    def _request_answered(self, slot: _Slot, reader: RequestBody) -> None:
        self._bodies.pop(slot, None)
        if reader.done:
            return
        if reader.expect_continue:
            slot.keep_alive = False  # 100 Continue was never sent: don't wait for a body that may not come
        reader.abandon()
        if self._reading_paused:
            self._maybe_resume_reading()

    # -- flow control and timers -----------------------------------------------------------------------------
    def _body_drained(self) -> None:
        """The app read the buffered body: resume reading if the body was what held it."""
        if self._reading_paused:
            self._maybe_resume_reading()
            if not self._reading_paused and self._phase == _BODY:
                self._set_timer(_T_BODY, self._state.config.body_timeout)

    def _maybe_resume_reading(self) -> None:
        reader = self._reader
        if reader is not None and reader.backlogged:
            return
        super()._maybe_resume_reading()

    def _after_activity(self) -> None:
        reader = self._reader
        if reader is not None and reader.backlogged:
            self._timer_kind = _T_NONE  # waiting for the app to read, not for the client
            return
        super()._after_activity()

    def _send_continue(self) -> None:
        transport = self._transport
        if transport is not None and not self._closing:
            self._flush_out()
            transport.write(_CONTINUE)

    # -- errors and the end of the connection ----------------------------------------------------------------
    def _fail(self, reject: _Reject) -> None:
        reader = self._reader
        self._reader = None
        slot = self._slot
        if reader is not None:
            reader.fail(ClientDisconnect(reject.message))
        if slot is None or slot.request is None or slot in self._waiting:
            super()._fail(reject)  # nothing of it dispatched: answered (after what is ahead) and closed
            return
        # The request was dispatched and its body broke off.
        self._slot = None
        self._no_more_requests = True
        self._reject = reject
        self._phase = _IDLE  # nothing is parsed after this: no headers/body timer may re-arm over the linger
        transport = self._transport
        if slot.task is not None and slot.response is None and self._inflight and self._inflight[0] is slot:
            # The app is still working on it: the error is the answer; its own result is dropped.
            slot.response = _error_response(reject.status, reject.message)
            slot.keep_alive = False
            self._bodies.pop(slot, None)
            self._pump()
        elif transport is not None:
            # Its response is being streamed or already sent: it can't be replaced; close the connection.
            self._flush_out()
            self._closing = True
            transport.close()

    def _take_result(self, slot: _Slot, task: asyncio.Future[Response]) -> None:
        if not task.cancelled() and isinstance(task.exception(), ClientDisconnect):
            self._drop_connection()
            return
        super()._take_result(slot, task)

    def eof_received(self) -> bool:
        # As under uvicorn, the client's EOF is a disconnect for the apps: readers of unfinished bodies raise,
        # waiting ones see ``disconnected()``. Responses the apps still return are written, then it closes.
        self._reader = None
        for reader in self._bodies.values():
            reader.connection_lost()
        self._watch.connection_lost()
        slot = self._slot
        if slot is not None and slot.request is not None and slot not in self._waiting:
            self._slot = None  # dispatched: it stays in flight
            self._phase = _IDLE
        return super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._reader = None
        bodies = self._bodies
        self._bodies = {}
        for reader in bodies.values():
            reader.connection_lost()
        self._watch.connection_lost()
        super().connection_lost(exc)
