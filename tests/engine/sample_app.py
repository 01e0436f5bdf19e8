"""A small application with the engine's app contract (handle/startup/shutdown), independent of the core.

Used by the engine tests in-process and by the subprocess tests (``fulmen run tests.engine.sample_app:app``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fulmen.requests import Request
from fulmen.responses import JSONResponse, PlainTextResponse, Response

Handler = Callable[[Request], Awaitable[Response]]


class SampleApp:
    """Routes by exact path; exceptions from handlers propagate out of ``handle`` on purpose."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.started = False
        self.stopped = False
        self.calls = 0
        self.background_runs: list[str] = []

    def route(self, path: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.routes[path] = fn
            return fn

        return register

    async def handle(self, request: Request) -> Response:
        self.calls += 1
        handler = self.routes.get(request.path)
        if handler is None:
            return PlainTextResponse("Not Found", status_code=404)
        return await handler(request)

    async def startup(self) -> None:
        if os.environ.get("SAMPLE_APP_FAIL_STARTUP"):
            raise RuntimeError("startup failed on purpose")
        marker = os.environ.get("SAMPLE_APP_DIE_IF_FILE")
        if marker and os.path.exists(marker):
            os._exit(5)  # workers started while the file exists die at start (a bad deploy)
        if os.environ.get("SAMPLE_APP_DIE_AT_STARTUP"):
            os._exit(
                int(os.environ["SAMPLE_APP_DIE_AT_STARTUP"])
            )  # a process that dies at start (no traceback)
        self.started = True

    async def shutdown(self) -> None:
        self.stopped = True
        marker = os.environ.get("SAMPLE_APP_SHUTDOWN_MARKER")
        if marker:
            with open(marker, "w") as f:
                f.write("shutdown ran")


def _query(request: Request) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in request.query_string.decode().split("&"):
        if "=" in pair:
            k, v = pair.split("=", 1)
            out[k] = v
    return out


def make_app() -> SampleApp:
    app = SampleApp()

    @app.route("/")
    async def index(request: Request) -> Response:
        return PlainTextResponse("hello")

    @app.route("/echo")
    async def echo(request: Request) -> Response:
        body = await request.body()
        data: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path.decode("latin-1"),
            "query": request.query_string.decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers],
            "body": body.decode("latin-1"),
            "http_version": request.http_version,
            "client": list(request.client) if request.client else None,
        }
        return JSONResponse(data)

    @app.route("/slow")
    async def slow(request: Request) -> Response:
        delay = float(_query(request).get("d", "0.3"))
        await asyncio.sleep(delay)
        return PlainTextResponse(f"slow {_query(request).get('tag', '')}".strip())

    @app.route("/fast")
    async def fast(request: Request) -> Response:
        return PlainTextResponse(f"fast {_query(request).get('tag', '')}".strip())

    @app.route("/boom")
    async def boom(request: Request) -> Response:
        raise RuntimeError("handler exploded")

    @app.route("/boom-late")
    async def boom_late(request: Request) -> Response:
        await asyncio.sleep(0.01)
        raise RuntimeError("handler exploded after suspending")

    @app.route("/big")
    async def big(request: Request) -> Response:
        size = int(_query(request).get("n", "1048576"))
        return Response(b"x" * size, media_type="application/octet-stream")

    @app.route("/pid")
    async def pid(request: Request) -> Response:
        return PlainTextResponse(str(os.getpid()))

    @app.route("/block")
    async def block(request: Request) -> Response:
        time.sleep(float(_query(request).get("d", "1")))  # blocks the event loop on purpose
        return PlainTextResponse("unblocked")

    @app.route("/status")
    async def status(request: Request) -> Response:
        return Response(b"", status_code=int(_query(request).get("code", "200")))

    @app.route("/bad-header")
    async def bad_header(request: Request) -> Response:
        response = PlainTextResponse("x")
        response.raw_headers.append((b"x-evil", b"a\r\nset-cookie: injected=1"))
        return response

    @app.route("/background")
    async def background(request: Request) -> Response:
        async def task() -> None:
            await asyncio.sleep(0)
            app.background_runs.append("ran")

        async def failing() -> None:
            raise RuntimeError("background failed on purpose")

        tag = _query(request).get("fail")
        response = PlainTextResponse("ok")
        response.background = failing if tag else task  # type: ignore[assignment]
        return response

    return app


app = make_app()
