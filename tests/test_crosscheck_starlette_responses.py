"""Cross-check: Starlette's response objects in FastAPI code (``from starlette.responses import ...``):
returned by handlers (with headers, cookies and background tasks), given as ``response_class`` or as the
return annotation, streamed and from files. fulmen answers them as FastAPI does, through every front door
(``starlette.websockets.WebSocketDisconnect`` is in test_websockets.py)."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette import responses as sr
from starlette.background import BackgroundTask

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for
from tests.test_websockets import wait_for

Case = tuple[str, str, str, dict[str, Any]]
events: list[str] = []


def build(fw: Any, file: Path) -> Any:
    app = fw.FastAPI()

    @app.middleware("http")
    async def tag(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-mw"] = "1"
        return response

    @app.get("/json")
    def json_response() -> Any:
        response = sr.JSONResponse({"a": [1, 2]}, status_code=201, headers={"x-h": "1"})
        response.set_cookie("c", "v")
        response.background = BackgroundTask(events.append, "json-bg")
        return response

    @app.get("/redirect")
    async def redirect() -> sr.RedirectResponse:  # a Starlette class as the return annotation: no model
        return sr.RedirectResponse("/json", status_code=303)

    @app.get("/html", response_class=sr.HTMLResponse)
    def html() -> str:
        return "<b>hi</b>"

    @app.get("/plain-model", response_class=sr.PlainTextResponse, status_code=202)
    def plain() -> str:
        return "text"

    @app.get("/stream")
    def stream() -> Any:
        def chunks() -> Iterator[bytes]:
            yield b"one,"
            yield b"two"

        return sr.StreamingResponse(chunks(), media_type="text/csv", headers={"x-s": "1"})

    @app.get("/stream-with-tasks")
    def stream_with_tasks(tasks: fw.BackgroundTasks) -> Any:
        tasks.add_task(events.append, "stream-bg")
        return sr.StreamingResponse(iter([b"x"]), media_type="text/plain")

    @app.get("/file")
    def file_response() -> Any:
        return sr.FileResponse(file, filename="data.txt")

    @app.get("/status-from-injected")
    def injected(response: fw.Response) -> Any:
        response.headers["x-injected"] = "yes"
        return sr.PlainTextResponse("body", status_code=200)

    @app.get("/events")
    def read_events() -> Any:
        return events

    return app


CASES: list[Case] = [
    ("json", "GET", "/json", {}),
    ("redirect", "GET", "/redirect", {}),
    ("html-class", "GET", "/html", {}),
    ("plain-class-status", "GET", "/plain-model", {}),
    ("stream", "GET", "/stream", {}),
    ("stream-with-tasks", "GET", "/stream-with-tasks", {}),
    ("file", "GET", "/file", {}),
    ("file-range", "GET", "/file", {"headers": {"range": "bytes=2-4"}}),
    ("injected", "GET", "/status-from-injected", {}),
]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "data.txt"
    path.write_bytes(b"0123456789")
    return path


@pytest.fixture(scope="module")
def fastapi_answers(data_file: Path) -> dict[str, Answer]:
    events.clear()
    answers = fastapi_answers_for(lambda fw: build(fw, data_file), CASES)
    assert events == ["json-bg", "stream-bg"]  # each response's background task ran
    return answers


def test_starlette_responses_as_in_fastapi(
    serve: Callable[..., httpx.Client], data_file: Path, fastapi_answers: dict[str, Answer]
) -> None:
    events.clear()
    assert_same_as_fastapi(serve(build(fulmen, data_file)), CASES, fastapi_answers)
    # On a real server a background task runs after its response is out: wait for it.
    assert wait_for(lambda: sorted(events) == ["json-bg", "stream-bg"]), events


def test_openapi_of_starlette_response_classes(data_file: Path) -> None:
    import fastapi

    from fulmen.testclient import TestClient

    expected = TestClient(build(fastapi, data_file)).get("/openapi.json").json()
    assert TestClient(build(fulmen, data_file)).get("/openapi.json").json() == expected
