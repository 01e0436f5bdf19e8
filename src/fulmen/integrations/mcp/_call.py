"""Call an ASGI app in-process: one request in, the whole response (status, headers, body) out.

Tool calls go through the app's ASGI front door so they get exactly what an HTTP client gets: middleware,
dependencies, validation, exception handlers and a 500 for an unhandled error (as fastapi-mcp does with
httpx's ASGI transport, without httpx).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger("fulmen.mcp")


class CallResult:
    """The response to an in-process call."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case), or None."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


async def call_asgi(app: Any, scope: dict[str, Any], body: bytes) -> CallResult:
    """Run ``app`` for ``scope`` with ``body`` and collect its response."""
    done = asyncio.Event()
    sent_body = False
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        # The client stays connected until the whole response is in (a streamed body watches for this).
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        kind = message["type"]
        if kind == "http.response.start":
            status = int(message["status"])
            headers.extend((bytes(k), bytes(v)) for k, v in message.get("headers", ()))
        elif kind == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    except Exception:
        # As an ASGI server does: the app re-raises an unhandled error after its 500 went out (Starlette's
        # convention) for the server to log; without a response the caller gets a 500 of its own.
        logger.exception("Exception in an MCP tool call to %s %s", scope["method"], scope["path"])
        if not done.is_set():
            return CallResult(
                500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error"
            )
    finally:
        done.set()
    return CallResult(status, headers, b"".join(chunks))
