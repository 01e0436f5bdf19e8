"""Writing streamed bodies on the engine: chunked framing, backpressure and zero-copy file sending.

``SocketBodyWriter`` is the engine's ``BodyWriter`` (``fulmen.responses``): the protocol creates one per
streamed response, after writing the head. Files go out with ``loop.sendfile`` where the loop implements it
(the stdlib loop); uvloop has no ``loop.sendfile``, so on a plain TCP socket the writer calls ``os.sendfile``
on the socket itself whenever the transport's buffer is empty, which keeps the bytes in order; otherwise (TLS,
chunked framing, a full socket) it reads chunks in the thread pool and writes them through the transport.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, BinaryIO, Protocol

from fulmen.responses import read_file_chunk

#: Bytes per read when a file is copied through the transport (as Starlette's FileResponse.chunk_size).
COPY_CHUNK = 64 * 1024
#: Bytes per os.sendfile call; the loop runs other callbacks between calls.
SENDFILE_CHUNK = 1024 * 1024
#: Loop classes known to lack ``loop.sendfile`` (uvloop raises NotImplementedError).
_NO_LOOP_SENDFILE: set[type[Any]] = set()


class ClientGone(Exception):
    """The connection closed while a body was being written."""


class FlowControl(Protocol):
    """What the writer needs from the connection (``HttpProtocol`` has it)."""

    def current_transport(self) -> asyncio.Transport | None: ...

    async def wait_writable(self) -> None: ...


def _plain_socket(transport: asyncio.BaseTransport) -> bool:
    """True for a TCP/Unix socket without TLS: bytes written to its fd are the bytes the client gets."""
    get = transport.get_extra_info
    return get("socket") is not None and get("sslcontext") is None and get("ssl_object") is None


class SocketBodyWriter:
    """Writes one response body to the connection (``transfer-encoding: chunked`` when ``chunked``)."""

    __slots__ = ("_chunked", "_flow", "_loop")

    def __init__(self, flow: FlowControl, loop: asyncio.AbstractEventLoop, chunked: bool) -> None:
        self._flow = flow
        self._loop = loop
        self._chunked = chunked

    def _transport(self) -> asyncio.Transport:
        transport = self._flow.current_transport()
        if transport is None or transport.is_closing():
            raise ClientGone()
        return transport

    async def write(self, data: bytes) -> None:
        """Send ``data`` (one chunk when chunked) and wait while the transport is over its high-water mark."""
        transport = self._transport()
        if self._chunked:
            size = b"%x\r\n" % len(data)
            if len(data) < 16384:
                transport.write(size + data + b"\r\n")  # PERF: one small copy beats three buffers
            else:
                transport.writelines((size, data, b"\r\n"))
        else:
            transport.write(data)
        await self._flow.wait_writable()

    def finish(self) -> None:
        """Write the last chunk (chunked bodies only)."""
        if self._chunked:
            self._transport().write(b"0\r\n\r\n")

    async def write_file(self, file: BinaryIO, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``file`` from ``offset``: zero-copy when possible, else copied."""
        if count <= 0:
            return
        transport = self._transport()
        if not self._chunked and _plain_socket(transport):
            loop = self._loop
            if type(loop) not in _NO_LOOP_SENDFILE:
                try:
                    await loop.sendfile(transport, file, offset, count, fallback=False)
                    return
                except NotImplementedError:
                    _NO_LOOP_SENDFILE.add(type(loop))
                except RuntimeError:
                    pass  # not for this transport; raised before any byte was sent
            if hasattr(os, "sendfile"):
                await self._sendfile_fd(file, offset, count)
                return
        await self._copy(file, offset, count)

    async def _sendfile_fd(self, file: BinaryIO, offset: int, count: int) -> None:
        in_fd = file.fileno()
        out_fd = self._transport().get_extra_info("socket").fileno()
        while count > 0:
            transport = self._transport()  # checked before each call: a closed transport's fd may be reused
            if transport.get_write_buffer_size() == 0:
                try:
                    sent = os.sendfile(out_fd, in_fd, offset, min(count, SENDFILE_CHUNK))
                except BlockingIOError:
                    sent = -1
                except OSError as exc:
                    raise ClientGone() from exc
                if sent == 0:
                    raise RuntimeError(f"File {file.name!r} is shorter than expected")
                if sent > 0:
                    offset += sent
                    count -= sent
                    if count:
                        await asyncio.sleep(0)  # let other connections run between large sends
                    continue
            # The socket is full or the transport still holds bytes: pass one chunk through the transport,
            # which waits for the socket and applies backpressure; sendfile resumes once the buffer is empty.
            sent = await self._copy_chunk(file, offset, min(count, COPY_CHUNK))
            offset += sent
            count -= sent

    async def _copy(self, file: BinaryIO, offset: int, count: int) -> None:
        while count > 0:
            sent = await self._copy_chunk(file, offset, min(count, COPY_CHUNK))
            offset += sent
            count -= sent

    async def _copy_chunk(self, file: BinaryIO, offset: int, size: int) -> int:
        from fulmen._concurrency import run_in_threadpool

        data: bytes = await run_in_threadpool(read_file_chunk, file, offset, size)
        if not data:
            raise RuntimeError(f"File {file.name!r} is shorter than expected")
        await self.write(data)
        return len(data)
