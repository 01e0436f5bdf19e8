"""The file-like objects of a WSGI environ: ``wsgi.input``, ``wsgi.errors`` and ``wsgi.file_wrapper``.

Used by ``fulmen.engine.wsgi_adapter`` (which re-exports them); they run in the app's worker thread.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

error_logger = logging.getLogger("fulmen.error")


class InputStream:
    """``wsgi.input``: the request body as a binary file (read, readline, readlines, iteration).

    Read in the app's thread; each time it needs more bytes it asks the loop for the next chunk of the
    request body and waits for it (only this thread waits).
    """

    __slots__ = ("_buf", "_fetch", "_pos")

    def __init__(self, body: bytes, fetch: Callable[[], bytes] | None = None) -> None:
        self._buf = body
        self._pos = 0
        #: Returns the next chunk from the loop, b"" at the end; None when ``body`` is the whole body.
        self._fetch = fetch

    def _next_chunk(self) -> bytes:
        fetch = self._fetch
        if fetch is None:
            return b""
        chunk = fetch()
        if not chunk:
            self._fetch = None
        return chunk

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is negative or None); b"" at the end."""
        buf, pos = self._buf, self._pos
        available = len(buf) - pos
        if size is not None and 0 <= size <= available:
            self._pos = pos + size
            return buf if pos == 0 and size == len(buf) else buf[pos : pos + size]
        want = sys.maxsize if size is None or size < 0 else size
        parts = [buf[pos:]] if available else []
        have = available
        while have < want:
            chunk = self._next_chunk()
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        if have > want:
            self._buf, self._pos = data, want
            return data[:want]
        self._buf, self._pos = b"", 0
        return data

    def readline(self, size: int | None = -1) -> bytes:
        """One line, with its b"\\n" (at most ``size`` bytes when ``size`` is not negative)."""
        limit = sys.maxsize if size is None or size < 0 else size
        buf, pos = self._buf, self._pos
        end = buf.find(b"\n", pos, pos + limit if limit != sys.maxsize else len(buf))
        if end >= 0:
            self._pos = end + 1
            return buf[pos : end + 1]
        if len(buf) - pos >= limit:
            self._pos = pos + limit
            return buf[pos : pos + limit]
        parts = [buf[pos:]]
        have = len(buf) - pos
        while have < limit:
            chunk = self._next_chunk()
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
            if chunk.find(b"\n") >= 0:  # PERF: find, not `in`, which first tries b"\n" as an int
                break
        data = b"".join(parts)
        cut = data.find(b"\n") + 1 or len(data)
        cut = min(cut, limit)
        self._buf, self._pos = data, cut
        return data[:cut]

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        """The remaining lines (stops once ``hint`` bytes were read, when ``hint`` is positive)."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Nothing to release: the engine owns the connection."""


class ErrorStream:
    """``wsgi.errors``: what the app writes goes to the "fulmen.error" log, one record per write."""

    __slots__ = ()

    def write(self, text: str) -> int:
        message = text.rstrip("\n")
        if message:
            error_logger.error("%s", message)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Records are emitted as they are written."""


_ERRORS = ErrorStream()


class FileWrapper:
    """``wsgi.file_wrapper``: a file-like returned as the response body.

    Returned over a real file (one with a ``fileno``), the engine sends it with ``sendfile``; anything else
    is read in ``blksize`` pieces. ``close()`` closes the file-like.
    """

    __slots__ = ("blksize", "filelike")

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        data: bytes = self.filelike.read(self.blksize)
        if not data:
            raise StopIteration
        return data

    def close(self) -> None:
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()
