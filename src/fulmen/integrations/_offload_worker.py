"""The worker-process side of ``fulmen.integrations.offload`` and the pickled calls that cross to it.

A worker runs ``worker_main``: its set-up (preload imports, initializer), then one call at a time from its
pipe until the server sends ``STOP`` or goes away. Every message is bytes whose first byte is a tag; the
server pickles each call here (``dumps_call``) so what can't be pickled is named at the call site.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

PROTOCOL = pickle.HIGHEST_PROTOCOL
# Message tags: worker -> parent replies; the first byte says how to read the rest.
READY, FAILED_START, RESULT, RAISED = b"R", b"S", b"O", b"X"
STOP = b""  # parent -> worker: no more calls, exit


class RemoteTraceback(Exception):
    """The worker's traceback text, chained as ``__cause__`` of an exception raised in a worker."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def describe(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


IMPORTABLE = (
    "offloaded functions must be defined at the top level of a module the worker process can import "
    "(not a lambda, a nested function, a method of a local class, or a function defined in a REPL)"
)


def dumps_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """Pickle a call once, here, so what can't be pickled is named in a TypeError at the call site."""
    try:
        return pickle.dumps((fn, args, kwargs), PROTOCOL)
    except Exception as exc:
        culprit = _find_unpicklable(fn, args, kwargs)
        raise TypeError(f"offload: can't pickle {culprit} to send it to a worker process: {exc}") from exc


def _find_unpicklable(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    def fails(value: Any) -> bool:
        try:
            pickle.dumps(value, PROTOCOL)
        except Exception:
            return True
        return False

    if fails(fn):
        return f"the function {describe(fn)}() ({IMPORTABLE})"
    for index, value in enumerate(args):
        if fails(value):
            return f"positional argument {index} of {describe(fn)}() (a {type(value).__qualname__})"
    for name, value in kwargs.items():
        if fails(value):
            return f"keyword argument {name!r} of {describe(fn)}() (a {type(value).__qualname__})"
    return f"the call to {describe(fn)}()"  # pragma: no cover - only the whole fails: a shared reference


def _offload_error(message: str) -> Exception:
    # Imported here: offload.py imports this module (the worker has both loaded by the time it runs calls).
    from fulmen.integrations.offload import OffloadError

    return OffloadError(message)


def import_object(module: str, qualname: str) -> Any:
    """Find ``module.qualname`` (how an ``OffloadedFunction`` is pickled: by reference, like a function)."""
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def dump_exception(exc: BaseException) -> bytes:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        return RAISED + pickle.dumps((exc, text), PROTOCOL)
    except Exception:
        # An exception that can't cross (a local class, an unpicklable attribute): its text still does.
        substitute = _offload_error(f"{type(exc).__qualname__}: {exc}")
        return RAISED + pickle.dumps((substitute, text), PROTOCOL)


def execute(payload: bytes) -> bytes:
    """Run one pickled call and return the pickled reply (never raises)."""
    try:
        fn, args, kwargs = pickle.loads(payload)
    except Exception as exc:
        error = _offload_error(f"the worker process could not load the call: {exc}; {IMPORTABLE}")
        error.__cause__ = exc
        return dump_exception(error)
    if getattr(type(fn), "offloaded_wrapper", False):  # an @offloaded function: run what it decorates
        fn = fn.__wrapped__
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # SystemExit or KeyboardInterrupt raised by the function are its result too
        return dump_exception(exc)
    try:
        return RESULT + pickle.dumps(result, PROTOCOL)
    except Exception as exc:
        return dump_exception(
            TypeError(
                f"offload: can't pickle the result of {describe(fn)}() "
                f"(a {type(result).__qualname__}) to send it back: {exc}"
            )
        )


def watch_server(conn: Connection) -> None:
    """Exit this worker once the server is gone, even in the middle of a call that never returns.

    The server writes to the pipe only between calls, so an end-of-file seen by peeking means it closed or
    died. (Not the parent pid: under forkserver the parent is the fork server, which lives as long as any
    worker does.)
    """
    dont_wait = getattr(socket, "MSG_DONTWAIT", 0)
    if not dont_wait:  # pragma: no cover - Windows: the worker ends when it next reads or writes the pipe
        return
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
    except OSError:  # pragma: no cover - not a socket
        return
    # Per-call non-blocking flag, not setblocking(): O_NONBLOCK would be shared with the worker's own fd.
    flags = socket.MSG_PEEK | dont_wait
    while True:
        time.sleep(1.0)
        try:
            data = sock.recv(1, flags)
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            os._exit(1)
        if not data:
            os._exit(1)


def worker_main(
    conn: Connection,
    preload: tuple[str, ...],
    initializer: Callable[..., object] | None,
    initargs: tuple[Any, ...],
) -> None:
    """A worker process: run the initializer, then calls from ``conn`` one at a time until told to stop."""
    # Ctrl-C and a group-wide SIGTERM reach every process of the group: the server decides when calls stop
    # (it closes the pipe at shutdown, or kills a stuck worker), so a graceful shutdown can finish them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=watch_server, args=(conn,), daemon=True).start()
    try:
        for module in preload:  # already imported under forkserver (its preload); here for spawn
            importlib.import_module(module)
        if initializer is not None:
            initializer(*initargs)
    except BaseException as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        with contextlib.suppress(OSError):
            conn.send_bytes(FAILED_START + text.encode())
        return
    try:
        conn.send_bytes(READY)
        while True:
            payload = conn.recv_bytes()
            if payload == STOP:
                return
            conn.send_bytes(execute(payload))
    except (EOFError, OSError):
        return  # the server closed the pipe or is gone
