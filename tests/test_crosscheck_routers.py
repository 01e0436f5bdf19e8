"""Cross-check of router settings: nested include_router merging, default_response_class precedence,
custom route classes (``get_route_handler``), router lifespans and startup/shutdown handlers.
"""

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

import fulmen
import fulmen.responses
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def build_routers(fw: Any) -> Any:
    responses = fw.responses
    events: list[str] = []

    class TimedRoute(fw.routing.APIRoute):
        def get_route_handler(self) -> Callable[..., Any]:
            original = super().get_route_handler()

            async def custom(request: Any) -> Any:
                response = await original(request)
                response.headers["x-route-class"] = type(self).__name__
                return response

            return custom

    @contextlib.asynccontextmanager
    async def router_lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        events.append("router lifespan start")
        yield {"from_router": "yes"}
        events.append("router lifespan end")

    def router_startup() -> None:
        events.append("router startup")

    @contextlib.asynccontextmanager
    async def app_lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        events.append("app lifespan start")
        yield {"from_app": "yes"}
        events.append("app lifespan end")

    app = fw.FastAPI(default_response_class=responses.PlainTextResponse, lifespan=app_lifespan)

    inner = fw.APIRouter(prefix="/inner", tags=["inner"], route_class=TimedRoute)

    @inner.get("/timed")
    async def timed() -> Any:
        return "timed"

    @inner.get("/explicit", response_class=responses.HTMLResponse)
    async def explicit() -> Any:
        return "<b>html</b>"

    html_router = fw.APIRouter(default_response_class=responses.HTMLResponse, lifespan=router_lifespan)

    @html_router.get("/router-default")
    async def router_default() -> Any:
        return "<i>router</i>"

    outer = fw.APIRouter(prefix="/outer", on_startup=[router_startup])
    outer.include_router(inner, prefix="/v1")

    @outer.get("/plain")
    async def plain() -> Any:
        return {"falls": "to the app default"}

    app.include_router(outer)
    app.include_router(html_router, prefix="/html")

    json_router = fw.APIRouter()

    @json_router.get("/json-by-include")
    async def json_by_include() -> Any:
        return {"a": 1}

    app.include_router(json_router, default_response_class=responses.JSONResponse)

    @app.get("/state")
    async def state(request: fw.Request) -> Any:
        return f"{request.state.from_app}/{request.state.from_router}"

    @app.get("/events")
    async def read_events() -> Any:
        return ",".join(events)

    return app


CASES: list[Case] = [
    ("timed", "GET", "/outer/v1/inner/timed", {}),
    ("timed-404", "GET", "/outer/v1/inner/nothing", {}),
    ("explicit", "GET", "/outer/v1/inner/explicit", {}),
    ("app-default", "GET", "/outer/plain", {}),
    ("router-default", "GET", "/html/router-default", {}),
    ("include-default", "GET", "/json-by-include", {}),
    ("lifespan-state", "GET", "/state", {}),
    ("events", "GET", "/events", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_routers, CASES)


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    client = serve(build_routers(fulmen))
    assert_same_as_fastapi(client, CASES, fastapi_answers)
