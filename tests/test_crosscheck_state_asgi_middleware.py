"""Cross-check: ``request.state`` is one dict for every layer when the app has ASGI middleware, as in
Starlette (its ``scope["state"]``). slowapi's ``SlowAPIMiddleware`` reads after ``call_next`` what the rate
limit decorator stored in ``request.state`` inside the endpoint; lifespan state is in it too."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


class Tagging:
    """A pure ASGI middleware (what makes the stack run in ASGI form)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["tagged"] = "by asgi middleware"
        await self.app(scope, receive, send)


def build(fw: Any) -> Any:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
        yield {"pool": "lifespan pool"}

    app = fw.FastAPI(lifespan=lifespan)

    @app.middleware("http")
    async def outer(request: Any, call_next: Any) -> Any:
        request.state.outer = "set outside"
        response = await call_next(request)
        response.headers["X-Inner"] = str(getattr(request.state, "inner", None))
        response.headers["X-Pool"] = str(getattr(request.state, "pool", None))
        return response

    app.add_middleware(Tagging)

    @app.get("/")
    def endpoint(request: fw.Request) -> Any:
        request.state.inner = "set inside"
        names = ("outer", "tagged", "pool")
        return {name: getattr(request.state, name, None) for name in names}

    return app


CASES: list[Case] = [("state", "GET", "/", {}), ("again", "GET", "/", {})]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_state_shared_through_asgi_middleware(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert dict(fastapi_answers["state"].headers)["x-inner"] == "set inside"
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)
