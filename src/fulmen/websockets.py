"""WebSocket connections with Starlette's API (``fastapi.WebSocket``), the same on every front door.

A ``WebSocket`` wraps the handshake ``Request`` (headers, query parameters, cookies, URL, client, state are
the request's lazily parsed views) and two ASGI-style callables: ``receive()`` returns the next
``websocket.*`` message, ``send(message)`` sends one. The engine's ``WebSocketSession``
(``fulmen.engine.websocket``) provides them over its own framing; the ASGI front door passes the server's.
Both enforce the same state machine here, so an endpoint behaves alike under fulmen's engine, uvicorn and the
TestClient.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from fulmen._lookalike import lookalike_class, lookalike_reduce_ex
from fulmen.datastructures import URL, Address, Headers, QueryParams, State
from fulmen.requests import HTTPConnection, Request

if TYPE_CHECKING:
    from fulmen.app import Fulmen
    from fulmen.responses import Response

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class WebSocketState(enum.Enum):
    """Where one side of a WebSocket is: before the handshake, open, closed, or sending a denial response."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3

    def __eq__(self, other: object) -> bool:
        # FastAPI code compares ``websocket.client_state`` with ``starlette.websockets.WebSocketState``
        # members: equal by name and value to another framework's WebSocketState.
        if isinstance(other, enum.Enum) and type(other).__name__ == "WebSocketState":
            return self.name == other.name and self.value == other.value
        return NotImplemented

    __hash__ = enum.Enum.__hash__


class WebSocketDisconnect(Exception):
    """The peer closed the WebSocket (raised by ``receive_*``), with its close frame's code and reason."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""
        super().__init__(code, self.reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


_catchable_disconnect: type[WebSocketDisconnect] | None = None


def disconnect_error(code: int = 1000, reason: str | None = None) -> WebSocketDisconnect:
    """The ``WebSocketDisconnect`` fulmen raises when the peer closes.

    Once the program has imported ``starlette.websockets``, it is also an instance of Starlette's class, so
    FastAPI code that catches ``starlette.websockets.WebSocketDisconnect`` catches fulmen's too.
    """
    global _catchable_disconnect
    cls = _catchable_disconnect
    if cls is None:
        module = sys.modules.get("starlette.websockets")
        if module is None or issubclass(WebSocketDisconnect, module.WebSocketDisconnect):
            # Not imported, or it is this module (a program aliasing starlette's modules to fulmen's).
            return WebSocketDisconnect(code, reason)
        cls = _catchable_disconnect = type(
            "WebSocketDisconnect",
            (WebSocketDisconnect, module.WebSocketDisconnect),
            {"__module__": __name__, "__doc__": WebSocketDisconnect.__doc__},
        )
    error = cls(code, reason)
    Exception.__init__(error, code, error.reason)  # Starlette's __init__, last in the chain, sets no args
    return error


class WebSocketDisconnected(RuntimeError):
    """The WebSocket is used after it was closed (or before it was accepted)."""


_CONNECT = "websocket.connect"
_RECEIVE = "websocket.receive"
_DISCONNECT = "websocket.disconnect"
_SEND = "websocket.send"
_ACCEPT = "websocket.accept"
_CLOSE = "websocket.close"
_RESPONSE_START = "websocket.http.response.start"
_RESPONSE_BODY = "websocket.http.response.body"


class WebSocket(Mapping[str, Any]):
    """One WebSocket connection: accept it, exchange text/bytes/JSON messages, close it.

    ``client_state`` follows what the client did (connect, disconnect), ``application_state`` what the
    endpoint did (accept, close); both are ``WebSocketState`` values, as in Starlette.
    """

    __slots__ = ("_receive", "_send", "application_state", "client_state", "request")

    #: ``isinstance(obj, <Starlette's class>)`` holds once Starlette is imported (fulmen._lookalike).
    __class__ = lookalike_class
    __reduce_ex__ = lookalike_reduce_ex

    def __init__(self, request: Request | dict[str, Any], receive: Receive, send: Send) -> None:
        if isinstance(request, dict):  # Starlette's signature: WebSocket(scope, receive, send)
            from fulmen.asgi import websocket_request

            request = websocket_request(request)
        #: The handshake request (headers, query string, cookies, client); shared views, parsed lazily.
        self.request = request
        self._receive = receive
        self._send = send
        self.client_state = WebSocketState.CONNECTING
        self.application_state = WebSocketState.CONNECTING

    # -- the handshake request's views -------------------------------------------------------------------
    @property
    def app(self) -> Fulmen | None:
        """The application serving this connection."""
        return self.request.app

    @app.setter
    def app(self, value: Fulmen | None) -> None:
        self.request.app = value

    @property
    def url(self) -> URL:
        """The URL the client connected to (``ws://`` or ``wss://``)."""
        return self.request.url

    @property
    def base_url(self) -> URL:
        """Scheme, host and root path, with a trailing slash."""
        return self.request.base_url

    @property
    def headers(self) -> Headers:
        """The handshake request's headers."""
        return self.request.headers

    @property
    def query_params(self) -> QueryParams:
        """The handshake URL's query parameters."""
        return self.request.query_params

    @property
    def path_params(self) -> dict[str, Any]:
        """Parameters captured from the route's path template."""
        return self.request.path_params

    @path_params.setter
    def path_params(self, value: dict[str, Any]) -> None:
        self.request.path_params = value

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent with the handshake."""
        return self.request.cookies

    @property
    def client(self) -> Address | tuple[str, int] | None:
        """The peer's (host, port)."""
        return self.request.client

    @property
    def state(self) -> State:
        """Free-form per-connection state (lifespan state is copied in, as for requests)."""
        return self.request.state

    @property
    def path(self) -> str:
        """The path the client connected to, without the root path."""
        return self.request.path

    @property
    def session(self) -> dict[str, Any]:
        """The session of Starlette's ``SessionMiddleware`` (AssertionError when it isn't installed)."""
        return self.request.session

    @property
    def auth(self) -> Any:
        """The credentials set by Starlette's ``AuthenticationMiddleware``."""
        return self.request.auth

    @property
    def user(self) -> Any:
        """The user set by Starlette's ``AuthenticationMiddleware``."""
        return self.request.user

    @property
    def scope_extra(self) -> dict[str, Any] | None:
        """Front-door flags (the TestClient's ``raise_server_exceptions``)."""
        return self.request.scope_extra

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered (``Sec-WebSocket-Protocol``), in its order."""
        out: list[str] = []
        for name, value in self.request.raw_headers:
            if name == b"sec-websocket-protocol":
                out.extend(p.strip() for p in value.decode("latin-1").split(",") if p.strip())
        return out

    @property
    def scope(self) -> dict[str, Any]:
        """An ASGI-style ``websocket`` scope, for code written against Starlette's WebSocket; writes change
        the handshake request, as ``request.scope``'s do."""
        from fulmen.request_scope import RequestScope

        # A plain copy to describe the WebSocket: these edits are not changes to the request.
        scope = dict(self.request.scope)
        scope["type"] = "websocket"
        scope.pop("method", None)
        scope.pop("route", None)  # an HTTP route on the same path; the WebSocket route is looked up here
        scope.pop("endpoint", None)
        if self.app is not None:
            route = self.app._matched_route(self.request, websocket=True)
            if route is not None:
                scope["route"] = route
                scope["endpoint"] = route.endpoint
        scope["subprotocols"] = self.subprotocols
        return RequestScope(self.request, scope)

    def __getitem__(self, key: str) -> Any:
        return self.scope[key]

    # A read-only mapping over the scope, as Starlette's WebSocket is (``"key" in websocket``, ``dict(...)``),
    # compared and hashed by identity as Starlette's.
    def __iter__(self) -> Iterator[str]:
        return iter(self.scope)

    def __len__(self) -> int:
        return len(self.scope)

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        """The absolute URL of the route called ``name``."""
        return self.request.url_for(name, **path_params)

    # -- messages ----------------------------------------------------------------------------------------
    async def receive(self) -> Message:
        """The next ASGI message from the client (``websocket.connect``/``receive``/``disconnect``)."""
        state = self.client_state
        if state is WebSocketState.CONNECTED:
            message = await self._receive()
            kind = message["type"]
            if kind == _RECEIVE:
                return message
            if kind == _DISCONNECT:
                self.client_state = WebSocketState.DISCONNECTED
                return message
            raise RuntimeError(
                f'Expected ASGI message "websocket.receive" or "websocket.disconnect", but got {kind!r}'
            )
        if state is WebSocketState.CONNECTING:
            message = await self._receive()
            if message["type"] != _CONNECT:
                raise RuntimeError(f'Expected ASGI message "websocket.connect", but got {message["type"]!r}')
            self.client_state = WebSocketState.CONNECTED
            return message
        raise WebSocketDisconnected('Cannot call "receive" once a disconnect message has been received.')

    async def send(self, message: Message) -> None:
        """Send one ASGI message to the client, checking it fits the connection's state."""
        state = self.application_state
        kind = message["type"]
        if state is WebSocketState.CONNECTED:
            if kind != _SEND and kind != _CLOSE:
                raise RuntimeError(
                    f'Expected ASGI message "websocket.send" or "websocket.close", but got {kind!r}'
                )
            if kind == _CLOSE:
                self.application_state = WebSocketState.DISCONNECTED
            try:
                await self._send(message)
            except OSError:
                self.application_state = WebSocketState.DISCONNECTED
                raise disconnect_error(1006) from None
            return
        if state is WebSocketState.CONNECTING:
            if kind == _ACCEPT:
                self.application_state = WebSocketState.CONNECTED
            elif kind == _CLOSE:
                self.application_state = WebSocketState.DISCONNECTED
            elif kind == _RESPONSE_START:
                self.application_state = WebSocketState.RESPONSE
            else:
                raise RuntimeError(
                    'Expected ASGI message "websocket.accept", "websocket.close" or '
                    f'"websocket.http.response.start", but got {kind!r}'
                )
            await self._send(message)
            return
        if state is WebSocketState.RESPONSE:
            if kind != _RESPONSE_BODY:
                raise RuntimeError(f'Expected ASGI message "websocket.http.response.body", but got {kind!r}')
            if not message.get("more_body", False):
                self.application_state = WebSocketState.DISCONNECTED
            await self._send(message)
            return
        raise WebSocketDisconnected('Cannot call "send" once a close message has been sent.')

    async def accept(
        self, subprotocol: str | None = None, headers: Iterable[tuple[bytes, bytes]] | None = None
    ) -> None:
        """Complete the handshake, optionally choosing a subprotocol and adding response headers."""
        if self.client_state is WebSocketState.CONNECTING:
            await self.receive()  # the "websocket.connect" message comes first
        await self.send({"type": _ACCEPT, "subprotocol": subprotocol, "headers": list(headers or ())})

    def _check_connected(self) -> None:
        if self.application_state is not WebSocketState.CONNECTED:
            raise WebSocketDisconnected('WebSocket is not connected. Need to call "accept" first.')

    async def _data(self) -> Message:
        self._check_connected()
        message = await self.receive()
        if message["type"] == _DISCONNECT:
            raise disconnect_error(message.get("code", 1000), message.get("reason"))
        return message

    async def receive_text(self) -> str:
        """The next message as text; raises ``WebSocketDisconnect`` when the client has closed."""
        text: str = (await self._data())["text"]
        return text

    async def receive_bytes(self) -> bytes:
        """The next message as bytes; raises ``WebSocketDisconnect`` when the client has closed."""
        data: bytes = (await self._data())["bytes"]
        return data

    async def receive_json(self, mode: str = "text") -> Any:
        """The next message decoded as JSON (from a text frame, or a binary one with ``mode="binary"``)."""
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        message = await self._data()
        text = message["text"] if mode == "text" else message["bytes"].decode("utf-8")
        return json.loads(text)

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the client closes."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the client closes."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            pass

    async def iter_json(self) -> AsyncIterator[Any]:
        """JSON messages until the client closes."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            pass

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self.send({"type": _SEND, "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self.send({"type": _SEND, "bytes": data})

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as JSON (compact, UTF-8, as Starlette writes it) in a text or binary message."""
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            await self.send({"type": _SEND, "text": text})
        else:
            await self.send({"type": _SEND, "bytes": text.encode("utf-8")})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection (before ``accept`` this rejects the handshake: HTTP 403 on a real server)."""
        await self.send({"type": _CLOSE, "code": code, "reason": reason or ""})

    async def send_denial_response(self, response: Any) -> None:
        """Reject the handshake with an HTTP response (the ASGI "websocket.http.response" extension).

        Any response: a streamed or file response goes in chunks, a Starlette response sends itself; the
        background task runs after the body, as when the response answers an HTTP request.
        """
        from fulmen.responses import Response

        asgi_scope: dict[str, Any] | None = getattr(self.request, "_asgi_scope", None)
        if asgi_scope is not None and "websocket.http.response" not in (asgi_scope.get("extensions") or {}):
            raise RuntimeError("The server doesn't support the Websocket Denial Response extension.")
        if not isinstance(response, Response):  # Starlette's: it speaks the extension to a websocket scope
            await response(self.scope, self.receive, self.send)
            return
        if response.streaming:
            await self._send_streamed_denial(response)
            return
        await self.send(
            {"type": _RESPONSE_START, "status": response.status_code, "headers": response.raw_headers}
        )
        await self.send({"type": _RESPONSE_BODY, "body": response.body, "more_body": False})
        if response.background is not None:
            await response.background()

    async def _send_streamed_denial(self, response: Response) -> None:
        """A streamed response sent as for an HTTP request, its messages renamed to the extension's."""
        from fulmen.asgi import denial_send, never_disconnected, send_response

        await send_response(response, self.request, never_disconnected, denial_send(self.send))

    def __repr__(self) -> str:
        return f"<WebSocket {self.request.path} {self.application_state.name}>"


class WebSocketClose:
    """An ASGI-style callable closing a WebSocket with ``code`` (Starlette's ``WebSocketClose``)."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await send({"type": _CLOSE, "code": self.code, "reason": self.reason})


if not TYPE_CHECKING:  # a protocol for type checkers, an ABC at run time (fulmen.requests)
    HTTPConnection.register(WebSocket)

__all__ = ["WebSocket", "WebSocketClose", "WebSocketDisconnect", "WebSocketDisconnected", "WebSocketState"]
