"""Cross-check: Starlette-style routes on a FastAPI app (``app.add_route("/metrics", handle_metrics)``, as
Prometheus exporters document, and ``router.route`` as a decorator): the endpoint gets the Request and returns
a response; no validation, not in the OpenAPI document."""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.responses import PlainTextResponse

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def build(fw: Any) -> Any:
    app = fw.FastAPI()

    async def metrics(request: Any) -> Any:
        return PlainTextResponse(f"requests_total 1\n# {request.method} {request.url.path}\n")

    def sync_endpoint(request: Any) -> Any:
        return PlainTextResponse(f"sync {request.method} {request.query_params.get('q')}")

    app.add_route("/metrics", metrics)
    app.add_route("/sync", sync_endpoint, methods=["GET", "POST"], name="sync")

    @app.router.route("/decorated", methods=["PUT"])
    async def decorated(request: Any) -> Any:
        return PlainTextResponse("decorated " + request.url_for("sync").path)

    return app


CASES: list[Case] = [
    ("get", "GET", "/metrics", {}),
    ("head", "HEAD", "/metrics", {}),
    ("sync-get", "GET", "/sync?q=1", {}),
    ("sync-post", "POST", "/sync", {}),
    ("decorated", "PUT", "/decorated", {}),
    ("openapi-has-none", "GET", "/openapi.json", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_starlette_style_routes_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    client = serve(build(fulmen))
    assert_same_as_fastapi(client, CASES, fastapi_answers)
    r = client.post("/metrics")  # the Allow header's order differs (FastAPI's comes from a set)
    assert (r.status_code, sorted(r.headers["allow"].split(", "))) == (405, ["GET", "HEAD"])
