"""Cross-check: decorators that rewrite an endpoint's signature, as caching libraries do (fastapi-cache2's
``@cache``): the wrapper's ``__signature__`` adds keyword-only ``Request``/``Response`` parameters annotated
with Starlette's classes, and the wrapper pops them before calling the endpoint."""

import functools
import inspect
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import starlette.background
import starlette.requests
import starlette.responses

import fulmen
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]

_EXTRA = {
    "_memo_request": starlette.requests.Request,
    "_memo_response": starlette.responses.Response,
}


def memo(func: Callable[..., Any]) -> Callable[..., Any]:
    """Answers a repeated GET from memory. It needs the request (the key) and the response (a status
    header), and adds parameters for them unless the endpoint has Starlette-annotated ones already."""
    signature = inspect.signature(func)
    taken = {p.annotation: name for name, p in signature.parameters.items()}
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=cls)
        for name, cls in _EXTRA.items()
        if cls not in taken
    ]
    names = {cls: taken.get(cls, name) for name, cls in _EXTRA.items()}
    store: dict[str, Any] = {}

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = kwargs[names[starlette.requests.Request]]
        response = kwargs[names[starlette.responses.Response]]
        for p in added:
            kwargs.pop(p.name)
        key = str(request.url)
        response.headers["X-Memo"] = "hit" if key in store else "miss"
        if key not in store:
            result = func(*args, **kwargs)
            store[key] = await result if inspect.isawaitable(result) else result
        return store[key]

    params = list(signature.parameters.values())
    wrapper.__signature__ = signature.replace(parameters=[*params, *added])  # type: ignore[attr-defined]
    return wrapper


def build(fw: Any) -> Any:
    app = fw.FastAPI()
    counter = {"n": 0}

    @app.get("/plain/{item_id}")
    @memo
    async def plain(item_id: int, q: str = "") -> Any:
        counter["n"] += 1
        return {"item_id": item_id, "q": q, "n": counter["n"]}

    @app.get("/sync")
    @memo
    def sync() -> Any:
        counter["n"] += 1
        return {"n": counter["n"]}

    @app.get("/own")
    @memo
    async def own(request: starlette.requests.Request, response: starlette.responses.Response) -> Any:
        counter["n"] += 1
        response.headers["X-Own"] = request.url.path
        return {"n": counter["n"]}

    return app


CASES: list[Case] = [
    ("plain-miss", "GET", "/plain/1?q=a", {}),
    ("plain-hit", "GET", "/plain/1?q=a", {}),
    ("plain-other", "GET", "/plain/2", {}),
    ("plain-invalid", "GET", "/plain/x", {}),
    ("sync-miss", "GET", "/sync", {}),
    ("sync-hit", "GET", "/sync", {}),
    ("own-miss", "GET", "/own", {}),
    ("own-hit", "GET", "/own", {}),
    ("openapi", "GET", "/openapi.json", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_signature_decorator_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert dict(fastapi_answers["plain-hit"].headers)["x-memo"] == "hit"
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


def test_second_parameter_of_a_role_gets_the_same_object() -> None:
    """The endpoint annotates with fulmen's classes and the decorator adds Starlette-annotated parameters
    of its own: every ``Request`` parameter gets the request, every ``Response`` the same response, every
    ``BackgroundTasks`` the same tasks (FastAPI fills only the last of each: a documented difference)."""
    app = fulmen.FastAPI()
    seen: list[Any] = []

    def deps_check(
        request: fulmen.Request, again: starlette.requests.Request, tasks: fulmen.BackgroundTasks
    ) -> bool:
        return request is again

    @app.get("/both")
    @memo
    async def both(
        request: fulmen.Request,
        response: fulmen.Response,
        tasks: fulmen.BackgroundTasks,
        more: starlette.background.BackgroundTasks,
        same_in_dep: bool = fulmen.Depends(deps_check),
    ) -> Any:
        response.headers["X-Own"] = request.url.path
        tasks.add_task(seen.append, "first")
        more.add_task(seen.append, "second")
        return {"tasks_shared": tasks is more, "same_in_dep": same_in_dep}

    @app.get("/no-deps")
    @memo
    def no_deps(request: fulmen.Request, response: fulmen.Response) -> Any:
        return {"path": request.url.path}

    with TestClient(app) as client:
        r = client.get("/both")
        assert r.status_code == 200, r.text
        assert r.json() == {"tasks_shared": True, "same_in_dep": True}
        assert r.headers["x-own"] == "/both"
        assert r.headers["x-memo"] == "miss"
        assert seen == ["first", "second"]
        r = client.get("/no-deps")
        assert (r.status_code, r.json(), r.headers["x-memo"]) == (200, {"path": "/no-deps"}, "miss")
        assert client.get("/no-deps").headers["x-memo"] == "hit"
