"""CPU offload: run plain ``def`` functions in a pool of worker processes and await their results.

``def`` handlers run in a thread pool, where CPU-bound Python holds the GIL and stalls every request of the
worker; a process pool runs that work on other cores while the event loop keeps answering. Each worker
process has its own pipe and its own runner thread here (not ``ProcessPoolExecutor``), so a call that
times out kills only the process running it and a process that dies fails only its own call: the pool starts
a replacement and every other call goes on. The standard library's executor breaks the whole pool instead.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, cast, overload

from typing_extensions import ParamSpec, Self

from fulmen.integrations._offload_worker import (
    FAILED_START,
    IMPORTABLE,
    READY,
    RESULT,
    STOP,
    RemoteTraceback,
    describe,
    dumps_call,
    import_object,
    worker_main,
)

__all__ = [
    "OffloadError",
    "OffloadPool",
    "OffloadTimeoutError",
    "OffloadedFunction",
    "PoolClosedError",
    "WorkerCrashedError",
    "default_max_workers",
    "get_offload_pool",
    "offload",
    "offloaded",
    "run_in_process",
]

logger = logging.getLogger("fulmen.error")

P = ParamSpec("P")
R = TypeVar("R")


class OffloadError(RuntimeError):
    """Base class of the pool's own errors (a function's own exceptions are re-raised as they are)."""


class OffloadTimeoutError(OffloadError, TimeoutError):
    """An offloaded call took longer than its timeout; the process running it was killed and replaced."""


class WorkerCrashedError(OffloadError, BrokenProcessPool):
    """The worker process running the call died (killed, segfault, ``os._exit``); the pool replaced it.

    A ``BrokenProcessPool`` too, so code written against ``ProcessPoolExecutor`` catches it unchanged.
    """


class PoolClosedError(OffloadError):
    """The pool is shut down (or shutting down) and takes no more calls."""


def default_max_workers() -> int:
    """The CPUs this process may use, divided by the engine's worker processes (at least 1).

    ``fulmen run --workers N`` (and ``app.run(workers=N)``) sets ``FULMEN_WORKERS`` in each worker; under
    uvicorn or gunicorn ``WEB_CONCURRENCY`` says the same. Without either, one server process is assumed.
    """
    try:
        cpus = len(os.sched_getaffinity(0))  # honours taskset/cpusets, unlike os.cpu_count()
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        cpus = os.cpu_count() or 1
    servers = 1
    for name in ("FULMEN_WORKERS", "WEB_CONCURRENCY"):
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            servers = int(value)
            break
    return max(1, cpus // servers)


def _default_start_method() -> str:
    # forkserver: children fork from a small single-threaded server process, not from this one (which runs
    # uvloop, the thread pool and this pool's runner threads: fork() copies locks other threads hold).
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


# -- the worker process ------------------------------------------------------------------------------------


# -- the server side ---------------------------------------------------------------------------------------


class _Job:
    """One call: its pickled payload, the future its caller waits on, the process running it (if any)."""

    __slots__ = ("future", "lock", "name", "payload", "process", "timed_out")

    def __init__(self, payload: bytes, name: str) -> None:
        self.payload = payload
        self.name = name
        self.future: Future[Any] = Future()
        self.lock = threading.Lock()
        self.process: Any = None
        self.timed_out = False


class _Slot:
    """One worker process and the runner thread that owns its pipe."""

    __slots__ = ("conn", "done_tasks", "index", "process", "ready", "thread")

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: Any = None  # multiprocessing.process.BaseProcess
        self.conn: Connection | None = None
        self.done_tasks = 0
        self.ready: Future[None] = Future()
        self.thread: threading.Thread | None = None


_start_lock = threading.Lock()  # Process.start() touches multiprocessing's module state: one at a time

_default_lock = threading.Lock()
_default_pool: OffloadPool | None = None


class OffloadPool:
    """A pool of worker processes for CPU-bound ``def`` functions, awaited from async code.

    Start it with the app (``FastAPI(lifespan=pool.lifespan)`` or ``async with pool:`` in your lifespan) so
    its processes are ready before the first request and shut down gracefully with the server; a pool used
    before it is started starts itself on first use. ``Depends(pool)`` injects it.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        kind: Literal["process", "interpreter"] = "process",
        timeout: float | None = None,
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        start_method: Literal["forkserver", "spawn"] | None = None,
        max_tasks_per_child: int | None = None,
        shutdown_timeout: float = 10.0,
        preload: Sequence[str] = (),
    ) -> None:
        if kind == "interpreter":
            raise ValueError(
                "OffloadPool(kind='interpreter'): sub-interpreter pools are not implemented yet (why: "
                "docs/offload.md, 'Sub-interpreters'); use kind='process'"
            )
        if kind != "process":
            raise ValueError(f"OffloadPool(kind={kind!r}): kind must be 'process'")
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"OffloadPool(max_workers={max_workers!r}): must be an int >= 1 (or None)")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"OffloadPool(timeout={timeout!r}): must be > 0 seconds (or None: no limit)")
        if max_tasks_per_child is not None and max_tasks_per_child < 1:
            raise ValueError(
                f"OffloadPool(max_tasks_per_child={max_tasks_per_child!r}): must be >= 1 (or None)"
            )
        if not shutdown_timeout >= 0:
            raise ValueError(f"OffloadPool(shutdown_timeout={shutdown_timeout!r}): must be >= 0 seconds")
        if start_method == "fork":  # type: ignore[comparison-overlap]
            raise ValueError(
                "OffloadPool(start_method='fork'): forking the server process is unsafe (it runs an event "
                "loop and threads whose locks the child would inherit held); use 'forkserver' or 'spawn'"
            )
        method = start_method or _default_start_method()
        if method not in multiprocessing.get_all_start_methods():
            raise ValueError(
                f"OffloadPool(start_method={start_method!r}): not available here; "
                f"use one of {[m for m in multiprocessing.get_all_start_methods() if m != 'fork']}"
            )
        if initializer is not None:
            # Pickled to every new worker: fail at declaration rather than at the first call.
            try:
                dumps_call(initializer, initargs, {})
            except TypeError as exc:
                raise TypeError(f"OffloadPool(initializer=...): {exc}") from exc
        self._requested_workers = max_workers
        #: The pool's size; with ``max_workers=None`` worked out again at each start, in the process that
        #: starts it (an engine worker after the fork, where FULMEN_WORKERS says how many share the CPUs).
        self.max_workers = max_workers or default_max_workers()
        self.kind = kind
        self.timeout = timeout
        self.initializer = initializer
        self.initargs = initargs
        self.start_method = method
        self.max_tasks_per_child = max_tasks_per_child
        self.shutdown_timeout = shutdown_timeout
        self.preload = tuple(preload)
        self._context = multiprocessing.get_context(method)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._terminating = False
        self._atexit = False

    # -- lifecycle -----------------------------------------------------------------------------------------

    def _open(self, *, reopen: bool) -> bool:
        """Start the runner threads (each starts its worker process) unless they run; True if it started.

        Call with ``self._lock`` held. ``reopen``: a pool closed by an earlier lifespan starts again (the same
        app served twice, as tests do); a call to a closed pool raises ``PoolClosedError`` instead.
        """
        if self._started:
            if self._closed:
                raise PoolClosedError("the offload pool is shutting down; it takes no more calls")
            return False
        if self._closed:
            if not reopen:
                raise PoolClosedError("the offload pool is shut down; it takes no more calls")
            self._closed = self._terminating = False
            self._jobs = queue.SimpleQueue()
        self.max_workers = self._requested_workers or default_max_workers()
        if self.start_method == "forkserver":
            # The fork server imports these once; every worker forked from it starts with them loaded
            # (fulmen alone is ~0.3 s of imports per worker otherwise). No effect once it runs already.
            self._context.set_forkserver_preload(["__main__", __name__, *self.preload])
        self._slots = [_Slot(i) for i in range(self.max_workers)]
        for slot in self._slots:
            slot.thread = threading.Thread(
                target=self._run_slot, args=(slot,), name=f"fulmen-offload-{slot.index}", daemon=True
            )
            slot.thread.start()
        self._started = True
        global _default_pool
        with _default_lock:
            if _default_pool is None:
                _default_pool = self
        return True

    async def start(self) -> None:
        """Start every worker process and wait until each is ready (its initializer has run).

        Raises ``OffloadError`` with the worker's traceback when the initializer fails (the pool is closed).
        """
        with self._lock:
            self._open(reopen=True)
        ready = [asyncio.wrap_future(slot.ready) for slot in self._slots]
        results = await asyncio.gather(*ready, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                await self.aclose()
                raise result

    def _register_atexit(self) -> None:
        # A pool started by a call, outside any lifespan, still stops its processes when Python exits.
        if not self._atexit:
            self._atexit = True
            atexit.register(self.close, 1.0)

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop taking calls, let queued and running ones finish within ``timeout``, then kill what is left.

        ``timeout`` defaults to ``shutdown_timeout``. Every worker process is joined before this returns.
        """
        await asyncio.get_running_loop().run_in_executor(None, self.close, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Blocking ``aclose()`` (for sync code and ``atexit``)."""
        global _default_pool
        with _default_lock:
            if _default_pool is self:
                _default_pool = None
        with self._lock:
            already, self._closed = self._closed, True
            slots = list(self._slots)
            if not already:
                for _ in slots:
                    self._jobs.put(None)  # behind the queued calls: they run first
        wait = self.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        for slot in slots:
            if slot.thread is not None:
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        if any(slot.thread is not None and slot.thread.is_alive() for slot in slots):
            logger.warning("Offload pool: calls still running after %.1f s at shutdown; killing them", wait)
            self._terminating = True  # runners fail what is still queued instead of running it
            for slot in slots:
                process = slot.process
                if process is not None:
                    with contextlib.suppress(Exception):
                        process.kill()
            for slot in slots:
                if slot.thread is not None:
                    slot.thread.join(5.0)
        with self._lock:
            if self._closed:
                self._started = False  # a later start() opens it again

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """The pool as an app's lifespan: ``FastAPI(lifespan=pool.lifespan)``."""
        async with self:
            yield

    def pids(self) -> list[int]:
        """The process ids of the live worker processes (for health checks and tests)."""
        return [p.pid for slot in self._slots if (p := slot.process) is not None and p.is_alive()]

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running" if self._started else "not started"
        return f"<OffloadPool {state} max_workers={self.max_workers} start_method={self.start_method!r}>"

    def __call__(self) -> OffloadPool:
        """The pool itself, so ``Depends(pool)`` injects it (as ``Depends(HTTPBearer())`` does)."""
        return self

    # -- calls ---------------------------------------------------------------------------------------------

    async def run(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` in a worker process and return its result (the pool's ``timeout``)."""
        return await self._call(fn, args, kwargs, self.timeout)

    async def run_with_timeout(
        self, timeout: float | None, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """As ``run()``, with this call's own ``timeout`` in seconds (None: no limit)."""
        return await self._call(fn, args, kwargs, timeout)

    async def _call(
        self, fn: Callable[..., R], args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None
    ) -> R:
        # PERF: the call is pickled once, here (the worker gets bytes), which also names what can't be.
        job = _Job(dumps_call(fn, args, kwargs), describe(fn))
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[R] = loop.create_future()

        def relay(done: Future[Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_copy_outcome, done, waiter)

        job.future.add_done_callback(relay)
        with self._lock:  # against close(): a job queued behind the runners' stop sentinels would never run
            if self._open(reopen=False):
                self._register_atexit()  # started by a call, outside any lifespan
            self._jobs.put(job)
        try:
            if timeout is None:
                return await waiter
            return await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            raise self._abandon(job, timeout) from None
        except asyncio.CancelledError:
            # The caller went away (a client disconnect): a queued call never runs; a running one finishes.
            job.future.cancel()
            raise

    def _abandon(self, job: _Job, timeout: float | None) -> OffloadTimeoutError:
        """A timed-out call: drop it if still queued, else kill the process running it."""
        if job.future.cancel():
            return OffloadTimeoutError(
                f"offloaded call {job.name}() did not start within its {timeout} s timeout: "
                f"all {self.max_workers} worker processes were busy"
            )
        with job.lock:
            job.timed_out = True
            process = job.process
            if process is not None:
                with contextlib.suppress(Exception):
                    process.kill()
        pid = f" (pid {process.pid})" if process is not None else ""
        if process is not None:
            logger.warning(
                "Offload pool: killed worker process%s: %s() ran past its %s s timeout",
                pid,
                job.name,
                timeout,
            )
        return OffloadTimeoutError(
            f"offloaded call {job.name}() did not finish within its {timeout} s timeout; "
            f"its worker process{pid} was killed and is being replaced"
        )

    # -- runner threads ------------------------------------------------------------------------------------

    def _spawn(self, slot: _Slot) -> None:
        """Start the slot's worker process and wait for its initializer (raises ``OffloadError``)."""
        parent_conn, child_conn = self._context.Pipe()
        process = self._context.Process(  # type: ignore[attr-defined]
            target=worker_main,
            args=(child_conn, self.preload, self.initializer, self.initargs),
            name=f"fulmen-offload-{slot.index}",
            daemon=True,
        )
        with _start_lock:
            process.start()
        child_conn.close()
        slot.process = process  # before its set-up ends: close() can kill a worker whose initializer hangs
        try:
            hello = parent_conn.recv_bytes()
        except (EOFError, OSError):
            hello = b""
        if hello != READY:
            slot.process = None
            parent_conn.close()
            process.join(5.0)
            if self._terminating:
                raise PoolClosedError("the offload pool shut down while a worker process was starting")
            if hello.startswith(FAILED_START):
                error = OffloadError(
                    "a new worker process failed in its set-up (the preload imports, then the initializer)"
                )
                error.__cause__ = RemoteTraceback(hello[1:].decode(errors="replace"))
                raise error
            raise OffloadError(
                f"a new worker process exited at start-up ({_exit_description(process)}; its traceback is on "
                f"stderr). With {self.start_method!r} each worker imports your main module first: a script "
                "that starts the server at import time needs `if __name__ == '__main__':` around it"
            )
        slot.conn, slot.done_tasks = parent_conn, 0

    def _retire(self, slot: _Slot, *, graceful: bool) -> None:
        """Stop the slot's worker process and reap it (killed after 5 s if it won't stop)."""
        process, conn = slot.process, slot.conn
        slot.process = slot.conn = None
        if conn is not None:
            if graceful:
                with contextlib.suppress(OSError):
                    conn.send_bytes(STOP)
            conn.close()
        if process is not None:
            process.join(5.0 if graceful else 1.0)
            if process.is_alive():
                process.kill()
                process.join(5.0)

    def _run_slot(self, slot: _Slot) -> None:
        jobs = self._jobs  # this run's queue: a reopened pool has a new one, for its new runners
        try:
            self._spawn(slot)
        except BaseException as exc:
            slot.ready.set_exception(exc)
        else:
            slot.ready.set_result(None)
        while True:
            job = jobs.get()
            if job is None:
                break
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled while queued (timed out, or its caller went away)
            try:
                self._run_job(slot, job)
            except BaseException as exc:  # pragma: no cover - a bug here must not lose the call
                logger.exception("Offload pool: runner failed")
                if not job.future.done():
                    job.future.set_exception(exc)
        self._retire(slot, graceful=True)

    def _run_job(self, slot: _Slot, job: _Job) -> None:
        if self._terminating:
            job.future.set_exception(PoolClosedError("the offload pool shut down before this call could run"))
            return
        if slot.process is None or not slot.process.is_alive():
            # A first start that failed, a process lost while idle, or a retired one: start a new one now.
            self._retire(slot, graceful=False)
            try:
                self._spawn(slot)
            except OffloadError as exc:
                job.future.set_exception(exc)
                return
        process, conn = slot.process, slot.conn
        assert conn is not None
        with job.lock:
            if job.timed_out:
                job.future.set_exception(OffloadTimeoutError(f"offloaded call {job.name}() timed out"))
                return
            job.process = process
        try:
            conn.send_bytes(job.payload)
            reply = conn.recv_bytes()
        except (EOFError, OSError):
            with job.lock:
                job.process = None
                timed_out = job.timed_out
            pid = process.pid
            self._retire(slot, graceful=False)
            if timed_out:
                job.future.set_exception(OffloadTimeoutError(f"offloaded call {job.name}() timed out"))
            elif self._terminating:
                job.future.set_exception(
                    PoolClosedError(f"offloaded call {job.name}() was killed at shutdown")
                )
            else:
                how = _exit_description(process)
                logger.warning("Offload pool: worker process %d died (%s) running %s()", pid, how, job.name)
                job.future.set_exception(
                    WorkerCrashedError(
                        f"the worker process (pid {pid}) running {job.name}() died ({how}); "
                        "the pool started a new one"
                    )
                )
            self._replace(slot)
            return
        with job.lock:
            job.process = None
        slot.done_tasks += 1
        self._deliver(job, reply)
        if self.max_tasks_per_child is not None and slot.done_tasks >= self.max_tasks_per_child:
            self._retire(slot, graceful=True)
            self._replace(slot)

    def _replace(self, slot: _Slot) -> None:
        """Start the slot's next process now, so the pool is back to full size before the next call."""
        if self._closed or self._terminating:
            return
        try:
            self._spawn(slot)
        except OffloadError:
            logger.exception("Offload pool: could not start a replacement worker process")

    @staticmethod
    def _deliver(job: _Job, reply: bytes) -> None:
        tag, body = reply[:1], reply[1:]
        try:
            if tag == RESULT:
                job.future.set_result(pickle.loads(body))
                return
            exc, text = pickle.loads(body)
        except Exception as error:
            job.future.set_exception(OffloadError(f"can't unpickle the reply of {job.name}(): {error}"))
            return
        exc.__cause__ = RemoteTraceback(text)
        job.future.set_exception(exc)


def _exit_description(process: Any) -> str:
    code = process.exitcode
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _copy_outcome(source: Future[Any], target: asyncio.Future[Any]) -> None:
    if target.done():
        return  # timed out or cancelled: the outcome is nobody's
    if source.cancelled():
        target.cancel()
        return
    error = source.exception()
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())


# -- the module-level API ----------------------------------------------------------------------------------


def get_offload_pool() -> OffloadPool:
    """The process's default pool: the first one started and not yet closed, else a new one with defaults.

    Also a dependency: ``pool: OffloadPool = Depends(get_offload_pool)``.
    """
    global _default_pool
    with _default_lock:
        pool = _default_pool
        if pool is None:
            pool = _default_pool = OffloadPool()
    return pool


async def offload(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``fn(*args, **kwargs)`` in the default pool's worker processes and return its result."""
    pool = get_offload_pool()
    return await pool._call(fn, args, kwargs, pool.timeout)


run_in_process = offload  # the name by analogy with ``run_in_threadpool``


class OffloadedFunction(Generic[P, R]):
    """A plain ``def`` function made awaitable in a worker process (what ``@offloaded`` returns).

    Pickled by reference (module and qualified name), as a function is: the worker imports the module and
    runs the function under the decorator, so the decorated name must be reachable at module top level.
    """

    #: Tells the worker to call ``__wrapped__`` (this module's class can't be imported there without a cycle).
    offloaded_wrapper = True

    def __init__(self, func: Callable[P, R], *, pool: OffloadPool | None, timeout: float | None) -> None:
        qualname = getattr(func, "__qualname__", "")
        if not callable(func) or "<locals>" in qualname or "<lambda>" in qualname or not qualname:
            raise TypeError(f"@offloaded: {func!r} can't be offloaded: {IMPORTABLE}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"@offloaded(timeout={timeout!r}): must be > 0 seconds (or None)")
        functools.update_wrapper(self, func)
        self.__wrapped__: Callable[P, R] = func
        self.pool = pool
        self.timeout = timeout

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        # async def (not a def returning the coroutine): Depends() and routes see a coroutine callable.
        pool = self.pool or get_offload_pool()
        timeout = self.timeout if self.timeout is not None else pool.timeout
        # The worker unwraps it (see execute) and calls the plain function.
        return await pool._call(cast("Callable[..., R]", self), args, kwargs, timeout)

    def __reduce__(self) -> tuple[Callable[[str, str], Any], tuple[str, str]]:
        func = self.__wrapped__
        return (import_object, (func.__module__, getattr(func, "__qualname__", "")))


@overload
def offloaded(func: Callable[P, R], /) -> OffloadedFunction[P, R]: ...


@overload
def offloaded(
    *, pool: OffloadPool | None = None, timeout: float | None = None
) -> Callable[[Callable[P, R]], OffloadedFunction[P, R]]: ...


def offloaded(
    func: Callable[P, R] | None = None, /, *, pool: OffloadPool | None = None, timeout: float | None = None
) -> OffloadedFunction[P, R] | Callable[[Callable[P, R]], OffloadedFunction[P, R]]:
    """Make a module-level ``def`` function awaitable in a worker process (``@offloaded(...)`` takes options).

    ``pool`` defaults to the default pool (``get_offload_pool()``); ``timeout`` to the pool's.
    """
    if func is not None:
        return OffloadedFunction(func, pool=pool, timeout=timeout)

    def decorate(f: Callable[P, R]) -> OffloadedFunction[P, R]:
        return OffloadedFunction(f, pool=pool, timeout=timeout)

    return decorate
