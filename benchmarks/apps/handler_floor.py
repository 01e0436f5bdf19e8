"""The floor of a Python framework on uvloop + httptools: the ceiling plus the least work any framework does.

Per request it keeps the target (``on_url``), looks the path up in a dict, drives an ``async def`` handler
with ``send(None)``, encodes its dict with msgspec and writes a head with its content-length: no Request
object, no validation, no limits, no keep-alive bookkeeping, no error handling. Every path answers E1's body,
so the driver treats it like the ceiling (``fixed_body``). Compare fulmen against this row to see what the
framework costs beyond what any Python handler on this stack must pay.
Run as ``python handler_floor.py PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import httptools
import msgspec
import uvloop

HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    b"server: floor\r\n"
    b"content-type: application/json\r\n"
    b"content-length: "
)
encode = msgspec.json.Encoder().encode


async def root() -> dict[str, str]:
    return {"message": "Hello, World!"}


ROUTES = {b"/": root}


class FloorProtocol(asyncio.Protocol):
    """One connection: parse, call the handler, write its JSON; anything unusual closes the connection."""

    __slots__ = ("parser", "transport", "url")

    def __init__(self) -> None:
        self.transport: Any = None
        self.url = b""
        self.parser = httptools.HttpRequestParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()
                self.transport = None

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None:
            return
        coro = ROUTES.get(self.url.partition(b"?")[0], root)()
        try:
            coro.send(None)
        except StopIteration as done:
            body = encode(done.value)
        else:  # a handler that suspends: not part of the floor
            coro.close()
            transport.close()
            return
        transport.write(b"%s%d\r\n\r\n%s" % (HEAD, len(body), body))
        if not self.parser.should_keep_alive():
            transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        FloorProtocol, host="127.0.0.1", port=port, reuse_address=True, backlog=2048
    )
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
