"""``RequestIdMiddleware``: one ID per request, taken from ``X-Request-ID`` or made, everywhere it is needed.

The ID is read from the request header (when it is trusted and valid) or generated (``uuid4().hex``), then
put on the response header, in the ``request_id`` contextvar (handlers, dependencies and their ``yield``
exits, background tasks, ``def`` code in the thread pool), on ``request.state.request_id``, on log records
through ``RequestIdFilter`` and in the engine's access log line. An incoming value that fails validation is
replaced, never echoed: it would otherwise reach logs and response headers as the client wrote it.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from os import urandom
from typing import TYPE_CHECKING, Any

from fulmen.datastructures import first_header
from fulmen.middleware import ASGIApp, Handle, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from fulmen.requests import Request
    from fulmen.responses import Response

logger = logging.getLogger("fulmen.requestid")

#: The current request's ID (None outside a request served through ``RequestIdMiddleware``).
request_id: ContextVar[str | None] = ContextVar("fulmen.request_id", default=None)
#: ``(lower-case name, name, value)`` of the header the current request's 500 answer is to carry.
_answer_header: ContextVar[tuple[bytes, bytes, bytes] | None] = ContextVar(
    "fulmen.request_id_header", default=None
)

#: What a valid incoming ID looks like by default: 1 to 128 visible characters that need no quoting in a
#: header or a log line (UUIDs, hex, ULIDs, nginx's ``$request_id``, base64, ``Root=1-...`` trace IDs).
DEFAULT_MAX_LENGTH = 128
_ID_CHARS = rb"[A-Za-z0-9._~:+/=@-]"
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 field-name

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def get_request_id() -> str | None:
    """The current request's ID, or None outside a request (the same as ``request_id.get()``)."""
    return request_id.get()


# uuid4's version (4) and variant (10xx) bits, placed as uuid.UUID(bytes=..., version=4) places them.
_UUID4_KEEP = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def _new_id() -> str:
    """``uuid.uuid4().hex``: the same 32 hex digits from the same source, without the UUID object."""
    # PERF: about a third of uuid4().hex's cost (no UUID instance, no version checks).
    return "%032x" % ((int.from_bytes(urandom(16), "big") & _UUID4_KEEP) | _UUID4_SET)


def _trusted_networks(trust: bool | str | Sequence[str]) -> tuple[bool, tuple[_Net, ...]]:
    """``(everyone, networks)`` from ``trust_incoming``; a wrong entry is a ValueError at start-up."""
    if trust is True:
        return True, ()
    if trust is False:
        return False, ()
    items = [trust] if isinstance(trust, str) else list(trust)
    networks: list[_Net] = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"RequestIdMiddleware: trust_incoming entries must be strings, got {item!r}")
        text = item.strip()
        if text == "*":
            return True, ()
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(
                f"RequestIdMiddleware: trust_incoming entry {item!r} is not an IP address, a CIDR network or "
                "'*' (host names are not resolved)"
            ) from None
    return False, tuple(networks)


class RequestIdMiddleware:
    """Give each request an ID: the trusted, valid ``X-Request-ID`` it came with, or a new one.

    Options match asgi-correlation-id's ``CorrelationIdMiddleware`` where they overlap (``header_name``,
    ``update_request_header``, ``generator``, ``validator``); ``trust_incoming`` and ``max_length`` are
    fulmen's.
    """

    def __init__(
        self,
        app: ASGIApp,
        header_name: str = "X-Request-ID",
        update_request_header: bool = True,
        generator: Callable[[], str] = _new_id,
        validator: Callable[[str], bool] | None = None,
        *,
        trust_incoming: bool | str | Sequence[str] = True,
        max_length: int = DEFAULT_MAX_LENGTH,
    ) -> None:
        if not isinstance(header_name, str) or not _TOKEN.fullmatch(header_name):
            raise ValueError(
                f"RequestIdMiddleware: header_name must be an HTTP header name, got {header_name!r}"
            )
        if not callable(generator):
            raise TypeError(
                f"RequestIdMiddleware: generator must be a callable returning a str, got {generator!r}"
            )
        if validator is not None and not callable(validator):
            raise TypeError(f"RequestIdMiddleware: validator must be a callable or None, got {validator!r}")
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"RequestIdMiddleware: max_length must be a positive int, got {max_length!r}")
        self.app = app
        self.header_name = header_name
        self.update_request_header = update_request_header
        self.generator = generator
        self.validator = validator
        self.max_length = max_length
        self.trust_all, self.trusted_networks = _trusted_networks(trust_incoming)
        self._name = header_name.lower().encode("latin-1")
        self._header = header_name.encode("latin-1")
        # Decided once: a request never reads the header when nothing it says would be believed.
        self._reads = self.trust_all or bool(self.trusted_networks)
        self._valid_bytes = re.compile(_ID_CHARS + rb"{1,%d}" % max_length).fullmatch
        self._trust_cache: dict[str, bool] = {}

    # -- the decision, shared by both paths ---------------------------------------------------------------
    def _trusts(self, client: Any) -> bool:
        """True when the request's client may supply the ID (``trust_incoming``)."""
        if self.trust_all:
            return True
        if not self.trusted_networks or not client:
            return False
        host = client[0]
        known = self._trust_cache.get(host)
        if known is None:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                known = False  # "testclient", unix sockets, garbage: never trusted
            else:
                known = any(ip in net for net in self.trusted_networks)
            if len(self._trust_cache) < 4096:  # bounded: a flood of new clients only recomputes
                self._trust_cache[host] = known
        return known

    def _valid(self, raw: bytes) -> bool:
        if self._valid_bytes(raw) is None:
            return False
        validator = self.validator
        return validator is None or bool(validator(raw.decode("ascii")))

    def choose(self, raw: bytes | None, client: Any) -> tuple[str, bool]:
        """``(id, taken)``: the incoming value when trusted and valid (taken=True), else a new ID."""
        if raw is not None and self._reads and self._trusts(client):
            if self._valid(raw):
                return raw.decode("ascii"), True
            if raw:  # an empty header is a missing one (as asgi-correlation-id has it), not worth a log line
                logger.info("Replaced an invalid %s request header with a new request ID", self.header_name)
        value = self.generator()
        if not isinstance(value, str):
            raise TypeError(f"RequestIdMiddleware: generator returned {type(value).__name__}, not str")
        return value, False

    def _rewrite(self, raw_headers: list[tuple[bytes, bytes]], value: bytes) -> None:
        """Make the request's own header say the ID in use (``update_request_header``)."""
        name = self._name
        raw_headers[:] = [pair for pair in raw_headers if pair[0] != name]
        raw_headers.append((name, value))

    # -- native path ---------------------------------------------------------------------------------------
    def wrap_handle(self, handle: Handle) -> Handle:
        """Natively: choose the ID, publish it, call ``handle``, stamp the response."""
        name = self._name
        header = self._header
        choose = self.choose
        generator = self.generator
        update = self.update_request_header
        rewrite = self._rewrite

        async def with_request_id(request: Request) -> Response:
            raw_in = request.raw_headers
            raw = first_header(raw_in, name)
            if raw is None:
                # PERF: no incoming ID (most requests): generate inline, skip choose()'s trust and checks.
                rid = generator()
                if type(rid) is not str:
                    rid, _ = choose(None, None)  # raises the TypeError naming the generator
                value = rid.encode("latin-1")
                if update:
                    if type(raw_in) is not list:
                        request.raw_headers = raw_in = list(raw_in)
                    raw_in.append((name, value))
                    request._headers = None  # parsed before (by an outer middleware): parse the new list
            else:
                rid, taken = choose(raw, request.client)
                value = rid.encode("latin-1")
                if update and not taken:
                    request.raw_headers = raw_in = list(raw_in)
                    rewrite(raw_in, value)
                    request._headers = None
            # Never reset: background tasks and ``yield`` exits run after the response, in this request's
            # context (every front door gives a request a context of its own), and must still see the ID.
            request_id.set(rid)
            _answer_header.set((name, header, value))
            # PERF: the State's dict directly; State.__setattr__ is a Python-level call.
            request.state._state["request_id"] = rid
            response = await handle(request)
            raw_out = response.raw_headers
            if first_header(raw_out, name) is None:  # a handler that set the header itself is believed
                raw_out.append((header, value))
            return response

        return with_request_id

    # -- ASGI path -----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        name = self._name
        header = self._header
        headers = scope.get("headers") or []
        rid, taken = self.choose(first_header(headers, name), scope.get("client"))
        value = rid.encode("latin-1")
        if self.update_request_header and not taken:
            rewritten = [(bytes(k), bytes(v)) for k, v in headers]
            self._rewrite(rewritten, value)
            scope["headers"] = rewritten
        request_id.set(rid)
        _answer_header.set((name, header, value))
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = rid
        if kind == "websocket":
            await self.app(scope, receive, send)
            return

        async def stamping_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = list(message.get("headers", ()))
                if first_header(out, name) is None:
                    out.append((header, value))
                message["headers"] = out
            await send(message)

        await self.app(scope, receive, stamping_send)


def stamp_error(response: Response) -> None:
    """Put the current request's ID on the 500 fulmen answers outside every middleware.

    Called by ``fulmen.middleware._stack`` only once this module is imported; Starlette's 500 would carry
    none of the middleware's headers, but the ID is what the client needs to report exactly that failure.
    """
    pending = _answer_header.get()
    if pending is None:
        return
    name, header, value = pending
    if first_header(response.raw_headers, name) is None:
        response.raw_headers.append((header, value))


class RequestIdFilter(logging.Filter):
    """A logging filter that adds ``record.request_id`` (``default_value`` outside a request); never drops.

    Attach it to a handler and use ``%(request_id)s`` in the format (asgi-correlation-id's
    ``CorrelationIdFilter`` sets ``correlation_id`` the same way).
    """

    def __init__(
        self, name: str = "", default_value: str | None = None, max_length: int | None = None
    ) -> None:
        super().__init__(name)
        self.default_value = default_value
        self.max_length = max_length

    def filter(self, record: logging.LogRecord) -> bool:
        """Set ``record.request_id``; a record that has one already (the access log's) keeps it."""
        if getattr(record, "request_id", None) is None:
            rid = request_id.get()
            if rid is None:
                rid = self.default_value
            elif self.max_length is not None:
                rid = rid[: self.max_length]
            record.request_id = rid
        return True


__all__ = [
    "DEFAULT_MAX_LENGTH",
    "RequestIdFilter",
    "RequestIdMiddleware",
    "get_request_id",
    "request_id",
    "stamp_error",
]
