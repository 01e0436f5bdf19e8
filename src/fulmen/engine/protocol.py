"""HTTP/1.1 over one connection: parse with httptools (llhttp), run the core, write responses in order.

One ``HttpProtocol`` per connection. Requests are parsed as bytes arrive; each complete request becomes a
``Request`` and is driven with ``start_eager`` so a handler that never suspends is answered inside the same
``data_received`` call. Responses answered in one turn of the loop leave at its end, one ``transport.write``
per connection (``_write``). Pipelined requests run concurrently (up to a cap) but their responses leave in
request order. Limits, timeouts and request-smuggling checks live here too.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol, cast

import httptools

from fulmen._concurrency import create_task_in, run_eager, start_eager, task_context
from fulmen._mypyc import mypyc_attr
from fulmen.datastructures import Address
from fulmen.engine.accesslog import log_access
from fulmen.engine.proxy import TrustedProxies, apply_forwarded
from fulmen.engine.streaming import ClientGone, SocketBodyWriter
from fulmen.requests import Request
from fulmen.responses import PlainTextResponse, Response

if TYPE_CHECKING:
    from fulmen.engine.config import Config

error_logger = logging.getLogger("fulmen.error")
access_logger = logging.getLogger("fulmen.access")


class App(Protocol):
    """What the engine needs from an application (``fulmen.app.Fulmen`` has it)."""

    def handle(self, request: Request) -> Coroutine[Any, Any, Response]: ...

    async def startup(self) -> None: ...

    async def shutdown(self) -> None: ...


# -- constant bytes, built once ------------------------------------------------------------------------------
def _status_line(code: int) -> bytes:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (code, phrase.encode("latin-1"))


# PERF: one dict lookup per response instead of formatting the status line.
STATUS_LINES: dict[int, bytes] = {int(s): _status_line(int(s)) for s in HTTPStatus}

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES = frozenset({204, 304})
_METHODS: dict[bytes, str] = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")
}
# uri-host [":" port]; IP-literal in brackets. Anything else in Host (space, "/", "@", ...) is a 400.
_HOST_RE = re.compile(
    rb"(?:\[[0-9A-Fa-f:.]+(?:%25[A-Za-z0-9._~-]+)?\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?"
)

# Header names the engine looks at while parsing (everything else is only collected).
_H_HOST, _H_CONTENT_LENGTH, _H_TRANSFER_ENCODING, _H_EXPECT = 1, 2, 3, 4
# PERF: the forwarding headers (fulmen.engine.proxy) are noticed in this same lookup, not a second scan: a
# request without them pays nothing; with them they count only from a trusted proxy (see connection_made).
_H_FORWARDED = 5
_SPECIAL_HEADERS = {
    b"host": _H_HOST,
    b"content-length": _H_CONTENT_LENGTH,
    b"transfer-encoding": _H_TRANSFER_ENCODING,
    b"expect": _H_EXPECT,
    b"x-forwarded-for": _H_FORWARDED,
    b"x-forwarded-proto": _H_FORWARDED,
    b"x-forwarded-host": _H_FORWARDED,
    b"forwarded": _H_FORWARDED,
}

# Reads longer than this are parsed in slices of it, so a full pipeline stops the parsing (_feed_in_slices).
_FEED_SLICE = 4096
# Responses held for the end of a loop iteration (HttpProtocol._write) go to the transport at once past this
# many bytes, so its flow control sees them: the default write high-water mark of uvloop and asyncio.
_OUT_DEFER_LIMIT = 64 * 1024
# Parser phase of the request currently being received.
_IDLE, _HEAD, _BODY = 0, 1, 2
# What the connection's single timer is currently guarding.
_T_NONE, _T_KEEPALIVE, _T_HEADERS, _T_BODY, _T_LINGER = 0, 1, 2, 3, 4


class _Reject(Exception):
    """Raised from a parser callback to stop parsing; the protocol answers ``status`` and closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Connection(Protocol):
    """What the server needs from an open connection (HTTP, or upgraded to a WebSocket) when it stops."""

    def shutdown(self) -> None: ...

    def abort(self) -> None: ...


class HeldWrites(Protocol):
    """A connection holding responses for the end of the loop turn (HttpProtocol, the lane's)."""

    def _flush_out(self) -> None: ...

    def abort(self) -> None: ...


class ServerState:
    """What every connection of one server shares: app, settings, cached default headers, shutdown flag."""

    def __init__(self, app: App, config: Config, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.config = config
        self.loop = loop
        self.connections: set[Connection] = set()
        self.background_tasks: set[asyncio.Future[None]] = set()
        self.shutting_down = False
        #: The header lines every response carries after the app's own: ``date`` (unless date_header is off),
        #: ``server: fulmen`` (server_header) and the ``headers`` setting, pre-encoded once (refresh_date).
        # PERF: one bytes object appended per response whatever the options; with them off it is the date
        # line alone, as before they existed.
        self.date_header = b""
        self._send_date = config.date_header
        #: The ``server`` and ``headers`` settings as (name, value) pairs (a WebSocket's 101 gets them too).
        self.default_headers = default_header_pairs(config)
        self._extra_head = b"".join(
            b"%s: %s\r\n" % (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in self.default_headers
        )
        #: Lines in a response head besides the app's headers (HttpProtocol._head_lines).
        self.head_lines = 2 + self._extra_head.count(b"\n") + (1 if self._send_date else 0)
        #: The Unix socket path of a ``uds`` server (the ASGI scope's "server" is (path, None), as uvicorn).
        self.unix_path: str | None = None
        #: ``limit_concurrency`` (0: none) and the requests running against it (``_ConcurrencyLimit``).
        self.limit_concurrency = config.limit_concurrency or 0
        self.running: set[asyncio.Future[Any]] = set()
        self.access_log = config.access_log and access_logger.isEnabledFor(logging.INFO)
        #: "https" when the server speaks TLS; every request and WebSocket starts from it.
        self.scheme = "https" if config.is_ssl else "http"
        #: The peers whose forwarding headers count (None: proxy_headers is off).
        self.trusted_proxies = (
            TrustedProxies(config.forwarded_allow_ips or "") if config.proxy_headers else None
        )
        #: Requests answered (handy for tests and metrics; one integer add per response).
        self.total_requests = 0
        #: Connections holding responses for the end of this loop iteration (see HttpProtocol._write): typed
        #: by what is called, so the compiled build takes the lane's connections too (fulmen.engine.lane).
        self.pending_writes: list[HeldWrites] = []
        self.refresh_date()

    def flush_writes(self) -> None:
        """Hand every connection's deferred responses to its transport: one loop callback per iteration."""
        pending = self.pending_writes
        self.pending_writes = []
        for protocol in pending:
            try:
                protocol._flush_out()
            except Exception:
                # One connection's failure must not hold back the others' responses in this list.
                error_logger.exception("Internal error while writing responses; closing the connection")
                protocol.abort()

    def refresh_date(self) -> None:
        """Recompute the cached default header lines with the date (the server calls this once a second)."""
        if self._send_date:
            date = formatdate(time.time(), usegmt=True).encode("latin-1")
            self.date_header = b"date: " + date + b"\r\n" + self._extra_head
        else:
            self.date_header = self._extra_head


def default_header_pairs(config: Config) -> list[tuple[str, str]]:
    """The ``server`` and ``headers`` settings every response gets, in uvicorn's order and by its rules.

    A ``server`` entry in ``headers`` replaces ``server: fulmen``; names are sent lower-case, as uvicorn does.
    """
    from fulmen.engine.config import parse_header

    pairs = [(name.lower(), value) for name, value in map(parse_header, config.headers)]
    if config.server_header and not any(name == "server" for name, _ in pairs):
        pairs.insert(0, ("server", "fulmen"))
    return pairs


class _Slot:
    """One request in pipeline order: parsed (maybe still receiving its body), running, or answered."""

    __slots__ = (
        "complete",
        "context",
        "expect_continue",
        "http10",
        "is_head",
        "keep_alive",
        "request",
        "response",
        "started",
        "task",
    )

    #: perf_counter() at the request's first byte; set only by timed_protocol's classes (unset otherwise).
    started: float

    def __init__(self, keep_alive: bool, is_head: bool, http10: bool) -> None:
        self.keep_alive = keep_alive
        self.is_head = is_head
        self.http10 = http10
        self.complete = False
        self.expect_continue = False
        self.request: Request | None = None
        self.response: Response | None = None
        self.task: asyncio.Future[Response] | None = None
        #: The context the handler ran in: background work and a streamed body run in it too, as they run
        #: inside the request's task under Starlette (contextvars set by the handler stay visible).
        self.context: contextvars.Context | None = None


def _is_websocket_upgrade(headers: list[tuple[bytes, bytes]]) -> bool:
    """``Upgrade: websocket`` with ``upgrade`` among the ``Connection`` tokens (what uvicorn upgrades on)."""
    upgrade = connection = False
    for name, value in headers:
        if name == b"upgrade":
            upgrade = value.strip().lower() == b"websocket"
        elif name == b"connection":
            connection = connection or any(t.strip() == b"upgrade" for t in value.lower().split(b","))
    return upgrade and connection


def _error_response(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status)


def _declared_length(response: Response) -> int | None:
    """The content-length a streamed response declared (its body size for the access log), if any."""
    for name, value in response.raw_headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _describe(request: Request | None) -> str:
    return "-" if request is None else f"{request.method} {request.path}"


@mypyc_attr(allow_interpreted_subclasses=True)
class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 for one connection: keep-alive, pipelining, limits, timeouts, flow control."""

    __slots__ = (
        "_app",
        "_backlog",
        "_backlog_feed",
        "_began",
        "_body_parts",
        "_body_size",
        "_chunked",
        "_client",
        "_closing",
        "_completed",
        "_content_length",
        "_deadline",
        "_drain_waiter",
        "_forwarded",
        "_head_bytes",
        "_head_lines",
        "_header_bytes",
        "_headers",
        "_host_count",
        "_inflight",
        "_keep_alive_timeout",
        "_loop",
        "_max_body",
        "_max_header_bytes",
        "_max_header_count",
        "_max_pipelined",
        "_max_url",
        "_new_head",
        "_no_more_requests",
        "_out",
        "_out_after",
        "_out_size",
        "_parser",
        "_peer_eof",
        "_phase",
        "_reading_paused",
        "_reject",
        "_root_path",
        "_scheme",
        "_server",
        "_slot",
        "_state",
        "_stream_task",
        "_timer",
        "_timer_kind",
        "_timer_when",
        "_transport",
        "_trusted_peer",
        "_url",
        "_valid_host",
        "_waiting",
        "_write_paused",
        "_ws_handoff",
        "_ws_upgrade",
    )
    #: Set by _RequestTimer only (the access log); declared here so the compiled class has the attribute.
    _began: float

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._app = state.app
        self._loop = state.loop
        cfg = state.config
        # PERF: limits copied into attributes once per connection, not looked up on the config per request.
        self._max_url = cfg.max_url_length
        self._max_header_bytes = cfg.max_header_bytes
        self._max_header_count = cfg.max_header_count
        self._max_body = cfg.max_body_size
        self._max_pipelined = cfg.max_pipelined_requests
        self._root_path = cfg.root_path
        self._scheme = state.scheme
        self._keep_alive_timeout = cfg.keep_alive_timeout
        #: Lines of a response head besides the app's headers: status line, blank line and the default
        #: header lines (date, server, --header), for _write's CR/LF check.
        self._head_lines = state.head_lines
        #: The peer is a trusted proxy (connection_made), and the request being parsed carried a forwarding
        #: header from it (reset once fulmen.engine.proxy has run).
        self._trusted_peer = False
        self._forwarded = False
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._client: tuple[str, int] | None = None
        self._server: tuple[str, int] | None = None
        self._phase = _IDLE
        self._new_head = False
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._header_bytes = 0
        self._host_count = 0
        self._completed = 0
        self._valid_host = b""
        self._content_length = -1
        self._chunked = False
        self._body_parts: list[bytes] = []
        self._body_size = 0
        self._slot: _Slot | None = None
        self._waiting: deque[_Slot] = deque()
        self._inflight: deque[_Slot] = deque()
        self._reject: _Reject | None = None
        self._no_more_requests = False
        self._closing = False
        self._peer_eof = False
        self._write_paused = False
        self._reading_paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_kind = _T_NONE
        self._timer_when = 0.0
        self._deadline = 0.0
        #: The task sending a streamed response (at most one: later responses wait for it), and the future it
        #: waits on while the transport is paused for writing.
        self._stream_task: asyncio.Task[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        #: A WebSocket handshake's head was parsed (set in on_headers_complete), and, once llhttp stopped
        #: after it, the handshake request and the bytes after it, until the connection is handed over.
        self._ws_upgrade = False
        self._ws_handoff: tuple[Request, list[bytes]] | None = None
        #: Bytes read but not parsed yet because the pipeline was full (see _feed_in_slices), and the loop
        #: callback scheduled to parse them once it has room again.
        self._backlog = b""
        self._backlog_feed: asyncio.Handle | None = None
        #: Responses written in this loop iteration but not yet handed to the transport, and the background
        #: work that runs once they are (see _write and _flush_out).
        self._out: list[bytes] = []
        self._out_size = 0
        self._out_after: list[tuple[Callable[[], Awaitable[Any]], contextvars.Context | None]] = []

    # -- connection lifecycle --------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._attach(transport)
        state = self._state
        if len(state.connections) >= state.config.max_connections or state.shutting_down:
            # Over the connection cap: answer 503 at once and close (documented in docs/engine.md).
            self._no_more_requests = True
            self._closing = True
            body = b"Service Unavailable: too many connections"
            self._transport.write(  # type: ignore[union-attr]  # set by _attach
                STATUS_LINES[503]
                + b"content-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n" % len(body)
                + state.date_header
                + b"connection: close\r\n\r\n"
                + body
            )
            self._linger_close()
            return
        state.connections.add(self)
        self._set_timer(_T_KEEPALIVE, state.config.keep_alive_timeout)

    def _attach(self, transport: asyncio.BaseTransport) -> None:
        """Take the transport and note the peer's and our own address (once per connection)."""
        # uvloop transports don't subclass asyncio.Transport, so no isinstance check here.
        self._transport = cast(asyncio.Transport, transport)
        state = self._state
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = client = Address(str(peer[0]), int(peer[1]))
            trusted = state.trusted_proxies
            self._trusted_peer = trusted is not None and client.host in trusted  # once per connection
        else:
            # A Unix socket peer has no address: trusted only with forwarded_allow_ips "*", as under uvicorn.
            trusted = state.trusted_proxies
            self._trusted_peer = trusted is not None and trusted.always
        sock = transport.get_extra_info("sockname")
        if isinstance(sock, tuple) and len(sock) >= 2:
            self._server = (str(sock[0]), int(sock[1]))

    def take_over(self, transport: asyncio.BaseTransport, data: bytes, write_paused: bool) -> None:
        """Go on with a connection the compiled engine's lane began (fulmen.engine.lane): from here on this
        protocol owns it, starting with ``data``, the read the lane did not answer (parsed again from its
        start)."""
        self._attach(transport)
        self._state.connections.add(self)
        if write_paused:  # the lane paused reading for it; resume_writing now comes here
            self._write_paused = True
            self._reading_paused = True
        self._set_timer(_T_KEEPALIVE, self._keep_alive_timeout)
        transport.set_protocol(self)
        if data:
            self.data_received(data)

    def adopt(self, request: Request, outcome: Any, context: contextvars.Context | None) -> None:
        """Answer a request whose handler the lane has already run: ``outcome`` is its Response, or the task
        (pending, or done) that gives it; then go on as after any request."""
        slot = _Slot(True, False, False)
        slot.request = request
        slot.complete = True
        slot.context = context
        request._disconnect_probe = self
        if isinstance(outcome, Response):
            slot.response = outcome
            self._write(slot)
        elif outcome.done():
            self._take_result(slot, outcome)
            self._write(slot)
        else:
            self._inflight.append(slot)
            slot.task = outcome
            outcome.add_done_callback(lambda t: self._on_task_done(slot, t))
        self._after_activity()

    def connection_lost(self, exc: Exception | None) -> None:
        self._state.connections.discard(self)
        self._closing = True
        self._no_more_requests = True
        self._transport = None
        if self._out:
            self._flush_out()  # nothing can be sent any more; the background work still runs
        timer = self._timer
        if timer is not None:
            timer.cancel()
            self._timer = None
        # Handlers still running are not cancelled (as under uvicorn); their responses are dropped.
        self._waiting.clear()
        self._inflight.clear()
        if self._stream_task is not None:
            self._stream_task.cancel()  # the client is gone: stop producing the streamed body

    def client_disconnected(self) -> bool:
        """``request.is_disconnected()`` for this connection's requests: closed, or EOF from the client (which
        ends a streamed response too, as under uvicorn)."""
        return self._transport is None or self._peer_eof

    def eof_received(self) -> bool:
        self._flush_out()  # returning False closes the transport: what was answered must be in it
        self._peer_eof = True
        self._no_more_requests = True
        if self._stream_task is not None:
            # EOF during a streamed response means the client left (as uvicorn treats it): an idle stream
            # (an SSE generator waiting for events) would otherwise never notice.
            self._stream_task.cancel()
        slot = self._slot
        if slot is not None:
            self._slot = None
            self._waiting.remove(slot)  # a half-received request can never complete
        self._phase = _IDLE
        # Nothing left to answer: let the transport close. Otherwise answer what was received, then close.
        return bool(self._waiting or self._inflight)

    def pause_writing(self) -> None:
        # The transport's buffer is above its high-water mark: stop reading (and dispatching) until it drains.
        self._write_paused = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        self._pump()
        self._maybe_resume_reading()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _maybe_resume_reading(self) -> None:
        if (
            self._reading_paused
            and not self._write_paused
            and not self._closing
            and len(self._waiting) + len(self._inflight) < self._max_pipelined
            and self._transport is not None
        ):
            if self._backlog:
                # What was read before the pause is parsed first, from the loop (this may run inside a
                # parser callback); the transport resumes once it is all parsed.
                if self._backlog_feed is None:
                    self._backlog_feed = self._loop.call_soon(self._feed_backlog)
                return
            self._reading_paused = False
            self._transport.resume_reading()

    @property
    def reading_paused(self) -> bool:
        """True while the protocol has asked the transport to stop reading (backpressure or pipeline cap)."""
        return self._reading_paused

    # -- timers ----------------------------------------------------------------------------------------------
    def _set_timer(self, kind: int, timeout: float) -> None:
        # PERF: one TimerHandle per connection, re-armed lazily: moving the deadline later only stores a
        # float; the timer re-arms itself when it fires early.
        self._timer_kind = kind
        deadline = self._loop.time() + timeout
        self._deadline = deadline
        timer = self._timer
        if timer is None:
            self._timer = self._loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline
        elif deadline < self._timer_when:
            timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_timer)
            self._timer_when = deadline

    def _on_timer(self) -> None:
        self._timer = None
        kind = self._timer_kind
        if kind == _T_NONE or self._transport is None:
            return
        self._flush_out()  # timers run before this iteration's flush: what is answered goes out first
        if self._loop.time() < self._deadline:
            self._timer = self._loop.call_at(self._deadline, self._on_timer)
            self._timer_when = self._deadline
            return
        self._timer_kind = _T_NONE
        if kind == _T_KEEPALIVE:
            if not self._waiting and not self._inflight and self._phase == _IDLE:
                self._transport.close()
        elif kind == _T_HEADERS:
            self._fail(_Reject(408, "Request Timeout: headers not received in time"))
        elif kind == _T_BODY:
            self._fail(_Reject(408, "Request Timeout: request body stalled"))
        else:  # _T_LINGER
            self._transport.close()

    def _after_activity(self) -> None:
        """Point the timer at what the connection is waiting for now (called after parsing or writing)."""
        phase = self._phase
        if phase == _IDLE:
            if self._waiting or self._inflight:
                self._timer_kind = _T_NONE  # waiting on the app, no client timeout
            elif not self._closing:
                self._set_timer(_T_KEEPALIVE, self._keep_alive_timeout)
        elif phase == _HEAD:
            if self._new_head:
                self._new_head = False
                self._set_timer(_T_HEADERS, self._state.config.headers_timeout)
        else:
            # Any bytes while in the body are progress: the stall timeout starts over.
            self._set_timer(_T_BODY, self._state.config.body_timeout)

    # -- parsing ---------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._no_more_requests:
            if self._ws_handoff is not None:
                self._ws_handoff[1].append(data)  # WebSocket frames that came before the handover
            return  # after a rejected or final request nothing is parsed again
        if len(data) > _FEED_SLICE:  # PERF: one comparison per read; only big reads are sliced
            self._feed_in_slices(data)
            return
        in_head = self._phase == _HEAD
        if in_head:
            # Bound what httptools buffers for an unterminated header line.
            self._head_bytes += len(data)
        else:
            completed = self._completed
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if self._ws_upgrade:
                self._begin_websocket(data[upgrade.args[0] if upgrade.args else len(data) :])
                return
            # Other upgrades (CONNECT, h2c): not supported; the request is answered normally, then we close.
            self._no_more_requests = True
        except httptools.HttpParserError as exc:
            reject = self._reject
            self._reject = None
            if reject is None:
                if self._no_more_requests and self._phase == _IDLE and self._slot is None:
                    return  # bytes after a "Connection: close" request are ignored
                cause = exc.__context__
                if isinstance(exc, httptools.HttpParserCallbackError) and cause is not None:
                    reject = _Reject(
                        500, "Internal Server Error"
                    )  # a bug of ours or the app's, not the client's
                    reject.__cause__ = cause
                else:
                    reject = _Reject(400, f"Bad Request: {exc}")
            self._fail(reject)
            return
        if self._phase == _HEAD:
            if not in_head and completed == self._completed:
                self._head_bytes = len(data)  # the whole chunk belongs to the head that began in it
            if self._head_bytes > self._max_url + self._max_header_bytes + 4096:
                self._fail(_Reject(431, "Request Header Fields Too Large"))
                return
        if self._inflight and len(self._waiting) + len(self._inflight) >= self._max_pipelined:
            self._pause_reading()
        self._after_activity()

    def _feed_in_slices(self, data: bytes) -> None:
        """Parse a large read a slice at a time, and keep the rest unparsed once the pipeline is full.

        llhttp parses all it is given: one 256 KiB read of tiny pipelined requests would otherwise queue
        thousands of them (~0.7 KiB each) before the pipeline cap pauses reading.
        """
        size = len(data)
        pos = 0
        while pos < size:
            if self._no_more_requests:
                transport = self._transport
                # The rest goes where the rest of a read goes: dropped, kept for a WebSocket handover, or,
                # when the WebSocket session has already taken the transport over, to that session.
                target = cast(asyncio.Protocol, transport.get_protocol()) if transport is not None else self
                (target or self).data_received(data[pos:])
                return
            if len(self._waiting) + len(self._inflight) >= self._max_pipelined:
                self._backlog = data[pos:]
                self._pause_reading()
                return
            self.data_received(data[pos : pos + _FEED_SLICE])
            pos += _FEED_SLICE

    def _feed_backlog(self) -> None:
        self._backlog_feed = None
        data, self._backlog = self._backlog, b""
        if data and not self._closing and self._transport is not None:
            self.data_received(data)
            if not self._backlog:
                self._maybe_resume_reading()

    def on_message_begin(self) -> None:
        self._phase = _HEAD
        self._new_head = True
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._header_bytes = 0
        self._host_count = 0
        self._content_length = -1
        self._chunked = False

    def on_url(self, url: bytes) -> None:
        # PERF: the common case is the whole target in one callback; concatenation only when split.
        url = self._url + url if self._url else url
        self._url = url
        if len(url) > self._max_url:
            self._raise(_Reject(414, "URI Too Long"))

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._phase != _HEAD:
            # Chunked trailer fields: counted against the header limit, otherwise ignored.
            self._header_bytes += len(name) + len(value)
            if self._header_bytes > self._max_header_bytes:
                self._raise(_Reject(431, "Request Header Fields Too Large"))
            return
        name = name.lower()
        if value and value[-1] in b" \t":
            value = value.rstrip(b" \t")  # llhttp keeps trailing OWS; the field value excludes it
        self._headers.append((name, value))
        # PERF: the count is checked once in on_headers_complete (the head-bytes guard bounds the list).
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self._max_header_bytes:
            self._raise(_Reject(431, "Request Header Fields Too Large"))
        kind = _SPECIAL_HEADERS.get(name)
        if kind is not None:
            if kind == _H_HOST:
                self._host_count += 1
                # PERF: a connection sends the same Host every time; validate it once.
                if value != self._valid_host:
                    if _HOST_RE.fullmatch(value) is None:
                        self._raise(_Reject(400, "Bad Request: invalid Host header"))
                    self._valid_host = value
            elif kind == _H_CONTENT_LENGTH:
                self._content_length = int(value)  # llhttp has validated the digits
            elif kind == _H_TRANSFER_ENCODING:
                if self._chunked or value.lower() != b"chunked":
                    self._check_codings()  # a second field, or a coding besides chunked
                self._chunked = True  # llhttp accepts only "chunked" last on requests
            elif kind == _H_FORWARDED and self._trusted_peer:
                self._forwarded = True

    def _check_codings(self) -> None:
        """Chunked last after other codings ("gzip, chunked") is framed, but not decoded here: 501.

        Without chunked last the framing is unknown: llhttp answers that with 400 (RFC 9112 6.1, 6.3).
        """
        codings = [
            c.strip() for n, v in self._headers if n == b"transfer-encoding" for c in v.lower().split(b",")
        ]
        if codings[-1] == b"chunked" and b"chunked" not in codings[:-1]:
            self._raise(_Reject(501, "Not Implemented: transfer coding other than chunked"))

    def on_headers_complete(self) -> None:
        parser = self._parser
        self._phase = _BODY
        if len(self._headers) > self._max_header_count:
            self._raise(_Reject(431, "Request Header Fields Too Large"))
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            self._raise(_Reject(505, "HTTP Version Not Supported"))
        hosts = self._host_count
        if hosts > 1:
            self._raise(_Reject(400, "Bad Request: more than one Host header"))
        if hosts == 0 and version == "1.1":
            self._raise(_Reject(400, "Bad Request: missing Host header"))
        if self._content_length > self._max_body:
            self._raise(_Reject(413, "Content Too Large"))
        method = parser.get_method()
        keep_alive = parser.should_keep_alive() and not self._state.shutting_down and not self._peer_eof
        if parser.should_upgrade():
            if _is_websocket_upgrade(self._headers):
                # A WebSocket handshake is not dispatched as HTTP: no slot; data_received hands the connection
                # to fulmen.engine.websocket when llhttp stops after this head.
                self._ws_upgrade = True
                self._no_more_requests = True
                return
            keep_alive = False  # other upgrades are not supported: answer normally, then close
        if not keep_alive:
            self._no_more_requests = True
        slot = _Slot(keep_alive, method == b"HEAD", version == "1.0")
        self._slot = slot
        self._body_parts = []
        self._body_size = 0
        self._waiting.append(slot)
        if version == "1.1" and (self._content_length > 0 or self._chunked):
            for name, value in self._headers:
                if name == b"expect" and value.lower() == b"100-continue":
                    slot.expect_continue = True
                    self._pump()  # sends 100 Continue now if nothing is ahead of this request
                    break

    def on_body(self, body: bytes) -> None:
        size = self._body_size + len(body)
        self._body_size = size
        if size > self._max_body:
            self._raise(_Reject(413, "Content Too Large"))
        self._body_parts.append(body)

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        self._completed += 1
        slot = self._slot
        if slot is None:
            return
        url = self._url
        # PERF: origin-form targets ("/path?q") are split with one partition; others go through parse_url.
        # find, not `b"#" not in url`: bytes `in` first tries the needle as an int and pays for a TypeError.
        if url[:1] == b"/" and url.find(b"#") < 0:
            path, _, query = url.partition(b"?")
        else:
            path, query = self._split_target(url)
        self._slot = None
        method = self._parser.get_method()
        parts = self._body_parts
        # PERF: positional arguments (order of Request.__init__): keyword passing costs about as much again.
        # StreamingBodyProtocol.on_headers_complete (engine/streamed_body.py) builds the same: keep in step.
        slot.request = Request(  # type: ignore[call-overload]  # the engine's app is any app
            _METHODS.get(method) or method.decode("latin-1"),
            path,
            query,
            self._headers,
            None,  # path: decoded from the raw path
            b"".join(parts) if parts else b"",  # PERF: join of a single part returns that bytes object itself
            None,  # read_body
            self._client,
            self._server,
            self._scheme,
            "1.0" if slot.http10 else "1.1",
            self._root_path,
            self._app,
        )
        slot.request._disconnect_probe = self  # request.is_disconnected(): client_disconnected() below
        if self._forwarded:  # a trusted proxy sent forwarding headers (never set on other connections)
            self._apply_forwarded(slot.request, False)
        slot.complete = True
        waiting = self._waiting
        if self._inflight or self._write_paused or len(waiting) != 1:
            self._pump()
            return
        # PERF: the common case (nothing else queued, transport writable) skips _pump: dispatch, and when the
        # handler never suspended, write the response right here, inside this data_received call.
        waiting.clear()
        try:
            finished, outcome, slot.context = run_eager(self._app.handle(slot.request), self._loop)
        except Exception:
            self._inflight.append(slot)
            self._dispatch_failed(slot)
            self._pump()
            return
        if finished:
            slot.response = outcome
            self._write(slot)
            return
        task = outcome
        if task.done():
            self._take_result(slot, task)
            self._write(slot)
        else:
            self._inflight.append(slot)
            slot.task = task
            task.add_done_callback(lambda t: self._on_task_done(slot, t))

    def _split_target(self, url: bytes) -> tuple[bytes, bytes]:
        """Path and query of a target that isn't plain origin-form (absolute-form, ``*``, a fragment).

        Raises ``_Reject`` (400) for a target llhttp's URL parser refuses, or ``*`` with a method but OPTIONS.
        """
        try:
            # Any: httptools' stubs type URL.port as int, but it is None without a port; the compiled build
            # must not turn that into a TypeError when the stubs are visible to mypyc.
            parsed: Any = httptools.parse_url(url)
        except httptools.HttpParserInvalidURLError:
            self._raise(_Reject(400, "Bad Request: invalid request target"))
        if url == b"*" and self._parser.get_method() != b"OPTIONS":
            # RFC 9112 3.2.4: the asterisk-form is only for a server-wide OPTIONS.
            self._raise(_Reject(400, "Bad Request: asterisk-form target is only valid for OPTIONS"))
        host = parsed.host
        if host:
            # RFC 9112 3.2.2: with an absolute-form target the server MUST use its authority, not the Host
            # field: the app sees it as the Host header (request.url, url_for, TrustedHostMiddleware).
            if b":" in host:
                host = b"[" + host + b"]"
            if parsed.port is not None:
                host += b":%d" % parsed.port
            headers = self._headers
            self._headers = [(n, v) for n, v in headers if n != b"host"]
            self._headers.append((b"host", host))
        return parsed.path or (b"*" if url == b"*" else b"/"), parsed.query or b""

    def _raise(self, reject: _Reject) -> None:
        self._reject = reject
        raise reject

    def _apply_forwarded(self, request: Request, websocket: bool) -> None:
        """Client, scheme and Host from a trusted proxy's forwarding headers (see fulmen.engine.proxy)."""
        self._forwarded = False
        trusted = self._state.trusted_proxies
        if trusted is not None:
            apply_forwarded(request, trusted, websocket)

    # -- dispatch and write in order ------------------------------------------------------------------------
    def _pump(self) -> None:
        """Write finished responses in request order and start queued requests while capacity allows."""
        inflight = self._inflight
        waiting = self._waiting
        while True:
            while inflight and inflight[0].response is not None:
                self._write(inflight.popleft())
                if self._closing:
                    return
            if not waiting or self._write_paused or len(inflight) >= self._max_pipelined:
                break
            slot = waiting[0]
            if not slot.complete:
                if slot.expect_continue and not inflight and self._transport is not None:
                    slot.expect_continue = False
                    self._flush_out()
                    self._transport.write(_CONTINUE)
                break
            waiting.popleft()
            inflight.append(slot)
            if slot.response is None:  # engine-made error responses need no handler
                self._dispatch(slot)
        if self._ws_handoff is not None and not inflight and not waiting:
            self._switch_to_websocket()  # the responses before a WebSocket handshake are all written
            return
        if self._reading_paused:
            self._maybe_resume_reading()

    def _dispatch(self, slot: _Slot) -> None:
        request = slot.request
        assert request is not None
        try:
            task = start_eager(self._app.handle(request), self._loop)
        except Exception:
            self._dispatch_failed(slot)
            return
        slot.context = task_context(task)
        if task.done():
            self._take_result(slot, task)
        else:
            slot.task = task
            task.add_done_callback(lambda t: self._on_task_done(slot, t))

    def _dispatch_failed(self, slot: _Slot) -> None:
        request = slot.request
        assert request is not None
        error_logger.exception("Exception calling app.handle for %s %s", request.method, request.path)
        slot.response = _error_response(500, "Internal Server Error")

    def _take_result(self, slot: _Slot, task: asyncio.Future[Response]) -> None:
        if task.cancelled():
            slot.response = _error_response(500, "Internal Server Error")
            slot.keep_alive = False
            return
        exc = task.exception()
        if exc is None:
            slot.response = task.result()
        else:
            request = slot.request
            error_logger.error(
                "Exception in ASGI application" if request is None else "Exception handling %s %s",
                *(() if request is None else (request.method, request.path)),
                exc_info=exc,
            )
            slot.response = _error_response(500, "Internal Server Error")

    def _on_task_done(self, slot: _Slot, task: asyncio.Future[Response]) -> None:
        slot.task = None
        if self._closing:
            if not task.cancelled():
                task.exception()  # retrieve it so asyncio doesn't log "never retrieved"
            return
        self._take_result(slot, task)
        self._advance()

    def _write(self, slot: _Slot) -> None:
        transport = self._transport
        response = slot.response
        assert response is not None
        if transport is None:
            return
        if response.streaming:  # PERF: a class attribute; plain responses never reach the streaming code
            self._start_stream(slot, response)
            return
        keep_alive = slot.keep_alive
        if (self._state.shutting_down or self._peer_eof) and not self._waiting and not self._inflight:
            keep_alive = False  # finish what was received, then close after the last known request
        status = response.status_code
        line = STATUS_LINES.get(status)
        if line is None:
            # Not an int: a handler that returned its injected ``response`` parameter without a status (None).
            if not isinstance(status, int) or not 100 <= status <= 999:
                error_logger.error("Invalid status code %r from the application", status)
                slot.response = response = _error_response(500, "Internal Server Error")
                status = 500
                line = STATUS_LINES[500]
            else:
                line = b"HTTP/1.1 %d \r\n" % status
        parts = [line]
        append = parts.append
        raw_headers = response.raw_headers
        for name, value in raw_headers:
            if name == b"connection" and value.lower() == b"close":
                keep_alive = False
                continue
            # PERF: one list extend per header and one join beat formatting each header line.
            parts += (name, b": ", value, b"\r\n")
        append(self._state.date_header)
        lines = len(raw_headers) + self._head_lines
        if not keep_alive:
            append(b"connection: close\r\n")
            lines += 1
        elif slot.http10:
            append(b"connection: keep-alive\r\n")
            lines += 1
        append(b"\r\n")
        body = response.body
        if body and not slot.is_head and status >= 200 and status not in _NO_BODY_STATUSES:
            append(body)
            blen = len(body)
        else:
            blen = 0
        data = b"".join(parts)
        head_len = len(data) - blen
        # PERF: one pass over the head instead of a per-header CR/LF check; catches response splitting.
        if data.count(b"\n", 0, head_len) != lines or data.count(b"\r", 0, head_len) != lines:
            error_logger.error("Response header contains CR or LF; sending 500 instead")
            slot.response = _error_response(500, "Internal Server Error")
            slot.keep_alive = False
            self._write(slot)
            return
        state = self._state
        state.total_requests += 1
        if state.access_log:
            self._log_access(slot, status, blen)
        # PERF: the response leaves at the end of this loop iteration, with every other response answered in
        # it, as one write per connection: uvloop 0.23 writes each transport.write at once, a syscall and a
        # wake-up of the client per response (docs/engine.md, Protocol behaviour, "Writes").
        out = self._out
        if not out and keep_alive:
            pending = state.pending_writes
            if not pending:
                self._loop.call_soon(state.flush_writes)
            pending.append(self)
        out.append(data)
        if response.background is not None:
            self._out_after.append((response.background, slot.context))  # after the response is out
        if keep_alive:
            size = self._out_size + len(data)
            self._out_size = size
            if size > _OUT_DEFER_LIMIT:
                self._flush_out()  # in the transport, the bytes count for its flow control (pause_writing)
            return
        self._flush_out()  # the connection's last response: with any held before it, in one write
        self._close_after_response(transport)

    def _flush_out(self) -> None:
        """Write the responses deferred in this loop iteration, then run their background work.

        Called by ServerState.flush_writes, and first by anything else that writes to or closes the transport.
        """
        out = self._out
        if out:
            self._out = []
            self._out_size = 0
            transport = self._transport
            try:
                if transport is not None:
                    transport.write(b"".join(out))  # PERF: join of one part returns it, no copy
            finally:
                after = self._out_after  # runs even if the write failed: it holds yield-dependency exits
                if after:
                    self._out_after = []
                    for background, context in after:
                        self._run_background(background, context)

    def _close_after_response(self, transport: asyncio.Transport) -> None:
        """The response just written was the connection's last: drop what is queued and close."""
        self._closing = True
        self._no_more_requests = True
        self._waiting.clear()
        self._inflight.clear()
        if self._reject is not None or self._phase != _IDLE:
            self._linger_close()
        else:
            transport.close()

    # -- streamed responses (StreamingResponse, FileResponse): see fulmen.engine.streaming -------------------
    def current_transport(self) -> asyncio.Transport | None:
        """The transport while the connection is open (``SocketBodyWriter`` checks it before each write)."""
        return self._transport

    async def wait_writable(self) -> None:
        """Return once the transport is below its high-water mark (at once when it already is)."""
        if not self._write_paused or self._transport is None:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = self._loop.create_future()
        await waiter

    def _start_stream(self, slot: _Slot, response: Response) -> None:
        self._flush_out()  # the responses before it go first
        # The slot goes back to the front of the pipeline without a response: _pump writes nothing after it,
        # and on_message_complete's fast path sees a busy pipeline, until the stream has ended.
        slot.response = None
        self._inflight.appendleft(slot)
        self._stream_task = create_task_in(self._loop, self._run_stream(slot, response), slot.context)

    async def _run_stream(self, slot: _Slot, response: Response) -> None:
        request = slot.request
        try:
            if request is not None:
                try:
                    response = await response.prepare(request)
                except Exception:
                    error_logger.exception("Exception preparing the response to %s", _describe(request))
                    response = _error_response(500, "Internal Server Error")
            head = self._stream_head(slot, response) if response.streaming else None
            if head is None:  # a plain response after all (400/416 for a bad Range, a 500): written as usual
                self._end_stream(slot)
                if response.streaming:  # its head was invalid
                    response = _error_response(500, "Internal Server Error")
                slot.response = response
                self._write(slot)
                # From a loop callback, not this task: the next queued request's handler starts eagerly,
                # and an eager task can't start inside another task.
                self._loop.call_soon(self._advance)
                return
            data, chunked, keep_alive = head
            transport = self._transport
            if transport is None:
                raise ClientGone()
            transport.write(data)
            if slot.is_head or response.status_code < 200 or response.status_code in _NO_BODY_STATUSES:
                await response.discard_body()
            else:
                writer = SocketBodyWriter(self, self._loop, chunked)
                await response.send_body(writer)
                writer.finish()
        except (asyncio.CancelledError, ClientGone, ConnectionError):
            # The client went away (connection lost, EOF, a failed send): stop. send_body has closed the body
            # iterator; the background task still runs, as under Starlette.
            self._end_stream(slot)
            if response.background is not None:
                self._run_background(response.background, slot.context)
            transport = self._transport
            if transport is not None:
                self._closing = True
                transport.close()
            return
        except Exception:
            self._end_stream(slot)
            error_logger.exception("Exception while streaming the response to %s", _describe(request))
            transport = self._transport
            if transport is not None:
                # The body can't be completed: close, so the client sees a truncated response, not a hang.
                self._closing = True
                self._no_more_requests = True
                self._waiting.clear()
                self._inflight.clear()
                transport.close()
            return
        self._end_stream(slot)
        state = self._state
        state.total_requests += 1
        if state.access_log:
            self._log_access(slot, response.status_code, None if slot.is_head else _declared_length(response))
        if response.background is not None:
            self._run_background(response.background, slot.context)
        transport = self._transport
        if transport is None:
            return
        if (state.shutting_down or self._peer_eof) and not self._waiting and not self._inflight:
            keep_alive = False
        if not keep_alive:
            self._close_after_response(transport)
            return
        self._loop.call_soon(self._advance)  # from a loop callback, not this task (see above)

    def _stream_head(self, slot: _Slot, response: Response) -> tuple[bytes, bool, bool] | None:
        """The head of a streamed response, whether it is chunked, and keep-alive; None if it is invalid.

        Without a content-length the body is chunked (HTTP/1.1) or ends with the connection (HTTP/1.0).
        """
        status = response.status_code
        line = STATUS_LINES.get(status)
        if line is None:
            # Not an int: a handler that returned its injected ``response`` parameter without a status (None).
            if not isinstance(status, int) or not 100 <= status <= 999:
                error_logger.error("Invalid status code %r from the application", status)
                return None
            line = b"HTTP/1.1 %d \r\n" % status
        keep_alive = slot.keep_alive
        parts = [line]
        has_length = False
        for name, value in response.raw_headers:
            # PERF: find, not `in`: bytes `in` first tries the needle as an int and pays for a TypeError.
            if (
                value.find(b"\n") >= 0
                or value.find(b"\r") >= 0
                or name.find(b"\n") >= 0
                or name.find(b"\r") >= 0
            ):
                error_logger.error("Response header contains CR or LF; sending 500 instead")
                return None
            if name == b"connection" and value.lower() == b"close":
                keep_alive = False
                continue
            if name == b"transfer-encoding":
                continue  # the engine frames the body itself
            if name == b"content-length":
                has_length = True
            parts += (name, b": ", value, b"\r\n")
        chunked = False
        if not has_length and status >= 200 and status not in _NO_BODY_STATUSES:
            if slot.http10:
                keep_alive = False  # HTTP/1.0 has no chunked coding: closing the connection ends the body
            else:
                chunked = True
                parts.append(b"transfer-encoding: chunked\r\n")
        if (self._state.shutting_down or self._peer_eof) and not self._waiting and len(self._inflight) <= 1:
            keep_alive = False
        parts.append(self._state.date_header)
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        elif slot.http10:
            parts.append(b"connection: keep-alive\r\n")
        parts.append(b"\r\n")
        return b"".join(parts), chunked, keep_alive

    def _end_stream(self, slot: _Slot) -> None:
        self._stream_task = None
        self._drain_waiter = None
        if self._inflight and self._inflight[0] is slot:
            self._inflight.popleft()

    def _advance(self) -> None:
        """After a response is ready (a handler's task, the end of a stream): write what waited, start queued
        requests and re-arm the timer; an internal failure closes the connection."""
        if self._closing:
            return
        try:
            self._pump()
        except Exception:
            error_logger.exception("Internal error while writing a response; closing the connection")
            self.abort()
            return
        self._after_activity()

    def _log_access(self, slot: _Slot, status: int, size: int | None) -> None:
        """One access log record (only called when the access log is on: ``ServerState.access_log``)."""
        request = slot.request
        client = self._client if request is None else request.client  # the proxy's client when trusted
        log_access(client, request, status, getattr(slot, "started", None), size)

    def _run_background(
        self, background: Callable[[], Awaitable[Any]], context: contextvars.Context | None
    ) -> None:
        """Run background work (tasks, ``yield`` dependencies' exits) in the request's context."""

        async def run() -> None:
            try:
                await background()
            except Exception:
                error_logger.exception("Exception in background task")

        loop = self._loop
        if asyncio.current_task(loop) is None:
            # PERF: background work that never suspends (a yield dependency's exit code, a quick task) runs
            # to the end right here, after the response was written; only work that waits becomes a Task.
            task: asyncio.Future[None] = start_eager(run(), loop, context)
            if task.done():
                return
        else:
            task = create_task_in(loop, run(), context)  # written from inside a task (a streamed response)
        tasks = self._state.background_tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # -- WebSocket upgrade: the connection goes to fulmen.engine.websocket ---------------------------------
    def _begin_websocket(self, rest: bytes) -> None:
        """A WebSocket handshake's head is parsed: hand the connection over once earlier responses are out."""
        self._ws_upgrade = False
        url = self._url
        if url[:1] == b"/" and url.find(b"#") < 0:  # PERF: find, not `in` (see on_message_complete)
            path, _, query = url.partition(b"?")
        else:
            try:
                path, query = self._split_target(url)
            except _Reject as reject:
                self._fail(reject)
                return
        method = self._parser.get_method()
        request = Request(  # type: ignore[call-overload]  # the engine's app is any app
            _METHODS.get(method) or method.decode("latin-1"),
            path,
            query,
            self._headers,
            None,
            b"",
            None,
            self._client,
            self._server,
            "wss" if self._scheme == "https" else "ws",
            self._parser.get_http_version(),
            self._root_path,
            self._app,
        )
        if self._forwarded:
            self._apply_forwarded(request, True)
        self._ws_handoff = (request, [rest] if rest else [])
        if self._waiting or self._inflight:
            self._pause_reading()  # _pump hands over after the last earlier response
            return
        self._switch_to_websocket()

    def _switch_to_websocket(self) -> None:
        handoff, self._ws_handoff = self._ws_handoff, None
        transport = self._transport
        if handoff is None or transport is None or self._closing:
            return
        try:
            from fulmen.engine.websocket import upgrade
        except ImportError as exc:  # the optional websockets package is missing; the message names the extra
            error_logger.error("Can't accept a WebSocket: %s", exc)
            self._fail(_Reject(501, "Not Implemented: WebSocket support is not installed"))
            return
        self._flush_out()
        self._closing = True  # this protocol is done with the connection
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_kind = _T_NONE
        self._state.connections.discard(self)
        upgrade(
            self._state,
            transport,
            handoff[0],
            b"".join(handoff[1]),
            reading_paused=self._reading_paused,
            write_paused=self._write_paused,
        )

    # -- errors and closing ----------------------------------------------------------------------------------
    def _fail(self, reject: _Reject) -> None:
        """Answer a malformed or timed-out request (after anything ahead of it) and close the connection."""
        self._no_more_requests = True
        self._reject = reject
        # Nothing is parsed after this, so no request is being received: without this, _after_activity would
        # re-arm the headers/body timer over the linger timer, and a later 408 would follow the write_eof.
        self._phase = _IDLE
        if reject.status == 400:
            error_logger.warning("Invalid HTTP request received: %s", reject.message)
        elif reject.status == 500:
            error_logger.error("Internal error while parsing a request", exc_info=reject.__cause__)
        slot = self._slot
        self._slot = None
        if slot is not None and not slot.complete:
            self._waiting.remove(slot)  # the half-received request is answered by the error instead
        if reject.status == 500:
            self._waiting.clear()  # internal failure: the queue's state is unknown, answer now and close
            self._inflight.clear()
        error = _Slot(False, False, False)
        error.complete = True
        error.response = _error_response(reject.status, reject.message)
        self._waiting.append(error)
        self._pump()

    def _linger_close(self) -> None:
        """Half-close after the last response and drain the peer briefly, so it reads the reply (no RST)."""
        transport = self._transport
        if transport is None:
            return
        self._flush_out()
        self._closing = True
        self._no_more_requests = True
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                transport.close()
                return
            self._set_timer(_T_LINGER, 1.0)
        else:
            transport.close()

    def shutdown(self) -> None:
        """Server shutdown: finish the requests received so far, then close; an idle connection gets 1 s.

        An idle connection (new, or between keep-alive requests) stays open up to a second more, and a request
        arriving in it is answered with ``connection: close``: closing at once resets a request its client is
        sending at that moment (a busy client sends the next one within milliseconds). Then it closes.
        """
        transport = self._transport
        if transport is None:
            return
        if not self._waiting and not self._inflight and self._phase == _IDLE:
            if self._timer_kind == _T_KEEPALIVE:
                self._set_timer(_T_KEEPALIVE, min(1.0, self._keep_alive_timeout))
                return
            self._flush_out()
            self._closing = True
            transport.close()
        # else: _write() sees state.shutting_down and closes after the last queued response.

    def abort(self) -> None:
        """Grace period over: cancel running handlers and drop the connection."""
        for slot in list(self._inflight):
            if slot.task is not None:
                slot.task.cancel()
        self._closing = True
        if self._transport is not None:
            self._transport.abort()


@mypyc_attr(allow_interpreted_subclasses=True)
class _RequestTimer(HttpProtocol):
    """Notes when each request's first byte arrived, for the access log's ``duration_ms``."""

    __slots__ = ()

    def on_message_begin(self) -> None:
        self._began = time.perf_counter()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        slot = self._slot
        if slot is not None and not hasattr(slot, "started"):
            slot.started = self._began

    def _dispatch(self, slot: _Slot) -> None:
        # A protocol that dispatches from on_headers_complete (streamed request bodies) gets here first.
        if not hasattr(slot, "started"):
            slot.started = self._began
        super()._dispatch(slot)


_TIMED: dict[type[HttpProtocol], type[HttpProtocol]] = {HttpProtocol: _RequestTimer}


@mypyc_attr(allow_interpreted_subclasses=True)
class _ConcurrencyLimit(HttpProtocol):
    """Answers 503 to a request that arrives while more than ``limit_concurrency`` connections are open or
    that many requests are running (``limit_concurrency``, uvicorn's meaning; see docs/engine.md)."""

    __slots__ = ()

    def on_headers_complete(self) -> None:
        state = self._state
        limit = state.limit_concurrency
        # len(connections) counts this one: more than `limit` open connections, or `limit` requests running.
        if len(state.connections) > limit or len(state.running) >= limit:
            error_logger.warning("Exceeded concurrency limit.")
            # As uvicorn's: 503 "Service Unavailable" (text/plain), then the connection closes (_fail).
            self._raise(_Reject(503, "Service Unavailable"))
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        slot = self._slot
        super().on_message_complete()
        if slot is not None:
            self._track(slot.task)  # a handler that suspended: running until its task is done

    def _dispatch(self, slot: _Slot) -> None:
        super()._dispatch(slot)
        self._track(slot.task)

    def _start_stream(self, slot: _Slot, response: Response) -> None:
        super()._start_stream(slot, response)
        self._track(self._stream_task)  # a streamed body is a request still running

    def _track(self, task: asyncio.Future[Any] | None) -> None:
        if task is not None and not task.done():
            running = self._state.running
            if task not in running:
                running.add(task)
                task.add_done_callback(running.discard)


_LIMITED: dict[type[HttpProtocol], type[HttpProtocol]] = {HttpProtocol: _ConcurrencyLimit}


@mypyc_attr(allow_interpreted_subclasses=True)
class _TimedConcurrencyLimit(_ConcurrencyLimit):
    """``_RequestTimer`` and ``_ConcurrencyLimit`` together (the access log and ``limit_concurrency``).

    Written out rather than mixed by ``timed_protocol``: in the compiled build a class with two compiled bases
    dispatches the engine's own calls through the wrong one's method table (a request ran ``connection_made``
    for ``on_message_complete``, and shutdown crashed); one compiled base is what mypyc supports.
    """

    __slots__ = ()

    def on_message_begin(self) -> None:
        self._began = time.perf_counter()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        slot = self._slot
        if slot is not None and not hasattr(slot, "started"):
            slot.started = self._began

    def _dispatch(self, slot: _Slot) -> None:
        if not hasattr(slot, "started"):
            slot.started = self._began
        super()._dispatch(slot)


_TIMED[_ConcurrencyLimit] = _TimedConcurrencyLimit


def limited_protocol(cls: type[HttpProtocol]) -> type[HttpProtocol]:
    """``cls`` with ``limit_concurrency`` enforced (``_ConcurrencyLimit`` mixed in).

    The server picks it at start-up only when the limit is set, so without it no request counts anything.
    """
    limited = _LIMITED.get(cls)
    if limited is None:
        limited = _LIMITED[cls] = type(
            f"Limited{cls.__name__}", (_ConcurrencyLimit, cls), {"__slots__": (), "__module__": __name__}
        )
    return limited


def timed_protocol(cls: type[HttpProtocol]) -> type[HttpProtocol]:
    """``cls`` with each request's start time noted for the access log (``_RequestTimer`` mixed in).

    The server picks it at start-up only when the access log is on, so with the log off no request reads
    the clock (DESIGN.md §3.1).
    """
    timed = _TIMED.get(cls)
    if timed is None:
        # A limited class has _ConcurrencyLimit as its compiled base: mix in the class that is both
        # (see _TimedConcurrencyLimit), never two compiled siblings.
        timer = _TimedConcurrencyLimit if issubclass(cls, _ConcurrencyLimit) else _RequestTimer
        timed = _TIMED[cls] = type(
            f"Timed{cls.__name__}", (timer, cls), {"__slots__": (), "__module__": __name__}
        )
    return timed
