"""Serve a WSGI (PEP 3333) application on the engine: ``WSGIAdapter(app).handle(request)``.

The app runs in the adapter's own pool of worker threads, so a blocking app (a Flask view waiting on a
database) never stalls the event loop; one thread owns a request from ``app(environ, start_response)`` to
the iterable's ``close()``, as WSGI apps expect (thread-locals, context variables, connections stay put).

A response the app produces at once (a list or tuple, or a first chunk that completes its ``Content-Length``:
Flask's normal responses) goes back to the loop as one plain ``Response``: one hand-over per request. Anything
else is streamed: the first chunk goes with the head and the thread then hands over one chunk at a time,
waiting while the previous one is still being written (backpressure: a slow client holds its thread, not the
server's memory). ``wsgi.file_wrapper`` responses over a real file are sent with ``sendfile``.

``wsgi.input`` reads the body through the request's body reader (what ``request.stream()`` reads): the
thread asks the loop for the next chunk with ``asyncio.run_coroutine_threadsafe`` and blocks only itself;
a body the engine already buffered, or a request without one, is read without any hop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterable
from queue import SimpleQueue
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Union
from urllib.parse import unquote_to_bytes

from fulmen.engine.wsgi_io import _ERRORS, FileWrapper, InputStream
from fulmen.requests import BodyReader, Request
from fulmen.responses import Response

if TYPE_CHECKING:
    from fulmen.responses import BodyWriter

__all__ = ["ClientDisconnected", "FileWrapper", "InputStream", "WSGIAdapter", "WSGIResponseError"]

error_logger = logging.getLogger("fulmen.error")

ExcInfo = tuple[type[BaseException], BaseException, Union[TracebackType, None]]
#: ``write(data)``, what ``start_response`` returns (for legacy apps).
WriteCallable = Callable[[bytes], None]
StartResponse = Callable[..., WriteCallable]
#: A PEP 3333 application.
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Worker threads per adapter (per engine worker process) unless ``threads`` says otherwise.
#: WSGI apps block on I/O (databases, HTTP calls): the pool must overlap enough of those waits, while each
#: thread costs a stack and GIL contention, and processes (``workers``) are what scales CPU-bound work.
DEFAULT_THREADS = 10

_STATUS_RE = re.compile(r"([1-9][0-9][0-9])(?: [^\r\n\x00]*)?")
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE_RE = re.compile(r"[\r\n\x00]")
#: Connection-level headers a WSGI app must not set (PEP 3333); the engine frames and keeps alive itself.
_HOP_BY_HOP = frozenset(
    {b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
_NO_BODY_STATUSES = frozenset({204, 304})
#: Request header name -> environ key (``HTTP_...``), filled as names are seen; bounded (clients pick names).
_HEADER_KEYS: dict[bytes, str] = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}
_HEADER_KEYS_MAX = 512


class WSGIResponseError(ValueError):
    """The app's ``start_response`` arguments are not a valid HTTP response head (answered with 500)."""


class ClientDisconnected(OSError):
    """The client went away while the app was reading ``wsgi.input`` or sending its response."""


class _Gone(ConnectionError):
    """Raised in the app's thread once nobody writes its response any more (client gone, HEAD, dropped)."""


# ------------------------------------------------------------------------------------------------------------
# Responses handed to the engine
# ------------------------------------------------------------------------------------------------------------
_END: Any = object()
_EMPTY: Any = object()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Channel:
    """Chunks from the app's thread to the loop, one at a time.

    The thread may hand over a chunk only after the loop has written the previous one (``credit``): a slow
    client makes the thread wait, so memory stays bounded by one chunk per request.
    """

    __slots__ = ("_item", "_waiter", "credit", "gone", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.credit = threading.Semaphore(0)
        #: Set (from any thread) once nobody will write what the thread hands over.
        self.gone = False
        self._item: Any = _EMPTY
        self._waiter: asyncio.Future[Any] | None = None

    # -- the app's thread ---------------------------------------------------------------------------------
    def push(self, item: Any) -> None:
        """Hand ``item`` (bytes, _END or a _Failure) to the loop once it is ready for it."""
        if self.gone:
            raise _Gone()
        self.credit.acquire()
        if self.gone:
            raise _Gone()
        try:
            self.loop.call_soon_threadsafe(self._deliver, item)
        except RuntimeError:  # the loop is closed
            self.gone = True
            raise _Gone() from None

    # -- the loop -------------------------------------------------------------------------------------------
    def _deliver(self, item: Any) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(item)
        else:
            self._item = item

    async def next(self) -> Any:
        """Let the thread hand over its next item, and return it."""
        self.credit.release()
        item = self._item
        if item is not _EMPTY:
            self._item = _EMPTY
            return item
        waiter = self._waiter = self.loop.create_future()
        return await waiter

    def abandon(self) -> None:
        """Nobody writes any more: the thread stops at its next hand-over (callable from any thread)."""
        if not self.gone:
            self.gone = True
            self.credit.release()


class _StreamedResponse(Response):
    """A WSGI body that is still being produced: the first chunk, then the thread's chunks as they come."""

    streaming: ClassVar[bool] = True
    __slots__ = ("_channel", "_first")

    def __init__(
        self, status: int, headers: list[tuple[bytes, bytes]], first: bytes, channel: _Channel
    ) -> None:
        self.status_code = status
        self.raw_headers = headers
        self.background = None
        self._first = first
        self._channel = channel

    async def send_body(self, writer: BodyWriter) -> None:
        channel = self._channel
        try:
            await writer.write(self._first)
            while True:
                item = await channel.next()
                if type(item) is bytes:
                    await writer.write(item)
                elif item is _END:
                    return
                else:
                    raise item.error
        finally:
            channel.abandon()

    async def discard_body(self) -> None:
        self._channel.abandon()

    def __del__(self) -> None:
        # Never written (the connection closed before its turn): let the app's thread stop and close().
        self._channel.abandon()


class _FileWrapperResponse(Response):
    """A ``wsgi.file_wrapper`` over a regular file: sent with ``BodyWriter.write_file`` (zero-copy)."""

    streaming: ClassVar[bool] = True
    __slots__ = ("_count", "_offset", "_wrapper")

    def __init__(
        self, status: int, headers: list[tuple[bytes, bytes]], wrapper: FileWrapper, offset: int, count: int
    ) -> None:
        self.status_code = status
        self.raw_headers = headers
        self.background = None
        self._wrapper: FileWrapper | None = wrapper
        self._offset = offset
        self._count = count

    async def send_body(self, writer: BodyWriter) -> None:
        wrapper = self._wrapper
        assert wrapper is not None
        try:
            await writer.write_file(wrapper.filelike, self._offset, self._count)
        finally:
            self._close()

    async def discard_body(self) -> None:
        self._close()

    def _close(self) -> None:
        wrapper, self._wrapper = self._wrapper, None
        if wrapper is not None:
            try:
                wrapper.close()
            except Exception:
                error_logger.exception("Exception closing a WSGI file_wrapper")

    def __del__(self) -> None:
        self._close()


def _plain_response(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Response:
    # PERF: built in the worker thread without Response.__init__ (the headers are final already).
    response = Response.__new__(Response)
    response.status_code = status
    response.raw_headers = headers
    response.body = body
    response.background = None
    return response


def _as_bytes(data: Any) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(
        f"a WSGI application must produce bytes, got {type(data).__name__} ({data!r:.40}); "
        "encode text before returning or writing it"
    )


def _set_result(future: asyncio.Future[Response], result: Response | BaseException) -> None:
    if future.done():
        return  # the request was cancelled meanwhile (server shutdown); a streamed response abandons itself
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


# ------------------------------------------------------------------------------------------------------------
# One request
# ------------------------------------------------------------------------------------------------------------
class _Exchange:
    """One request's run of the app in a worker thread, and the hand-over of its response to the loop."""

    __slots__ = (
        "adapter",
        "body",
        "body_left",
        "body_reader",
        "buffered",
        "channel",
        "content_length",
        "head",
        "headers",
        "loop",
        "overflow_logged",
        "request",
        "sent",
        "status_code",
    )

    def __init__(
        self,
        adapter: WSGIAdapter,
        request: Request,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.adapter = adapter
        self.request = request
        self.loop = loop
        #: The engine's body reader while the body is still to be read from the loop, and the bytes still
        #: expected (-1: chunked, read until b"").
        self.body_reader: BodyReader | None = None
        self.body_left = -1
        #: The whole request body when it is known before the app runs (buffered by the engine, or read by
        #: ``handle`` because it had all arrived); None: the app's thread reads it from the loop.
        self.body = request._body
        #: Resolved (from the thread) with the response, or the exception that becomes a 500. ``handle``
        #: drops it once resolved: a response the engine never writes must not stay reachable from here
        #: (the app's thread holds this object while it streams), or nothing would tell the thread to stop.
        self.head: asyncio.Future[Response] | None = loop.create_future()
        self.status_code = 0  # 0 until start_response succeeded
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_length = -1
        #: The whole body, once one chunk completed the Content-Length (answered when the app returns).
        self.buffered: bytes | None = None
        #: Set once the head went to the loop with the first chunk (the headers are "sent").
        self.channel: _Channel | None = None
        self.sent = 0
        self.overflow_logged = False

    # -- the environ ----------------------------------------------------------------------------------------
    def environ(self) -> dict[str, Any]:
        request = self.request
        adapter = self.adapter
        env = adapter.base_environ.copy()  # PERF: the constant keys are copied, not set one by one
        raw_path = request.raw_path
        env["REQUEST_METHOD"] = request.method
        env["SCRIPT_NAME"] = request.root_path
        # PEP 3333: the path percent-decoded to bytes, then as a latin-1 str (the app re-encodes it).
        # PERF: find, not `in`: bytes `in` first tries the needle as an int and pays for a TypeError.
        decoded = unquote_to_bytes(raw_path) if raw_path.find(b"%") >= 0 else raw_path
        env["PATH_INFO"] = decoded.decode("latin-1")
        env["QUERY_STRING"] = request.query_string.decode("latin-1")
        env["SERVER_PROTOCOL"] = "HTTP/" + request.http_version
        env["wsgi.url_scheme"] = request.scheme
        server = request.server
        if server is not None:
            env["SERVER_NAME"] = server[0]
            env["SERVER_PORT"] = str(server[1])
        elif request.scheme == "https":
            env["SERVER_PORT"] = "443"
        client = request.client
        if client is not None:
            env["REMOTE_ADDR"] = client[0]
            env["REMOTE_PORT"] = str(client[1])
        keys = _HEADER_KEYS
        for name, value in request.raw_headers:
            key = keys.get(name)
            if key is None:
                if name.find(b"_") >= 0:  # PERF: find, not `in` (see PATH_INFO above)
                    # "x_user" and "x-user" would both be HTTP_X_USER: a proxy that checks one could be
                    # bypassed with the other, so names with "_" are dropped (as nginx does by default).
                    continue
                key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
                if len(keys) < _HEADER_KEYS_MAX:
                    keys[name] = key
            text = value.decode("latin-1")
            if key in env:
                env[key] += ("; " if key == "HTTP_COOKIE" else ", ") + text
            else:
                env[key] = text
        body = self.body  # PERF: a body that is already here is read in the thread without a loop hop
        if body is None:
            length = env.get("CONTENT_LENGTH")
            if length is None and "HTTP_TRANSFER_ENCODING" not in env:
                body = b""  # no framing headers: no body (RFC 9112), no hop to learn it
            else:
                self.body_reader = request._read_body
                self.body_left = int(length) if length is not None and length.isdigit() else -1
        env["wsgi.input"] = InputStream(b"", self.fetch) if body is None else InputStream(body)
        return env

    def fetch(self) -> bytes:
        """The next chunk of the request body, from the loop (blocks this worker thread only)."""
        reader = self.body_reader
        if reader is None:
            return b""
        try:
            chunk = asyncio.run_coroutine_threadsafe(_read(reader), self.loop).result()
        except Exception as exc:
            self.body_reader = None
            raise ClientDisconnected("the client went away while the request body was read") from exc
        left = self.body_left
        if left >= 0:
            left -= len(chunk)
            self.body_left = left
            if left <= 0:
                self.body_reader = None  # PERF: the Content-Length is complete; no hop to hear b""
        if not chunk:
            self.body_reader = None
        return chunk

    # -- start_response and write ---------------------------------------------------------------------------
    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> WriteCallable:
        if exc_info is not None:
            try:
                if self.channel is not None:
                    raise exc_info[1].with_traceback(exc_info[2])  # too late to change the response
            finally:
                exc_info = None  # no reference cycle through the traceback
            self.buffered = None  # the replaced response's data goes too
        elif self.status_code:
            raise WSGIResponseError("start_response() was called a second time without exc_info (PEP 3333)")
        self.status_code, self.headers, self.content_length = _check_head(status, headers)
        return self.write

    def write(self, data: bytes) -> None:
        """The legacy ``write()`` callable: its data goes out before the iterable's."""
        if not self.status_code:
            raise WSGIResponseError("write() was called before start_response()")
        self.emit(_as_bytes(data))

    def emit(self, data: bytes) -> None:
        """One piece of the body: kept when it completes the Content-Length, else streamed."""
        if not data:
            return  # PEP 3333: the head waits for the first non-empty chunk
        if not self.status_code:
            self.require_head()
        channel = self.channel
        limit = self.content_length
        if channel is None:
            if self.buffered is None:
                if 0 <= limit <= len(data):
                    self.buffered = data
                    return
                self.start_stream(data)
                return
            self.overflow(len(data))
            return
        if limit >= 0:
            room = limit - self.sent
            if len(data) > room:
                self.overflow(len(data) - max(room, 0))
                if room <= 0:
                    return
                data = data[:room]
        self.sent += len(data)
        channel.push(data)

    def overflow(self, extra: int) -> None:
        if not self.overflow_logged:
            self.overflow_logged = True
            error_logger.error(
                "WSGI application for %s %s produced more than its Content-Length (%d); dropped %d bytes",
                self.request.method,
                self.request.path,
                self.content_length,
                extra,
            )

    def start_stream(self, first: bytes) -> None:
        channel = self.channel = _Channel(self.loop)
        self.sent = len(first)
        self.resolve(_StreamedResponse(self.status_code, self.headers, first, channel))

    def resolve(self, outcome: Response | BaseException) -> None:
        """Hand the response (or the error) to ``handle`` on the loop."""
        head = self.head
        if head is not None:
            self.loop.call_soon_threadsafe(_set_result, head, outcome)

    # -- the run --------------------------------------------------------------------------------------------
    def run(self) -> None:
        """Call the app and hand its response over (runs in a worker thread)."""
        iterable: Any = None
        outcome: Response | BaseException | None
        try:
            iterable = self.adapter.app(self.environ(), self.start_response)
            outcome = self.respond(iterable)
        except BaseException as exc:
            outcome = exc
        if not isinstance(outcome, _FileWrapperResponse):
            # PEP 3333: close() whatever happened, in the thread that ran the app.
            close = getattr(iterable, "close", None)
            if close is not None:
                try:
                    close()
                except BaseException as exc:
                    if isinstance(outcome, Response) and self.channel is None:
                        outcome = exc  # nothing sent yet: a 500 instead
                    else:
                        error_logger.exception("Exception closing the WSGI response iterable")
        try:
            self.finish(outcome)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    def respond(self, iterable: Iterable[bytes]) -> Response | None:
        """The response, or None when it was streamed to the end."""
        kind = type(iterable)
        # PERF: exact type checks first; isinstance only for the rare subclass.
        if (
            (kind is list or kind is tuple or isinstance(iterable, (list, tuple)))
            and self.channel is None
            and self.buffered is None
        ):
            try:
                body = b"".join(iterable)
            except TypeError:
                for item in iterable:
                    _as_bytes(item)  # raises the clear error
                raise
            self.require_head()
            if body:
                self.buffered = body
            return self.complete()
        if kind is FileWrapper and self.channel is None and self.buffered is None:
            self.require_head()
            response = self.file_response(iterable)  # type: ignore[arg-type]
            if response is not None:
                return response
        for item in iterable:
            self.emit(_as_bytes(item))
            if self.buffered is not None:
                break  # the Content-Length is complete; the rest is not sent (PEP 3333)
        self.require_head()
        if self.channel is None:
            return self.complete()
        return None

    def require_head(self) -> None:
        if not self.status_code:
            raise WSGIResponseError("the WSGI application returned without calling start_response()")

    def complete(self) -> Response:
        """The whole response as one plain ``Response``."""
        body = self.buffered or b""
        status = self.status_code
        headers = self.headers
        limit = self.content_length
        no_body = status in _NO_BODY_STATUSES or self.request.method == "HEAD"
        if limit < 0:
            # HEAD: the length only when the app produced the body; 204/304: never (RFC 9110).
            if status not in _NO_BODY_STATUSES and (body or self.request.method != "HEAD"):
                headers.append((b"content-length", b"%d" % len(body)))
        elif len(body) > limit:
            self.overflow(len(body) - limit)
            body = body[:limit]
        elif len(body) < limit and not no_body:
            error_logger.error(
                "WSGI application for %s %s produced %d bytes of its Content-Length %d; closing",
                self.request.method,
                self.request.path,
                len(body),
                limit,
            )
            headers.append((b"connection", b"close"))  # the client sees a short body, then the close
        return _plain_response(status, headers, body)

    def file_response(self, wrapper: FileWrapper) -> Response | None:
        """A zero-copy response for a file_wrapper over a regular file; None for other file-likes."""
        filelike = wrapper.filelike
        try:
            fd = filelike.fileno()
            info = os.fstat(fd)
            offset = filelike.tell()
        except (AttributeError, OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        remaining = max(info.st_size - offset, 0)
        limit = self.content_length
        if limit > remaining:
            return None  # too short for its Content-Length: iterated, and the connection closed after it
        if limit < 0:
            limit = remaining
            if self.status_code not in _NO_BODY_STATUSES:
                self.headers.append((b"content-length", b"%d" % remaining))
        return _FileWrapperResponse(self.status_code, self.headers, wrapper, offset, limit)

    def finish(self, outcome: Response | BaseException | None) -> None:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            # SystemExit/KeyboardInterrupt from the app must not stop the server's loop: re-raised there.
            error = RuntimeError(f"the WSGI application raised {type(outcome).__name__}")
            error.__cause__ = outcome
            outcome = error
        channel = self.channel
        if channel is None:
            assert outcome is not None
            self.resolve(outcome)
            return
        if isinstance(outcome, BaseException):
            if isinstance(outcome, _Gone) or channel.gone:
                return  # nobody is writing: nothing to report
            try:
                channel.push(_Failure(outcome))  # the engine logs it and closes the connection
            except _Gone:
                pass
            return
        limit = self.content_length
        if limit >= 0 and self.sent < limit and self.request.method != "HEAD":
            failure = WSGIResponseError(
                f"the WSGI application produced {self.sent} bytes of its Content-Length {limit}"
            )
            try:
                channel.push(_Failure(failure))
            except _Gone:
                pass
            return
        try:
            channel.push(_END)
        except _Gone:
            pass


async def _read(reader: BodyReader) -> bytes:
    return await reader()


async def _read_all(reader: BodyReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = await reader()
        if not chunk:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.append(chunk)


def _check_head(status: Any, headers: Any) -> tuple[int, list[tuple[bytes, bytes]], int]:
    """Validate ``start_response``'s status and headers: (status code, raw headers, Content-Length or -1)."""
    if type(status) is not str:
        raise WSGIResponseError(f"the WSGI status must be a str like '200 OK', got {type(status).__name__}")
    match = _STATUS_RE.fullmatch(status)
    if match is None:
        raise WSGIResponseError(f"invalid WSGI status line {status!r}: expected 'NNN Reason' (e.g. '200 OK')")
    code = int(match.group(1))
    if code < 200:
        raise WSGIResponseError(f"status {status!r}: a WSGI response can't be informational (1xx)")
    if not isinstance(headers, list):
        raise WSGIResponseError(
            f"the WSGI response headers must be a list of (name, value) tuples, got {type(headers).__name__}"
        )
    raw: list[tuple[bytes, bytes]] = []
    content_length = -1
    for header in headers:
        if type(header) is not tuple or len(header) != 2:
            raise WSGIResponseError(f"WSGI response header {header!r} is not a (name, value) tuple")
        name, value = header
        if type(name) is not str or type(value) is not str:
            raise WSGIResponseError(f"WSGI response header {header!r}: name and value must be str")
        if _TOKEN_RE.fullmatch(name) is None:
            raise WSGIResponseError(f"invalid WSGI response header name {name!r}")
        if _BAD_VALUE_RE.search(value) is not None:
            raise WSGIResponseError(f"WSGI response header {name!r} has CR, LF or NUL in its value {value!r}")
        try:
            raw_value = value.encode("latin-1")
        except UnicodeEncodeError:
            raise WSGIResponseError(
                f"WSGI response header {name!r}: value {value!r} is not latin-1 (encode it, e.g. RFC 8187)"
            ) from None
        raw_name = name.lower().encode("latin-1")
        if raw_name == b"content-length":
            if not raw_value.isdigit() or (content_length >= 0 and int(raw_value) != content_length):
                raise WSGIResponseError(f"invalid WSGI Content-Length {value!r}")
            if content_length >= 0:
                continue
            if code == 204:
                continue  # a 204 carries no Content-Length (RFC 9110)
            content_length = int(raw_value)
        elif raw_name in _HOP_BY_HOP:
            continue  # the engine frames the body and manages the connection
        elif raw_name == b"connection" and raw_value.strip().lower() != b"close":
            continue
        raw.append((raw_name, raw_value))
    return code, raw, content_length


# ------------------------------------------------------------------------------------------------------------
# The pool and the adapter
# ------------------------------------------------------------------------------------------------------------
class _WorkerPool:
    """A fixed set of threads taking jobs from one queue (lighter per job than ``ThreadPoolExecutor``)."""

    __slots__ = ("_queue", "size", "threads")

    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: SimpleQueue[Callable[[], None] | None] = SimpleQueue()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        if self.threads:
            return
        queue = self._queue
        for number in range(self.size):
            thread = threading.Thread(
                target=self._work, args=(queue,), name=f"fulmen-wsgi-{number}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def submit(self, job: Callable[[], None]) -> None:
        if not self.threads:
            self.start()
        self._queue.put(job)

    @staticmethod
    def _work(queue: SimpleQueue[Callable[[], None] | None]) -> None:
        get = queue.get
        while True:
            job = get()
            if job is None:
                return
            try:
                job()
            except BaseException:
                error_logger.exception("Internal error in a WSGI worker thread")

    def stop(self) -> list[threading.Thread]:
        """Ask every thread to exit once its current job is done; returns them."""
        threads, self.threads = self.threads, []
        queue, self._queue = self._queue, SimpleQueue()  # a restarted pool doesn't see these sentinels
        for _ in threads:
            queue.put(None)
        return threads


class WSGIAdapter:
    """Serves a PEP 3333 app through the engine's ``handle(request)`` interface, in a pool of ``threads``.

    ``multiprocess`` is ``wsgi.multiprocess`` (True when several engine workers serve the app).
    """

    #: The engine may dispatch before the body arrived and hand the body reader its chunks as they come.
    streams_request_body: ClassVar[bool] = True

    def __init__(
        self,
        app: WSGIApplication,
        *,
        threads: int = DEFAULT_THREADS,
        multiprocess: bool = False,
        shutdown_timeout: float = 5.0,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.app = app
        self.threads = threads
        self.shutdown_timeout = shutdown_timeout
        self._pool = _WorkerPool(threads)
        #: The environ keys that never change, copied into each request's environ.
        self.base_environ: dict[str, Any] = {
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "wsgi.version": (1, 0),
            "wsgi.errors": _ERRORS,
            "wsgi.multithread": True,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
            "wsgi.file_wrapper": FileWrapper,
        }

    async def handle(self, request: Request) -> Response:
        """Run the app for ``request`` in a worker thread; its exceptions before any byte was sent propagate
        (the engine answers 500 and logs them)."""
        exchange = _Exchange(self, request, asyncio.get_running_loop())
        reader = request._read_body
        if exchange.body is None and reader is not None:
            # PERF: most bodies arrive with their head (one packet): read them here, on the loop, so the
            # app's thread needs no hop to get them. The engine dispatches at the head, before the packet's
            # body bytes are parsed; one loop turn later they have reached the reader.
            if not getattr(reader, "done", True):
                await asyncio.sleep(0)
            if getattr(reader, "done", False):
                exchange.body = await _read_all(reader)
        self._pool.submit(exchange.run)
        head = exchange.head
        assert head is not None
        try:
            return await head
        finally:
            exchange.head = None

    async def startup(self) -> None:
        """Start the worker threads (WSGI has no lifespan of its own)."""
        self._pool.start()

    async def shutdown(self) -> None:
        """Stop the worker threads, waiting up to ``shutdown_timeout`` for those still running the app."""
        threads = self._pool.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout
        while loop.time() < deadline and any(thread.is_alive() for thread in threads):
            await asyncio.sleep(0.01)
        busy = sum(thread.is_alive() for thread in threads)
        if busy:
            error_logger.warning("%d WSGI worker thread(s) still running the application at shutdown", busy)
