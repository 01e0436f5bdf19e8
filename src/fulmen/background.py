"""Work to run after the response has been sent."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from typing import Any

from fulmen._concurrency import run_in_threadpool


def _is_async_callable(func: Any) -> bool:
    """Async functions, partials of them, and objects whose ``__call__`` is ``async def`` (as Starlette)."""
    while isinstance(func, functools.partial):
        func = func.func
    return asyncio.iscoroutinefunction(func) or (
        callable(func) and asyncio.iscoroutinefunction(func.__call__)
    )


class BackgroundTask:
    """One function (sync or async) with its arguments, run after the response is sent."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = _is_async_callable(func)

    async def __call__(self) -> None:
        if self.is_async:
            await self.func(*self.args, **self.kwargs)
        else:
            # In the caller's context and on the handler pool, as Starlette's thread pool runs it:
            # contextvars (and the current OpenTelemetry span) are seen by the task.
            await run_in_threadpool(self.func, *self.args, **self.kwargs)


class BackgroundTasks(BackgroundTask):
    """An ordered list of background tasks; inject it into a handler by annotation."""

    def __init__(self, tasks: list[BackgroundTask] | None = None) -> None:
        self.tasks = list(tasks or [])

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``func(*args, **kwargs)`` to run after the response."""
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    async def __call__(self) -> None:
        telemetry = sys.modules.get("fulmen.telemetry._api")
        for task in self.tasks:
            if telemetry is None:
                await task()
                continue
            # An instrumented request's task runs in a ``fastapi.background_task`` span (FastAPI 0.165).
            with telemetry.operation("background_task", getattr(task, "func", task)):
                await task()
