"""Run handlers: ``async def`` ones eagerly on the loop, ``def`` ones in a thread pool.

Eager start (DESIGN.md §3.3): the coroutine's first step runs right away, inside a real task object so
``asyncio.current_task()``, ``asyncio.timeout()``, ``TaskGroup`` and anyio cancel scopes behave as under any
ASGI server; if it finishes without suspending, nothing is scheduled on the loop at all. Python 3.12+ has
this in C (``eager_start``); on 3.10/3.11 a lean subclass of the pure-Python Task does the same.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
from asyncio import futures, tasks
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

if sys.version_info >= (3, 12):

    def start_eager(
        coro: Coroutine[Any, Any, T],
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context | None = None,
    ) -> asyncio.Future[T]:
        """Start ``coro`` now, in ``context`` (default: a copy of the current one); the returned task is
        already done if it never suspended.

        Must be called from a loop callback (not from inside another running task).
        """
        # PERF: eager_start runs the first step inline and skips scheduling when the coroutine completes.
        return asyncio.Task(coro, loop=loop, context=context, eager_start=True)  # type: ignore[call-arg,unused-ignore]

    def run_eager(
        coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop
    ) -> tuple[bool, Any, contextvars.Context]:
        """Start ``coro`` now in a copy of the current context: ``(True, result, context)`` if it finished
        without suspending and without raising, else ``(False, task, context)`` (a pending task, or a done one
        holding the exception). The context is the request's, for what runs after the response."""
        task = asyncio.Task(coro, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
        if task.done() and not task.cancelled() and task.exception() is None:
            return True, task.result(), task.get_context()
        return False, task, task.get_context()

    def task_context(task: asyncio.Future[Any]) -> contextvars.Context | None:
        """The context a task created by ``start_eager`` runs in."""
        get = getattr(task, "get_context", None)
        return get() if get is not None else None

else:  # pragma: no cover - exercised on 3.10/3.11 only
    # Private asyncio names, read through vars() so type checkers on any version agree.
    _PyTask: Any = vars(tasks)["_PyTask"]
    _PyFuture: Any = vars(futures)["_PyFuture"]
    _enter_task: Any = vars(tasks)["_enter_task"]
    _leave_task: Any = vars(tasks)["_leave_task"]
    _register_task: Any = vars(tasks)["_register_task"]
    _wakeup: Any = _PyTask._Task__wakeup

    class _EagerTask(_PyTask):  # type: ignore[misc]
        """A pure-Python Task whose first step is run by the caller instead of being scheduled."""

        def __init__(
            self,
            coro: Coroutine[Any, Any, Any],
            loop: asyncio.AbstractEventLoop,
            context: contextvars.Context | None = None,
        ) -> None:
            # PERF: only the attributes a Task needs; _PyFuture's class attributes supply the rest.
            self._loop = loop
            self._callbacks: list[Any] = []
            self._name = "fulmen-request"
            self._num_cancels_requested = 0
            self._must_cancel = False
            self._fut_waiter = None
            self._coro = coro
            self._context = contextvars.copy_context() if context is None else context

        def __del__(self) -> None:
            # PERF: the finished, retrieved task (every request that didn't raise) returns in one frame;
            # Task.__del__ + Future.__del__ (two frames) still report a pending task or an unretrieved error.
            if self._state == "FINISHED" and not self._Future__log_traceback:
                return
            _PyTask.__del__(self)

    def _first_step(task: Any, coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop) -> bool:
        """Run the first step; True when the coroutine returned (its value is in ``task._result``)."""
        _enter_task(loop, task)
        try:
            result = coro.send(None)
        except StopIteration as exc:
            # PERF: nobody can have added a done-callback yet, so finish the future by hand
            # instead of Future.set_result's callback scheduling.
            task._result = exc.value
            task._state = "FINISHED"
            return True
        except (KeyboardInterrupt, SystemExit) as exc:
            _PyFuture.set_exception(task, exc)
            raise
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                _PyFuture.cancel(task)
            else:
                _PyFuture.set_exception(task, exc)
            return False
        finally:
            _leave_task(loop, task)
        # It suspended: hand over to the normal Task machinery, exactly as Task.__step would.
        _register_task(task)
        if getattr(result, "_asyncio_future_blocking", None) is not None:
            if result is task:
                raise RuntimeError(f"Task cannot await on itself: {task!r}")
            result._asyncio_future_blocking = False
            result.add_done_callback(lambda f: _wakeup(task, f), context=task._context)
            task._fut_waiter = result
        elif result is None:
            loop.call_soon(task._Task__step, context=task._context)
        else:
            bad_yield = RuntimeError(f"Task got bad yield: {result!r}")
            loop.call_soon(task._Task__step, bad_yield, context=task._context)
        return False

    def start_eager(
        coro: Coroutine[Any, Any, T],
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context | None = None,
    ) -> asyncio.Future[T]:
        """Start ``coro`` now, in ``context`` (default: a copy of the current one); the returned task is
        already done if it never suspended.

        Must be called from a loop callback (not from inside another running task).
        """
        task = _EagerTask(coro, loop, context)
        task._context.run(_first_step, task, coro, loop)
        result: asyncio.Future[T] = task
        return result

    def run_eager(
        coro: Coroutine[Any, Any, T], loop: asyncio.AbstractEventLoop
    ) -> tuple[bool, Any, contextvars.Context]:
        """Start ``coro`` now in a copy of the current context: ``(True, result, context)`` if it finished
        without suspending and without raising, else ``(False, task, context)`` (a pending task, or a done one
        holding the exception). The context is the request's, for what runs after the response."""
        task = _EagerTask(coro, loop)
        context = task._context
        # PERF: the outcome comes straight from the first step; no Future.done()/result() calls.
        if context.run(_first_step, task, coro, loop):
            return True, task._result, context
        return False, task, context

    def task_context(task: asyncio.Future[Any]) -> contextvars.Context | None:
        """The context a task created by ``start_eager`` runs in."""
        context: contextvars.Context | None = getattr(task, "_context", None)
        return context


def create_task_in(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T], context: contextvars.Context | None
) -> asyncio.Task[T]:
    """A scheduled task running in ``context`` (a request's: its contextvars carry over, as in Starlette)."""
    if context is None:
        return loop.create_task(coro)
    if sys.version_info >= (3, 11):
        return loop.create_task(coro, context=context)
    # 3.10's create_task has no context argument (and would run the task in a copy): a pure-Python task
    # made to run in ``context`` itself, scheduled as Task.__init__ schedules its first step.
    task: Any = _EagerTask(coro, loop, context)
    _register_task(task)
    loop.call_soon(task._Task__step, context=task._context)
    scheduled: asyncio.Task[T] = task
    return scheduled


# Thread pool for ``def`` handlers, dependencies and background tasks, sized like anyio's default limiter (40)
# that FastAPI users know.
_executor: ThreadPoolExecutor | None = None


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=40, thread_name_prefix="fulmen-sync")
    return _executor


async def run_in_threadpool(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking function in the handler thread pool, carrying the caller's contextvars.

    When the process uses anyio, the worker is an anyio worker thread for the call, so ``def`` code can call
    ``anyio.from_thread.run(...)`` / ``run_sync(...)`` as it can under FastAPI.
    """
    loop = asyncio.get_running_loop()
    call: Callable[[], T] = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    # PERF: one dict lookup when anyio isn't loaded; the token only costs apps that use anyio.
    if "anyio" in sys.modules:
        call = _as_anyio_worker(call)
    return await loop.run_in_executor(_get_executor(), call)


def _as_anyio_worker(call: Callable[[], T]) -> Callable[[], T]:
    """``call``, run with anyio's thread-local token of the running loop set, as anyio's own workers have it.

    anyio (4.11+) looks the token up in a thread-local of its event-loop module; anyio versions without
    ``anyio.lowlevel.current_token`` get ``call`` unchanged (``from_thread`` then needs an explicit token).
    """
    try:
        from anyio._core._eventloop import threadlocals
        from anyio.lowlevel import current_token

        token = current_token()
    except Exception:  # an older anyio, or one laid out differently: leave the thread as it is
        return call

    def in_worker() -> T:
        threadlocals.current_token = token
        try:
            return call()
        finally:
            del threadlocals.current_token

    return in_worker
