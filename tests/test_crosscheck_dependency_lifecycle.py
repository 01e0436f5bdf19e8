"""Dependency lifecycle, cross-checked: each scenario runs on an app built with FastAPI and with fulmen.

Covers what FastAPI 0.165 users rely on around ``Depends``: declarations as values (equal, hashable,
``dataclasses.replace``), one ``max_concurrency`` limit per declaration, overrides installed mid-request,
``functools.partial`` and PEP 695 aliases as dependencies, ``yield`` cleanup that finishes when the request
is cancelled, streams that can be cancelled, ``on_event`` and generator lifespans.

Cancellation scenarios run in-process under anyio (as FastAPI's own tests do, through
``httpx.ASGITransport``): that is where a cancel scope re-cancels every ``await`` of the cleanup code.
No ``from __future__ import annotations``: both frameworks must resolve the handlers' local annotations.
"""

import asyncio
import dataclasses
import functools
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import anyio
import fastapi
import httpx
import pytest
from typing_extensions import TypeAliasType

import fulmen
from fulmen.testclient import TestClient

FRAMEWORKS = [fastapi, fulmen]


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


# ------------------------------------------------------------------------------------------------------------
# Declarations as values
# ------------------------------------------------------------------------------------------------------------
def _declaration_facts(fw: Any) -> dict[str, Any]:
    def dep() -> None:
        pass  # pragma: no cover

    limited = fw.Depends(dep, max_concurrency=2)
    copy = dataclasses.replace(limited, use_cache=False)
    return {
        "equal": fw.Depends(dep) == fw.Depends(dep),
        "same hash": hash(fw.Depends(dep)) == hash(fw.Depends(dep)),
        "scope matters": hash(fw.Depends(dep)) == hash(fw.Depends(dep, scope="function")),
        "security equal": fw.Security(dep) == fw.Security(dep),
        "security hash": hash(fw.Security(dep)) == hash(fw.Security(dep)),
        "two limits differ": fw.Depends(dep, max_concurrency=1) == fw.Depends(dep, max_concurrency=1),
        "copy": (copy.dependency is dep, copy.use_cache, copy.max_concurrency),
        "in a set": len({fw.Depends(dep), fw.Depends(dep), fw.Depends(dep, use_cache=False)}),
    }


def test_declarations_are_values_as_in_fastapi() -> None:
    """Depends/Security are frozen dataclasses in FastAPI: tools put them in sets and copy them."""
    assert _declaration_facts(fulmen) == _declaration_facts(fastapi)
    assert _declaration_facts(fulmen)["copy"] == (True, False, 2)


# ------------------------------------------------------------------------------------------------------------
# max_concurrency: one limit per declaration object
# ------------------------------------------------------------------------------------------------------------
def _limited_app(fw: Any, record: dict[str, int]) -> Any:
    async def dependency() -> AsyncIterator[str]:
        record["active"] += 1
        record["peak"] = max(record["peak"], record["active"])
        try:
            await asyncio.sleep(0.02)
            yield "ok"
        finally:
            record["active"] -= 1

    shared = Annotated[str, fw.Depends(dependency, max_concurrency=1)]
    app = fw.FastAPI()
    router = fw.APIRouter()

    @app.get("/one")
    async def one(value: shared) -> str:
        return value

    @router.get("/two")
    async def two(value: shared) -> str:
        return value

    @app.get("/own")
    async def own(value: Annotated[str, fw.Depends(dependency, max_concurrency=1)]) -> str:
        return value

    app.include_router(router)
    return app


async def _limited_scenario(fw: Any) -> tuple[list[str], int]:
    record = {"active": 0, "peak": 0}
    app = _limited_app(fw, record)
    answers: list[str] = []
    async with _client(app) as client:

        async def get(path: str) -> None:
            answers.append((await client.get(path)).json())

        async with anyio.create_task_group() as group:
            for path in ("/one", "/two", "/one", "/two"):
                group.start_soon(get, path)
    return answers, record["peak"]


@pytest.mark.parametrize("fw", FRAMEWORKS, ids=lambda fw: fw.__name__)
def test_a_shared_declaration_limits_every_route_that_uses_it(fw: Any) -> None:
    """One ``Annotated`` alias on two routes (one in an included router) is one limit, not one per route."""
    answers, peak = anyio.run(_limited_scenario, fw)
    assert answers == ["ok"] * 4
    assert peak == 1


def test_limited_app_serves_several_event_loops() -> None:
    """The same app served by one event loop after another (a new TestClient, a restarted server)."""
    for _ in range(3):
        answers, peak = asyncio.run(_limited_scenario(fulmen))
        assert (answers, peak) == (["ok"] * 4, 1)


def test_limit_through_every_front_door(serve: Callable[..., httpx.Client]) -> None:
    record = {"active": 0, "peak": 0}
    client = serve(_limited_app(fulmen, record))
    assert client.get("/one").json() == client.get("/two").json() == client.get("/own").json() == "ok"
    assert record == {"active": 0, "peak": 1}


# ------------------------------------------------------------------------------------------------------------
# Overrides, partials, PEP 695 aliases
# ------------------------------------------------------------------------------------------------------------
class _Methods:
    async def coroutine(self, value: str) -> str:
        return value

    def generator(self, value: str) -> Iterator[str]:
        yield value

    async def async_generator(self, value: str) -> AsyncIterator[str]:
        yield value


class _AsyncCallable:
    async def __call__(self, value: str) -> str:
        return value


async def _aliased() -> int:
    return 123


def _passthrough(func: Callable[..., Any]) -> Callable[..., Any]:
    """A plain ``def`` decorator (``functools.wraps``), as tracing and retry libraries write them."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def _yielding(value: str = "wrapped generator") -> Iterator[str]:
    yield value


def _kinds_app(fw: Any) -> Any:
    app = fw.FastAPI()
    methods = _Methods()

    async def original() -> str:
        return "original"  # pragma: no cover

    async def replacement() -> str:
        return "replacement"

    async def install_override() -> None:
        app.dependency_overrides[original] = replacement

    @app.get("/override-now")
    async def override_now(
        _: Annotated[None, fw.Depends(install_override)], value: Annotated[str, fw.Depends(original)]
    ) -> str:
        return value

    partials: dict[str, Callable[..., Any]] = {
        "coroutine": methods.coroutine,
        "generator": methods.generator,
        "async-generator": methods.async_generator,
        "async-callable": _AsyncCallable(),
    }
    wrapped: dict[str, Callable[..., Any]] = {
        "generator": _passthrough(_yielding),
        "async-generator": _passthrough(methods.async_generator),
        "async-callable": _passthrough(_AsyncCallable()),
    }
    for name, call in wrapped.items():

        def wrapped_route(
            value: Annotated[str, fw.Depends(functools.partial(call, f"wrapped {name}"))],
        ) -> str:
            return value

        app.get(f"/wrapped/{name}")(wrapped_route)

    for name, call in partials.items():

        def route(value: Annotated[str, fw.Depends(functools.partial(call, f"partial {name}"))]) -> str:
            return value

        app.get(f"/partial/{name}")(route)

    aliased = TypeAliasType("aliased", Annotated[int, fw.Depends(_aliased)], type_params=())

    @app.get("/alias")
    async def alias(value: aliased) -> str:  # type: ignore[valid-type]
        return f"value: {value}"

    return app


_KIND_PATHS = [
    "/override-now",
    "/partial/coroutine",
    "/partial/generator",
    "/partial/async-generator",
    "/partial/async-callable",
    "/alias",
    "/wrapped/generator",
    "/wrapped/async-generator",
    "/wrapped/async-callable",
]


def test_overrides_partials_and_aliases(serve: Callable[..., httpx.Client]) -> None:
    """An override an earlier dependency installs applies at once; partials of coroutines and generators
    are awaited/driven, and so are ``functools.wraps`` wrappers of them; a ``TypeAliasType`` alias of
    ``Annotated[T, Depends(...)]`` declares a dependency."""
    with TestClient(_kinds_app(fastapi)) as reference:
        expected = [(r.status_code, r.json()) for r in map(reference.get, _KIND_PATHS)]
    client = serve(_kinds_app(fulmen))
    assert [(r.status_code, r.json()) for r in map(client.get, _KIND_PATHS)] == expected
    assert expected[0] == (200, "replacement")
    assert expected[5:] == [
        (200, "value: 123"),
        (200, "wrapped generator"),
        (200, "wrapped async-generator"),
        (200, "wrapped async-callable"),
    ]


def test_swallowed_exception_names_the_cause_as_fastapi_does() -> None:
    """The error users search for: '... raising an exception and a dependency with yield ...'."""
    messages = []
    for fw in FRAMEWORKS:

        def swallowing() -> Iterator[None]:
            try:
                yield
            except Exception:
                pass

        app = fw.FastAPI()

        @app.get("/")
        def endpoint(_: Annotated[None, fw.Depends(swallowing)]) -> None:
            raise ValueError("boom")

        with TestClient(app) as client, pytest.raises(fw.exceptions.FastAPIError) as caught:
            client.get("/")
        messages.append(str(caught.value))
    for message in messages:
        assert "raising an exception and a dependency with yield" in message


# ------------------------------------------------------------------------------------------------------------
# Cleanup when the request is cancelled
# ------------------------------------------------------------------------------------------------------------
async def _cancelled_cleanup(fw: Any, scope: str, when: str) -> tuple[list[str], bool]:
    events: list[str] = []
    entered = anyio.Event()
    cleanup_started = anyio.Event()
    release = anyio.Event()
    state: dict[str, anyio.CancelScope] = {}
    app = fw.FastAPI()

    async def dependency() -> AsyncIterator[None]:
        events.append("enter")
        try:
            yield
        finally:
            events.append("cleanup start")
            cleanup_started.set()
            await release.wait()
            await anyio.sleep(0)
            events.append("cleanup end")

    @app.get("/")
    async def endpoint(_: Annotated[None, fw.Depends(dependency, scope=scope)]) -> str:
        entered.set()
        if when == "endpoint":
            await anyio.sleep_forever()
        state["scope"].cancel()  # pending while the cleanup runs
        return "ok"

    with anyio.fail_after(5):
        async with _client(app) as client:

            async def request(*, task_status: Any) -> None:
                with anyio.CancelScope() as cancel:
                    state["scope"] = cancel
                    task_status.started()
                    await client.get("/")
                events.append("request done")

            async with anyio.create_task_group() as group:
                await group.start(request)
                await entered.wait()
                if when == "endpoint":
                    state["scope"].cancel()
                await cleanup_started.wait()
                await anyio.wait_all_tasks_blocked()
                events.append("release")
                release.set()
    return events, state["scope"].cancelled_caught


@pytest.mark.parametrize("scope", ["function", "request"])
@pytest.mark.parametrize("when", ["endpoint", "before_cleanup"])
def test_cleanup_finishes_when_the_request_is_cancelled(scope: str, when: str) -> None:
    """The code after ``yield`` runs to its end, shielded; the cancellation is passed on afterwards."""
    expected = anyio.run(_cancelled_cleanup, fastapi, scope, when)
    assert expected == (["enter", "cleanup start", "release", "cleanup end", "request done"], True)
    assert anyio.run(_cancelled_cleanup, fulmen, scope, when) == expected


async def _task_group_owner(fw: Any, scope: str, cancel: bool) -> tuple[list[str], bool]:
    events: list[str] = []
    external = anyio.CancelScope()
    app = fw.FastAPI()

    async def child() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            events.append("child stopped")

    async def dependency() -> AsyncIterator[None]:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(child)
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            await anyio.sleep(0)
            events.append("cleanup finished")

    @app.get("/")
    async def endpoint(_: Annotated[None, fw.Depends(dependency, scope=scope)]) -> str:
        if cancel:
            external.cancel()
            await anyio.sleep(0)
        return "ok"

    with anyio.fail_after(5):
        async with _client(app) as client:
            with external:
                await client.get("/")
    return events, external.cancelled_caught


@pytest.mark.parametrize("scope", ["function", "request"])
@pytest.mark.parametrize("cancel", [False, True])
def test_dependency_owning_a_task_group_is_cleaned_up(scope: str, cancel: bool) -> None:
    """A dependency's own task group (cancel scope) closes inside the shielded cleanup, in LIFO order."""
    expected = anyio.run(_task_group_owner, fastapi, scope, cancel)
    assert expected == (["child stopped", "cleanup finished"], cancel)
    assert anyio.run(_task_group_owner, fulmen, scope, cancel) == expected


async def _cancelled_stream(fw: Any) -> tuple[list[str], bool]:
    events: list[str] = []
    external = anyio.CancelScope()
    app = fw.FastAPI()

    async def dependency() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await anyio.sleep(0)
            events.append("request cleanup")

    async def body() -> AsyncIterator[bytes]:
        yield b"first"
        external.cancel()
        await anyio.sleep(0)
        events.append("not cancelled")  # pragma: no cover

    @app.get("/")
    async def endpoint(_: Annotated[None, fw.Depends(dependency)]) -> Any:
        return fw.responses.StreamingResponse(body())

    with anyio.fail_after(5):
        async with _client(app) as client:
            with external:
                await client.get("/")
    return events, external.cancelled_caught


def test_cancelled_stream_still_ends_request_dependencies() -> None:
    expected = anyio.run(_cancelled_stream, fastapi)
    assert expected == (["request cleanup"], True)
    assert anyio.run(_cancelled_stream, fulmen) == expected


async def _endless_stream(fw: Any, path: str) -> bool:
    app = fw.FastAPI()

    @app.get("/raw", response_class=fw.responses.StreamingResponse)
    async def raw() -> AsyncIterator[str]:
        while True:
            yield "item\n"

    @app.get("/jsonl")
    async def jsonl() -> AsyncIterator[int]:
        while True:
            yield 1

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [],
    }
    with anyio.move_on_after(0.2) as timeout:
        await app(scope, receive, send)
    return timeout.cancelled_caught


@pytest.mark.timeout(10)
@pytest.mark.parametrize("path", ["/raw", "/jsonl"])
@pytest.mark.parametrize("fw", FRAMEWORKS, ids=lambda fw: fw.__name__)
def test_generator_that_never_awaits_can_be_cancelled(fw: Any, path: str) -> None:
    """A generator endpoint without an ``await`` still lets the loop run (and a timeout stop it)."""
    assert anyio.run(_endless_stream, fw, path) is True


# ------------------------------------------------------------------------------------------------------------
# on_event and generator lifespans
# ------------------------------------------------------------------------------------------------------------
def _events_run(fw: Any) -> tuple[list[str], list[str]]:
    events: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = fw.FastAPI()
        router = fw.APIRouter()

        @app.on_event("startup")
        def app_start() -> None:
            events.append("app start")

        @router.on_event("startup")
        async def router_start() -> None:
            events.append("router start")

        @router.on_event("shutdown")
        def router_stop() -> None:
            events.append("router stop")

        @router.get("/")
        def index() -> str:
            return "ok"

        app.include_router(router)
    with TestClient(app) as client:
        events.append(client.get("/").json())
    deprecations = [
        " ".join(str(w.message).split())[:59] for w in caught if issubclass(w.category, DeprecationWarning)
    ]
    return events, deprecations


def test_on_event_warns_and_runs_on_apps_and_routers() -> None:
    """``on_event`` is deprecated in FastAPI (a DeprecationWarning per call) and works on routers too."""
    fastapi_events, fastapi_warnings = _events_run(fastapi)
    events, deprecations = _events_run(fulmen)
    # FastAPI 0.165 runs an included router's handlers twice; fulmen runs them once.
    assert events == ["app start", "router start", "ok", "router stop"]
    assert set(fastapi_events) == set(events)
    assert deprecations == ["on_event is deprecated, use lifespan event handlers instead"] * 3
    assert set(fastapi_warnings) == set(deprecations)


def _generator_lifespan_run(fw: Any, kind: str) -> list[str]:
    events: list[str] = []

    def sync_lifespan(app: Any) -> Iterator[None]:
        events.append("start")
        yield
        events.append("stop")

    async def async_lifespan(app: Any) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    app = fw.FastAPI(lifespan=sync_lifespan if kind == "sync" else async_lifespan)
    with TestClient(app) as client:
        events.append(f"served {client.get('/missing').status_code}")
    return events


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_generator_function_lifespan(kind: str) -> None:
    """A bare (async) generator function as ``lifespan=`` works as with ``@asynccontextmanager``."""
    expected = _generator_lifespan_run(fastapi, kind)
    assert expected == ["start", "served 404", "stop"]
    assert _generator_lifespan_run(fulmen, kind) == expected


async def _failed_send(fw: Any, streamed: bool) -> list[str]:
    events: list[str] = []
    app = fw.FastAPI()

    async def dependency() -> AsyncIterator[None]:
        try:
            yield
        except BaseException as exc:
            events.append(f"cleanup saw {type(exc).__name__}")
            raise
        else:
            events.append("cleanup saw nothing")  # pragma: no cover

    async def body() -> AsyncIterator[bytes]:
        yield b"chunk"

    @app.get("/")
    async def endpoint(_: Annotated[None, fw.Depends(dependency)]) -> Any:
        return fw.responses.StreamingResponse(body()) if streamed else fw.responses.PlainTextResponse("ok")

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            raise OSError("client gone")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [],
    }
    with anyio.fail_after(5):
        try:
            await app(scope, receive, send)
        except OSError:
            events.append("raised")
    return events


def test_send_failing_still_ends_request_dependencies() -> None:
    """The server's ``send`` raising (the client went away) still ends the request's yield dependencies,
    the error thrown into them. (A streamed body that meets OSError counts as a disconnect in fulmen: its
    dependencies end normally, see tests of streaming.)"""
    expected = anyio.run(_failed_send, fastapi, False)
    assert expected == ["cleanup saw OSError", "raised"]
    assert anyio.run(_failed_send, fulmen, False) == expected
