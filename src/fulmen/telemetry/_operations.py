"""Operation spans (``fastapi.endpoint``, ``fastapi.dependencies``, ``fastapi.serialization``).

Imported when an app that may be instrumented is created; endpoint plans compiled after that wrap their
steps with these (``fulmen.plan.compile_plan``). Plans compiled before, or in a process that never asked
for telemetry, have no wrapper at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fulmen.telemetry._api import current, operation, run_sync_operation
from fulmen.websockets import WebSocket


def timed_invoke(
    invoke: Callable[[dict[str, Any]], Awaitable[Any]], call: Callable[..., Any], mode: str
) -> Callable[[dict[str, Any]], Awaitable[Any]]:
    """``invoke`` in a ``fastapi.endpoint`` span (``mode``: "async", "inline", "threadpool" or "other")."""
    if mode == "async":

        async def endpoint_async(kw: dict[str, Any]) -> Any:
            with operation("endpoint", call):
                return await call(**kw)

        return endpoint_async
    if mode == "threadpool":
        from fulmen._concurrency import run_in_threadpool

        async def endpoint_in_threadpool(kw: dict[str, Any]) -> Any:
            # The span starts in the worker thread, where the endpoint runs (its context is copied there).
            return await run_in_threadpool(run_sync_operation, "endpoint", call, kw)

        return endpoint_in_threadpool

    async def endpoint_other(kw: dict[str, Any]) -> Any:
        with operation("endpoint", call):
            return await invoke(kw)

    return endpoint_other


def timed_call(call: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """An ``async def`` endpoint called with keyword arguments inside a ``fastapi.endpoint`` span."""

    async def endpoint(**kw: Any) -> Any:
        with operation("endpoint", call):
            return await call(**kw)

    return endpoint


def timed_serialize(serialize: Callable[[Any], Any], call: Callable[..., Any]) -> Callable[[Any], Any]:
    """``serialize`` inside a ``fastapi.serialization`` span, for results that aren't already a Response."""
    from fulmen.responses import Response

    def serialization(result: Any) -> Any:
        if isinstance(result, Response):
            return serialize(result)
        with operation("serialization", call):
            return serialize(result)

    return serialization


def timed_solve(runner: Any, call: Callable[..., Any]) -> Callable[[Any], Awaitable[Any]]:
    """``runner.solve`` with the solving (not the body's parsing, as in FastAPI) in a ``fastapi.dependencies``
    span; the request or WebSocket, the values and the errors go into the telemetry data."""

    async def dependencies(run: Any) -> Any:
        found = current()
        data = found.data if found is not None else None
        if data is not None:
            connection = run.request
            if isinstance(connection, WebSocket):
                data.websocket = connection
            else:
                data.request = connection
        await runner.read_body(run)
        if data is not None:
            if runner.is_form:
                from fulmen.forms import read_route_form

                data.body = await read_route_form(run.http_request)  # parsed once: the same FormData
            elif run.body is not None:
                data.body = _parsed_body(run.body, run.request)
        with operation("dependencies", call):
            values = await runner.solve_values(run)
        if data is not None:
            data.values = values
            data.errors = []
        return values

    return dependencies


def _parsed_body(body: Any, request: Any) -> Any:
    """The body as FastAPI reads it: parsed JSON for a JSON content type, else the bytes (None when empty)."""
    value = body.data
    if isinstance(value, bytes):
        if not value:
            return None
        from fulmen.plan import _is_json_content_type

        if _is_json_content_type(request):
            import json

            try:
                return json.loads(value)
            except ValueError:
                return value
    return value
