"""Module-level functions the offload tests run in worker processes (stdlib only: workers import it fast)."""

from __future__ import annotations

import contextvars
import hashlib
import os
import time
from pathlib import Path

from fulmen.integrations.offload import offloaded

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_ID", default="unset")
_greeting = "no initializer ran"


def digest(rounds: int, seed: bytes = b"fulmen") -> tuple[str, int]:
    """CPU-bound: ``rounds`` chained SHA-256 hashes; returns the hex digest and the worker's pid."""
    value = seed
    for _ in range(rounds):
        value = hashlib.sha256(value).digest()
    return value.hex(), os.getpid()


def wait_for_release(folder: str, name: str = "call") -> int:
    """Write ``<name>.started`` (holding this pid), then wait until ``<name>.release`` exists."""
    base = Path(folder)
    (base / f"{name}.started").write_text(str(os.getpid()))
    while not (base / f"{name}.release").exists():
        time.sleep(0.005)
    return os.getpid()


def mark(folder: str, name: str) -> str:
    """Write ``<name>.ran``: evidence that a call ran at all."""
    (Path(folder) / f"{name}.ran").write_text(str(os.getpid()))
    return name


def die(code: int) -> None:
    os._exit(code)


def fail(message: str) -> None:
    raise KeyError(message)


def greet(name: str) -> str:
    return f"{_greeting}, {name}"


def setup_greeting(greeting: str) -> None:
    global _greeting
    _greeting = greeting


def broken_initializer() -> None:
    raise RuntimeError("the model file is missing")


def read_request_id() -> str:
    return REQUEST_ID.get()


def unpicklable_result() -> object:
    return lambda: None


def pid() -> int:
    return os.getpid()


@offloaded
def double(n: int) -> int:
    return n * 2


@offloaded
def square(n: int) -> dict[str, int]:
    """An endpoint that runs in a worker process: its parameters are validated first, in the server."""
    return {"square": n * n, "pid": os.getpid()}


def loaded(module: str) -> bool:
    import sys

    return module in sys.modules


def identity(value: object) -> object:
    return value


def reverse(data: bytes) -> bytes:
    return data[::-1]


def hang_in_setup(folder: str) -> None:
    """An initializer that never returns (until released): a model download that hangs."""
    wait_for_release(folder, "setup")
