"""Cross-check: ``def`` code calling back into the event loop with ``anyio.from_thread``, as it can under
FastAPI (whose thread pool is anyio's): in handlers, dependencies, ``yield`` dependencies and tasks."""

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio.from_thread
import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


async def double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


def on_loop() -> bool:
    """True when called on a thread with a running event loop (what ``from_thread.run_sync`` promises)."""
    return asyncio.get_running_loop() is not None


def build(fw: Any) -> Any:
    app = fw.FastAPI()
    log: list[str] = []

    def from_dependency(n: int = 1) -> int:
        return anyio.from_thread.run(double, n)

    def around(n: int = 1) -> Iterator[int]:
        value = anyio.from_thread.run(double, n)
        yield value
        log.append(f"exit {anyio.from_thread.run(double, value)}")

    def record(text: str) -> None:
        anyio.from_thread.run_sync(log.append, text)

    @app.get("/handler")
    def handler(n: int = 1) -> dict[str, Any]:
        return {"doubled": anyio.from_thread.run(double, n), "on_loop": anyio.from_thread.run_sync(on_loop)}

    @app.get("/dependency")
    def dependency(value: int = fw.Depends(from_dependency)) -> dict[str, int]:
        return {"value": value}

    @app.get("/yield")
    def with_yield(value: int = fw.Depends(around)) -> dict[str, int]:
        return {"value": value}

    @app.get("/background")
    def background(tasks: fw.BackgroundTasks, text: str = "x") -> dict[str, bool]:
        tasks.add_task(record, text)
        return {"queued": True}

    @app.get("/log")
    async def read_log() -> list[str]:
        return log

    return app


CASES: list[Case] = [
    ("handler", "GET", "/handler?n=21", {}),
    ("dependency", "GET", "/dependency?n=4", {}),
    ("yield", "GET", "/yield?n=5", {}),
    ("background", "GET", "/background?text=hello", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_from_thread_works_in_def_code_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    client = serve(build(fulmen))
    assert_same_as_fastapi(client, CASES, fastapi_answers)
    # What ran after the responses (the yield dependency's exit, the background task), through the loop;
    # two requests' after-work, so in either order.
    deadline = time.monotonic() + 5
    while sorted(log := client.get("/log").json()) != ["exit 20", "hello"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(log) == ["exit 20", "hello"]
