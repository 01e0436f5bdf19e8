"""Thread-pool helpers FastAPI users import from ``fastapi.concurrency``, on fulmen's own handler pool.

``run_in_threadpool`` is the pool ``def`` handlers and dependencies run in (no anyio needed);
``contextmanager_in_threadpool`` enters and exits a blocking context manager there, and never abandons a
worker half-way: a cancellation that arrives while ``__enter__`` or ``__exit__`` runs waits for it to finish.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any, TypeVar

from fulmen._concurrency import _get_executor, run_in_threadpool

__all__ = [
    "asynccontextmanager",
    "contextmanager_in_threadpool",
    "iterate_in_threadpool",
    "run_in_threadpool",
    "run_until_first_complete",
]

_T = TypeVar("_T")

# __exit__ gets its own small pool: a context manager that owns a pool of its own (a database pool, say)
# may block in __exit__ until another worker frees something, so cleanup must not wait for a free handler
# thread.
_exit_executor: ThreadPoolExecutor | None = None


def _get_exit_executor() -> ThreadPoolExecutor:
    global _exit_executor
    if _exit_executor is None:
        _exit_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fulmen-cm-exit")
    return _exit_executor


async def _run_to_completion(
    executor: ThreadPoolExecutor, func: Callable[..., _T], *args: Any, cancellable: bool = True
) -> tuple[_T, asyncio.CancelledError | None]:
    """Run ``func`` in ``executor`` and return its result with the cancellation that arrived meanwhile.

    A thread can't be interrupted: once ``func`` has started it runs to the end and its result or exception
    wins; a cancellation before it started (when ``cancellable``) withdraws it and is raised at once.
    """
    ctx = contextvars.copy_context()
    future: Future[_T] = executor.submit(functools.partial(ctx.run, func, *args))
    waiter = asyncio.wrap_future(future)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            return await asyncio.shield(waiter), cancelled
        except asyncio.CancelledError as exc:
            if waiter.done() and not waiter.cancelled():
                return waiter.result(), exc  # func finished as the cancellation arrived: its outcome wins
            if cancelled is None:
                cancelled = exc
                if cancellable and future.cancel():
                    raise


@asynccontextmanager
async def contextmanager_in_threadpool(cm: AbstractContextManager[_T]) -> AsyncGenerator[_T, None]:
    """Use a blocking context manager from async code: ``__enter__`` and ``__exit__`` run in worker threads.

    ``__exit__`` runs only if ``__enter__`` ran and succeeded, always gets the body's exception, runs to the
    end even if the task is cancelled meanwhile, and never waits for a free handler thread.
    """
    value, cancelled = await _run_to_completion(_get_executor(), cm.__enter__)
    try:
        if cancelled is not None:
            raise cancelled  # entered while being cancelled: clean up, then let the cancellation through
        yield value
    except BaseException as exc:
        suppress, cancelled = await _run_to_completion(
            _get_exit_executor(), cm.__exit__, type(exc), exc, exc.__traceback__, cancellable=False
        )
        if cancelled is not None and not isinstance(exc, asyncio.CancelledError):
            raise cancelled from None
        if not suppress or isinstance(exc, asyncio.CancelledError):
            raise  # a cancellation is never swallowed by __exit__: the task must still end cancelled
    else:
        _, cancelled = await _run_to_completion(
            _get_exit_executor(), cm.__exit__, None, None, None, cancellable=False
        )
        if cancelled is not None:
            raise cancelled


class _IterationDone(Exception):
    """Raised in the worker instead of ``StopIteration``, which can't cross a future."""


def _next_or_done(iterator: Iterator[_T]) -> _T:
    try:
        return next(iterator)
    except StopIteration:
        raise _IterationDone from None


async def iterate_in_threadpool(iterator: Iterable[_T]) -> AsyncIterator[_T]:
    """Drive a blocking iterator (a sync generator, a file) from async code, a worker call per item."""
    as_iterator = iter(iterator)
    while True:
        try:
            item: _T = await run_in_threadpool(_next_or_done, as_iterator)
        except _IterationDone:
            break
        yield item


async def run_until_first_complete(*args: tuple[Callable[..., Awaitable[Any]], dict[str, Any]]) -> None:
    """Run the ``(func, kwargs)`` coroutines together; when the first returns, cancel the others."""
    tasks = [asyncio.ensure_future(func(**kwargs)) for func, kwargs in args]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()
