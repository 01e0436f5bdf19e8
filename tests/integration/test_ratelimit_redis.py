"""The rate limiter's Redis backend against a real ``redis-server`` (started per module, flushed per test).

Exact checks use a fake clock passed to the backend (``clock=``: the script then takes "now" from the
app instead of Redis TIME); one test runs on the server's TIME and waits out the refusal it was told.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fulmen import Depends, FastAPI, WebSocket, WebSocketDisconnect
from fulmen.middleware.ratelimit import (
    Limit,
    MemoryBackend,
    RateLimit,
    RateLimitBackendError,
    RateLimitMiddleware,
    RedisBackend,
)
from fulmen.middleware.ratelimit.redis_backend import GCRA_SHA
from fulmen.responses import PlainTextResponse
from fulmen.testclient import TestClient
from tests.engine.conftest import ServerProcess, exchange, start_engine_in_thread
from tests.integration.redis_server import RedisServer, start_or_skip

Serve = Callable[..., httpx.Client]


class Clock:
    """Wall-clock-like seconds moved by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with start_or_skip() as running:
        yield running


@pytest.fixture
def redis_url(server: RedisServer) -> str:
    server.command("FLUSHALL")
    server.command("SCRIPT", "FLUSH")
    return server.url


def _with_backend(app: FastAPI, backend: RedisBackend) -> FastAPI:
    """The app's lifespan connects the backend at start-up and closes its pool at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with backend:
            yield

    app.router.lifespan_context = lifespan
    return app


def _app(backend: RedisBackend, limits: str = "3/minute") -> FastAPI:
    app = FastAPI()

    @app.get("/limited", dependencies=[Depends(RateLimit(limits, backend=backend, name="limited"))])
    async def limited() -> dict[str, bool]:
        return {"ok": True}

    return _with_backend(app, backend)


def test_exact_limits_headers_and_refill(serve: Serve, redis_url: str) -> None:
    clock = Clock()
    client = serve(_app(RedisBackend(redis_url, clock=clock)))
    for left, reset in ((2, 20), (1, 40), (0, 60)):
        response = client.get("/limited")
        assert response.status_code == 200
        assert response.headers["ratelimit-policy"] == '"3/minute";q=3;w=60'
        assert response.headers["ratelimit"] == f'"3/minute";r={left};t={reset}'
    refused = client.get("/limited")
    assert refused.status_code == 429
    assert refused.json() == {"detail": "Too Many Requests"}
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["ratelimit"] == '"3/minute";r=0;t=60'
    clock.advance(19.999)
    assert client.get("/limited").status_code == 429
    clock.advance(0.001)
    assert client.get("/limited").status_code == 200
    clock.advance(60)
    assert [client.get("/limited").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_keys_expire_when_the_bucket_is_full_again(serve: Serve, redis_url: str, server: RedisServer) -> None:
    client = serve(_app(RedisBackend(redis_url, prefix="rl:"), limits="2/minute"))
    client.get("/limited")
    keys = server.command("KEYS", "rl:*").decode()
    assert "rl:limited:2/minute:" in keys
    key = "rl:limited:2/minute:" + keys.split("rl:limited:2/minute:")[1].split("\r\n")[0]
    ttl = int(server.command("PTTL", key)[1:-2])
    assert 0 < ttl <= 30_000  # one request's worth of the window: the key vanishes once it carries nothing


def test_server_time_clock() -> None:
    async def scenario(url: str) -> None:
        async with RedisBackend(url) as backend:
            limits = [Limit(2, 1)]
            assert (await backend.check(["k"], limits)).allowed
            assert (await backend.check(["k"], limits)).allowed
            refused = await backend.check(["k"], limits)
            assert not refused.allowed and 0 < refused.retry_us <= 500_000
            # Time only moves forward: after the retry time Redis's own clock allows the next request.
            await asyncio.sleep(refused.retry_us / 1_000_000 + 0.01)
            assert (await backend.check(["k"], limits)).allowed

    with start_or_skip() as running:
        asyncio.run(scenario(running.url))


def test_several_limits_refusal_consumes_nothing(redis_url: str) -> None:
    async def scenario() -> None:
        clock = Clock()
        async with RedisBackend(redis_url, clock=clock) as backend:
            limits = [Limit(2, 1, name="s"), Limit(3, 60, name="m")]
            keys = ["s:x", "m:x"]
            assert [(await backend.check(keys, limits)).allowed for _ in range(3)] == [True, True, False]
            clock.advance(1)
            third = await backend.check(keys, limits)
            assert third.allowed and third.remaining == [1, 0] and third.reset_us == [500_000, 59_000_000]
            clock.advance(1)
            refused = await backend.check(keys, limits)
            assert not refused.allowed and refused.retry_us == 18_000_000

    asyncio.run(scenario())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gaps=st.lists(st.integers(0, 1_500_000), min_size=1, max_size=30))
def test_memory_and_redis_agree(gaps: list[int], redis_url: str, server: RedisServer) -> None:
    # The Lua script mirrors _core.gcra: the same requests get the same decisions from both backends.
    server.command("FLUSHALL")

    async def scenario() -> None:
        clock = Clock()
        limits = [Limit(3, 1, name="fast"), Limit(7, 10, name="slow")]
        memory = MemoryBackend(clock=clock)
        async with RedisBackend(redis_url, clock=clock) as redis_backend:
            for gap in gaps:
                clock.advance(gap / 1_000_000)
                a = await memory.check(["a", "b"], limits)
                b = await redis_backend.check(["a", "b"], limits)
                assert (a.allowed, a.remaining, a.reset_us, a.retry_us) == (
                    b.allowed,
                    b.remaining,
                    b.reset_us,
                    b.retry_us,
                )

    asyncio.run(scenario())


def test_noscript_fallback(redis_url: str, server: RedisServer) -> None:
    async def scenario() -> None:
        async with RedisBackend(redis_url) as backend:
            assert (await backend.check(["n"], [Limit(5, 60)])).remaining == [4]
            server.command("SCRIPT", "FLUSH")  # as after a Redis restart
            assert (await backend.check(["n"], [Limit(5, 60)])).remaining == [3]
            assert (await backend.client.script_exists(GCRA_SHA)) == [True]
            # Concurrent checks leave as one pipeline: its calls that missed the script are run again.
            server.command("SCRIPT", "FLUSH")
            decisions = await asyncio.gather(*(backend.check(["n"], [Limit(5, 60)]) for _ in range(4)))
            assert sorted(d.remaining[0] for d in decisions) == [0, 0, 1, 2]
            assert [d.allowed for d in decisions].count(False) == 1

    asyncio.run(scenario())


def test_concurrent_checks_never_exceed_the_limit(redis_url: str) -> None:
    # Two event loops in two threads (as two workers would be), 100 concurrent checks each, one key.
    allowed: list[int] = []

    async def burst() -> None:
        async with RedisBackend(redis_url) as backend:
            decisions = await asyncio.gather(*(backend.check(["hot"], [Limit(25, 60)]) for _ in range(100)))
            allowed.append(sum(d.allowed for d in decisions))

    threads = [threading.Thread(target=asyncio.run, args=(burst(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(allowed) == 2 and sum(allowed) == 25


def test_concurrent_requests_over_http(redis_url: str) -> None:
    # Two engine servers sharing one Redis limit, hit by 60 concurrent requests: exactly 10 get through.
    backend_a = RedisBackend(redis_url)
    backend_b = RedisBackend(redis_url)
    ports, stops = [], []
    for backend in (backend_a, backend_b):
        port, stop = start_engine_in_thread(_app(backend, limits="10/minute"))
        ports.append(port)
        stops.append(stop)
    try:

        async def fire() -> list[int]:
            async with httpx.AsyncClient(timeout=10) as client:
                responses = await asyncio.gather(
                    *(client.get(f"http://127.0.0.1:{ports[i % 2]}/limited") for i in range(60))
                )
            return [r.status_code for r in responses]

        statuses = asyncio.run(fire())
    finally:
        for stop in stops:
            stop()
    assert statuses.count(200) == 10 and statuses.count(429) == 50


def test_middleware_on_redis_with_a_given_client(serve: Serve, redis_url: str) -> None:
    # A client the user made (e.g. shared with the app's cache): the user's to close, not the backend's.
    given = redis.asyncio.Redis.from_url(redis_url)
    backend = RedisBackend(client=given)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with backend:
            yield
        assert backend.client is given  # still there: aclose() left it open
        await given.aclose()

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(RateLimitMiddleware, limits="2/minute", backend=backend, headers="x-ratelimit")

    @app.get("/")
    async def root() -> str:
        return "ok"

    client = serve(app)
    first = client.get("/")
    assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
    assert client.get("/").status_code == 200
    refused = client.get("/")
    assert refused.status_code == 429 and refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.json() == {"detail": "Too Many Requests"}


def test_returned_response_and_middleware_share_one_list_on_redis(serve: Serve, redis_url: str) -> None:
    clock = Clock()
    backend = RedisBackend(redis_url, clock=clock)
    app = FastAPI()
    app.add_middleware(RateLimitMiddleware, limits="3/minute", backend=backend, headers="both")

    @app.get("/file", dependencies=[Depends(RateLimit("2/minute", backend=backend, headers="both"))])
    async def file() -> PlainTextResponse:
        return PlainTextResponse("contents")

    client = serve(_with_backend(app, backend))
    first = client.get("/file")
    assert first.text == "contents"
    assert first.headers.get_list("ratelimit") == ['"2/minute";r=1;t=30, "3/minute";r=2;t=20']
    assert first.headers.get_list("ratelimit-policy") == ['"2/minute";q=2;w=60, "3/minute";q=3;w=60']
    assert first.headers.get_list("x-ratelimit-limit") == ["2"]  # 1 left of 2 beats 2 left of 3
    client.get("/file")
    refused = client.get("/file")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
    assert refused.headers.get_list("ratelimit") == ['"2/minute";r=0;t=60, "3/minute";r=0;t=60']


# -- Redis down ----------------------------------------------------------------------------------------------
def test_fail_open_allows_and_logs_once(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    with start_or_skip() as own:
        backend = RedisBackend(own.url, timeout=0.5)
        client = serve(_app(backend, limits="1/minute"))
        assert client.get("/limited").status_code == 200
        assert client.get("/limited").status_code == 429
        own.stop()
        with caplog.at_level(logging.ERROR, logger="fulmen.ratelimit"):
            responses = [client.get("/limited") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert not [h for h in responses[0].headers if "ratelimit" in h]  # nothing known, nothing claimed
    errors = [r for r in caplog.records if r.name == "fulmen.ratelimit"]
    assert len(errors) == 1 and "allowing requests" in errors[0].getMessage()
    assert "127.0.0.1" in errors[0].getMessage()


def test_outage_end_is_logged_once(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    with start_or_skip() as own:
        port = own.port
        client = serve(_app(RedisBackend(own.url, timeout=0.5), limits="2/minute"))
        assert client.get("/limited").status_code == 200
    with caplog.at_level(logging.WARNING, logger="fulmen.ratelimit"):
        assert client.get("/limited").status_code == 200  # down: allowed, logged
        with start_or_skip(port):  # a new, empty Redis on the same address
            answers = [client.get("/limited") for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit"] == '"2/minute";r=1;t=30'
    messages = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "fulmen.ratelimit"]
    assert [level for level, _ in messages] == ["ERROR", "WARNING"]
    assert "reachable again" in messages[1][1]


def test_fail_closed_answers_503(serve: Serve) -> None:
    with start_or_skip() as own:
        backend = RedisBackend(own.url, fail_open=False, timeout=0.5)
        app = _app(backend, limits="5/minute")
        app.add_middleware(RateLimitMiddleware, limits="5/minute", backend=backend)
        client = serve(app)
        assert client.get("/limited").status_code == 200
        own.stop()
        refused = client.get("/limited")
    assert refused.status_code == 503
    assert refused.json() == {"detail": "Service Unavailable"}


def test_fail_closed_dependency_answers_503(serve: Serve) -> None:
    with start_or_skip() as own:
        backend = RedisBackend(own.url, fail_open=False, timeout=0.5)
        client = serve(_app(backend))
        own.stop()
        refused = client.get("/limited")
        documented = client.get("/openapi.json").json()["paths"]["/limited"]["get"]["responses"]
    assert refused.status_code == 503
    assert refused.json() == {"detail": "Service Unavailable"}
    # What the route answers while Redis is down is in its OpenAPI document, with the 429.
    assert list(documented) == ["200", "429", "503"]
    assert documented["503"]["description"] == "Service Unavailable"


def test_start_up_with_redis_down() -> None:
    with start_or_skip() as own:
        url = own.url
    # Fail-closed: the app does not start; fail-open: it starts, and allows.
    closed = RedisBackend(url, fail_open=False, timeout=0.5)

    async def enter(backend: RedisBackend) -> None:
        async with backend:
            pass

    with pytest.raises(RateLimitBackendError, match="unreachable at start-up"):
        asyncio.run(enter(closed))
    asyncio.run(enter(RedisBackend(url, timeout=0.5)))


def test_backend_arguments() -> None:
    with pytest.raises(TypeError, match="exactly one"):
        RedisBackend()
    with pytest.raises(TypeError, match="exactly one"):
        RedisBackend("redis://x", client=object())
    with pytest.raises(TypeError, match="apply to a URL"):
        RedisBackend(client=object(), max_connections=3)


def test_fail_closed_websocket_closes_1011() -> None:
    with start_or_skip() as own:
        backend = RedisBackend(own.url, fail_open=False, timeout=0.5)
        app = FastAPI()

        @app.websocket("/ws", dependencies=[Depends(RateLimit("5/minute", backend=backend))])
        async def ws(websocket: WebSocket) -> None:
            await websocket.accept()
            await websocket.send_text("hi")
            await websocket.close()

        with TestClient(_with_backend(app, backend)) as client:
            with client.websocket_connect("/ws") as conn:
                assert conn.receive_text() == "hi"
            own.stop()
            with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
                pass
    assert (info.value.code, info.value.reason) == (1011, "Service Unavailable")


# -- several worker processes --------------------------------------------------------------------------------
def _through_two_workers(backend: str, redis_url: str = "") -> tuple[int, set[int]]:
    """30 requests, each on a new connection, to ``fulmen run --workers 2``: (allowed, pids that answered)."""
    env = {"RATELIMIT_BACKEND": backend, "REDIS_URL": redis_url}
    server = ServerProcess(
        "tests.integration.ratelimit_app:app",
        "--port",
        "0",
        "--workers",
        "2",
        env=env,
        ready=r"starting 2 workers on http://[^:]+:(\d+)",
    )
    try:
        port = server.wait_ready()
        deadline = time.monotonic() + 15
        while sum("Fulmen running" in line for line in server.lines) < 2:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.02)
        answers = [exchange(port, b"GET /pid HTTP/1.1\r\nHost: a\r\n\r\n") for _ in range(30)]
    finally:
        server.proc.terminate()
        try:
            server.proc.wait(15)
        finally:
            server.kill()
    assert {a.status for a in answers} <= {200, 429}
    return sum(a.status == 200 for a in answers), {json.loads(a.body)["pid"] for a in answers}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="workers need fork()")
def test_redis_limit_holds_across_worker_processes(redis_url: str) -> None:
    allowed, pids = _through_two_workers("redis", redis_url)
    assert len(pids) == 2, "SO_REUSEPORT should spread new connections over both workers"
    assert allowed == 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="workers need fork()")
def test_memory_limit_is_per_worker_process() -> None:
    # The documented contrast: each worker counts apart, so together they let more than the limit through.
    allowed, pids = _through_two_workers("memory")
    assert len(pids) == 2
    assert 10 < allowed <= 20
