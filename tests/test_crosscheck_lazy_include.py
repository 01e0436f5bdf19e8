"""Cross-check: routes declared on a router after ``include_router`` are served and documented, as FastAPI
0.165 includes routers lazily (nested routers, a router included twice, WebSocket routes; the inclusion's
options apply to them)."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def build(fw: Any) -> Any:
    app = fw.FastAPI()
    router = fw.APIRouter(prefix="/r", tags=["r"])
    inner = fw.APIRouter()

    def needs_key(x_key: str = fw.Header()) -> None:
        if x_key != "ok":
            raise fw.HTTPException(403, "bad key")

    app.include_router(router, prefix="/v1", tags=["v1"], dependencies=[fw.Depends(needs_key)])
    app.include_router(router, prefix="/v2", responses={418: {"description": "teapot"}})
    router.include_router(inner, prefix="/in")

    @app.get("/a")
    def a() -> str:
        return "a"

    @router.get("/late/{n}")
    def late(n: int) -> dict[str, int]:
        return {"n": n}

    @inner.post("/deep", status_code=201)
    def deep(body: dict[str, int]) -> dict[str, int]:
        return body

    return app


CASES: list[Case] = [
    ("v1-late-no-key", "GET", "/v1/r/late/1", {}),
    ("v1-late", "GET", "/v1/r/late/1", {"headers": {"x-key": "ok"}}),
    ("v2-late", "GET", "/v2/r/late/2", {}),
    ("v2-late-invalid", "GET", "/v2/r/late/x", {}),
    ("v1-deep", "POST", "/v1/r/in/deep", {"headers": {"x-key": "ok"}, "json": {"a": 1}}),
    ("v2-deep", "POST", "/v2/r/in/deep", {"json": {"b": 2}}),
    ("app-route", "GET", "/a", {}),
    ("not-under-router", "GET", "/r/late/1", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_routes_declared_after_include_router_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


def test_they_are_documented_as_in_fastapi() -> None:
    import fastapi

    ours, theirs = build(fulmen).openapi(), build(fastapi).openapi()
    # The same operations (order aside: fulmen lists late routes after the app's own, FastAPI at the include).
    assert ours == theirs


def test_websocket_route_declared_later() -> None:
    from fulmen.testclient import TestClient

    app = fulmen.FastAPI()
    router = fulmen.APIRouter()
    app.include_router(router, prefix="/live")

    @router.websocket("/ws")
    async def ws(websocket: fulmen.WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.url.path)
        await websocket.close()

    with TestClient(app).websocket_connect("/live/ws") as conn:
        assert conn.receive_text() == "/live/ws"
