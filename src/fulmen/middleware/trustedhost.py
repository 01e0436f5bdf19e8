"""``TrustedHostMiddleware``: answer 400 "Invalid host header" unless the Host is one of ``allowed_hosts``.

Patterns are exact host names or ``*.example.com`` wildcards (which match sub-domains only); ``"*"`` allows
every host, and then the middleware is not in the request path at all. With ``www_redirect`` (the default), a
request for ``example.com`` when only ``www.example.com`` is allowed is redirected there (307).
"""

from __future__ import annotations

from collections.abc import Sequence

from fulmen.datastructures import first_header, parse_host, request_url, scope_url
from fulmen.middleware import ASGIApp, Handle, Receive, Scope, Send
from fulmen.middleware._asgi import send_response
from fulmen.requests import Request
from fulmen.responses import PlainTextResponse, RedirectResponse, Response

ENFORCE_DOMAIN_WILDCARD = "Domain wildcard patterns must be like '*.example.com'."


class TrustedHostMiddleware:
    """Reject requests whose Host header is not allowed (options as Starlette's)."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: Sequence[str] | None = None, www_redirect: bool = True
    ) -> None:
        if allowed_hosts is None:
            allowed_hosts = ["*"]
        for pattern in allowed_hosts:
            if "*" in pattern[1:] or (pattern.startswith("*") and pattern != "*" and pattern[:2] != "*."):
                raise AssertionError(ENFORCE_DOMAIN_WILDCARD)  # Starlette asserts; same exception type
        self.app = app
        self.allowed_hosts = [pattern.lower() for pattern in allowed_hosts]
        self.allow_any = "*" in allowed_hosts
        self.www_redirect = www_redirect

    def _verdict(self, host_header: bytes | None) -> bool | str | None:
        """True if allowed; "www" for a www redirect; None for "Invalid host header"."""
        parsed = parse_host(None if host_header is None else host_header.decode("latin-1"))
        if parsed is None:
            return None
        host = parsed[0].lower()
        www = False
        for pattern in self.allowed_hosts:
            if host == pattern or (pattern[:1] == "*" and host.endswith(pattern[1:])):
                return True
            if "www." + host == pattern:
                www = True
        return "www" if www and self.www_redirect else None

    @staticmethod
    def _www_redirect(url: str) -> Response:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return RedirectResponse(parts._replace(netloc="www." + parts.netloc).geturl())

    # -- native path ---------------------------------------------------------------------------------------
    def wrap_handle(self, handle: Handle) -> Handle:
        """Natively: ``handle`` itself when every host is allowed, else a check before it."""
        if self.allow_any:
            return handle  # PERF: nothing to check, nothing in the request path
        verdict = self._verdict

        async def trusted_host(request: Request) -> Response:
            host = first_header(request.raw_headers, b"host")
            ok = verdict(host)
            if ok is True:
                return await handle(request)
            if ok is None:
                return PlainTextResponse("Invalid host header", status_code=400)
            url, _ = request_url(
                request.scheme,
                None if host is None else host.decode("latin-1"),
                request.server,
                request.root_path + request.path,
                request.query_string,
            )
            return self._www_redirect(url)

        return trusted_host

    # -- ASGI path -----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        ok = self._verdict(first_header(scope["headers"], b"host"))
        if ok is True:
            await self.app(scope, receive, send)
            return
        response: Response
        if ok is None:
            response = PlainTextResponse("Invalid host header", status_code=400)
        else:
            response = self._www_redirect(scope_url(scope)[0])
        await send_response(response, scope, send)
