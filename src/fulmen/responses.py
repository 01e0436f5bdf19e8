"""Responses: status, headers and a body, shaped like Starlette's so FastAPI code keeps working.

A response holds its final header list (``raw_headers``, content-length included) and body bytes; both front
doors write exactly that, so the engine and ASGI can never disagree on what a response is.

Streamed responses (``StreamingResponse``, ``FileResponse``, ``EventSourceResponse``) have
``streaming = True`` and no ``body``: a front door calls ``await response.prepare(request)`` (files answer
``Range`` there), writes the head, then ``await response.send_body(writer)`` with its own ``BodyWriter``
(the engine: the socket, with ``sendfile`` for files; ASGI: ``send``). HEAD and body-less statuses call
``discard_body()`` instead.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import http.cookies
import os
import stat
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, MutableMapping
from datetime import datetime
from email.utils import format_datetime, formatdate
from mimetypes import guess_type
from secrets import token_hex
from types import ModuleType
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Literal, Protocol, Union
from urllib.parse import quote

from fulmen._lookalike import lookalike_class, lookalike_reduce_ex
from fulmen.datastructures import MutableHeaders
from fulmen.encoders import encode_json_plain

if TYPE_CHECKING:
    from fulmen.background import BackgroundTask
    from fulmen.requests import Request

_NO_BODY_STATUSES = frozenset({204, 304})


class Response:
    """A response with a body given as bytes or str (``media_type`` sets the content type)."""

    media_type: str | None = None
    charset = "utf-8"
    #: True when the body is produced while sending (streams, files): the front doors then call ``prepare``
    #: and ``send_body`` instead of writing ``body``. PERF: a class attribute, read once per response.
    streaming: ClassVar[bool] = False
    #: True for template responses: under a client that asks for ASGI's ``http.response.debug`` extension
    #: (the TestClient), the template and its context are sent ahead of the response for the test to read.
    has_debug_info: ClassVar[bool] = False

    __slots__ = ("background", "body", "raw_headers", "status_code")

    #: ``isinstance(obj, <Starlette's class>)`` holds once Starlette is imported (fulmen._lookalike).
    __class__ = lookalike_class
    __reduce_ex__ = lookalike_reduce_ex

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

    @property
    def body_iterator(self) -> AsyncIterable[Any]:
        """The body as an async iterator of bytes, for middleware written against the response Starlette's
        ``call_next`` returns (it has only ``body_iterator``): here the body in one chunk."""
        return _one_chunk(self.body)

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into body bytes (overridden by JSON and other subclasses)."""
        if content is None:
            return b""
        if isinstance(content, (bytes, memoryview)):
            return bytes(content)
        if not isinstance(content, str):
            # As Starlette: only text and bytes are content here (data needs JSONResponse); a 500 follows.
            raise TypeError(
                f"{type(self).__name__} content must be str or bytes, got {type(content).__name__}; "
                "use JSONResponse (or response_class=JSONResponse) for data"
            )
        return content.encode(self.charset)

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
        partitioned: bool = False,
    ) -> None:
        """Expire a cookie in the client (a partitioned cookie is only removed by a partitioned deletion)."""
        self.set_cookie(
            key,
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
            partitioned=partitioned,
        )

    # -- the sending protocol (used by the front doors for ``streaming`` responses) -------------------------
    async def prepare(self, request: Request) -> Response:
        """Called by the front door with the request, right before sending: returns the response to send.

        Streamed responses that depend on the request (a ``FileResponse`` answering ``Range``) settle their
        status and headers here; the result may be another response (a 416 for an unsatisfiable range).
        """
        return self

    async def send_body(self, writer: BodyWriter) -> None:
        """Write the body through ``writer`` (called after the head has been sent)."""
        await writer.write(self.body)

    async def discard_body(self) -> None:
        """Release what producing the body would hold, when it is not sent (HEAD, 204, 304)."""

    # -- as an ASGI app ------------------------------------------------------------------------------------
    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """Send this response over ASGI, as Starlette's responses can be sent: ``await response(scope, ...)``.

        For pure ASGI middleware that answers a request itself. A plain response is two messages
        (``http.response.start`` with ``raw_headers``, then the body; none for HEAD); a streamed one goes in
        ``more_body`` chunks (a file answers ``Range``). The background task runs after the body.
        """
        if self.streaming:
            from fulmen.asgi import send_to_scope

            await send_to_scope(self, dict(scope), receive, send)
            return
        prefix = "websocket." if scope["type"] == "websocket" else ""  # a websocket denial response
        if self.has_debug_info and "http.response.debug" in (scope.get("extensions") or ()):
            # A template response tells a test client its template and context, as Starlette's does.
            info = {"template": getattr(self, "template", None), "context": getattr(self, "context", {})}
            await send({"type": "http.response.debug", "info": info})
        await send(
            {"type": prefix + "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": prefix + "http.response.body", "body": body})
        if self.background is not None:
            await self.background()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class InjectedResponse(Response):
    """The ``response: Response`` a path operation or dependency declares (FastAPI's "sub-response").

    Headers, cookies, ``status_code`` and ``background`` set on it go onto the response sent; ``status_code``
    reads ``None`` until set, as in FastAPI. Unlike the response classes, whose ``__slots__`` keep creating a
    response cheap, it takes any attribute as Starlette's responses do: ``media_type``, ``charset`` or one of
    your own are accepted and, as in FastAPI, change nothing in what is sent.
    """

    # No __slots__ here: instances get a __dict__. Only routes that declare the parameter create one.

    def __init__(self) -> None:
        self.status_code = None  # type: ignore[assignment]  # FastAPI's "not set"
        self.background = None
        self.body = b""
        self.raw_headers = []


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


# ------------------------------------------------------------------------------------------------------------
# Streamed responses
# ------------------------------------------------------------------------------------------------------------
class BodyWriter(Protocol):
    """Where a streamed body goes; each front door provides one (engine: the socket, ASGI: ``send``)."""

    async def write(self, data: bytes) -> None:
        """Send ``data`` (waits while the client is slow: backpressure)."""

    async def write_file(self, file: BinaryIO, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``file`` from ``offset`` (zero-copy ``sendfile`` where possible)."""


Content = Union[str, bytes, memoryview]
ContentStream = Union[AsyncIterable[Content], Iterable[Content]]


def _header_list(
    headers: Mapping[str, str] | None, media_type: str | None, charset: str
) -> list[tuple[bytes, bytes]]:
    """The given headers (names lower-cased), then content-type if missing; no content-length."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()] if headers else []
    if media_type is not None and not any(k == b"content-type" for k, _ in raw):
        if media_type.startswith("text/") and "charset=" not in media_type.lower():
            media_type += "; charset=" + charset
        raw.append((b"content-type", media_type.encode("latin-1")))
    return raw


def _set_header(raw: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """Replace the first ``name`` header in place (dropping repeats) or append it, as Starlette does."""
    found = [i for i, (k, _) in enumerate(raw) if k == name]
    if not found:
        raw.append((name, value))
        return
    raw[found[0]] = (name, value)
    for i in reversed(found[1:]):
        del raw[i]


def _setdefault_header(raw: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    if not any(k == name for k, _ in raw):
        raw.append((name, value))


_DONE: Any = object()
#: Closes of sync iterators still running in the pool (kept referenced until they finish).
_pending_closes: set[asyncio.Future[Any]] = set()


class _ThreadedIterator:
    """An async iterator over a sync one, each ``next()`` in the handler thread pool (as Starlette does).

    ``aclose`` closes the sync iterator (a generator's ``finally`` runs) once a ``next()`` in flight is done.
    """

    __slots__ = ("_exhausted", "_iterator", "_lock")

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._iterator: Iterator[Any] = iter(iterable)
        self._lock = threading.Lock()
        self._exhausted = False

    def __aiter__(self) -> _ThreadedIterator:
        return self

    def _next(self) -> Any:
        with self._lock:
            return next(self._iterator, _DONE)

    def _close(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is not None:
            with self._lock:
                close()

    async def __anext__(self) -> Any:
        from fulmen._concurrency import run_in_threadpool

        item = await run_in_threadpool(self._next)
        if item is _DONE:
            self._exhausted = True
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        if self._exhausted or getattr(self._iterator, "close", None) is None:
            return  # PERF: a finished generator has nothing to close; no thread hop
        from fulmen._concurrency import run_in_threadpool

        if not self._lock.locked():
            await run_in_threadpool(self._close)
            return
        # A next() still runs in a worker (we were cancelled while awaiting it): close after it, don't wait.
        future = asyncio.ensure_future(run_in_threadpool(self._close))
        _pending_closes.add(future)
        future.add_done_callback(_forget_close)


def _forget_close(future: asyncio.Future[Any]) -> None:
    _pending_closes.discard(future)
    if not future.cancelled():
        future.exception()  # a failing close() has nobody to report to; don't let asyncio log it as lost


async def _aclose(iterator: Any) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


class StreamingResponse(Response):
    """A body sent as it is produced, from an async or sync iterator of bytes/str (sync: in the thread pool).

    Sent with ``transfer-encoding: chunked`` unless ``headers`` give a content-length. The iterator is closed
    when the body is done, when the client goes away, or when no body is sent (HEAD).
    """

    streaming = True
    __slots__ = ("_content",)

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if isinstance(content, AsyncIterable):
            self._content: AsyncIterable[Any] = content
        else:
            self._content = _ThreadedIterator(content)
        self.status_code = status_code
        self.background = background
        self.raw_headers = _header_list(
            headers, self.media_type if media_type is None else media_type, self.charset
        )

    @property
    def body_iterator(self) -> AsyncIterable[bytes]:
        """The body as bytes (``str`` items encoded), as middleware reads the response of Starlette's
        ``call_next``: ``async for chunk in response.body_iterator: body += chunk``."""
        return _encoded_chunks(self, self._content)

    @body_iterator.setter
    def body_iterator(self, iterator: AsyncIterable[Any]) -> None:
        # Middleware may wrap the stream: ``response.body_iterator = counting(response.body_iterator)``.
        self._content = iterator

    def encode_chunk(self, chunk: Any) -> bytes:
        """Bytes for one item of the iterator (``str`` is encoded with ``charset``)."""
        if isinstance(chunk, str):
            return chunk.encode(self.charset)
        return bytes(chunk)

    async def send_body(self, writer: BodyWriter) -> None:
        iterator = self._content
        try:
            async for chunk in iterator:
                data = chunk if type(chunk) is bytes else self.encode_chunk(chunk)
                if data:
                    await writer.write(data)
        finally:
            await _aclose(iterator)

    async def discard_body(self) -> None:
        await _aclose(self._content)


async def _encoded_chunks(response: StreamingResponse, iterator: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    try:
        async for chunk in iterator:
            yield chunk if type(chunk) is bytes else response.encode_chunk(chunk)
    finally:
        await _aclose(iterator)


# -- files ---------------------------------------------------------------------------------------------------
class MalformedRangeHeader(Exception):
    """A ``Range`` header that can't be parsed (answered with 400)."""

    def __init__(self, content: str = "Malformed range header.") -> None:
        super().__init__(content)
        self.content = content


class RangeNotSatisfiable(Exception):
    """A ``Range`` outside the file (answered with 416 and ``content-range: bytes */size``)."""

    def __init__(self, max_size: int) -> None:
        super().__init__(max_size)
        self.max_size = max_size


def read_file_chunk(file: BinaryIO, offset: int, size: int) -> bytes:
    """Read up to ``size`` bytes at ``offset`` (blocking: front doors call it in the thread pool)."""
    file.seek(offset)
    return file.read(size)


def _content_disposition(disposition_type: str, filename: str) -> str:
    quoted = quote(filename)
    if quoted != filename:  # RFC 5987: non-ASCII or special characters go percent-encoded in filename*
        return f"{disposition_type}; filename*=utf-8''{quoted}"
    return f'{disposition_type}; filename="{filename}"'


class FileResponse(Response):
    """A file from disk, with ``etag``/``last-modified``, ``Range`` support (206, multipart/byteranges, 416).

    The engine sends it with ``sendfile`` (zero-copy) where the transport allows; ASGI reads it in chunks.
    """

    streaming = True
    chunk_size = 64 * 1024
    max_ranges = 100
    __slots__ = ("_boundary", "_part_type", "_ranges", "filename", "method", "path", "stat_result")

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        filename: str | None = None,
        stat_result: os.stat_result | None = None,
        method: str | None = None,
        content_disposition_type: str = "attachment",
    ) -> None:
        self.path = path
        self.status_code = status_code
        self.filename = filename
        #: Starlette's old ``method`` argument: the request method, when the response can't see the request.
        self.method = method
        self.background = background
        if media_type is None:
            media_type = guess_type(filename or path)[0] or "application/octet-stream"
        raw = self.raw_headers = _header_list(headers, media_type, self.charset)
        _setdefault_header(raw, b"accept-ranges", b"bytes")
        if filename is not None:
            value = _content_disposition(content_disposition_type, filename)
            _setdefault_header(raw, b"content-disposition", value.encode("latin-1"))
        self.stat_result = stat_result
        if stat_result is not None:
            self.set_stat_headers(stat_result)
        self._ranges: list[tuple[int, int]] | None = None
        self._boundary = ""
        self._part_type = ""

    def set_stat_headers(self, stat_result: os.stat_result) -> None:
        """Add content-length, last-modified and etag (unless given) from the file's stat."""
        raw = self.raw_headers
        etag_base = f"{stat_result.st_mtime}-{stat_result.st_size}"
        etag = hashlib.md5(etag_base.encode(), usedforsecurity=False).hexdigest()
        _setdefault_header(raw, b"content-length", str(stat_result.st_size).encode("latin-1"))
        _setdefault_header(
            raw, b"last-modified", formatdate(stat_result.st_mtime, usegmt=True).encode("latin-1")
        )
        _setdefault_header(raw, b"etag", f'"{etag}"'.encode("latin-1"))

    async def prepare(self, request: Request) -> Response:
        """Stat the file if needed, then answer ``Range``/``If-Range`` (200, 206, 400 or 416)."""
        result = self.stat_result
        if result is None:
            # os.stat is a metadata call like open(): on local disks a thread hop costs more than it saves.
            try:
                result = os.stat(self.path)
            except FileNotFoundError:
                raise RuntimeError(f"File at path {self.path} does not exist.") from None
            self.set_stat_headers(result)
            if not stat.S_ISREG(result.st_mode):
                raise RuntimeError(f"File at path {self.path} is not a file.")
            self.stat_result = result
        size = result.st_size
        headers = request.headers
        http_range = headers.get("range")
        if self.status_code != 200 or http_range is None:
            return self
        if (self.method or request.method).upper() not in ("GET", "HEAD"):
            return self
        if_range = headers.get("if-range")
        if if_range is not None and not self._if_range_matches(if_range):
            return self
        try:
            ranges = self.parse_range_header(http_range, size)
        except MalformedRangeHeader as exc:
            return PlainTextResponse(exc.content, status_code=400)
        except RangeNotSatisfiable as exc:
            return PlainTextResponse(status_code=416, headers={"content-range": f"bytes */{exc.max_size}"})
        if not ranges:
            return self
        # A copy answers the range, so this response can still be sent again (as Starlette's can).
        partial = copy.copy(self)
        partial.status_code = 206
        partial._ranges = ranges
        raw = partial.raw_headers = list(self.raw_headers)
        if len(ranges) == 1:
            start, end = ranges[0]
            _set_header(raw, b"content-range", f"bytes {start}-{end - 1}/{size}".encode("latin-1"))
            _set_header(raw, b"content-length", str(end - start).encode("latin-1"))
            return partial
        # In browsers the boundary has about 96 bits of entropy; 13 random bytes give 104.
        boundary = partial._boundary = token_hex(13)
        partial._part_type = next((v for k, v in raw if k == b"content-type"), b"").decode("latin-1")
        # Each part: its head, its bytes, CRLF; then the closing "--boundary--".
        length = sum(len(partial._part_head(start, end, size)) + (end - start) + 2 for start, end in ranges)
        length += len(boundary) + 4
        _set_header(raw, b"content-type", f"multipart/byteranges; boundary={boundary}".encode("latin-1"))
        _set_header(raw, b"content-length", str(length).encode("latin-1"))
        return partial

    def _part_head(self, start: int, end: int, size: int) -> bytes:
        return (
            f"--{self._boundary}\r\nContent-Type: {self._part_type}\r\n"
            f"Content-Range: bytes {start}-{end - 1}/{size}\r\n\r\n"
        ).encode("latin-1")

    def _if_range_matches(self, if_range: str) -> bool:
        if if_range.startswith("W/"):
            return False
        for k, v in self.raw_headers:
            if (k == b"last-modified" or k == b"etag") and v.decode("latin-1") == if_range:
                return True
        return False

    @classmethod
    def parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        """``Range: bytes=...`` as sorted, merged ``(start, end)`` pairs, end exclusive (``[]``: whole file).

        Raises ``MalformedRangeHeader`` (400) or ``RangeNotSatisfiable`` (416), with Starlette's rules.
        """
        units, sep, spec = http_range.partition("=")
        if not sep:
            raise MalformedRangeHeader()
        if units.strip().lower() != "bytes":
            raise MalformedRangeHeader("Only support bytes range")
        if spec.count(",") + 1 > cls.max_ranges:
            return []  # too many ranges to be worth it: the whole file
        ranges: list[tuple[int, int]] = []
        for part in spec.split(","):
            first, dash, last = part.strip().partition("-")
            if not dash:
                continue  # empty, or no "-": ignored
            first, last = first.strip(), last.strip()
            if not first and not last:
                continue
            try:
                if first:
                    start = int(first)
                    end = int(last) + 1 if last and int(last) < file_size else file_size
                else:
                    start, end = max(file_size - int(last), 0), file_size  # suffix: the last N bytes
            except ValueError:
                continue  # not a number: ignored
            ranges.append((start, end))
        if not ranges:
            raise MalformedRangeHeader("Range header: range must be requested")
        if any(not 0 <= start < file_size for start, _ in ranges):
            raise RangeNotSatisfiable(file_size)
        if any(start >= end for start, end in ranges):
            raise MalformedRangeHeader("Range header: start must be less than end")
        if len(ranges) == 1:
            return ranges
        ranges.sort()
        merged = [ranges[0]]
        for start, end in ranges[1:]:
            last_start, last_end = merged[-1]
            if start <= last_end:
                merged[-1] = (last_start, max(last_end, end))
            else:
                merged.append((start, end))
        return merged

    @property
    def body_iterator(self) -> AsyncIterable[Any]:
        """The whole file in ``chunk_size`` pieces (for middleware that reads ``call_next``'s response)."""
        return _file_chunks(self.path, self.chunk_size)

    async def send_body(self, writer: BodyWriter) -> None:
        stat_result = self.stat_result
        assert stat_result is not None, "prepare() runs before send_body()"
        size = stat_result.st_size
        with open(self.path, "rb") as file:  # opened on the loop, as os.stat in prepare()
            ranges = self._ranges
            if ranges is None:
                await writer.write_file(file, 0, size)
            elif len(ranges) == 1:
                start, end = ranges[0]
                await writer.write_file(file, start, end - start)
            else:
                for start, end in ranges:
                    await writer.write(self._part_head(start, end, size))
                    await writer.write_file(file, start, end - start)
                    await writer.write(b"\r\n")
                await writer.write(f"--{self._boundary}--".encode("latin-1"))


async def _one_chunk(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body


async def _file_chunks(path: str | os.PathLike[str], size: int) -> AsyncIterator[bytes]:
    with open(path, "rb") as file:  # read on the loop, as send_body's files are opened (local disk)
        while chunk := file.read(size):
            yield chunk


# -- alternative JSON encoders -------------------------------------------------------------------------------
_modules: dict[str, ModuleType] = {}


def _optional_module(name: str, feature: str) -> ModuleType:
    module = _modules.get(name)
    if module is None:
        try:
            module = __import__(name)
        except ImportError as exc:
            raise ImportError(f'{feature} needs {name}: pip install "fulmen[{name}]"') from exc
        _modules[name] = module
    return module


class ORJSONResponse(JSONResponse):
    """JSON rendered with orjson (``pip install "fulmen[orjson]"``), options as FastAPI's."""

    __slots__ = ()

    def render(self, content: Any) -> bytes:
        orjson = _optional_module("orjson", "ORJSONResponse")
        data: bytes = orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
        return data


class UJSONResponse(JSONResponse):
    """JSON rendered with ujson (``pip install "fulmen[ujson]"``), options as FastAPI's."""

    __slots__ = ()

    def render(self, content: Any) -> bytes:
        ujson = _optional_module("ujson", "UJSONResponse")
        text: str = ujson.dumps(content, ensure_ascii=False)
        return text.encode("utf-8")


# -- Server-Sent Events --------------------------------------------------------------------------------------
class EventSourceResponse(StreamingResponse):
    """A ``text/event-stream`` response (FastAPI's ``fastapi.sse.EventSourceResponse``).

    As ``response_class=`` on a generator endpoint, each yielded item becomes an event (see ``fulmen.sse``).
    Given content directly, bytes/str items are sent as they are; ``ServerSentEvent`` items are encoded.
    """

    media_type = "text/event-stream"
    __slots__ = ()

    def encode_chunk(self, chunk: Any) -> bytes:
        from fulmen.sse import ServerSentEvent, encode_event

        if isinstance(chunk, ServerSentEvent):
            return encode_event(chunk)
        return super().encode_chunk(chunk)
