"""Rate limiting with the memory backend (no server needed), through every front door.

A fake clock (``Clock``) moves time by hand: limits are checked exactly (N allowed, N+1 refused, the headers'
values, the refill) without sleeping. The Redis backend's tests are in tests/integration/.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from fulmen import APIRouter, Depends, FastAPI, Header, Request, WebSocket
from fulmen.middleware.ratelimit import (
    Limit,
    MemoryBackend,
    RateLimit,
    RateLimitExceeded,
    RateLimitMiddleware,
    client_ip,
    header_key,
    parse_limit,
    parse_limits,
)
from fulmen.middleware.ratelimit._core import gcra
from fulmen.responses import JSONResponse, PlainTextResponse, Response
from fulmen.testclient import TestClient
from tests.engine.conftest import start_engine_in_thread

Serve = Callable[..., httpx.Client]


class Clock:
    """A monotonic clock moved by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- limits --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "times", "seconds", "name"),
    [
        ("10/minute", 10, 60, "10/minute"),
        ("10/minutes", 10, 60, "10/minutes"),
        ("5 per second", 5, 1, "5/second"),
        ("100/2 hours", 100, 7200, "100/2 hours"),
        (" 1 / day ", 1, 86400, "1 / day"),
        ("3/Second", 3, 1, "3/Second"),
    ],
)
def test_parse_limit(text: str, times: int, seconds: int, name: str) -> None:
    limit = parse_limit(text)
    assert (limit.times, limit.seconds, limit.name) == (times, seconds, name)


@pytest.mark.parametrize("text", ["", "10", "ten/minute", "10/fortnight", "0/minute", "-1/second", "10//min"])
def test_parse_limit_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        parse_limit(text)


def test_parse_limits_several_and_duplicates() -> None:
    assert [lim.name for lim in parse_limits("2/second; 10/minute")] == ["2/second", "10/minute"]
    assert [lim.name for lim in parse_limits(["2/second", Limit(5, 30)])] == ["2/second", "5-per-30s"]
    with pytest.raises(ValueError, match="same name"):
        parse_limits("2/second;2/second")
    with pytest.raises(ValueError, match="at least one"):
        parse_limits([])
    with pytest.raises(TypeError, match="10/minute"):
        parse_limits([10])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="seconds"):
        Limit(3, 0)
    with pytest.raises(ValueError, match="name"):
        Limit(3, 1, name='a"b')


def test_gcra_exact_burst_and_refill() -> None:
    limits = [Limit(3, 3)]  # one per second after a burst of 3
    tat: int | None = None
    now = 10_000_000
    for left in (2, 1, 0):
        decision, tats = gcra([tat], now, limits)
        assert decision.allowed and decision.remaining == [left] and tats is not None
        tat = tats[0]
    decision, tats = gcra([tat], now, limits)
    assert not decision.allowed and tats is None
    assert decision.retry_us == 1_000_000 and decision.retry_after == 1
    assert decision.reset_us == [3_000_000] and decision.remaining == [0]
    # One interval later exactly one more passes; a full window later the whole burst does.
    decision, tats = gcra([tat], now + 1_000_000, limits)
    assert decision.allowed and decision.remaining == [0]
    decision, _ = gcra([tat], now + 3_000_000, limits)
    assert decision.allowed and decision.remaining == [2]


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 2_000_000), max_size=80),
    times=st.integers(1, 6),
    seconds=st.integers(1, 4),
)
def test_gcra_never_exceeds_burst_plus_rate(gaps: list[int], times: int, seconds: int) -> None:
    # Over any span L starting at an allowed request, at most N + L / interval requests pass; a refused
    # request is allowed once it has waited its retry time, and not a microsecond earlier.
    limits = [Limit(times, seconds)]
    interval = limits[0].interval_us
    tat: int | None = None
    now = 0
    allowed: list[int] = []
    for gap in gaps:
        now += gap
        decision, tats = gcra([tat], now, limits)
        if tats is not None:
            tat = tats[0]
            allowed.append(now)
            assert decision.remaining[0] <= times - 1
        else:
            assert decision.retry_us > 0
            assert gcra([tat], now + decision.retry_us, limits)[0].allowed
            assert not gcra([tat], now + decision.retry_us - 1, limits)[0].allowed
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            assert j - i + 1 <= times + (allowed[j] - start) // interval


def test_memory_backend_drops_expired_entries() -> None:
    clock = Clock()
    backend = MemoryBackend(clock=clock)
    limits = [Limit(1, 1)]
    for i in range(1500):
        backend.check_now([f"k{i}"], limits)
    # 1024 entries triggered a sweep at the same instant: nothing had expired, so nothing was dropped.
    assert len(backend) == 1500
    clock.advance(1.0)
    backend.check_now(["fresh"], limits)
    assert backend.sweep() == 1500
    assert len(backend) == 1
    # And the sweep also runs by itself once the table has doubled: memory stays bounded.
    clock.advance(1.0)
    for i in range(3000):
        clock.advance(0.001)
        backend.check_now([f"n{i}"], limits)
    assert len(backend) < 2100


# -- the dependency ------------------------------------------------------------------------------------------
def _limited_app(clock: Clock, **options: Any) -> FastAPI:
    app = FastAPI()
    limiter = RateLimit("3/minute", backend=MemoryBackend(clock=clock), **options)

    @app.get("/limited", dependencies=[Depends(limiter)])
    async def limited() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/free")
    async def free() -> dict[str, bool]:
        return {"ok": True}

    return app


def test_dependency_allows_n_refuses_n_plus_1_and_refills(serve: Serve) -> None:
    clock = Clock()
    client = serve(_limited_app(clock))
    for left, reset in ((2, 20), (1, 40), (0, 60)):
        response = client.get("/limited")
        assert response.status_code == 200
        assert response.json() == {"ok": True}
        assert response.headers["ratelimit-policy"] == '"3/minute";q=3;w=60'
        assert response.headers["ratelimit"] == f'"3/minute";r={left};t={reset}'
        assert "retry-after" not in response.headers
    refused = client.get("/limited")
    assert refused.status_code == 429
    assert refused.json() == {"detail": "Too Many Requests"}
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["ratelimit"] == '"3/minute";r=0;t=60'
    assert refused.headers["ratelimit-policy"] == '"3/minute";q=3;w=60'
    # Routes without the dependency are not counted and get no headers.
    free = client.get("/free")
    assert free.status_code == 200 and "ratelimit" not in free.headers
    clock.advance(19.5)
    assert client.get("/limited").status_code == 429
    clock.advance(0.5)
    response = client.get("/limited")
    assert response.status_code == 200
    assert response.headers["ratelimit"] == '"3/minute";r=0;t=60'
    assert client.get("/limited").status_code == 429
    clock.advance(60)
    assert [client.get("/limited").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_x_ratelimit_headers(serve: Serve) -> None:
    clock = Clock()
    client = serve(_limited_app(clock, headers="x-ratelimit"))
    response = client.get("/limited")
    assert response.headers["x-ratelimit-limit"] == "3"
    assert response.headers["x-ratelimit-remaining"] == "2"
    assert response.headers["x-ratelimit-reset"] == "20"
    assert "ratelimit" not in response.headers and "ratelimit-policy" not in response.headers
    client.get("/limited")
    client.get("/limited")
    refused = client.get("/limited")
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["retry-after"] == "20"


def test_no_headers_but_retry_after(serve: Serve) -> None:
    client = serve(_limited_app(Clock(), headers="none"))
    response = client.get("/limited")
    assert not [h for h in response.headers if "ratelimit" in h]
    client.get("/limited")
    client.get("/limited")
    refused = client.get("/limited")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "20"
    assert not [h for h in refused.headers if "ratelimit" in h]


def test_bad_header_style_is_refused_at_declaration() -> None:
    with pytest.raises(ValueError, match="headers must be one of"):
        RateLimit("1/second", headers="draft")  # type: ignore[arg-type]


def test_several_limits_per_route(serve: Serve) -> None:
    clock = Clock()
    app = FastAPI()
    limiter = RateLimit("2/second", "3/minute", backend=MemoryBackend(clock=clock), headers="both")

    @app.get("/", dependencies=[Depends(limiter)])
    async def root() -> str:
        return "ok"

    client = serve(app)
    first = client.get("/")
    assert first.headers["ratelimit-policy"] == '"2/second";q=2;w=1, "3/minute";q=3;w=60'
    assert first.headers["ratelimit"] == '"2/second";r=1;t=1, "3/minute";r=2;t=20'
    assert first.headers["x-ratelimit-limit"] == "2"  # the tightest: fewest left
    assert client.get("/").status_code == 200
    refused = client.get("/")  # the per-second limit is spent
    assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
    clock.advance(1)
    third = client.get("/")  # the refused request consumed nothing under the per-minute limit
    assert third.status_code == 200
    assert third.headers["ratelimit"] == '"2/second";r=1;t=1, "3/minute";r=0;t=59'
    assert third.headers["x-ratelimit-limit"] == "3" and third.headers["x-ratelimit-remaining"] == "0"
    clock.advance(1)
    refused = client.get("/")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "18"


def test_times_seconds_form_and_router_and_app_levels(serve: Serve) -> None:
    clock = Clock()
    backend = MemoryBackend(clock=clock)
    router_limit = RateLimit(times=2, seconds=10, backend=backend)
    app_limit = RateLimit(times=5, seconds=10, backend=backend, name="app-wide")
    app = FastAPI(dependencies=[Depends(app_limit)])
    router = APIRouter(dependencies=[Depends(router_limit)])

    @router.get("/a")
    async def a() -> str:
        return "a"

    @router.get("/b")
    async def b() -> str:
        return "b"

    @app.get("/c")
    async def c() -> str:
        return "c"

    app.include_router(router)
    client = serve(app)
    # One instance is one set of counters: /a and /b share the router's two requests.
    assert client.get("/a").status_code == 200
    assert client.get("/b").status_code == 200
    assert client.get("/a").status_code == 429
    # The app-wide limit counted all three (the refused one too: it passed the app's check first).
    statuses = [client.get("/c").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_key_from_a_dependency(serve: Serve) -> None:
    clock = Clock()

    async def current_user(x_user: str = Header()) -> str:
        return x_user

    app = FastAPI()
    limiter = RateLimit("1/minute", key=Depends(current_user), backend=MemoryBackend(clock=clock))

    @app.get("/me", dependencies=[Depends(limiter)])
    async def me(user: str = Depends(current_user)) -> str:
        return user

    client = serve(app)
    assert client.get("/me", headers={"x-user": "ann"}).status_code == 200
    assert client.get("/me", headers={"x-user": "ann"}).status_code == 429
    assert client.get("/me", headers={"x-user": "bob"}).json() == "bob"
    # The key dependency is validated like any other: a missing header is the usual 422.
    missing = client.get("/me")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["header", "x-user"]


def test_non_string_keys_count_under_their_str(serve: Serve) -> None:
    class User:
        def __init__(self, id: int) -> None:
            self.id = id

    async def user_id(x_user: int = Header()) -> int:
        return User(x_user).id

    backend = MemoryBackend(clock=Clock())
    app = FastAPI()

    @app.get("/", dependencies=[Depends(RateLimit("1/minute", key=Depends(user_id), backend=backend))])
    async def root() -> str:
        return "ok"

    client = serve(app)
    assert client.get("/", headers={"x-user": "7"}).status_code == 200
    assert client.get("/", headers={"x-user": "7"}).status_code == 429
    assert client.get("/", headers={"x-user": "8"}).status_code == 200
    assert any(key.endswith(":1/minute:7") for key in backend._tats)


def test_header_key_and_custom_key_function(serve: Serve) -> None:
    clock = Clock()
    app = FastAPI()
    by_key = RateLimit("1/minute", key=header_key("X-API-Key"), backend=MemoryBackend(clock=clock))

    async def tenant(request: Request) -> str | None:
        return request.query_params.get("tenant")  # None: not counted

    by_tenant = RateLimit("1/minute", key=tenant, backend=MemoryBackend(clock=clock))

    @app.get("/k", dependencies=[Depends(by_key)])
    async def k() -> str:
        return "k"

    @app.get("/t", dependencies=[Depends(by_tenant)])
    async def t() -> str:
        return "t"

    client = serve(app)
    assert client.get("/k", headers={"x-api-key": "one"}).status_code == 200
    assert client.get("/k", headers={"x-api-key": "one"}).status_code == 429
    assert client.get("/k", headers={"x-api-key": "two"}).status_code == 200
    # Without the header the client's IP is the key (its own count, apart from the API keys').
    assert client.get("/k").status_code == 200
    assert client.get("/k").status_code == 429
    assert client.get("/t?tenant=x").status_code == 200
    assert client.get("/t?tenant=x").status_code == 429
    assert [client.get("/t").status_code for _ in range(3)] == [200, 200, 200]


def test_long_keys_are_stored_as_digests() -> None:
    import asyncio

    backend = MemoryBackend(clock=Clock())
    limiter = RateLimit("1/minute", key=header_key("X-API-Key"), backend=backend, name="n")
    request = Request("GET", b"/", b"", [(b"x-api-key", b"k" * 5000)])
    response = Response()
    asyncio.run(limiter(request, response))
    (stored,) = backend._tats
    assert stored.startswith("n:1/minute:sha256:") and len(stored) < 100
    with pytest.raises(RateLimitExceeded):
        asyncio.run(limiter(request, Response()))


def test_custom_exception_handler(serve: Serve) -> None:
    app = _limited_app(Clock())

    @app.exception_handler(RateLimitExceeded)
    async def slow_down(request: Request, exc: RateLimitExceeded) -> Response:
        return JSONResponse(
            {"error": "slow down", "retry_in": exc.decision.retry_after}, status_code=429, headers=exc.headers
        )

    client = serve(app)
    for _ in range(3):
        client.get("/limited")
    refused = client.get("/limited")
    assert refused.status_code == 429
    assert refused.json() == {"error": "slow down", "retry_in": 20}
    assert refused.headers["retry-after"] == "20"


def test_bad_key_is_refused_at_declaration() -> None:
    with pytest.raises(TypeError, match="key must be"):
        RateLimit("1/second", key="X-API-Key")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="both times and seconds"):
        RateLimit(times=3)


def test_default_name_is_the_declaration_site() -> None:
    limiter = RateLimit("1/second")
    assert limiter.name.startswith(__name__ + ":")
    assert RateLimit("1/second").name != limiter.name

    def per_route() -> RateLimit:
        return RateLimit("1/second")  # one line, several limiters: numbered, never shared by accident

    first, second = per_route(), per_route()
    site = first.name.split("#")[0]
    assert second.name.startswith(site + "#") and second.name != first.name


# -- the client's address behind a proxy ---------------------------------------------------------------------
def test_client_ip_follows_trusted_proxy_headers() -> None:
    clock = Clock()
    app = FastAPI()

    @app.get("/", dependencies=[Depends(RateLimit("1/minute", backend=MemoryBackend(clock=clock)))])
    async def root(request: Request) -> str:
        return client_ip(request)

    # The engine trusts X-Forwarded-For from 127.0.0.1 by default: each forwarded client has its own count.
    port, stop = start_engine_in_thread(app)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            ann = {"x-forwarded-for": "203.0.113.7"}
            assert client.get("/", headers=ann).json() == "203.0.113.7"
            assert client.get("/", headers=ann).status_code == 429
            assert client.get("/", headers={"x-forwarded-for": "203.0.113.8"}).status_code == 200
    finally:
        stop()
    # An untrusted peer's header is ignored: every request counts for the peer itself.
    port, stop = start_engine_in_thread(app, forwarded_allow_ips="10.9.9.9")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/", headers={"x-forwarded-for": "198.51.100.1"}).json() == "127.0.0.1"
            assert client.get("/", headers={"x-forwarded-for": "198.51.100.2"}).status_code == 429
    finally:
        stop()


# -- WebSocket routes ----------------------------------------------------------------------------------------
def _ws_app(clock: Clock) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws", dependencies=[Depends(RateLimit("1/minute", backend=MemoryBackend(clock=clock)))])
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    return app


def test_websocket_handshake_limited_testclient() -> None:
    from fulmen import WebSocketDisconnect

    with TestClient(_ws_app(Clock())) as client:
        with client.websocket_connect("/ws") as ws:
            assert ws.receive_text() == "hello"
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
            pass
        assert (info.value.code, info.value.reason) == (1008, "Too Many Requests")


def test_websocket_handshake_limited_engine() -> None:
    port, stop = start_engine_in_thread(_ws_app(Clock()))
    try:
        with ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
            assert ws.recv() == "hello"
        with pytest.raises(InvalidStatus) as info:
            ws_connect(f"ws://127.0.0.1:{port}/ws")
        assert info.value.response.status_code == 403  # a close before accept: the handshake is refused
    finally:
        stop()


# -- the middleware ------------------------------------------------------------------------------------------
def _middleware_app(clock: Clock, **options: Any) -> FastAPI:
    app = FastAPI()
    options.setdefault("limits", "2/minute")
    app.add_middleware(RateLimitMiddleware, backend=MemoryBackend(clock=clock), **options)

    @app.get("/items")
    async def items() -> list[int]:
        return [1, 2]

    @app.get("/other")
    async def other() -> PlainTextResponse:
        return PlainTextResponse("other")

    @app.get("/health")
    async def health() -> str:
        return "up"

    @app.get("/static/app.js")
    async def asset() -> str:
        return "js"

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    return app


def test_middleware_counts_every_route_and_refills(serve: Serve) -> None:
    clock = Clock()
    client = serve(_middleware_app(clock))
    first = client.get("/items")
    assert first.status_code == 200 and first.json() == [1, 2]
    assert first.headers["ratelimit-policy"] == '"2/minute";q=2;w=60'
    assert first.headers["ratelimit"] == '"2/minute";r=1;t=30'
    second = client.get("/other")  # a Response returned by the endpoint gets the headers too
    assert second.text == "other" and second.headers["ratelimit"] == '"2/minute";r=0;t=60'
    refused = client.get("/items")
    assert refused.status_code == 429
    assert refused.json() == {"detail": "Too Many Requests"}
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["ratelimit"] == '"2/minute";r=0;t=60'
    # Unknown paths are counted too (the limit is app-wide), and refused before routing.
    assert client.get("/nope").status_code == 429
    clock.advance(30)
    assert client.get("/nope").status_code == 404
    assert client.get("/items").status_code == 429


def test_middleware_exempt_paths(serve: Serve) -> None:
    client = serve(_middleware_app(Clock(), exempt=["/health", "/static/*"]))
    for _ in range(4):
        health = client.get("/health")
        assert health.status_code == 200 and "ratelimit" not in health.headers
        assert client.get("/static/app.js").status_code == 200
    assert [client.get("/items").status_code for _ in range(3)] == [200, 200, 429]


def test_middleware_leaves_websockets_alone() -> None:
    with TestClient(_middleware_app(Clock(), limits="1/minute")) as client:
        for _ in range(3):
            with client.websocket_connect("/ws") as ws:
                assert ws.receive_text() == "hi"
        assert client.get("/items").status_code == 200


def test_middleware_custom_handler_and_key(serve: Serve) -> None:
    def refuse(request: Request, exc: RateLimitExceeded) -> Response:
        return PlainTextResponse(f"wait {exc.decision.retry_after}s", status_code=429, headers=exc.headers)

    client = serve(
        _middleware_app(Clock(), limits="1/minute", key=header_key("X-API-Key"), exceeded_handler=refuse)
    )
    assert client.get("/items", headers={"x-api-key": "a"}).status_code == 200
    refused = client.get("/items", headers={"x-api-key": "a"})
    assert (refused.status_code, refused.text, refused.headers["retry-after"]) == (429, "wait 60s", "60")
    assert client.get("/items", headers={"x-api-key": "b"}).status_code == 200


def test_middleware_async_key_none_passes_uncounted(serve: Serve) -> None:
    async def only_anonymous(request: Request) -> str | None:
        return None if "authorization" in request.headers else client_ip(request)

    client = serve(_middleware_app(Clock(), limits="1/minute", key=only_anonymous))
    for _ in range(3):
        response = client.get("/items", headers={"authorization": "Bearer x"})
        assert response.status_code == 200 and "ratelimit" not in response.headers
    assert [client.get("/items").status_code for _ in range(2)] == [200, 429]


def test_middleware_with_an_asgi_middleware_around_it(serve: Serve) -> None:
    # An ASGI-only middleware makes fulmen build the stack in ASGI form: the same answers through __call__.
    from starlette.middleware.base import BaseHTTPMiddleware as StarletteBase

    async def passthrough(request: Any, call_next: Any) -> Any:
        return await call_next(request)

    app = _middleware_app(Clock())
    app.add_middleware(StarletteBase, dispatch=passthrough)
    client = serve(app)
    assert client.get("/items").headers["ratelimit"] == '"2/minute";r=1;t=30'
    client.get("/items")
    refused = client.get("/items")
    assert refused.status_code == 429 and refused.json() == {"detail": "Too Many Requests"}
    assert refused.headers["retry-after"] == "30"
    head = client.head("/items")
    assert head.status_code == 429 and head.content == b""


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({}, TypeError, "needs limits"),
        ({"limits": "3/fortnight"}, ValueError, "Invalid rate limit"),
        ({"limits": "3/second", "exempt": "/health"}, TypeError, "list of paths"),
        ({"limits": "3/second", "exempt": ["health"]}, ValueError, "starts with '/'"),
        ({"limits": "3/second", "headers": "X"}, ValueError, "headers must be one of"),
        ({"limits": "3/second", "key": "ip"}, TypeError, "key must be"),
    ],
)
def test_middleware_bad_options_fail_at_start_up(options: dict[str, Any], error: type, match: str) -> None:
    app = FastAPI()
    app.add_middleware(RateLimitMiddleware, **options)
    with pytest.raises(error, match=match):
        app.build_middleware_stack()


def test_importing_the_limiter_does_not_import_redis() -> None:
    code = (
        "import sys\n"
        "from fulmen.middleware.ratelimit import RateLimit, RateLimitMiddleware, RedisBackend\n"
        "RateLimit('1/second')\n"
        "print('redis' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_redis_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['redis'] = None\n"  # as if redis-py were not installed
        "from fulmen.middleware.ratelimit import RedisBackend\n"
        "try:\n"
        "    RedisBackend('redis://localhost')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'RedisBackend needs redis-py: pip install "fulmen[redis]"'


def test_example_app() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "ratelimit.py"
    spec = importlib.util.spec_from_file_location("ratelimit_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with TestClient(module.app) as client:
        assert [client.post("/login").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert client.get("/health").headers.get("ratelimit") is None
        searched = client.get("/search", headers={"x-api-key": "k"})
        # The route's limit and the app-wide one, as two items of one RateLimit field (the draft's list).
        # (The app-wide count refills by one every 100 ms of real time: only its name is checked.)
        [value] = searched.headers.get_list("ratelimit")
        route_item, app_item = value.split(", ")
        assert route_item == '"30/minute";r=29;t=2' and app_item.startswith('"600/minute";r=')
        assert searched.headers["ratelimit-policy"] == '"30/minute";q=30;w=60, "600/minute";q=600;w=60'
        # Documented: the route's 429 (its limiter) and, with openapi=True, the middleware's on every route.
        paths = client.get("/openapi.json").json()["paths"]
        assert "429" in paths["/search"]["get"]["responses"] and "429" in paths["/login"]["post"]["responses"]
        assert "429" not in paths["/health"]["get"]["responses"]  # exempt
