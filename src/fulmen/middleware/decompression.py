"""``RequestDecompressionMiddleware``: accept request bodies sent with ``Content-Encoding`` zstd, br or gzip.

Opt-in. The body is decoded as it is read, with every limit applied to the *decoded* size: the middleware's
own ``max_body_size`` and the app's and routes' ``max_body_size`` (docs/limits.md), so a small compressed
body that expands past them (a "zip bomb") is a 413, found while decoding, never held in memory. A coding
the server doesn't decode is a 415 that lists the ones it does (``Accept-Encoding``, RFC 9110 §12.5.3); a
body that isn't valid in its coding is a 400. See docs/compression.md.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from fulmen.exceptions import HTTPException
from fulmen.limits import ContentTooLarge
from fulmen.middleware import ASGIApp, Handle, Message, Receive, Scope, Send
from fulmen.middleware._codecs import ENCODINGS
from fulmen.requests import Request
from fulmen.responses import JSONResponse, Response

__all__ = ["RequestDecompressionMiddleware"]

#: HTTP's zstd window limit (RFC 9659): a frame asking for more is refused, not given 128 MB.
_ZSTD_MAX_WINDOW = 8 * 1024 * 1024
# zstandard's decompressobj has no output bound; fed this much at a time, one call yields at most ~4 MB
# (an RLE block turns 4 bytes into 128 KB), so an over-limit body is caught after at most that much more.
_ZSTD_SLICE = 128
_UNLIMITED = 1 << 62


class _Decoder(Protocol):
    def feed(self, data: bytes, limit: int) -> bytes:
        """Decode ``data``; stop early once more than ``limit`` bytes came out (the caller then gives up)."""

    def end(self, limit: int) -> bytes:
        """The last bytes, or ValueError when the stream is incomplete."""


class _GzipDecoder:
    __slots__ = ("_d",)

    def __init__(self) -> None:
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, limit: int) -> bytes:
        parts = []
        size = 0
        while data and size <= limit:
            piece = self._d.decompress(data, limit + 1 - size)
            parts.append(piece)
            size += len(piece)
            if self._d.eof:
                data = self._d.unused_data
                if data:
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # a next member (RFC 1952 allows it)
            else:
                data = self._d.unconsumed_tail
        return b"".join(parts)

    def end(self, limit: int) -> bytes:
        # At most what the consumed input still holds (flush's argument is a buffer size, not a bound).
        tail = self._d.flush()
        if not self._d.eof:
            raise ValueError("truncated")
        return tail


class _BrotliDecoder:
    __slots__ = ("_d",)

    def __init__(self, brotli: Any) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes, limit: int) -> bytes:
        d = self._d
        parts = [d.process(data, output_buffer_limit=limit + 1)]
        size = len(parts[0])
        while size <= limit and not d.can_accept_more_data():
            piece = d.process(b"", output_buffer_limit=limit + 1 - size)
            parts.append(piece)
            size += len(piece)
        return b"".join(parts)

    def end(self, limit: int) -> bytes:
        if not self._d.is_finished():
            raise ValueError("truncated")
        return b""


class _ZstdDecoder:
    """zstd frames, one after another (RFC 8878 allows several); ``new`` makes the library's decompressor."""

    __slots__ = ("_d", "_new")

    def __init__(self, new: Callable[[], Any]) -> None:
        self._new = new
        self._d = new()

    def end(self, limit: int) -> bytes:
        if not self._d.eof:
            raise ValueError("truncated")
        return b""


class _ZstandardDecoder(_ZstdDecoder):
    """Over ``zstandard``, whose ``decompress`` can't bound its output: input goes in small slices."""

    __slots__ = ()

    def __init__(self, zstandard: Any) -> None:
        super().__init__(lambda: zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).decompressobj())

    def feed(self, data: bytes, limit: int) -> bytes:
        parts = []
        size = 0
        view = memoryview(data)
        for start in range(0, len(data), _ZSTD_SLICE):
            piece = bytes(view[start : start + _ZSTD_SLICE])
            while piece:
                out = self._d.decompress(piece)
                parts.append(out)
                size += len(out)
                piece = b""
                if self._d.eof and self._d.unused_data:
                    piece = self._d.unused_data  # a next frame
                    self._d = self._new()
            if size > limit:
                break
        return b"".join(parts)


class _StdlibZstdDecoder(_ZstdDecoder):
    """Over ``compression.zstd`` (Python 3.14+), whose ``decompress`` bounds its output as zlib's does."""

    __slots__ = ()

    def __init__(self, zstd: Any) -> None:
        options = {zstd.DecompressionParameter.window_log_max: _ZSTD_MAX_WINDOW.bit_length() - 1}
        super().__init__(lambda: zstd.ZstdDecompressor(options=options))

    def feed(self, data: bytes, limit: int) -> bytes:
        parts = []
        size = 0
        while size <= limit:
            piece = self._d.decompress(data, limit + 1 - size)
            parts.append(piece)
            size += len(piece)
            data = b""
            if self._d.eof:
                if not self._d.unused_data:
                    break
                data = self._d.unused_data
                self._d = self._new()
            elif self._d.needs_input:
                break
        return b"".join(parts)


def _decoder_factory(name: str) -> Callable[[], _Decoder]:
    """A factory of decoders for ``name`` (ImportError naming the extra when its library is missing)."""
    hint = 'pip install "fulmen[compression]"'
    if name == "gzip":
        return _GzipDecoder
    if name == "br":
        try:
            brotli = importlib.import_module("brotli")
        except ImportError:
            raise ImportError(f"br decompression needs the brotli package: {hint}") from None
        return lambda: _BrotliDecoder(brotli)
    try:
        zstandard = importlib.import_module("zstandard")
    except ImportError:
        try:
            stdlib = importlib.import_module("compression.zstd")
        except ImportError:
            raise ImportError(
                f"zstd decompression needs the zstandard package (or Python 3.14+): {hint}"
            ) from None
        return lambda: _StdlibZstdDecoder(stdlib)
    return lambda: _ZstandardDecoder(zstandard)


class _DecodingReader:
    """A request body reader that decodes what the inner reader gives, under ``limit`` decoded bytes."""

    __slots__ = ("_decoder", "_done", "_limit", "_name", "_read", "_seen")

    def __init__(self, read: Callable[[], Any], decoder: _Decoder, limit: int, name: str) -> None:
        self._read = read
        self._decoder = decoder
        self._limit = limit
        self._name = name
        self._seen = 0
        self._done = False

    async def __call__(self) -> bytes:
        while not self._done:
            chunk: bytes = await self._read()
            remaining = self._limit - self._seen
            try:
                if chunk:
                    out = self._decoder.feed(chunk, remaining)
                else:
                    self._done = True
                    out = self._decoder.end(remaining)
            except Exception:  # zlib.error, brotli.error, ZstdError, ValueError("truncated")
                raise HTTPException(400, f"Request body is not valid {self._name} data") from None
            self._seen += len(out)
            if self._seen > self._limit:
                raise ContentTooLarge()
            if out:
                return out
        return b""


async def _empty() -> bytes:
    return b""


class RequestDecompressionMiddleware:
    """Decode request bodies sent with ``Content-Encoding: zstd``, ``br`` or ``gzip`` (also ``x-gzip``).

    ``max_body_size`` caps the decoded body (None: only the app's and routes' limits apply).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_size: int | None = 10 * 1024 * 1024,
        *,
        encodings: Sequence[str] = ENCODINGS,
    ) -> None:
        self.app = app
        if max_body_size is not None and (type(max_body_size) is not int or max_body_size < 0):
            raise ValueError(f"max_body_size must be an int >= 0 or None, got {max_body_size!r}")
        if isinstance(encodings, str):
            raise TypeError(f"encodings must be a sequence of names, not a str: ({encodings!r},)")
        for name in encodings:
            if name not in ENCODINGS:
                raise ValueError(f"unknown encoding {name!r}: choose from {', '.join(ENCODINGS)}")
        if not encodings:
            raise ValueError("encodings is empty: list at least one of " + ", ".join(ENCODINGS))
        self.max_body_size = max_body_size
        self.limit = _UNLIMITED if max_body_size is None else max_body_size
        self.decoders: Mapping[str, Callable[[], _Decoder]] = {n: _decoder_factory(n) for n in encodings}
        self.accepted = ", ".join(self.decoders)

    def _coding(self, raw: Sequence[Sequence[bytes]]) -> str | Response | None:
        """The request's coding: None (no Content-Encoding) or a name; a 415 response when unsupported."""
        value: bytes | None = None
        for name, v in raw:
            if name == b"content-encoding":
                value = v if value is None else value + b"," + v
        if value is None:
            return None
        codings = [c.strip().lower() for c in value.decode("latin-1").split(",")]
        codings = ["gzip" if c == "x-gzip" else c for c in codings if c and c != "identity"]
        if len(codings) == 1 and codings[0] in self.decoders:
            return codings[0]
        if not codings:
            return "identity"
        detail = f"Unsupported Content-Encoding: {', '.join(codings)}. Supported: {self.accepted}"
        return JSONResponse({"detail": detail}, status_code=415, headers={"Accept-Encoding": self.accepted})

    # -- native path ---------------------------------------------------------------------------------------
    def wrap_handle(self, handle: Handle) -> Handle:
        """Natively: swap the request's body reader for a decoding one when the body is encoded."""

        async def decompression(request: Request) -> Response:
            coding = self._coding(request.raw_headers)
            if coding is None:  # PERF: most requests: one scan of the headers
                return await handle(request)
            if isinstance(coding, Response):
                return coding
            # The app sees the decoded body: its headers no longer describe an encoding or its length.
            request.raw_headers = [
                (k, v) for k, v in request.raw_headers if k != b"content-encoding" and k != b"content-length"
            ]
            request._headers = None
            if coding != "identity":
                body = getattr(request, "_body", None)  # unset on a request built from an ASGI scope
                read = request._read_body
                if body is not None:

                    async def read_once() -> bytes:
                        nonlocal body
                        chunk, body = body or b"", b""
                        return chunk

                    read = read_once
                decoder = self.decoders[coding]()
                request._body = None
                request._read_body = _DecodingReader(read or _empty, decoder, self.limit, coding)
            return await handle(request)

        return decompression

    # -- ASGI path -----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding = self._coding(scope["headers"])
        if coding is None:
            await self.app(scope, receive, send)
            return
        if isinstance(coding, Response):
            await coding(scope, receive, send)
            return
        scope["headers"] = [
            (k, v) for k, v in scope["headers"] if k != b"content-encoding" and k != b"content-length"
        ]
        if coding == "identity":
            await self.app(scope, receive, send)
            return
        more = True

        async def next_chunk() -> bytes:
            nonlocal more
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    raise _Disconnected(message)
                more = bool(message.get("more_body", False))
                chunk: bytes = message.get("body", b"")
                if chunk or not more:
                    return chunk
            return b""

        reader = _DecodingReader(next_chunk, self.decoders[coding](), self.limit, coding)
        finished = False

        async def decoding_receive() -> Message:
            nonlocal finished
            if finished:
                return await receive()  # after the body: disconnect messages
            try:
                chunk = await reader()
            except _Disconnected as exc:
                return exc.message
            if not chunk:
                finished = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}

        await self.app(scope, decoding_receive, send)


class _Disconnected(Exception):
    """The client went away while the body was read: the inner app gets the disconnect message."""

    def __init__(self, message: Message) -> None:
        self.message = message
