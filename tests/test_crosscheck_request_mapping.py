"""Cross-check: Starlette's ``Request`` as a read-only mapping over its scope, its HTTP/2 push and early
hints methods (hints a server may ignore) and ``close()`` (closes the files of ``request.form()``), in FastAPI
code.
"""

from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Case, assert_same_as_fastapi, fastapi_answers_for


def build(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/mapping")
    async def mapping(request: fw.Request) -> Any:
        await request.send_early_hints("</app.css>; rel=preload", "</app.js>; rel=preload")
        await request.send_push_promise("/app.css")
        return {
            "in": "type" in request,
            "missing": "nope" in request,
            "dict": dict(request)["method"],
            "len": len(request) == len(request.scope),
            "keys": sorted(request) == sorted(request.scope) == sorted(request.keys()),
            "items": dict(request.items())["path"],
            "values": len(list(request.values())) == len(request.scope),
            "get": request.get("nope", "default"),
            "is_mapping": isinstance(request, Mapping),
            "equal_to_itself": request == request,
        }

    @app.post("/close")
    async def close(request: fw.Request) -> Any:
        form = await request.form()
        upload = form["file"]
        before = upload.file.closed
        await request.close()
        await request.close()  # twice is fine
        return {"before": before, "after": upload.file.closed}

    @app.post("/close-unread")
    async def close_unread(request: fw.Request) -> Any:
        await request.close()  # no form read: nothing to close
        return {"body": (await request.body()).decode()}

    return app


CASES: list[Case] = [
    ("mapping", "GET", "/mapping", {}),
    ("close", "POST", "/close", {"files": {"file": ("a.txt", b"data")}}),
    ("close-unread", "POST", "/close-unread", {"content": b"raw"}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> Any:
    return fastapi_answers_for(build, CASES)


def test_request_mapping_as_in_fastapi(serve: Callable[..., httpx.Client], fastapi_answers: Any) -> None:
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)
