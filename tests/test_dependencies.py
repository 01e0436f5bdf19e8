"""``Depends`` beyond the FastAPI cross-check: declaration errors, threads, and failures after the response.

No ``from __future__ import annotations``: handlers here use names local to the tests.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import httpx
import pytest

from fulmen import Depends, FastAPI, HTTPException
from fulmen.exceptions import DependencyScopeError, FastAPIError


def test_depends_without_callable_is_a_startup_error() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match=r"GET '/x'.*Depends\(\) in parameter 'v' has no dependency"):

        @app.get("/x")
        async def handler(v=Depends()) -> Any:  # type: ignore[no-untyped-def]
            return v


def test_non_callable_dependency_is_a_startup_error() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match="is not callable"):

        @app.get("/x")
        async def handler(v: Annotated[int, Depends(42)]) -> Any:  # type: ignore[arg-type]
            return v


def test_error_in_a_dependency_names_route_and_dependency() -> None:
    def bad(x: Annotated[dict[str, Any], fulmen_query()]) -> Any:
        return x

    app = FastAPI()
    with pytest.raises(FastAPIError, match=r"route GET '/x', dependency .*bad, parameter 'x'"):

        @app.get("/x")
        async def handler(v: Annotated[Any, Depends(bad)]) -> Any:
            return v


def fulmen_query() -> Any:
    from fulmen import Query

    return Query()


def test_request_scope_cannot_depend_on_function_scope() -> None:
    def inner() -> Iterator[int]:
        yield 1

    def outer(i: Annotated[int, Depends(inner, scope="function")]) -> Iterator[int]:
        yield i

    app = FastAPI()
    with pytest.raises(DependencyScopeError, match='"outer" has a scope of "request"'):

        @app.get("/x")
        async def handler(v: Annotated[int, Depends(outer)]) -> Any:
            return v


def test_depends_scope_is_checked() -> None:
    with pytest.raises(ValueError, match="scope"):
        Depends(lambda: 1, scope="session")  # type: ignore[arg-type]


def test_sync_dependencies_run_in_the_thread_pool_unless_inline(
    serve: Callable[..., httpx.Client],
) -> None:
    def where() -> str:
        return threading.current_thread().name

    pooled = FastAPI()
    inline = FastAPI(inline_sync=True)
    for app in (pooled, inline):

        @app.get("/")
        async def handler(name: Annotated[str, Depends(where)]) -> Any:
            return {"thread": name, "loop": threading.current_thread().name}

    body = serve(pooled).get("/").json()
    assert body["thread"].startswith("fulmen-sync") or body["thread"].startswith("AnyIO")
    assert body["thread"] != body["loop"]
    body = serve(inline).get("/").json()
    assert body["thread"] == body["loop"]


def test_exception_after_yield_is_logged_and_response_kept(
    serve: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    """An HTTPException raised in exit code can't change a response already sent (FastAPI's docs)."""
    done = threading.Event()

    async def late() -> Any:
        yield "v"
        done.set()
        raise HTTPException(status_code=409, detail="too late")

    app = FastAPI()

    @app.get("/")
    async def handler(v: Annotated[str, Depends(late)]) -> Any:
        return {"v": v}

    with caplog.at_level(logging.ERROR):
        client = serve(app)
        # Under uvicorn the exception reaches the server, which drops the connection (as with FastAPI).
        r = client.get("/", headers={"connection": "close"})
        assert r.status_code == 200
        assert r.json() == {"v": "v"}
        assert done.wait(5)
        # The worker lives on.
        assert client.get("/").status_code == 200


def test_async_dependency_that_yields_twice_is_an_error_after_the_response(
    serve: Callable[..., httpx.Client], front_door: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A second ``yield`` is a bug in the dependency: reported after the response (AsyncExitStack's
    "generator didn't stop" in FastAPI), never run past, and the response already sent stands."""
    resumed = threading.Event()
    after_second: list[str] = []

    async def twice() -> Any:
        yield "v"
        resumed.set()
        yield "again"
        after_second.append("ran")  # never reached

    app = FastAPI()

    @app.get("/")
    async def handler(v: Annotated[str, Depends(twice)]) -> Any:
        return {"v": v}

    with caplog.at_level(logging.ERROR):
        client = serve(app)
        r = client.get("/", headers={"connection": "close"})
        assert (r.status_code, r.json()) == (200, {"v": "v"})
        assert resumed.wait(5)
        assert client.get("/").status_code == 200  # the worker lives on
        deadline = time.monotonic() + 5
        while front_door == "engine" and "yielded more than once" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text
            time.sleep(0.01)
    assert after_second == []


def test_route_without_dependencies_keeps_the_flat_handler() -> None:
    """Cost stays in the routes that use dependencies (DESIGN.md §3.2)."""
    app = FastAPI()

    @app.get("/plain/{i}")
    async def plain(i: int) -> Any:
        return i

    @app.get("/deps", dependencies=[Depends(lambda: None)])
    async def deps() -> Any:
        return 1

    by_path = {route.path: route for route in app.routes}
    plain_route, deps_route = by_path["/plain/{i}"], by_path["/deps"]
    assert plain_route.handler.__name__ == "run"
    assert deps_route.handler.__name__ == "run_with_dependencies"


def _peak_concurrency(client: httpx.Client, path: str, n: int = 4) -> int:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(lambda _: client.get(path), range(n)))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    return max(r.json()["peak"] for r in answers)


def test_max_concurrency_limits_a_dependency(serve: Callable[..., httpx.Client]) -> None:
    import asyncio

    state = {"active": 0, "peak": 0}

    async def slow() -> Any:
        state["active"] += 1
        state["peak"] = max(state["peak"], state["active"])
        try:
            await asyncio.sleep(0.05)
            yield state["peak"]
        finally:
            state["active"] -= 1

    app = FastAPI()

    @app.get("/limited")
    async def limited(p: Annotated[int, Depends(slow, max_concurrency=1)]) -> Any:
        return {"peak": state["peak"]}

    @app.get("/free")
    async def free(p: Annotated[int, Depends(slow)]) -> Any:
        await asyncio.sleep(0.05)
        return {"peak": state["peak"]}

    client = serve(app)
    assert _peak_concurrency(client, "/limited") == 1
    state["peak"] = 0
    assert _peak_concurrency(client, "/free") > 1  # the same load without the limit overlaps
    # Every dependency's cleanup ran. A server may finish the handler's task just after the client has the
    # whole response (uvicorn does): wait for that, bounded, instead of racing it.
    deadline = time.monotonic() + 5
    while state["active"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state["active"] == 0


def test_max_concurrency_is_validated() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        Depends(lambda: 1, max_concurrency=0)
