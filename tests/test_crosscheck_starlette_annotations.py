"""Cross-check: parameters annotated with Starlette's own classes (``starlette.requests.Request``,
``starlette.responses.Response``, ``starlette.background.BackgroundTasks``, ``HTTPConnection``,
``starlette.websockets.WebSocket``), as FastAPI code often imports them, get the request, the sub-response,
the background tasks and the WebSocket, in endpoints and in dependencies, and are left out of OpenAPI."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.background import BackgroundTasks as StarletteTasks
from starlette.requests import HTTPConnection as StarletteConnection
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse
from starlette.websockets import WebSocket as StarletteWebSocket

import fulmen
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for
from tests.test_websockets import wait_for

Case = tuple[str, str, str, dict[str, Any]]
done: list[str] = []


def build(fw: Any) -> Any:
    app = fw.FastAPI()

    def tag(response: StarletteResponse, connection: StarletteConnection) -> str:
        response.headers["x-dep"] = connection.url.path
        response.set_cookie("seen", "yes")
        return "tagged"

    @app.get("/items/{item_id}")
    def read(
        item_id: int,
        request: StarletteRequest,
        response: StarletteResponse,
        tasks: StarletteTasks,
        tagged: str = fw.Depends(tag),
    ) -> Any:
        response.status_code = 201
        tasks.add_task(done.append, f"item {item_id}")
        return {"method": request.method, "query": request.query_params.get("q"), "tagged": tagged}

    @app.get("/done")
    def read_done() -> Any:
        return done[-1:]

    @app.websocket("/ws")
    async def ws(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.url.path)
        await websocket.close()

    return app


CASES: list[Case] = [
    ("endpoint-and-dependency", "GET", "/items/3?q=x", {}),
    ("invalid-path", "GET", "/items/x", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    done.clear()
    answers = fastapi_answers_for(build, CASES)
    assert done == ["item 3"]
    return answers


def test_starlette_annotations_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    done.clear()
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)
    assert wait_for(lambda: done == ["item 3"]), done  # after the response, on a real server


def test_websocket_and_openapi_as_in_fastapi() -> None:
    import fastapi

    reference = build(fastapi)
    ours = build(fulmen)
    assert ours.openapi() == reference.openapi()  # none of the Starlette-typed parameters is documented
    with TestClient(ours) as client, client.websocket_connect("/ws") as session:
        assert session.receive_text() == "/ws"
