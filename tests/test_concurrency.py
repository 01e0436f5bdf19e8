"""run_eager/start_eager: a handler's first step runs inline, and the task keeps asyncio's contract.

On 3.10/3.11 these are fulmen's own eager task (``_concurrency._EagerTask``); on 3.12+ asyncio's
``eager_start``. Either way: the result comes back without a loop turn, ``current_task()`` is the task, and a
dropped task still reports what asyncio reports (an exception nobody retrieved, a task destroyed pending).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
from collections.abc import Callable
from typing import Any

from fulmen._concurrency import create_task_in, run_eager, start_eager, task_context

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def _in_callback(fn: Callable[[asyncio.AbstractEventLoop], Any]) -> tuple[Any, list[dict[str, Any]]]:
    """Run ``fn(loop)`` from a loop callback (as the engine does) and collect the loop's error reports."""
    loop = asyncio.new_event_loop()
    reports: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    out: list[Any] = []
    try:
        loop.call_soon(lambda: out.append(fn(loop)))
        loop.run_until_complete(asyncio.sleep(0.01))
        gc.collect()
        return out[0], reports
    finally:
        loop.close()


def test_a_coroutine_that_returns_at_once_is_finished_inline() -> None:
    seen: list[Any] = []

    async def handler() -> str:
        seen.append(asyncio.current_task())
        return "done"

    def go(loop: asyncio.AbstractEventLoop) -> Any:
        finished, value, _ = run_eager(handler(), loop)
        return finished, value, seen[0] is not None

    (finished, value, had_task), reports = _in_callback(go)
    assert (finished, value, had_task) == (True, "done", True)
    assert reports == []  # a finished task that returned is dropped silently


def test_a_coroutine_that_suspends_becomes_a_running_task() -> None:
    async def handler() -> int:
        await asyncio.sleep(0)
        return 7

    results: list[Any] = []

    def go(loop: asyncio.AbstractEventLoop) -> Any:
        finished, task, _ = run_eager(handler(), loop)
        assert not finished and not task.done()
        task.add_done_callback(lambda t: results.append(t.result()))
        return task

    task, reports = _in_callback(go)
    assert results == [7] and task.result() == 7
    assert reports == []


def test_an_exception_comes_back_in_a_done_task() -> None:
    async def handler() -> None:
        raise LookupError("boom")

    def go(loop: asyncio.AbstractEventLoop) -> Any:
        finished, task, _ = run_eager(handler(), loop)
        assert not finished and task.done()
        return type(task.exception()).__name__

    name, reports = _in_callback(go)
    assert name == "LookupError"
    assert reports == []  # retrieved: nothing to report


def test_a_dropped_task_with_an_unretrieved_exception_is_reported() -> None:
    async def handler() -> None:
        raise LookupError("never looked at")

    def go(loop: asyncio.AbstractEventLoop) -> None:
        start_eager(handler(), loop)  # nobody keeps or reads the task

    _, reports = _in_callback(go)
    assert len(reports) == 1
    assert "exception was never retrieved" in reports[0]["message"]
    assert isinstance(reports[0]["exception"], LookupError)


def test_a_task_destroyed_while_pending_is_reported() -> None:
    async def handler(never: asyncio.Future[None]) -> None:
        await never

    def go(loop: asyncio.AbstractEventLoop) -> None:
        # Only the task's own cycle (task -> coroutine -> future -> wake-up callback) holds it.
        task = start_eager(handler(loop.create_future()), loop)
        assert not task.done()

    _, reports = _in_callback(go)
    assert [r["message"] for r in reports] == ["Task was destroyed but it is pending!"]


def test_work_after_the_response_runs_in_the_handlers_context() -> None:
    """run_eager hands back the handler's context; start_eager and create_task_in run later work in it."""
    seen: list[str] = []

    async def handler() -> str:
        VAR.set("from-handler")
        return "ok"

    async def after(where: str) -> None:
        seen.append(f"{where}: {VAR.get()}")
        VAR.set(f"set by {where}")

    async def suspending_handler() -> None:
        VAR.set("from-suspended")
        await asyncio.sleep(0)

    def go(loop: asyncio.AbstractEventLoop) -> Any:
        finished, value, context = run_eager(handler(), loop)
        assert (finished, value) == (True, "ok")
        assert VAR.get() == "unset"  # the caller's context is untouched
        assert start_eager(after("eager"), loop, context).done()
        scheduled = create_task_in(loop, after("scheduled"), context)
        task = start_eager(suspending_handler(), loop)
        return context, scheduled, task

    (context, scheduled, task), reports = _in_callback(go)
    assert scheduled.done() and reports == []
    assert seen == ["eager: from-handler", "scheduled: set by eager"]
    assert context[VAR] == "set by scheduled"
    suspended_context = task_context(task)
    assert suspended_context is not None and suspended_context[VAR] == "from-suspended"
