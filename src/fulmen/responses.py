"""Responses: status, headers and a body, shaped like Starlette's so FastAPI code keeps working.

A response holds its final header list (``raw_headers``, content-length included) and body bytes; both front
doors write exactly that, so the engine and ASGI can never disagree on what a response is.
"""

from __future__ import annotations

import http.cookies
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from fulmen.datastructures import MutableHeaders
from fulmen.encoders import encode_json_plain

if TYPE_CHECKING:
    from fulmen.background import BackgroundTask

_NO_BODY_STATUSES = frozenset({204, 304})


class Response:
    """A response with a body given as bytes or str (``media_type`` sets the content type)."""

    media_type: str | None = None
    charset = "utf-8"

    __slots__ = ("background", "body", "raw_headers", "status_code")

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        self.status_code = status_code
        self.background = background
        self.body = self.render(content)
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.init_headers(headers, media_type if media_type is not None else self.media_type)

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into body bytes (overridden by JSON and other subclasses)."""
        if content is None:
            return b""
        if isinstance(content, (bytes, memoryview)):
            return bytes(content)
        return str(content).encode(self.charset)

    def init_headers(self, headers: Mapping[str, str] | None, media_type: str | None) -> None:
        """Build the raw header list: the given headers, then content-length and content-type if missing."""
        raw = self.raw_headers
        has_length = has_type = False
        if headers:
            for k, v in headers.items():
                name = k.lower()
                raw.append((name.encode("latin-1"), v.encode("latin-1")))
                if name == "content-length":
                    has_length = True
                elif name == "content-type":
                    has_type = True
        status = self.status_code
        if not has_length and not (status < 200 or status in _NO_BODY_STATUSES):
            raw.append((b"content-length", str(len(self.body)).encode("latin-1")))
        if media_type is not None and not has_type:
            if media_type.startswith("text/") and "charset=" not in media_type.lower():
                media_type += "; charset=" + self.charset
            raw.append((b"content-type", media_type.encode("latin-1")))

    @property
    def headers(self) -> MutableHeaders:
        """The response headers, editable in place."""
        return MutableHeaders(raw=self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | str | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` header (several cookies give several header lines)."""
        jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        jar[key] = value
        morsel = jar[key]
        if max_age is not None:
            morsel["max-age"] = max_age
        if expires is not None:
            morsel["expires"] = (
                format_datetime(expires, usegmt=True) if isinstance(expires, datetime) else expires
            )
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            if samesite.lower() not in ("strict", "lax", "none"):
                raise ValueError("samesite must be either 'strict', 'lax' or 'none'")
            morsel["samesite"] = samesite
        line = jar.output(header="").strip()
        if partitioned:
            line += "; Partitioned"
        self.raw_headers.append((b"set-cookie", line.encode("latin-1")))

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Expire a cookie in the client."""
        self.set_cookie(
            key,
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class JSONResponse(Response):
    """A JSON response; ``content`` must already be JSON-compatible data (as in Starlette)."""

    media_type = "application/json"
    __slots__ = ()

    def render(self, content: Any) -> bytes:
        return encode_json_plain(content)


class PlainTextResponse(Response):
    """A ``text/plain`` response."""

    media_type = "text/plain"
    __slots__ = ()


class HTMLResponse(Response):
    """A ``text/html`` response."""

    media_type = "text/html"
    __slots__ = ()


class RedirectResponse(Response):
    """A redirect (307 by default) to ``url``."""

    __slots__ = ()

    def __init__(
        self,
        url: str | Any,
        status_code: int = 307,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content=b"", status_code=status_code, headers=headers, background=background)
        self.raw_headers.append((b"location", quote(str(url), safe=":/%#?=@[]!$&'()*+,;").encode("latin-1")))
