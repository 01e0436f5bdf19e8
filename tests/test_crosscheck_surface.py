"""Cross-check of FastAPI's smaller public modules and names, served through every front door:
``fastapi.concurrency`` helpers used in handlers, ``fastapi.param_functions``, ``HTTPConnection`` (and
Starlette's ``Request``) as a dependency's parameter, dependencies and endpoints behind ``functools.wraps``
decorators, Starlette's ``@router.route`` and a router whose own path is ``""``.
"""

import functools
import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Annotated, Any

import httpx
import pytest
import starlette.requests

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def sync_wrapper(func: Callable[..., Any]) -> Callable[..., Any]:
    """A plain ``def`` decorator: the wrapped function's kind (async, generator) must still be seen."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


class Recorder(AbstractContextManager[str]):
    """A blocking context manager that records the thread of each step and the exception it was given."""

    def __init__(self) -> None:
        self.steps: list[str] = []

    def __enter__(self) -> str:
        self.steps.append("enter-main" if threading.current_thread() is threading.main_thread() else "enter")
        return "entered"

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self.steps.append(f"exit:{getattr(exc_type, '__name__', None)}")
        return exc_type is KeyError  # suppresses KeyError only


def build_surface(fw: Any) -> Any:
    concurrency = importlib.import_module(f"{fw.__name__}.concurrency")
    param_functions = importlib.import_module(f"{fw.__name__}.param_functions")
    requests_module = importlib.import_module(f"{fw.__name__}.requests")
    security = importlib.import_module(f"{fw.__name__}.security")
    app = fw.FastAPI()
    app.state.value = 42

    @sync_wrapper
    async def wrapped_async_dep() -> str:
        return "async dep"

    @sync_wrapper
    def wrapped_gen_dep() -> Iterator[str]:
        yield "gen dep"

    class AsyncCallable:
        @sync_wrapper
        async def __call__(self) -> str:
            return "async __call__"

    @app.get("/wrapped")
    async def wrapped(
        a: Annotated[str, fw.Depends(wrapped_async_dep)],
        b: Annotated[str, fw.Depends(wrapped_gen_dep)],
        c: Annotated[str, fw.Depends(AsyncCallable())],
        d: Annotated[str, fw.Depends(functools.partial(wrapped_async_dep))],
    ) -> Any:
        return [a, b, c, d]

    @app.get("/wrapped-endpoint")
    @sync_wrapper
    async def wrapped_endpoint() -> Any:
        return {"async": "endpoint behind a def wrapper"}

    async def from_connection(conn: requests_module.HTTPConnection) -> Any:
        return [conn.app.state.value, conn.url.path]

    def from_starlette_request(request: starlette.requests.Request) -> Any:
        return request.query_params.get("q")

    @app.get("/connection")
    async def connection(
        value: Annotated[Any, fw.Depends(from_connection)],
        q: Annotated[Any, fw.Depends(from_starlette_request)],
    ) -> Any:
        return {"value": value, "q": q}

    @app.get("/param-functions")
    async def with_param_functions(
        q: Annotated[int, param_functions.Query(gt=2)], h: Annotated[str, param_functions.Header()] = "none"
    ) -> Any:
        return [q, h]

    def blocking_items() -> Iterator[str]:
        yield "x-main" if threading.current_thread() is threading.main_thread() else "x"
        yield "y"

    @app.get("/threadpool")
    async def threadpool() -> Any:
        name = await concurrency.run_in_threadpool(lambda s: s.upper(), "run")
        items = [item async for item in concurrency.iterate_in_threadpool(blocking_items())]
        recorder = Recorder()
        async with concurrency.contextmanager_in_threadpool(recorder) as entered:
            pass
        try:
            async with concurrency.contextmanager_in_threadpool(recorder):
                raise ValueError("body")
        except ValueError:
            pass
        async with concurrency.contextmanager_in_threadpool(recorder):
            raise KeyError("suppressed by __exit__")
        return {"name": name, "items": items, "entered": entered, "steps": recorder.steps}

    class KeywordBearer(security.HTTPBearer):
        async def __call__(self, request: requests_module.HTTPConnection) -> Any:  # type: ignore[override]
            return await super().__call__(request=request)

    @app.get("/bearer")
    async def bearer(credentials: Annotated[Any, fw.Security(KeywordBearer())]) -> Any:
        return credentials.model_dump()

    router = fw.APIRouter()

    @router.get("")
    def router_root() -> Any:
        return ["router root"]

    @router.route("/plain", methods=["GET", "POST"])
    def plain(req: Any) -> Any:  # Starlette passes the request whatever the parameter is called
        return importlib.import_module(f"{fw.__name__}.responses").PlainTextResponse(
            f"{req.method} {req.url.path}"
        )

    app.include_router(router, prefix="/prefix")
    return app


CASES: list[Case] = [
    ("wrapped", "GET", "/wrapped", {}),
    ("wrapped-endpoint", "GET", "/wrapped-endpoint", {}),
    ("connection", "GET", "/connection?q=hi", {}),
    ("param-functions", "GET", "/param-functions?q=3", {"headers": {"h": "yes"}}),
    ("param-functions-422", "GET", "/param-functions?q=1", {}),
    ("threadpool", "GET", "/threadpool", {}),
    ("bearer", "GET", "/bearer", {"headers": {"Authorization": "Bearer tok"}}),
    ("bearer-missing", "GET", "/bearer", {}),
    ("router-root", "GET", "/prefix", {}),
    ("router-root-slash", "GET", "/prefix/", {}),
    ("starlette-route", "GET", "/prefix/plain", {}),
    ("starlette-route-post", "POST", "/prefix/plain", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_surface, CASES)


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    client = serve(build_surface(fulmen))
    assert_same_as_fastapi(client, CASES, fastapi_answers)


def test_plain_routes_are_not_documented() -> None:
    import fastapi

    assert "/prefix/plain" not in build_surface(fastapi).openapi()["paths"]
    assert "/prefix/plain" not in build_surface(fulmen).openapi()["paths"]
    assert "/prefix" in build_surface(fulmen).openapi()["paths"]


def test_http_connection_in_a_websocket_dependency() -> None:
    import fastapi

    from fulmen.testclient import TestClient

    def build(fw: Any) -> Any:
        requests_module = importlib.import_module(f"{fw.__name__}.requests")
        app = fw.FastAPI()
        app.state.value = 7

        async def from_connection(conn: requests_module.HTTPConnection) -> Any:
            return [conn.app.state.value, conn.url.path, isinstance(conn, requests_module.HTTPConnection)]

        @app.websocket("/ws")
        async def ws(websocket: fw.WebSocket, value: Annotated[Any, fw.Depends(from_connection)]) -> None:
            await websocket.accept()
            await websocket.send_json(value)
            await websocket.close()

        return app

    got = []
    for fw in (fastapi, fulmen):
        with TestClient(build(fw)).websocket_connect("/ws") as websocket:
            got.append(websocket.receive_json())
    assert got[0] == got[1] == [7, "/ws", True]


def test_http_connection_covers_request_and_websocket() -> None:
    from fulmen.requests import HTTPConnection, Request
    from fulmen.websockets import WebSocket

    assert issubclass(Request, HTTPConnection) and issubclass(WebSocket, HTTPConnection)
    assert not issubclass(str, HTTPConnection)


@pytest.mark.parametrize("name", ["fastapi", "fulmen"])
def test_declaration_errors(name: str) -> None:
    fw = importlib.import_module(name)
    exceptions = importlib.import_module(f"{name}.exceptions")
    router = fw.APIRouter()
    with pytest.raises(AssertionError, match="Cannot include the same APIRouter instance into itself"):
        router.include_router(router)

    @router.get("")
    def root() -> Any:
        return None

    with pytest.raises(
        exceptions.FastAPIError, match=r"Prefix and path cannot be both empty \(path operation: root\)"
    ):
        fw.FastAPI().include_router(router)


def test_param_functions_are_the_params() -> None:
    from fulmen import Body, Cookie, Depends, File, Form, Header, Path, Query, Security, param_functions

    assert (param_functions.Query, param_functions.Path, param_functions.Body) == (Query, Path, Body)
    assert (param_functions.Header, param_functions.Cookie, param_functions.Form) == (Header, Cookie, Form)
    assert (param_functions.File, param_functions.Depends, param_functions.Security) == (
        File,
        Depends,
        Security,
    )


async def _steps(module: Any) -> list[str]:
    recorder = Recorder()
    async with module.contextmanager_in_threadpool(recorder):
        pass
    with pytest.raises(RuntimeError):
        async with module.contextmanager_in_threadpool(recorder):
            raise RuntimeError("body")
    return recorder.steps


def test_contextmanager_in_threadpool_steps_as_fastapi() -> None:
    import asyncio

    import fastapi.concurrency

    import fulmen.concurrency

    expected = asyncio.run(_steps(fastapi.concurrency))
    assert (
        asyncio.run(_steps(fulmen.concurrency))
        == expected
        == ["enter", "exit:None", "enter", "exit:RuntimeError"]
    )


def test_cancelled_body_still_exits_in_a_worker() -> None:
    import asyncio

    from fulmen.concurrency import contextmanager_in_threadpool

    recorder = Recorder()
    entered = asyncio.Event()

    async def body() -> None:
        async with contextmanager_in_threadpool(recorder):
            entered.set()
            await asyncio.sleep(10)

    async def main() -> None:
        task = asyncio.create_task(body())
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert recorder.steps == ["enter", "exit:CancelledError"]


def test_cancelled_exit_finishes_and_its_error_wins() -> None:
    import asyncio
    import time

    from fulmen.concurrency import contextmanager_in_threadpool

    exited = threading.Event()

    class SlowFailingExit(Recorder):
        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
            time.sleep(0.05)
            exited.set()
            raise ValueError("cleanup failed")

    async def main() -> None:
        async def body() -> None:
            async with contextmanager_in_threadpool(SlowFailingExit()):
                pass

        task = asyncio.create_task(body())
        await asyncio.sleep(0.02)  # now inside the (slow) __exit__
        task.cancel()
        with pytest.raises(ValueError, match="cleanup failed"):
            await task

    asyncio.run(main())
    assert exited.is_set()


def test_iterate_in_threadpool_stops_cleanly() -> None:
    import asyncio

    from fulmen.concurrency import iterate_in_threadpool, run_until_first_complete

    async def collect() -> list[int]:
        return [item async for item in iterate_in_threadpool(range(3))]

    assert asyncio.run(collect()) == [0, 1, 2]

    done: list[str] = []

    async def quick() -> None:
        done.append("quick")

    async def slow() -> None:
        await asyncio.sleep(10)
        done.append("slow")  # pragma: no cover - cancelled

    asyncio.run(run_until_first_complete((quick, {}), (slow, {})))
    assert done == ["quick"]


def test_utils_helpers_as_in_fastapi() -> None:
    import fastapi
    import fastapi.datastructures
    import fastapi.utils

    import fulmen.datastructures
    import fulmen.utils

    for fw, utils, datastructures in (
        (fastapi, fastapi.utils, fastapi.datastructures),
        (fulmen, fulmen.utils, fulmen.datastructures),
    ):
        app = fw.FastAPI()

        @app.put("/items/{item_id}")
        def update_item(item_id: int) -> None:
            return None

        route = next(r for r in app.routes if getattr(r, "path", "") == "/items/{item_id}")
        assert utils.generate_unique_id(route) == "update_item_items__item_id__put"
        assert utils.get_path_param_names("/a/{b}/{c:path}") == {"b", "c:path"}
        codes = [None, 200, 204, 304, "2XX", "default", 101]
        assert [utils.is_body_allowed_for_status_code(c) for c in codes] == [
            True, True, False, False, True, True, False,
        ]  # fmt: skip
        placeholder = datastructures.Default(1)
        assert utils.get_value_or_default(placeholder, datastructures.Default(2), 3) == 3
        assert utils.get_value_or_default(placeholder, datastructures.Default(2)) is placeholder
        merged = {"a": {"x": 1}, "l": [1]}
        utils.deep_dict_update(merged, {"a": {"y": 2}, "l": [2], "n": 0})
        assert merged == {"a": {"x": 1, "y": 2}, "l": [1, 2], "n": 0}


def test_route_contexts_as_in_fastapi() -> None:
    import fastapi
    import fastapi.routing

    import fulmen.routing

    def contexts(fw: Any, routing: Any) -> list[tuple[Any, ...]]:
        router = fw.APIRouter(prefix="/items", tags=["items"])

        @router.get("/{item_id}")
        def read_item(item_id: int) -> Any:
            return item_id

        @router.post("")
        def create_item() -> Any:
            return None

        app = fw.FastAPI()
        app.include_router(router, prefix="/v1")
        found = list(routing.iter_route_contexts(app.routes))
        assert all(isinstance(c, routing.RouteContext) for c in found)
        assert list(routing.iter_route_contexts(found)) == found  # contexts pass through
        return sorted(
            # fulmen's GET routes list the HEAD they answer in ``methods`` (docs/routers.md)
            (
                c.path,
                c.path_format,
                c.name,
                sorted(set(c.methods or ()) - {"HEAD"}),
                c.endpoint.__name__,
                c.tags,
            )
            for c in found
            if c.name in ("read_item", "create_item")
        )

    assert contexts(fulmen, fulmen.routing) == contexts(fastapi, fastapi.routing)


def test_small_public_modules_as_in_fastapi() -> None:
    import datetime
    from decimal import Decimal

    import fastapi.applications
    import fastapi.encoders
    import fastapi.types

    import fulmen.applications
    import fulmen.encoders
    import fulmen.logger
    import fulmen.types

    assert fulmen.applications.FastAPI is fulmen.FastAPI
    assert fulmen.applications.AppType.__bound__ is fulmen.FastAPI
    assert fulmen.types.UnionType is fastapi.types.UnionType
    assert fulmen.types.DecoratedCallable.__bound__ == fastapi.types.DecoratedCallable.__bound__
    assert fulmen.logger.logger.name == "fulmen"
    for value in (Decimal("1"), Decimal("1.5"), Decimal("-0")):
        encoded = fulmen.encoders.decimal_encoder(value)
        assert (type(encoded), encoded) == (
            type(expected := fastapi.encoders.decimal_encoder(value)),
            expected,
        )
    for moment in (datetime.date(2024, 1, 2), datetime.time(3, 4, 5, 6)):
        assert fulmen.encoders.isoformat(moment) == fastapi.encoders.isoformat(moment)


def test_a_cancellation_is_not_swallowed_by_a_suppressing_exit() -> None:
    import asyncio

    from fulmen.concurrency import contextmanager_in_threadpool

    class SuppressAll(Recorder):
        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
            super().__exit__(exc_type, exc, tb)
            return True

    recorder = SuppressAll()

    async def main() -> None:
        async def body() -> None:
            async with contextmanager_in_threadpool(recorder):
                await asyncio.sleep(10)

        task = asyncio.create_task(body())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert recorder.steps == ["enter", "exit:CancelledError"]
