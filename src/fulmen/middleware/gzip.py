"""``GZipMiddleware``: gzip response bodies for clients that accept it, with Starlette's rules.

A response is left alone when it already has a ``Content-Encoding``, is a 206, has an excluded content type
(images, audio, video, archives, event streams ... see ``DEFAULT_EXCLUDED_CONTENT_TYPES``) or a body under
``minimum_size`` bytes. Otherwise it gets ``Vary: Accept-Encoding`` and, when the request's
``Accept-Encoding`` mentions ``gzip``, a gzip body with ``Content-Encoding: gzip`` and the new length.
Bodies of ``thread_minimum_size`` bytes or more are compressed in the default thread pool, off the loop.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from typing import BinaryIO

from fulmen.datastructures import MutableHeaders, first_header
from fulmen.middleware import ASGIApp, Handle, Message, Receive, Scope, Send
from fulmen.requests import Request
from fulmen.responses import BodyWriter, Response

DEFAULT_EXCLUDED_CONTENT_TYPES = (
    "application/grpc",
    "application/gzip",
    "application/x-gzip",
    "application/zip",
    "audio/*",
    "font/woff",
    "font/woff2",
    "image/avif",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
    "text/event-stream",
    "video/*",
)


def _normalise(content_types: Sequence[str]) -> frozenset[str]:
    return frozenset(t.partition(";")[0].strip().lower() for t in content_types)


def _accepts_gzip(request: Request) -> bool:
    # As Starlette: a substring test on the first Accept-Encoding header (q-values are not parsed).
    accept = first_header(request.raw_headers, b"accept-encoding")
    # PERF: find, not `in`: bytes `in` first tries the needle as an int and pays for a TypeError.
    return accept is not None and accept.find(b"gzip") >= 0


def _add_vary(headers: MutableHeaders) -> None:
    # Every Vary line joined into one, as Starlette does.
    headers["Vary"] = ", ".join([*headers.getlist("vary"), "Accept-Encoding"])


class GZipMiddleware:
    """Compress large enough responses with gzip when the client accepts it (options as Starlette's)."""

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = 500,
        compresslevel: int = 9,
        thread_minimum_size: int = 128 * 1024,
        *,
        exclude_content_types: Sequence[str] = DEFAULT_EXCLUDED_CONTENT_TYPES,
    ) -> None:
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.thread_minimum_size = thread_minimum_size
        self.exclude_content_types = _normalise(exclude_content_types)

    def _skips(self, status: int, raw: Sequence[Sequence[bytes]]) -> bool:
        """True when the response must pass untouched: already encoded, partial, or an excluded type."""
        if status == 206:
            return True
        content_type = b""
        for name, value in raw:
            if name == b"content-encoding":
                return True
            if name == b"content-type" and not content_type:
                content_type = value
        media = content_type.decode("latin-1").partition(";")[0].strip().lower()
        excluded = self.exclude_content_types
        if media in excluded or media.partition("/")[0] + "/*" in excluded:
            return True
        return media.startswith("application/grpc+") and "application/grpc" in excluded

    def _compressor(self) -> zlib._Compress:
        return zlib.compressobj(self.compresslevel, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    async def _compress(self, compressor: zlib._Compress, body: bytes, final: bool) -> bytes:
        def run() -> bytes:
            return compressor.compress(body) + compressor.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)

        if len(body) >= self.thread_minimum_size:
            return await asyncio.get_running_loop().run_in_executor(None, run)
        return run()

    # -- native path ---------------------------------------------------------------------------------------
    def wrap_handle(self, handle: Handle) -> Handle:
        """Natively: call ``handle``, then compress the body (in place, or as it streams) if allowed."""

        async def gzip(request: Request) -> Response:
            response = await handle(request)
            if response.streaming:  # PERF: a class attribute; plain responses skip this
                # Settle status and headers now (a FileResponse answers Range here), so the decision and its
                # headers come before those of outer middleware, as in Starlette.
                response = await response.prepare(request)
                if response.streaming:
                    return _CompressedStream(response, self, _accepts_gzip(request))
            return await self._encode(response, request)

        return gzip

    async def _encode(self, response: Response, request: Request) -> Response:
        body = response.body
        if len(body) < self.minimum_size or self._skips(response.status_code, response.raw_headers):
            return response
        headers = MutableHeaders(raw=response.raw_headers)
        _add_vary(headers)
        if _accepts_gzip(request):
            response.body = await self._compress(self._compressor(), body, True)
            headers["Content-Encoding"] = "gzip"
            headers["Content-Length"] = str(len(response.body))
        return response

    # -- ASGI path -----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accept = first_header(scope["headers"], b"accept-encoding")
        responder = _Responder(self, send, accept is not None and accept.find(b"gzip") >= 0)
        await self.app(scope, receive, responder.send)


class _Responder:
    """Per-request state of the ASGI path: holds the start message until the first body chunk decides."""

    __slots__ = ("compressor", "gzip", "middleware", "passthrough", "start", "started", "upstream")

    def __init__(self, middleware: GZipMiddleware, upstream: Send, gzip: bool) -> None:
        self.middleware = middleware
        self.upstream = upstream
        self.gzip = gzip
        self.start: Message | None = None
        self.passthrough = False
        self.started = False
        self.compressor: zlib._Compress | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        upstream = self.upstream
        if kind == "http.response.start":
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
            message["headers"] = headers
            self.start = message
            self.passthrough = self.middleware._skips(message["status"], headers)
            if self.passthrough:
                await upstream(message)
            return
        if self.passthrough or kind != "http.response.body":
            if kind == "http.response.pathsend" and not self.passthrough and self.start is not None:
                await upstream(self.start)  # a file sent by the server: never compressed
                self.start = None
            await upstream(message)
            return
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        start = self.start
        if self.started:
            if self.compressor is not None:
                message["body"] = await self.middleware._compress(self.compressor, body, not more)
            await upstream(message)
            return
        self.started = True
        assert start is not None, "http.response.body before http.response.start"
        if len(body) < self.middleware.minimum_size and not more:
            await upstream(start)
            await upstream(message)
            return
        out = MutableHeaders(raw=start["headers"])
        _add_vary(out)
        if self.gzip:
            self.compressor = self.middleware._compressor()
            message["body"] = await self.middleware._compress(self.compressor, body, not more)
            out["Content-Encoding"] = "gzip"
            if more:
                if "content-length" in out:
                    del out["Content-Length"]
            else:
                out["Content-Length"] = str(len(message["body"]))
        await upstream(start)
        await upstream(message)


_FILE_CHUNK = 64 * 1024


def _read_at(file: BinaryIO, offset: int, size: int) -> bytes:
    file.seek(offset)
    return file.read(size)


class FileThroughWriter:
    """Base of the compressing ``BodyWriter``s: a file's bytes go through ``write`` (no sendfile: the
    compressor must see them), read in chunks on the thread pool."""

    __slots__ = ()

    async def write(self, data: bytes) -> None:
        raise NotImplementedError

    async def write_file(self, file: BinaryIO, offset: int, count: int) -> None:
        loop = asyncio.get_running_loop()
        while count > 0:
            chunk = await loop.run_in_executor(None, _read_at, file, offset, min(count, _FILE_CHUNK))
            if not chunk:
                break
            offset += len(chunk)
            count -= len(chunk)
            await self.write(chunk)


class _GZipWriter(FileThroughWriter):
    """A ``BodyWriter`` that compresses what it is given before passing it on (one sync flush per chunk)."""

    __slots__ = ("compressor", "middleware", "writer")

    def __init__(self, writer: BodyWriter, compressor: zlib._Compress, middleware: GZipMiddleware) -> None:
        self.writer = writer
        self.compressor = compressor
        self.middleware = middleware

    async def write(self, data: bytes) -> None:
        out = await self.middleware._compress(self.compressor, data, False)
        if out:
            await self.writer.write(out)


class _CompressedStream(Response):
    """Native path for a prepared streamed response: compresses its body as it is written when the rules
    allow (Starlette compresses every streamed body: its size is unknown up front), else passes it on."""

    streaming = True
    __slots__ = ("_compress", "_inner", "_middleware")

    def __init__(self, inner: Response, middleware: GZipMiddleware, accepted: bool) -> None:
        self._inner = inner
        self._middleware = middleware
        self.status_code = inner.status_code
        self.raw_headers = inner.raw_headers  # the same list: header edits by outer middleware apply
        self.background = inner.background
        self._compress = False
        if middleware._skips(inner.status_code, inner.raw_headers):
            return
        headers = MutableHeaders(raw=inner.raw_headers)
        _add_vary(headers)
        if accepted:
            self._compress = True
            headers["Content-Encoding"] = "gzip"
            if "content-length" in headers:
                del headers["Content-Length"]

    async def prepare(self, request: Request) -> Response:
        # The inner response is prepared already (by the middleware); never prepare it twice.
        if self._compress:
            return self
        inner = self._inner
        inner.status_code = self.status_code
        inner.raw_headers = self.raw_headers
        inner.background = self.background
        return inner

    async def send_body(self, writer: BodyWriter) -> None:
        compressor = self._middleware._compressor()
        await self._inner.send_body(_GZipWriter(writer, compressor, self._middleware))
        tail = compressor.flush()
        if tail:
            await writer.write(tail)

    async def discard_body(self) -> None:
        await self._inner.discard_body()
