"""Raw ceiling: uvloop + httptools answering every request with one precomputed response.

No routing, no JSON work, no Request objects: the upper bound of "parse + write" on this
machine. Every path and method gets the same bytes (the body of E1, ``GET /``).
Run as ``python ceiling.py PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import httptools
import uvloop

BODY = b'{"message":"Hello, World!"}'

# A static date header is fine for a ceiling: it keeps the response the same size as a real one.
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    b"server: ceiling\r\n"
    b"content-length: " + str(len(BODY)).encode() + b"\r\n"
    b"content-type: application/json\r\n"
    b"\r\n" + BODY
)

BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class CeilingProtocol(asyncio.Protocol):
    """One connection: feed bytes to llhttp, write the fixed response per complete message."""

    __slots__ = ("parser", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close()
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(BAD_REQUEST)
            self._close()

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None:
            return
        transport.write(RESPONSE)
        if not self.parser.should_keep_alive():
            self._close()

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        CeilingProtocol, host="127.0.0.1", port=port, reuse_address=True, backlog=2048
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8000))
