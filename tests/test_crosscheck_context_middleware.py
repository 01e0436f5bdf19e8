"""Cross-check of request-context middleware patterns against FastAPI, through every front door.

asgi-correlation-id and starlette-context keep per-request data in a ``ContextVar`` set by middleware: a pure
ASGI one that also rewrites ``scope["headers"]`` (the endpoint reads the id from the request) and echoes the
id in the response, even on the 500 of an ``Exception`` handler; or Starlette's ``BaseHTTPMiddleware`` that
sets a dict for the request and resets it afterwards. Endpoints (``async def`` and ``def``, which runs in a
worker thread) and a log filter read the variable. Our own middleware below follows those patterns.
"""

import contextvars
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.middleware.base import BaseHTTPMiddleware

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
request_data: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("data", default=None)


class RequestIdMiddleware:
    """Takes ``X-Request-ID`` (or makes one), puts it in the context, the request headers and the response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        value = headers.get(b"x-request-id", b"").decode() or "generated-id"
        request_id.set(value)
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"x-request-id"]
        scope["headers"].append((b"x-request-id", value.encode()))

        async def echoing_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-request-id", value.encode())]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, echoing_send)


class DataMiddleware(BaseHTTPMiddleware):
    """Starlette's ``BaseHTTPMiddleware``: a dict in the context for the request, reset afterwards."""

    async def dispatch(self, request: Any, call_next: Any) -> Any:
        token = request_data.set({"agent": request.headers.get("user-agent")})
        try:
            return await call_next(request)
        finally:
            request_data.reset(token)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.request_id} {record.getMessage()}")  # type: ignore[attr-defined]


log = logging.getLogger("tests.context_middleware")
collected = Collect()
collected.addFilter(RequestIdFilter())
log.addHandler(collected)
log.setLevel(logging.INFO)
log.propagate = False


def build(fw: Any) -> Any:
    app = fw.FastAPI()
    Request = fw.Request

    @app.get("/async")
    async def in_async(request: Request) -> Any:
        log.info("async endpoint")
        return [request_id.get(), request.headers.get("x-request-id"), request_data.get()]

    @app.get("/sync")
    def in_thread(request: Request) -> Any:
        log.info("def endpoint")
        return [request_id.get(), request.headers.get("x-request-id"), request_data.get()]

    @app.get("/boom")
    async def boom(request: Request) -> Any:
        request.state.step = "endpoint"
        raise RuntimeError("boom")

    @app.exception_handler(Exception)
    async def unhandled(request: Any, exc: Exception) -> Any:
        return fw.responses.JSONResponse(
            # Starlette keeps request.state in the scope: the handler, outside the middleware, sees it.
            {"detail": "Internal server error", "step": getattr(request.state, "step", None)},
            status_code=500,
            headers={"X-Request-ID": request_id.get() or "", "X-Data": str(request_data.get())},
        )

    app.add_middleware(DataMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app


CASES: list[Case] = [
    ("async-given-id", "GET", "/async", {"headers": {"x-request-id": "abc"}}),
    ("async-generated-id", "GET", "/async", {}),
    ("def-given-id", "GET", "/sync", {"headers": {"x-request-id": "def"}}),
    ("exception-handler-500", "GET", "/boom", {"headers": {"x-request-id": "err"}}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_context_middleware_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


def test_log_filter_sees_the_request_id(serve: Callable[..., httpx.Client]) -> None:
    client = serve(build(fulmen))
    collected.lines.clear()
    client.get("/async", headers={"x-request-id": "one"})
    client.get("/sync", headers={"x-request-id": "two"})
    assert collected.lines == ["one async endpoint", "two def endpoint"]
