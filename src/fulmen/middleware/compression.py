"""``CompressionMiddleware``: zstd, Brotli or gzip response bodies, negotiated from ``Accept-Encoding``.

The coding is the one the client rates highest (RFC 9110 §12.5.3: q-values, ``*``, ``identity;q=0``,
``x-gzip``), ties going to the server's order (zstd > br > gzip by default). A response is left alone when it
is already encoded, partial (206 or ``Content-Range``), body-less (1xx, 204, 304), marked
``Cache-Control: no-transform``, of an excluded content type, or smaller than ``minimum_size``. Otherwise it
gets ``Vary: Accept-Encoding`` and, when a coding was chosen, the compressed body, ``Content-Encoding``, the
new ``Content-Length`` (none for streams) and a weak ``ETag``. Streams are compressed chunk by chunk with a
flush after each, through the same writer, so backpressure and real-time delivery are kept.
See docs/compression.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence

from fulmen.middleware import ASGIApp, Handle, Message, Receive, Scope, Send
from fulmen.middleware._codecs import (
    DEFAULT_LEVELS,
    ENCODINGS,
    Codec,
    Encoder,
    build_codec,
    check_level,
    parse_accept_encoding,
    select_encoding,
)
from fulmen.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, FileThroughWriter
from fulmen.requests import Request
from fulmen.responses import BodyWriter, Response

logger = logging.getLogger("fulmen.compression")
_warned: set[str] = set()
_NO_BODY = frozenset({204, 206, 304})
_CACHE_SIZE = 256

__all__ = [
    "DEFAULT_EXCLUDED_CONTENT_TYPES",
    "CompressionMiddleware",
    "parse_accept_encoding",
    "select_encoding",
]


def _normalise(content_types: Sequence[str], option: str) -> frozenset[str]:
    if isinstance(content_types, str):
        raise TypeError(f"{option} must be a sequence of content types, not a str: ({content_types!r},)")
    return frozenset(t.partition(";")[0].strip().lower() for t in content_types)


def _matches(media: str, types: frozenset[str]) -> bool:
    if media in types or media.partition("/")[0] + "/*" in types:
        return True
    return media.startswith("application/grpc+") and "application/grpc" in types


class CompressionMiddleware:
    """Compress responses with the best coding both sides support: zstd, Brotli (``br``) or gzip.

    Needs ``pip install "fulmen[compression]"`` for zstd and Brotli; gzip is the standard library's.
    """

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = 500,
        *,
        encodings: Sequence[str] | None = None,
        levels: Mapping[str, int] | None = None,
        exclude_content_types: Sequence[str] = DEFAULT_EXCLUDED_CONTENT_TYPES,
        include_content_types: Sequence[str] | None = None,
        weak_etags: bool = True,
        thread_minimum_size: int = 128 * 1024,
    ) -> None:
        self.app = app
        if type(minimum_size) is not int or minimum_size < 0:
            raise ValueError(f"minimum_size must be an int >= 0, got {minimum_size!r}")
        if type(thread_minimum_size) is not int or thread_minimum_size < 1:
            raise ValueError(f"thread_minimum_size must be an int >= 1, got {thread_minimum_size!r}")
        self.minimum_size = minimum_size
        self.thread_minimum_size = thread_minimum_size
        self.weak_etags = weak_etags
        self.exclude_content_types = _normalise(exclude_content_types, "exclude_content_types")
        self.include_content_types = (
            None
            if include_content_types is None
            else _normalise(include_content_types, "include_content_types")
        )
        self.codecs = self._build_codecs(encodings, levels or {})
        self.encodings = tuple(self.codecs)
        # Accept-Encoding value -> chosen codec (None: identity). Browsers send a handful of distinct values.
        self._choices: dict[bytes, Codec | None] = {}

    @staticmethod
    def _build_codecs(encodings: Sequence[str] | None, levels: Mapping[str, int]) -> dict[str, Codec]:
        explicit = encodings is not None
        names = list(ENCODINGS if encodings is None else encodings)
        if isinstance(encodings, str):
            raise TypeError(f"encodings must be a sequence of names, not a str: ({encodings!r},)")
        for name in names:
            if name not in ENCODINGS:
                raise ValueError(f"unknown encoding {name!r}: choose from {', '.join(ENCODINGS)}")
        if len(set(names)) != len(names):
            raise ValueError(f"encodings lists a coding twice: {names!r}")
        if not names:
            raise ValueError("encodings is empty: list at least one of " + ", ".join(ENCODINGS))
        for name in levels:
            if name not in ENCODINGS:
                raise ValueError(f"levels has unknown encoding {name!r}: choose from {', '.join(ENCODINGS)}")
        codecs: dict[str, Codec] = {}
        for name in names:
            level = check_level(name, levels.get(name, DEFAULT_LEVELS[name]))
            try:
                codecs[name] = build_codec(name, level)
            except ImportError as exc:
                if explicit:
                    raise  # asked for by name: a missing library is a configuration error
                if name not in _warned:  # once per process, not once per stack built
                    _warned.add(name)
                    logger.warning("Compression: %s is not offered (%s)", name, exc)
        return codecs

    # -- decisions ----------------------------------------------------------------------------------------
    def choose(self, accept: bytes | None) -> Codec | None:
        """The codec for a request's ``Accept-Encoding`` value (None: send identity)."""
        if accept is None:
            return None  # no header: RFC 9110 allows any coding, but clients that decode send the header
        choices = self._choices
        try:
            return choices[accept]
        except KeyError:
            pass
        name = select_encoding(parse_accept_encoding(accept.decode("latin-1")), self.encodings)
        codec = None if name is None else self.codecs[name]
        if len(choices) >= _CACHE_SIZE:
            choices.clear()  # a client sending ever-new values can't grow the cache
        choices[accept] = codec
        return codec

    def compressible(self, status: int, raw: Sequence[Sequence[bytes]]) -> bool:
        """True when a response with this status and headers may be compressed (its size aside)."""
        if status < 200 or status in _NO_BODY:
            return False
        content_type = b""
        for name, value in raw:
            if name == b"content-encoding" or name == b"content-range":
                return False
            if name == b"content-type":
                if not content_type:
                    content_type = value
            elif name == b"cache-control" and value.lower().find(b"no-transform") >= 0:
                return False
        media = content_type.decode("latin-1").partition(";")[0].strip().lower()
        if self.include_content_types is not None and not _matches(media, self.include_content_types):
            return False
        return not _matches(media, self.exclude_content_types)

    def mark(self, raw: list[tuple[bytes, bytes]], codec: Codec | None, length: int | None) -> None:
        """Edit a compressible response's headers: Vary, and for ``codec`` its coding, length and ETag."""
        # PERF: one scan of the raw list, edits in place: no MutableHeaders for the common header shapes.
        vary: list[int] = []
        etag = size = -1
        for i, (name, _) in enumerate(raw):
            if name == b"vary":
                vary.append(i)
            elif name == b"etag":
                etag = i
            elif name == b"content-length":
                size = i
        if codec is not None:
            if self.weak_etags and etag >= 0 and not raw[etag][1].startswith(b"W/"):
                # A strong ETag promises these exact bytes; the compressed ones differ (nginx weakens it too).
                raw[etag] = (b"etag", b"W/" + raw[etag][1])
            if length is not None:
                content_length = (b"content-length", b"%d" % length)
                if size >= 0:
                    raw[size] = content_length
                else:
                    raw.append(content_length)
            elif size >= 0:
                del raw[size]
                vary = [i - 1 if i > size else i for i in vary]
            raw.append((b"content-encoding", codec.token))
        if not vary:
            raw.append((b"vary", b"Accept-Encoding"))
            return
        values = [raw[i][1] for i in vary]
        tokens = {t.strip().lower() for value in values for t in value.split(b",")}
        if b"*" in tokens or b"accept-encoding" in tokens:
            return
        raw[vary[0]] = (b"vary", b", ".join([*values, b"Accept-Encoding"]))  # one line, as Starlette's
        for i in reversed(vary[1:]):
            del raw[i]

    async def run(self, work: Callable[[bytes], bytes], data: bytes) -> bytes:
        """``work(data)``, in the default thread pool when ``data`` is large (the loop keeps serving)."""
        if len(data) >= self.thread_minimum_size:
            return await asyncio.get_running_loop().run_in_executor(None, work, data)
        return work(data)

    def _small(self, raw: Sequence[Sequence[bytes]]) -> bool:
        """True when a streamed response declares a Content-Length under ``minimum_size``."""
        for name, value in raw:
            if name == b"content-length":
                try:
                    return int(value) < self.minimum_size
                except ValueError:
                    return False
        return False

    # -- native path ---------------------------------------------------------------------------------------
    def wrap_handle(self, handle: Handle) -> Handle:
        """Natively: call ``handle``, then compress the body (at once, or as it streams) if allowed."""

        async def compression(request: Request) -> Response:
            response = await handle(request)
            if response.streaming:  # PERF: a class attribute; plain responses skip this
                # Settle status and headers now (a FileResponse answers Range here) before deciding.
                response = await response.prepare(request)
                if response.streaming:
                    return self._stream(response, request)
            body = response.body
            # PERF: the size test first: small bodies (most API answers) cost one len() and a compare.
            if len(body) < self.minimum_size or not self.compressible(
                response.status_code, response.raw_headers
            ):
                return response
            codec = self.choose(_accept(request.raw_headers))
            if codec is not None:
                response.body = body = await self.run(codec.compress, body)
            self.mark(response.raw_headers, codec, len(body))
            return response

        return compression

    def _stream(self, response: Response, request: Request) -> Response:
        if not self.compressible(response.status_code, response.raw_headers) or self._small(
            response.raw_headers
        ):
            return response
        codec = self.choose(_accept(request.raw_headers))
        self.mark(response.raw_headers, codec, None)
        if codec is None:
            return response
        return _CompressedStream(response, self, codec)

    # -- ASGI path -----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        responder = _Responder(self, send, scope)
        await self.app(scope, receive, responder.send)


def _accept(raw: Sequence[Sequence[bytes]]) -> bytes | None:
    """The request's Accept-Encoding value; several lines are one comma-separated list (RFC 9110 §5.3)."""
    found: bytes | None = None
    for name, value in raw:
        if name == b"accept-encoding":
            found = value if found is None else found + b"," + value
    return found


class _Responder:
    """Per-request state of the ASGI path: holds the start message until the first body chunk decides."""

    __slots__ = ("encoder", "head", "middleware", "passthrough", "scope", "start", "started", "upstream")

    def __init__(self, middleware: CompressionMiddleware, upstream: Send, scope: Scope) -> None:
        self.middleware = middleware
        self.upstream = upstream
        self.scope = scope
        self.head = scope.get("method") == "HEAD"
        self.start: Message | None = None
        self.passthrough = False
        self.started = False
        self.encoder: Encoder | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        upstream = self.upstream
        middleware = self.middleware
        if kind == "http.response.start":
            headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
            message["headers"] = headers
            self.start = message
            self.passthrough = not middleware.compressible(message["status"], headers)
            if self.passthrough:
                await upstream(message)
            return
        if self.passthrough or kind != "http.response.body":
            if self.start is not None and kind == "http.response.pathsend":
                await upstream(self.start)  # a file the server sends itself: never compressed
                self.start = None
            await upstream(message)
            return
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if self.started:
            encoder = self.encoder
            if encoder is not None:
                message["body"] = await middleware.run(encoder.chunk if more else encoder.finish, body)
            await upstream(message)
            return
        self.started = True
        start = self.start
        assert start is not None, "http.response.body before http.response.start"
        headers = start["headers"]
        if self.head:
            # No body to compress, so no length to give: HEAD describes the identity representation (a
            # missing Content-Length would read as 0 to some servers), and says that it varies.
            if not middleware._small(headers):
                middleware.mark(headers, None, None)
            await upstream(start)
            await upstream(message)
            return
        if middleware._small(headers) if more else len(body) < middleware.minimum_size:
            await upstream(start)
            await upstream(message)
            return
        codec = middleware.choose(_accept(self.scope["headers"]))
        if codec is not None:
            if more:
                self.encoder = codec.encoder()
                message["body"] = await middleware.run(self.encoder.chunk, body)
            else:
                message["body"] = await middleware.run(codec.compress, body)
        middleware.mark(headers, codec, None if more else len(message["body"]))
        await upstream(start)
        await upstream(message)


class _EncodingWriter(FileThroughWriter):
    """A ``BodyWriter`` that compresses each write (with a flush) before passing it on."""

    __slots__ = ("encoder", "middleware", "writer")

    def __init__(self, writer: BodyWriter, encoder: Encoder, middleware: CompressionMiddleware) -> None:
        self.writer = writer
        self.encoder = encoder
        self.middleware = middleware

    async def write(self, data: bytes) -> None:
        if not data:
            return  # an empty write flushes nothing: don't send the codec's empty flush block
        out = await self.middleware.run(self.encoder.chunk, data)
        if out:
            await self.writer.write(out)  # waits while the client is slow: backpressure reaches the producer


class _CompressedStream(Response):
    """A prepared streamed response whose body is compressed as it is written."""

    streaming = True
    __slots__ = ("_codec", "_inner", "_middleware")

    def __init__(self, inner: Response, middleware: CompressionMiddleware, codec: Codec) -> None:
        self._inner = inner
        self._middleware = middleware
        self._codec = codec
        self.status_code = inner.status_code
        self.raw_headers = inner.raw_headers  # the same list: header edits by outer middleware apply
        self.background = inner.background

    async def prepare(self, request: Request) -> Response:
        return self  # the inner response is prepared already (by the middleware); never prepare it twice

    @property
    def body_iterator(self) -> AsyncIterator[bytes]:
        """The compressed body as chunks (for an outer ``@app.middleware("http")`` that reads it)."""
        return _compressed_chunks(self._inner.body_iterator, self._codec.encoder())

    async def send_body(self, writer: BodyWriter) -> None:
        encoder = self._codec.encoder()
        await self._inner.send_body(_EncodingWriter(writer, encoder, self._middleware))
        tail = encoder.finish(b"")
        if tail:
            await writer.write(tail)

    async def discard_body(self) -> None:
        await self._inner.discard_body()


async def _compressed_chunks(chunks: AsyncIterable[bytes], encoder: Encoder) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if chunk:
            out = encoder.chunk(chunk)
            if out:
                yield out
    yield encoder.finish(b"")
