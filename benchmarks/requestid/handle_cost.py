"""Per-request cost of ``RequestIdMiddleware`` in-process: ``app.handle`` on E1, with and without it.

``python handle_cost.py [N]`` prints microseconds per request for each variant (best of 5 runs, variants
alternated so the machine's noise hits all alike). No sockets: this is the middleware's own price.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from fulmen import FastAPI
from fulmen.middleware import Handle
from fulmen.middleware.requestid import RequestIdMiddleware
from fulmen.requests import Request
from fulmen.responses import Response


class EmptyMiddleware:
    """A native middleware that only calls the next handle: the price of having a middleware at all."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def wrap_handle(self, handle: Handle) -> Handle:
        async def passing(request: Request) -> Response:
            return await handle(request)

        return passing


def build(**options: Any) -> FastAPI:
    app = FastAPI()
    if options.pop("empty", False):
        app.add_middleware(EmptyMiddleware)
    elif options.pop("enabled", True):
        app.add_middleware(RequestIdMiddleware, **options)

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"message": "Hello, World!"}

    return app


async def per_request_us(app: FastAPI, headers: list[tuple[bytes, bytes]], n: int) -> float:
    handle = app.handle
    client = ("127.0.0.1", 50000)
    started = time.perf_counter()
    for _ in range(n):
        request = Request(
            "GET", b"/", b"", list(headers), None, b"", None, client, None, "http", "1.1", "", app
        )
        await handle(request)
    return (time.perf_counter() - started) / n * 1e6


async def main(n: int) -> None:
    host = [(b"host", b"127.0.0.1"), (b"user-agent", b"wrk")]
    variants = {
        "no middleware": (build(enabled=False), host),
        "an empty native middleware (reference)": (build(empty=True), host),
        "RequestIdMiddleware, ID generated": (build(), host),
        "RequestIdMiddleware, ID taken from X-Request-ID": (build(), [*host, (b"x-request-id", b"abc-123")]),
        "RequestIdMiddleware, trust_incoming=False": (build(trust_incoming=False), host),
    }
    for app, headers in variants.values():
        await per_request_us(app, headers, 1000)  # warm up (and build the middleware stack)
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(5):
        for name, (app, headers) in variants.items():
            best[name] = min(best[name], await per_request_us(app, headers, n))
    base = best["no middleware"]
    print(f"{'variant':50} {'us/request':>10} {'added us':>9}")
    for name, us in best.items():
        print(f"{name:50} {us:10.2f} {us - base:9.2f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
