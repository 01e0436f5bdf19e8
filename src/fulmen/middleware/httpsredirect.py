"""``HTTPSRedirectMiddleware``: redirect every ``http``/``ws`` request to ``https``/``wss`` (307).

The redirect keeps host, path and query; the port is dropped when it is 80 or 443. Behind a TLS-terminating
proxy the scheme fulmen sees is the proxy's, so use this middleware only where TLS ends in the server.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fulmen.datastructures import first_header, request_url, scope_url
from fulmen.middleware import ASGIApp, Handle, Receive, Scope, Send
from fulmen.middleware._asgi import send_response
from fulmen.requests import Request
from fulmen.responses import PlainTextResponse, RedirectResponse, Response

_SECURE = {"http": "https", "ws": "wss"}


def _redirect(url: str, has_netloc: bool) -> Response:
    if not has_netloc:
        return PlainTextResponse("Invalid host header", status_code=400)
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.port in (80, 443):
        netloc = parts.hostname or ""
    return RedirectResponse(parts._replace(scheme=_SECURE[parts.scheme], netloc=netloc).geturl(), 307)


class HTTPSRedirectMiddleware:
    """Redirect plain-HTTP requests to HTTPS (as Starlette's)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    # -- native path ---------------------------------------------------------------------------------------
    def wrap_handle(self, handle: Handle) -> Handle:
        """Natively: redirect ``http`` requests, pass ``https`` ones to ``handle``."""

        async def https_redirect(request: Request) -> Response:
            if request.scheme not in _SECURE:
                return await handle(request)
            host = first_header(request.raw_headers, b"host")
            url, has_netloc = request_url(
                request.scheme,
                None if host is None else host.decode("latin-1"),
                request.server,
                request.root_path + request.path,
                request.query_string,
            )
            return _redirect(url, has_netloc)

        return https_redirect

    # -- ASGI path -----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope["scheme"] in _SECURE:
            await send_response(_redirect(*scope_url(scope)), scope, send)
        else:
            await self.app(scope, receive, send)
