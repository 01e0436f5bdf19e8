"""``CORSMiddleware``: Cross-Origin Resource Sharing, with Starlette's options, headers and status codes.

Preflight requests (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are answered here: 200
"OK" when origin, method and headers are allowed, else 400 "Disallowed CORS ...". Other requests go to the app
and get the CORS headers added to the response; ``Vary: Origin`` is always added. Every constant header is
encoded once, at construction, so the native path of a simple request with an allowed ``Origin`` costs a scan
of the request headers, a scan of the response headers and a list extend.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from fulmen.datastructures import MutableHeaders, first_header
from fulmen.middleware import ASGIApp, Handle, Message, Receive, Scope, Send
from fulmen.middleware._asgi import send_response
from fulmen.requests import Request
from fulmen.responses import PlainTextResponse, Response

ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY")
SAFELISTED_HEADERS = {"Accept", "Accept-Language", "Content-Language", "Content-Type"}

_ACAO = b"access-control-allow-origin"
_VARY = b"vary"
_VARY_ORIGIN = (_VARY, b"Origin")
_PREFLIGHT_VARY = (
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
    "Access-Control-Request-Private-Network"
)


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class CORSMiddleware:
    """Answer CORS preflights and add CORS headers to responses (options as Starlette's)."""

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Collection[str] = (),
        allow_methods: Collection[str] = ("GET",),
        allow_headers: Collection[str] = (),
        allow_credentials: bool = False,
        allow_origin_regex: str | None = None,
        allow_private_network: bool = False,
        expose_headers: Collection[str] = (),
        max_age: int = 600,
    ) -> None:
        self.app = app
        if "*" in allow_methods:
            allow_methods = ALL_METHODS
        self.allow_origins = allow_origins
        self.allow_methods = allow_methods
        self.allow_all_origins = "*" in allow_origins
        self.allow_all_headers = "*" in allow_headers
        self.allow_credentials = allow_credentials
        self.allow_private_network = allow_private_network
        self.allow_origin_regex = None if allow_origin_regex is None else re.compile(allow_origin_regex)
        # The origin is echoed unless every origin is allowed without credentials ("*" is then enough).
        self.preflight_explicit_allow_origin = not self.allow_all_origins or allow_credentials
        header_names = sorted(SAFELISTED_HEADERS | set(allow_headers))
        self.allow_headers = [h.lower() for h in header_names]

        simple: dict[str, str] = {}
        if self.allow_all_origins:
            simple["Access-Control-Allow-Origin"] = "*"
        if allow_credentials:
            simple["Access-Control-Allow-Credentials"] = "true"
        if expose_headers:
            simple["Access-Control-Expose-Headers"] = ", ".join(expose_headers)
        self.simple_headers = simple

        preflight: dict[str, str] = {"Vary": _PREFLIGHT_VARY}
        if not self.preflight_explicit_allow_origin:
            preflight["Access-Control-Allow-Origin"] = "*"
        preflight["Access-Control-Allow-Methods"] = ", ".join(allow_methods)
        preflight["Access-Control-Max-Age"] = str(max_age)
        if header_names and not self.allow_all_headers:
            preflight["Access-Control-Allow-Headers"] = ", ".join(header_names)
        if allow_credentials:
            preflight["Access-Control-Allow-Credentials"] = "true"
        self.preflight_headers = preflight

        # Pre-encoded for the response path (DESIGN.md §3.1).
        self._simple_raw = _raw(simple)
        self._simple_raw_no_acao = [h for h in self._simple_raw if h[0] != _ACAO]
        self._watched = frozenset({_VARY, _ACAO, *(k for k, _ in self._simple_raw)})
        self._echo_any = self.allow_all_origins and allow_credentials
        self._allowed_raw = frozenset(o.encode("latin-1") for o in allow_origins if o != "*")

    # -- decisions shared by both paths --------------------------------------------------------------------
    def is_allowed_origin(self, origin: str) -> bool:
        """True when ``origin`` is allowed (``*``, the regex or the list)."""
        if self.allow_all_origins:
            return True
        if self.allow_origin_regex is not None and self.allow_origin_regex.fullmatch(origin):
            return True
        return origin in self.allow_origins

    def _echoes(self, origin: bytes) -> bool:
        """Whether a simple response carries ``Access-Control-Allow-Origin: <origin>``."""
        if self._echo_any:
            return True
        if self.allow_all_origins:
            return False
        if origin in self._allowed_raw:
            return True
        regex = self.allow_origin_regex
        return regex is not None and regex.fullmatch(origin.decode("latin-1")) is not None

    def preflight_response(
        self, origin: str, method: str, requested_headers: str | None, private_network: str | None
    ) -> Response:
        """The answer to a preflight request: 200 "OK" or 400 naming what is not allowed."""
        headers = dict(self.preflight_headers)
        failures: list[str] = []
        if self.is_allowed_origin(origin):
            if self.preflight_explicit_allow_origin:
                headers["Access-Control-Allow-Origin"] = origin
        else:
            failures.append("origin")
        if method not in self.allow_methods:
            failures.append("method")
        if self.allow_all_headers and requested_headers is not None:
            headers["Access-Control-Allow-Headers"] = requested_headers  # mirror what was asked
        elif requested_headers is not None:
            allowed = self.allow_headers
            if any(h.strip() not in allowed for h in requested_headers.lower().split(",")):
                failures.append("headers")
        if private_network is not None:
            if self.allow_private_network:
                headers["Access-Control-Allow-Private-Network"] = "true"
            else:
                failures.append("private-network")
        if failures:
            return PlainTextResponse(
                "Disallowed CORS " + ", ".join(failures), status_code=400, headers=headers
            )
        return PlainTextResponse("OK", status_code=200, headers=headers)

    def _preflight_from_raw(self, raw: Sequence[Sequence[bytes]], origin: bytes) -> Response | None:
        method = first_header(raw, b"access-control-request-method")
        if method is None:
            return None
        requested = first_header(raw, b"access-control-request-headers")
        private = first_header(raw, b"access-control-request-private-network")
        return self.preflight_response(
            origin.decode("latin-1"),
            method.decode("latin-1"),
            None if requested is None else requested.decode("latin-1"),
            None if private is None else private.decode("latin-1"),
        )

    def add_headers(self, raw: list[tuple[bytes, bytes]], origin: bytes | None) -> None:
        """Add the CORS headers of a non-preflight response to its raw header list, in place."""
        for name, _ in raw:
            if name in self._watched:
                self._add_headers_merging(raw, origin)
                return
        # PERF: the usual response sets none of our headers: append pre-encoded pairs, no lookups.
        if origin is not None:
            if self._echoes(origin):
                raw += self._simple_raw_no_acao
                raw.append((_ACAO, origin))
            else:
                raw += self._simple_raw
        raw.append(_VARY_ORIGIN)

    def _add_headers_merging(self, raw: list[tuple[bytes, bytes]], origin: bytes | None) -> None:
        # The response already has Vary or one of our headers: ours replace theirs, Vary values are joined.
        headers = MutableHeaders(raw=raw)
        if origin is not None:
            headers.update(self.simple_headers)
            if self._echoes(origin):
                headers["Access-Control-Allow-Origin"] = origin.decode("latin-1")
        headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])

    # -- native path ---------------------------------------------------------------------------------------
    def wrap_handle(self, handle: Handle) -> Handle:
        """Natively: answer preflights, else call ``handle`` and add the headers to its response."""
        preflight = self._preflight_from_raw
        merging = self._add_headers_merging
        echoes = self._echoes
        watched = self._watched
        simple = self._simple_raw
        simple_echo = self._simple_raw_no_acao
        # Whether an origin is echoed, per Origin value seen (bounded: origins come from clients).
        echo_cache: dict[bytes, bool] = {}

        async def cors(request: Request) -> Response:
            origin = None
            for name, value in request.raw_headers:
                if name == b"origin":
                    origin = value
                    break
            if origin is not None and request.method == "OPTIONS":
                answer = preflight(request.raw_headers, origin)
                if answer is not None:
                    return answer
            response = await handle(request)
            raw = response.raw_headers
            for name, _ in raw:
                if name in watched:
                    merging(raw, origin)
                    return response
            # PERF: the usual response sets none of our headers: pre-encoded pairs are appended, the
            # origin decision is a dict lookup (add_headers does the same, unrolled here for speed).
            if origin is not None:
                echo = echo_cache.get(origin)
                if echo is None:
                    echo = echoes(origin)
                    if len(echo_cache) < 1024:
                        echo_cache[origin] = echo
                if echo:
                    raw += simple_echo
                    raw.append((_ACAO, origin))
                else:
                    raw += simple
            raw.append(_VARY_ORIGIN)
            return response

        return cors

    # -- ASGI path -----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope["headers"]
        origin = first_header(raw, b"origin")
        if origin is not None and scope["method"] == "OPTIONS":
            answer = self._preflight_from_raw(raw, origin)
            if answer is not None:
                await send_response(answer, scope, send)
                return
        add_headers = self.add_headers

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
                add_headers(headers, None if origin is None else bytes(origin))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_cors)
