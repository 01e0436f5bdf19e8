"""WebSockets on the engine: RFC 6455 on the connection ``HttpProtocol`` upgraded, framed by ``websockets``.

``HttpProtocol`` parses the handshake's head with llhttp and calls ``upgrade()``; from then on the transport's
protocol is a ``WebSocketSession``. Framing, masking, fragmentation checks, control frames, close codes, the
message size limit and permessage-deflate (RFC 7692) come from the ``websockets`` package's sans-I/O
``ServerProtocol``; this module does the I/O around it:

- the handshake: validated and negotiated (extensions) at once, the 101 written when the endpoint accepts,
  a 403 when it closes first, its HTTP response when it sends a denial, a 500 when it fails first;
- messages: fragments joined (text decoded incrementally, so invalid UTF-8 fails at once with 1007) and
  delivered as ASGI ``websocket.receive`` messages;
- backpressure both ways: reading pauses while ``ws_max_queue`` messages wait for the endpoint, and ``send``
  waits while the transport is above its high-water mark;
- keepalive pings (``ws_ping_interval`` / ``ws_ping_timeout``), the closing handshake with a timeout
  (``ws_close_timeout``), 1012 to open sockets at server shutdown.

The endpoint sees ASGI's ``receive()``/``send()``: a fulmen app gets a ``fulmen.websockets.WebSocket`` over
them (``app.handle_websocket``); any other ASGI app (served through ``ASGIAdapter``) gets the scope.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import os
from collections import deque
from typing import TYPE_CHECKING, Any, cast

from fulmen.engine.accesslog import log_access
from fulmen.requests import Request
from fulmen.websockets import WebSocket, WebSocketDisconnect

try:
    from websockets.datastructures import Headers as WsHeaders
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    from websockets.frames import Frame, Opcode
    from websockets.http11 import Request as WsRequest
    from websockets.http11 import Response as WsResponse
    from websockets.protocol import State as WsState
    from websockets.server import ServerProtocol
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "WebSockets on fulmen's engine need the websockets package (17 or later): "
        'pip install "fulmen[websockets]"'
    ) from exc

if TYPE_CHECKING:
    from fulmen.engine.protocol import ServerState

error_logger = logging.getLogger("fulmen.error")
#: The sans-I/O protocol logs "connection closed" and the like at INFO for every socket; keep that quiet
#: unless asked for (set this logger's level to DEBUG to see frames).
_frames_logger = logging.getLogger("fulmen.websocket.frames")
_frames_logger.setLevel(logging.WARNING)

Message = dict[str, Any]

_OPEN = WsState.OPEN
_TEXT, _BINARY, _CONT, _CLOSE, _PONG = Opcode.TEXT, Opcode.BINARY, Opcode.CONT, Opcode.CLOSE, Opcode.PONG
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")

# Handshake progress.
_PENDING, _ACCEPTED, _REJECTED = 0, 1, 2

_500 = b"Internal Server Error"
#: Buffered outgoing bytes that are written at once instead of at the end of the loop pass.
_FLUSH_AT = 65536
_503 = b"Service Unavailable"


class ConnectionGone(OSError):
    """Sending on a WebSocket whose connection is closed (``WebSocket.send`` turns it into 1006)."""


def _plain_response(status: int, phrase: bytes, body: bytes, date_header: bytes) -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: %d\r\n"
        b"connection: close\r\n%s\r\n%s" % (status, phrase, len(body), date_header, body)
    )


def upgrade(
    state: ServerState,
    transport: asyncio.Transport,
    request: Request,
    rest: bytes,
    *,
    reading_paused: bool,
    write_paused: bool,
) -> None:
    """Take over ``transport`` for the WebSocket handshake ``request`` (``HttpProtocol`` calls this).

    ``rest`` holds bytes that arrived after the handshake's head (frames sent before the 101: kept).
    """
    if state.shutting_down:
        transport.write(_plain_response(503, b"Service Unavailable", _503, state.date_header))
        transport.close()
        return
    session = WebSocketSession(state, transport, request, write_paused)
    transport.set_protocol(session)
    if not session.handshake():
        return
    if reading_paused:
        transport.resume_reading()
    if rest:
        session.data_received(rest)
    session.start()


class _ServerProtocol(ServerProtocol):
    """websockets' server protocol, except that a close frame in the middle of a fragmented message closes
    normally: RFC 6455 §5.4 lets control frames come between fragments, and the unfinished message is
    dropped (websockets fails the connection with 1002 there; Autobahn case 7.1.5 wants 1000).
    """

    def recv_frame(self, frame: Frame) -> None:
        if frame.opcode is _CLOSE:
            self.current_size = None
        super().recv_frame(frame)


class WebSocketSession(asyncio.Protocol):
    """One WebSocket connection on the engine: frames in and out, ASGI ``receive``/``send`` for the app."""

    def __init__(
        self, state: ServerState, transport: asyncio.Transport, request: Request, write_paused: bool
    ) -> None:
        cfg = state.config
        self._state = state
        self._loop = state.loop
        self._transport = transport
        self._request = request
        self._max_queue = cfg.ws_max_queue
        self._resume_at = cfg.ws_max_queue // 4
        self._ping_interval = cfg.ws_ping_interval
        self._ping_timeout = cfg.ws_ping_timeout
        self._close_timeout = cfg.ws_close_timeout
        extensions = None
        if cfg.ws_per_message_deflate:
            # uvicorn's settings: 4 KiB windows and memLevel 5 keep a compressing socket near 64 KiB.
            extensions = [
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
                )
            ]
        # The head was parsed by llhttp: the sans-I/O protocol starts OPEN (frames), and only validates the
        # handshake and negotiates extensions through accept() below.
        self._proto = _ServerProtocol(
            extensions=extensions, max_size=cfg.ws_max_size, state=_OPEN, logger=_frames_logger
        )
        self._handshake = _PENDING
        self._accept_response: WsResponse | None = None
        self._denial: tuple[int, list[tuple[bytes, bytes]], list[bytes]] | None = None
        #: Messages for the app, oldest first; the app waits on ``_waiter`` when it is empty.
        self._inbox: deque[Message] = deque(({"type": "websocket.connect"},))
        self._waiter: asyncio.Future[Message] | None = None
        self._disconnect: Message | None = None
        #: The fragments of the message being received: text (with its decoder) or bytes.
        self._parts: list[Any] = []
        self._decoder: Any = None
        self._reading_paused = False
        self._write_paused = write_paused
        self._drain_waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._close_sent = False
        self._task: asyncio.Task[None] | None = None
        self._ping_handle: asyncio.TimerHandle | None = None
        self._pong_handle: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._close_handle: asyncio.TimerHandle | None = None
        #: Frames written during this pass of the loop, sent together (see _write).
        self._out: list[bytes] = []
        self._out_size = 0
        self._flush_scheduled = False

    # -- handshake -------------------------------------------------------------------------------------------
    def handshake(self) -> bool:
        """Validate the handshake and negotiate extensions; False when it was answered with an error."""
        request = self._request
        headers = WsHeaders([(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers])
        ws_request = WsRequest(request.raw_path.decode("latin-1"), headers)
        ws_request.method = request.method
        ws_request.protocol = "HTTP/" + request.http_version
        if request.method == "GET":
            response = self._proto.accept(ws_request)
        else:
            # RFC 6455 §4.1: the opening handshake is a GET. websockets 17 answers other methods with this
            # 405 itself; 16 (the last release for Python 3.10) would accept them.
            response = self._proto.reject(
                405, f"Failed to open a WebSocket connection: unsupported HTTP method: {request.method}.\n"
            )
            response.headers["Allow"] = "GET"
        if response.status_code != 101:
            if self._state.access_log:
                self._log_access(response.status_code, "invalid")
            self._handshake = _REJECTED
            self._transport.write(response.serialize())
            self._transport.close()
            return False
        self._accept_response = response
        self._state.connections.add(self)
        return True

    def start(self) -> None:
        """Run the app for this connection (in its own task)."""
        self._task = self._loop.create_task(self._run_app())

    async def _run_app(self) -> None:
        app: Any = self._state.app
        try:
            through_middleware = getattr(app, "websocket_asgi", None)
            native = getattr(app, "handle_websocket", None)
            if through_middleware is not None:
                await through_middleware(self._scope(), self.receive, self.send)
            elif native is not None:
                await native(WebSocket(self._request, self.receive, self.send))
            else:
                asgi = getattr(app, "app", None)  # ASGIAdapter: the ASGI app it serves
                if not callable(asgi):
                    await self.send({"type": "websocket.close", "code": 1000})
                    return
                await asgi(self._scope(), self.receive, self.send)
        except (ConnectionGone, WebSocketDisconnect):
            pass  # the client left; an endpoint that doesn't catch WebSocketDisconnect ends here
        except Exception:
            error_logger.exception("Exception in ASGI application (WebSocket %s)", self._request.path)
            self._app_failed()
            return
        self._app_returned()

    def _unix_server(self) -> tuple[str, None] | None:
        """The scope's "server" on a Unix socket (``--uds``): ``(path, None)`` as uvicorn; else None."""
        path = self._state.unix_path
        return None if path is None else (path, None)

    def _scope(self) -> dict[str, Any]:
        request = self._request
        root = request.root_path
        return {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": request.http_version,
            "scheme": request.scheme,
            "path": root + request.path,
            "raw_path": root.encode("utf-8") + request.raw_path,
            "query_string": request.query_string,
            "root_path": root,
            "headers": request.raw_headers,
            "client": None if request.client is None else tuple(request.client),
            "server": tuple(request.server) if request.server is not None else self._unix_server(),
            "subprotocols": WebSocket(request, self.receive, self.send).subprotocols,
            "extensions": {"websocket.http.response": {}},
        }

    def _app_failed(self) -> None:
        if self._lost:
            return
        if self._handshake == _PENDING:
            if self._state.access_log:
                self._log_access(500, "failed")
            self._reject_raw(_plain_response(500, b"Internal Server Error", _500, self._state.date_header))
        elif self._handshake == _ACCEPTED and not self._close_sent:
            self._send_close(1011, "")
        elif self._handshake == _REJECTED:
            self._transport.close()

    def _app_returned(self) -> None:
        if self._lost:
            return
        if self._handshake == _PENDING:
            error_logger.error(
                "WebSocket endpoint for %s returned without accepting or closing the connection",
                self._request.path,
            )
            if self._state.access_log:
                self._log_access(500, "failed")
            self._reject_raw(_plain_response(500, b"Internal Server Error", _500, self._state.date_header))
        elif self._handshake == _ACCEPTED and not self._close_sent:
            self._send_close(1000, "")  # an endpoint that returns without closing ends normally

    def _reject_raw(self, data: bytes) -> None:
        self._out.clear()  # frames queued before the handshake (pongs) are never sent
        self._handshake = _REJECTED
        self._close_sent = True
        self._set_disconnect(1006, "")
        if not self._lost and not self._transport.is_closing():
            self._transport.write(data)
            self._transport.close()

    # -- ASGI: the app's side --------------------------------------------------------------------------------
    async def receive(self) -> Message:
        """The next ASGI message for the app: connect, then received messages, then the disconnect."""
        inbox = self._inbox
        if inbox:
            message = inbox.popleft()
            if self._reading_paused and len(inbox) <= self._resume_at:
                self._resume_reading()
            return message
        disconnect = self._disconnect
        if disconnect is not None:
            return disconnect  # asked again after the disconnect: the same answer, never a hang
        if self._out:
            self._flush()  # PERF: the app is idle until the next message: its replies go now, not next pass
        waiter: asyncio.Future[Message] = self._loop.create_future()
        self._waiter = waiter
        return await waiter

    async def send(self, message: Message) -> None:
        """Carry out one ASGI message from the app (accept, send, close, denial response)."""
        kind = message["type"]
        if kind == "websocket.send":
            if self._handshake != _ACCEPTED:
                raise RuntimeError("WebSocket not accepted: send 'websocket.accept' before 'websocket.send'")
            proto = self._proto
            if self._lost or proto.state is not _OPEN:
                raise ConnectionGone("the WebSocket is closed")
            text = message.get("text")
            if text is not None:
                proto.send_text(text.encode("utf-8"))
            else:
                data = message.get("bytes")
                if data is None:
                    raise RuntimeError("'websocket.send' needs 'text' or 'bytes'")
                proto.send_binary(data)
            writes = proto.data_to_send()
            self._write(writes[0] if len(writes) == 1 else b"".join(writes))
            if self._write_paused:
                await self._drain()
            return
        if kind == "websocket.accept":
            self._accept(message)
        elif kind == "websocket.close":
            self._close_from_app(message)
        elif kind == "websocket.http.response.start":
            if self._handshake != _PENDING or self._denial is not None:
                raise RuntimeError("'websocket.http.response.start' is only allowed before the handshake")
            self._denial = (message["status"], list(message.get("headers") or ()), [])
        elif kind == "websocket.http.response.body":
            self._denial_body(message)
        else:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} on a WebSocket")

    def _accept(self, message: Message) -> None:
        if self._handshake != _PENDING or self._denial is not None:
            raise RuntimeError("'websocket.accept' sent twice or after the handshake was answered")
        if self._lost or self._transport.is_closing():
            raise ConnectionGone("the client left before the WebSocket was accepted")
        response = self._accept_response
        assert response is not None
        headers = response.headers
        state = self._state
        for name, value in state.default_headers:  # --server-header, --header: on the 101 too, as uvicorn
            headers[name] = value
        if not state.config.date_header:
            del headers["Date"]  # the websockets library adds one
        subprotocol = message.get("subprotocol")
        if subprotocol:
            headers["Sec-WebSocket-Protocol"] = subprotocol
        for name, value in message.get("headers") or ():
            headers[name.decode("latin-1")] = value.decode("latin-1")
        self._handshake = _ACCEPTED
        self._transport.write(response.serialize())
        self._accept_response = None
        self._flush()  # anything queued before the 101 (pongs) goes after it
        if self._state.access_log:
            self._log_access(101, "accepted")
        if self._ping_interval:
            self._ping_handle = self._loop.call_later(self._ping_interval, self._send_ping)

    def _close_from_app(self, message: Message) -> None:
        code = message.get("code", 1000)
        if self._handshake == _PENDING and self._denial is None:
            # Closed before accept: the handshake is refused with 403, as uvicorn does.
            if self._state.access_log:
                self._log_access(403, "rejected")
            self._reject_raw(
                b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 0\r\n"
                b"connection: close\r\n" + self._state.date_header + b"\r\n"
            )
            return
        if self._handshake != _ACCEPTED:
            raise RuntimeError("'websocket.close' after the handshake was answered with an HTTP response")
        if self._lost or self._close_sent:
            return
        reason = message.get("reason") or ""
        if not isinstance(reason, str):
            reason = json.dumps(reason, separators=(",", ":"))  # FastAPI's validation errors are a list
        # A close frame carries at most 123 bytes of reason; cut on a character boundary.
        reason = reason.encode("utf-8")[:123].decode("utf-8", "ignore")
        self._send_close(code, reason)

    def _denial_body(self, message: Message) -> None:
        denial = self._denial
        if denial is None:
            raise RuntimeError("'websocket.http.response.body' without 'websocket.http.response.start'")
        denial[2].append(message.get("body", b""))
        if message.get("more_body", False):
            return
        status, headers, body_parts = denial
        body = b"".join(body_parts)
        from fulmen.engine.protocol import STATUS_LINES

        head = [STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status]
        has_length = False
        for name, value in headers:
            lname = name.lower()
            if lname == b"connection":
                continue
            has_length = has_length or lname == b"content-length"
            if b"\r" in name + value or b"\n" in name + value:
                raise RuntimeError("Response header contains CR or LF")
            head += (name, b": ", value, b"\r\n")
        if not has_length:
            head.append(b"content-length: %d\r\n" % len(body))
        head += (b"connection: close\r\n", self._state.date_header, b"\r\n", body)
        if self._state.access_log:
            self._log_access(status, "denied")
        self._reject_raw(b"".join(head))

    async def _drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = self._loop.create_future()
        await waiter
        if self._lost:
            raise ConnectionGone("the WebSocket is closed")

    # -- frames in -------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        proto = self._proto
        proto.receive_data(data)
        events = proto.events_received()
        for frame in events:  # frames only: the protocol started OPEN, past the HTTP handshake
            if not self._on_frame(cast(Frame, frame)):
                break
        out = proto.data_to_send()
        if out:
            self._write_out(out)
        if proto.parser_exc is not None and self._disconnect is None:
            close = proto.close_sent
            self._set_disconnect(close.code if close is not None else 1006, close.reason if close else "")

    def _on_frame(self, frame: Frame) -> bool:
        """Handle one parsed frame; False once the connection has been failed."""
        opcode = frame.opcode
        if opcode is _TEXT or opcode is _BINARY:
            data = frame.data
            if frame.fin:
                if opcode is _TEXT:
                    try:
                        text = data.decode("utf-8") if type(data) is bytes else bytes(data).decode("utf-8")
                    except UnicodeDecodeError:
                        return self._fail(1007, "invalid UTF-8 in a text message")
                    self._deliver({"type": "websocket.receive", "text": text})
                else:
                    self._deliver({"type": "websocket.receive", "bytes": bytes(data)})
                return True
            if opcode is _TEXT:
                self._decoder = _Utf8Decoder()
                return self._text_fragment(data, False)
            self._decoder = None
            self._parts = [bytes(data)]
            return True
        if opcode is _CONT:
            if self._decoder is not None:
                return self._text_fragment(frame.data, frame.fin)
            self._parts.append(bytes(frame.data))
            if frame.fin:
                parts, self._parts = self._parts, []
                self._deliver({"type": "websocket.receive", "bytes": b"".join(parts)})
            return True
        if opcode is _CLOSE:
            self._on_close_frame()
        elif opcode is _PONG:
            self._on_pong(bytes(frame.data))
        return True  # PING: the protocol has queued the pong already

    def _text_fragment(self, data: Any, fin: bool) -> bool:
        try:
            # Decoded as fragments arrive, so invalid UTF-8 fails the connection at once (Autobahn 6.4).
            self._parts.append(self._decoder.decode(data, fin))
        except UnicodeDecodeError:
            self._decoder = None
            self._parts = []
            return self._fail(1007, "invalid UTF-8 in a text message")
        if fin:
            self._decoder = None
            parts, self._parts = self._parts, []
            self._deliver({"type": "websocket.receive", "text": "".join(parts)})
        return True

    def _deliver(self, message: Message) -> None:
        if self._close_sent:
            return  # after our close frame, data is discarded while we wait for the peer's
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(message)
                return
        inbox = self._inbox
        inbox.append(message)
        if len(inbox) >= self._max_queue and not self._reading_paused and not self._lost:
            # The app isn't keeping up: stop reading; TCP flow control then slows the client down.
            self._reading_paused = True
            self._transport.pause_reading()

    def _set_disconnect(self, code: int, reason: str) -> None:
        if self._disconnect is not None:
            return
        message = self._disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(message)
                return
        self._inbox.append(message)

    def _on_close_frame(self) -> None:
        self._stop_timers(keep_close=True)
        received = self._proto.close_rcvd
        if self._close_sent:
            return  # the peer answered our close: data_received closes the transport (EOF queued)
        self._close_sent = True  # the protocol has echoed it
        if received is None:
            self._set_disconnect(1005, "")
        else:
            self._set_disconnect(received.code, received.reason)

    def _fail(self, code: int, reason: str) -> bool:
        proto = self._proto
        if proto.state is _OPEN:
            proto.fail(code, reason)
        self._close_sent = True
        self._set_disconnect(code, reason)
        return False

    def _write_out(self, out: list[bytes]) -> None:
        if self._lost:
            return
        eof = b"" in out  # the protocol's SEND_EOF: the server closes the TCP connection now
        data = b"".join(out)
        if data:
            self._write(data)
        if eof:
            self._close_sent = True
            self._stop_timers()
            self._flush()
            self._transport.close()

    def _write(self, data: bytes) -> None:
        # PERF: frames sent during one pass of the event loop leave in one transport.write, i.e. one send()
        # system call for a batch of messages instead of one per message (a third of an echo's cost).
        out = self._out
        out.append(data)
        self._out_size += len(data)
        if self._out_size >= _FLUSH_AT:
            self._flush()  # big sends go now, so pause_writing (backpressure) sees them at once
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        out = self._out
        if not out or self._handshake == _PENDING:
            return  # before the 101 nothing is written; accept() flushes
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self._out_size = 0
        if not self._lost and not self._transport.is_closing():
            self._transport.write(data)

    def _send_close(self, code: int, reason: str) -> None:
        proto = self._proto
        self._close_sent = True
        self._set_disconnect(code, reason)
        if self._lost or proto.state is not _OPEN:
            return
        proto.send_close(code, reason)
        self._stop_timers()
        self._write_out(proto.data_to_send())
        if self._reading_paused:
            self._resume_reading()  # the peer's close frame must be read
        self._close_handle = self._loop.call_later(self._close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_handle = None
        if not self._lost:
            self._transport.abort()  # the peer never completed the closing handshake

    # -- keepalive -------------------------------------------------------------------------------------------
    def _send_ping(self) -> None:
        self._ping_handle = None
        proto = self._proto
        if self._lost or self._close_sent or proto.state is not _OPEN:
            return
        self._ping_payload = payload = os.urandom(4)
        proto.send_ping(payload)
        self._write_out(proto.data_to_send())
        if self._ping_timeout:
            self._pong_handle = self._loop.call_later(self._ping_timeout, self._ping_timed_out)
        elif self._ping_interval:
            self._ping_handle = self._loop.call_later(self._ping_interval, self._send_ping)

    def _on_pong(self, data: bytes) -> None:
        if self._ping_payload is None or data != self._ping_payload:
            return  # unsolicited, or for an older ping
        self._ping_payload = None
        if self._pong_handle is not None:
            self._pong_handle.cancel()
            self._pong_handle = None
            if self._ping_interval:
                self._ping_handle = self._loop.call_later(self._ping_interval, self._send_ping)

    def _ping_timed_out(self) -> None:
        self._pong_handle = None
        if self._lost or self._close_sent:
            return
        error_logger.info("WebSocket keepalive ping timed out; closing %s", self._request.path)
        self._fail(1011, "keepalive ping timeout")
        self._write_out(self._proto.data_to_send())

    def _stop_timers(self, keep_close: bool = False) -> None:
        """Cancel the keepalive timers, and the closing-handshake timer unless ``keep_close``."""
        for handle in (self._ping_handle, self._pong_handle):
            if handle is not None:
                handle.cancel()
        self._ping_handle = self._pong_handle = None
        if not keep_close and self._close_handle is not None:
            self._close_handle.cancel()
            self._close_handle = None

    # -- transport events ------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # pragma: no cover - set_protocol
        self._transport = cast(asyncio.Transport, transport)

    def eof_received(self) -> bool:
        proto = self._proto
        proto.receive_eof()
        out = proto.data_to_send()
        if out:
            self._write_out(out)
        self._set_disconnect(1006, "")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._out.clear()
        self._stop_timers()
        self._state.connections.discard(self)
        self._set_disconnect(1006, "")
        self._release_drain()

    def _release_drain(self) -> None:
        """Wake the sender waiting for the transport to drain (it drained, or the connection is gone)."""
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._release_drain()

    def _resume_reading(self) -> None:
        self._reading_paused = False
        if not self._lost:
            self._transport.resume_reading()

    # -- server shutdown -------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Server shutdown: refuse a pending handshake (503); close an open socket with 1012."""
        if self._lost:
            return
        if self._handshake == _PENDING and self._denial is None:
            self._reject_raw(_plain_response(503, b"Service Unavailable", _503, self._state.date_header))
        elif self._handshake == _ACCEPTED and not self._close_sent:
            self._send_close(1012, "")  # "service restart", as uvicorn sends

    def abort(self) -> None:
        """Grace period over: stop the endpoint and drop the connection."""
        if self._task is not None:
            self._task.cancel()
        if not self._lost:
            self._transport.abort()

    def _log_access(self, status: int, outcome: str) -> None:
        """The handshake's access log record: ``status`` answered, ``outcome`` as ``log_access`` lists."""
        request = self._request
        log_access(request.client, request, status, None, None, outcome)


__all__ = ["ConnectionGone", "WebSocketSession", "upgrade"]
