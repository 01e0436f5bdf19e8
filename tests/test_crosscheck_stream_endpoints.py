"""Cross-check of path operations that ``yield`` (FastAPI 0.165): JSON Lines, Server-Sent Events, raw."""

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pydantic
import pytest

import fulmen
import fulmen.responses
import fulmen.sse
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


class Item(pydantic.BaseModel):
    name: str
    price: float = 0.0


class ItemOut(pydantic.BaseModel):
    name: str


def build_streams(fw: Any) -> Any:
    sse = fw.sse
    app = fw.FastAPI()

    @app.get("/jsonl")
    async def jsonl(n: int = 3) -> Any:
        for i in range(n):
            yield {"i": i, "half": i / 2, "nan": float("nan")}

    @app.get("/jsonl-typed")
    async def jsonl_typed() -> AsyncIterator[ItemOut]:
        yield Item(name="a", price=1.5)  # filtered through ItemOut
        yield {"name": "b", "extra": 1}

    @app.get("/jsonl-sync", status_code=201)
    def jsonl_sync() -> Iterator[dict]:
        yield {"sync": True}
        yield {"sync": False}

    @app.get("/jsonl-invalid")
    async def jsonl_invalid() -> AsyncIterator[ItemOut]:
        yield {"name": "ok"}

    @app.get("/events", response_class=sse.EventSourceResponse)
    async def events() -> AsyncIterator[Item]:
        yield Item(name="x")
        yield {"name": "y", "price": "2"}

    @app.get("/events-raw", response_class=sse.EventSourceResponse)
    async def events_raw() -> Any:
        yield sse.ServerSentEvent(data={"k": 1}, event="update", id="1")
        yield sse.ServerSentEvent(raw_data="plain text", retry=1000)
        yield sse.ServerSentEvent(comment="just a comment")
        yield [1, 2]

    @app.get("/raw", response_class=fw.responses.StreamingResponse)
    async def raw() -> Any:
        yield b"chunk-1,"
        yield b"chunk-2"

    @app.get("/with-response")
    async def with_response(response: fw.Response) -> Any:
        response.headers["x-extra"] = "1"
        response.status_code = 202
        yield {"ok": True}

    return app


CASES: list[Case] = [
    ("jsonl", "GET", "/jsonl", {}),
    ("jsonl-n", "GET", "/jsonl?n=1", {}),
    ("jsonl-invalid-param", "GET", "/jsonl?n=x", {}),
    ("jsonl-typed", "GET", "/jsonl-typed", {}),
    ("jsonl-sync", "GET", "/jsonl-sync", {}),
    ("jsonl-invalid", "GET", "/jsonl-invalid", {}),
    ("events", "GET", "/events", {}),
    ("events-raw", "GET", "/events-raw", {}),
    ("raw", "GET", "/raw", {}),
    ("with-response", "GET", "/with-response", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_streams, CASES)


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    client = serve(build_streams(fulmen))
    assert_same_as_fastapi(client, CASES, fastapi_answers)


def build_background(fw: Any, log: list[str]) -> Any:
    """Generator endpoints that add background tasks while they stream (before and after their first item)."""
    app = fw.FastAPI()

    @app.get("/jsonl-tasks")
    async def jsonl_tasks(tasks: fw.BackgroundTasks) -> Any:
        tasks.add_task(log.append, "jsonl-before")
        yield 1
        tasks.add_task(log.append, "jsonl-after")
        yield 2

    @app.get("/sse-tasks", response_class=fw.sse.EventSourceResponse)
    def sse_tasks(tasks: fw.BackgroundTasks) -> Iterator[dict[str, int]]:
        yield {"a": 1}
        tasks.add_task(log.append, "sse-after")

    def from_dependency(tasks: fw.BackgroundTasks) -> Any:
        return tasks

    @app.get("/dep-tasks")
    async def dep_tasks(tasks: Any = fw.Depends(from_dependency)) -> Any:
        yield "x"
        tasks.add_task(log.append, "dependency-after")

    return app


def test_background_tasks_added_while_streaming_run(serve: Callable[..., httpx.Client]) -> None:
    """Tasks a generator endpoint adds after it started streaming run once the stream is sent, as in FastAPI
    (they were dropped when none had been added before the first item)."""
    from fulmen.testclient import TestClient

    paths = ["/jsonl-tasks", "/sse-tasks", "/dep-tasks"]
    fastapi_log: list[str] = []
    with TestClient(build_background(fastapi_module(), fastapi_log)) as reference:
        expected = [(reference.get(p).text, list(fastapi_log), fastapi_log.clear())[:2] for p in paths]
    log: list[str] = []
    client = serve(build_background(fulmen, log))
    got = []
    for path in paths:
        text = client.get(path).text
        assert wait_until(lambda: len(log) >= len(expected[len(got)][1]))
        got.append((text, list(log)))
        log.clear()
    assert got == expected
    assert expected[0][1] == ["jsonl-before", "jsonl-after"] and expected[1][1] == ["sse-after"]


def fastapi_module() -> Any:
    import fastapi
    import fastapi.sse

    return fastapi


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
