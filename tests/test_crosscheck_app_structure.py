"""Cross-check of how an app is put together: lifespans given as bare generator functions, ``routes=`` lists,
edits of ``app.routes`` and mounted routers, each served by FastAPI and by fulmen.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


# -- lifespan as a bare generator function (FastAPI wraps it, with no warning) ---------------------------
def build_generator_lifespans(fw: Any) -> Any:
    events: list[str] = []

    async def async_lifespan(app: Any) -> AsyncIterator[dict[str, str]]:
        events.append("async start")
        yield {"from_async": "yes"}
        events.append("async end")

    def sync_lifespan(app: Any) -> Iterator[None]:
        events.append("sync start")
        yield
        events.append("sync end")

    app = fw.FastAPI(lifespan=async_lifespan)  # warnings are errors here: none may be raised
    router = fw.APIRouter(lifespan=sync_lifespan)

    @router.get("/events")
    async def read_events(request: fw.Request) -> Any:
        return {"events": events, "state": request.state.from_async}

    app.include_router(router)
    return app


LIFESPAN_CASES: list[Case] = [("generator lifespans ran, state reached", "GET", "/events", {})]


@pytest.fixture(scope="module")
def lifespan_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_generator_lifespans, LIFESPAN_CASES)


def test_generator_function_lifespans(
    serve: Callable[..., httpx.Client], lifespan_answers: dict[str, Answer]
) -> None:
    client = serve(build_generator_lifespans(fulmen))
    assert_same_as_fastapi(client, LIFESPAN_CASES, lifespan_answers)
