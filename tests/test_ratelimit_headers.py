"""The limit headers on every response of a limited route, and one set of headers for several limiters.

Through every front door (``serve``): a route's ``RateLimit`` reports itself on a ``Response`` the endpoint
returns, on an ``HTTPException`` it raises and on a validation error after the count; when the middleware and
route limiters both apply, ``RateLimit``/``RateLimit-Policy`` are one list each (draft-ietf-httpapi-ratelimit-
headers: a List of items, one per policy) and ``X-RateLimit-*`` describe the most restrictive limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from fulmen import APIRouter, Depends, FastAPI, HTTPException, Request
from fulmen.middleware.ratelimit import (
    Limit,
    MemoryBackend,
    RateLimit,
    RateLimitExceeded,
    RateLimitMiddleware,
)
from fulmen.middleware.ratelimit import merge_limit_headers as merge
from fulmen.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from tests.test_ratelimit import Clock

Serve = Callable[..., httpx.Client]


def _ietf(response: httpx.Response) -> tuple[list[str], list[str]]:
    return response.headers.get_list("ratelimit-policy"), response.headers.get_list("ratelimit")


# -- every response of a limited route -----------------------------------------------------------------------
def _route_app(clock: Clock, **options: Any) -> FastAPI:
    app = FastAPI()
    limiter = RateLimit("5/minute", backend=MemoryBackend(clock=clock), name="route", **options)
    limited = [Depends(limiter)]

    @app.get("/text", dependencies=limited)
    async def text() -> PlainTextResponse:
        return PlainTextResponse("plain")

    @app.get("/json", dependencies=limited)
    async def as_json() -> JSONResponse:
        return JSONResponse({"ok": True}, status_code=201, headers={"x-own": "1"})

    @app.get("/missing/{item}", dependencies=limited)
    async def missing(item: str) -> None:
        raise HTTPException(404, f"No {item}", headers={"x-why": "gone"})

    @app.get("/number", dependencies=limited)
    async def number(n: int) -> int:
        return n

    @app.get("/stream", dependencies=limited)
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/injected", dependencies=limited)
    async def injected(response: Response) -> dict[str, int]:
        response.headers["x-mine"] = "yes"
        return {"n": 1}

    @app.get("/free")
    async def free() -> PlainTextResponse:
        return PlainTextResponse("free")

    return app


def test_a_returned_response_gets_the_headers(serve: Serve) -> None:
    client = serve(_route_app(Clock()))
    text = client.get("/text")
    assert text.status_code == 200 and text.text == "plain"
    assert _ietf(text) == (['"5/minute";q=5;w=60'], ['"5/minute";r=4;t=12'])
    made = client.get("/json")
    assert made.status_code == 201 and made.json() == {"ok": True} and made.headers["x-own"] == "1"
    assert made.headers["ratelimit"] == '"5/minute";r=3;t=24'
    streamed = client.get("/stream")
    assert streamed.text == "ab" and streamed.headers["ratelimit"] == '"5/minute";r=2;t=36'
    free = client.get("/free")  # a route without a limiter: nothing added, nothing counted
    assert free.text == "free" and not [h for h in free.headers if "ratelimit" in h]


def test_errors_after_the_count_get_the_headers(serve: Serve) -> None:
    client = serve(_route_app(Clock()))
    missing = client.get("/missing/cake")
    assert missing.status_code == 404 and missing.json() == {"detail": "No cake"}
    assert missing.headers["x-why"] == "gone"
    assert missing.headers["ratelimit"] == '"5/minute";r=4;t=12'
    # The dependency runs (and counts) before the endpoint's parameters are validated, as in FastAPI.
    invalid = client.get("/number", params={"n": "x"})
    assert invalid.status_code == 422 and invalid.headers["ratelimit"] == '"5/minute";r=3;t=24'
    for _ in range(3):
        client.get("/number", params={"n": 1})
    refused = client.get("/missing/cake")  # refused before the endpoint runs: the 429, not the 404
    assert refused.status_code == 429 and refused.headers["retry-after"] == "12"
    assert _ietf(refused) == (['"5/minute";q=5;w=60'], ['"5/minute";r=0;t=60'])


def test_an_injected_response_keeps_its_headers_and_the_limit_is_reported_once(serve: Serve) -> None:
    client = serve(_route_app(Clock(), headers="both"))
    answer = client.get("/injected")
    assert answer.json() == {"n": 1} and answer.headers["x-mine"] == "yes"
    assert _ietf(answer) == (['"5/minute";q=5;w=60'], ['"5/minute";r=4;t=12'])
    assert answer.headers.get_list("x-ratelimit-remaining") == ["4"]


def test_a_custom_router_route_class_still_gets_the_headers(serve: Serve) -> None:
    # A route class wrapping the handler (FastAPI's get_route_handler recipe) wraps the limited one.
    from fulmen.routing import APIRoute

    seen: list[str] = []

    class Timed(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            inner = super().get_route_handler()

            async def timed(request: Request) -> Response:
                response: Response = await inner(request)
                seen.append(response.headers.get("ratelimit", ""))
                return response

            return timed

    clock = Clock()
    router = APIRouter(route_class=Timed)

    @router.get("/r", dependencies=[Depends(RateLimit("2/minute", backend=MemoryBackend(clock=clock)))])
    async def r() -> PlainTextResponse:
        return PlainTextResponse("r")

    app = FastAPI()
    app.include_router(router)
    client = serve(app)
    assert client.get("/r").headers["ratelimit"] == '"2/minute";r=1;t=30'
    assert seen == ['"2/minute";r=1;t=30']


# -- several limiters on one response ------------------------------------------------------------------------
def test_route_limiters_at_several_levels_share_one_field(serve: Serve) -> None:
    clock = Clock()
    backend = MemoryBackend(clock=clock)
    app = FastAPI(dependencies=[Depends(RateLimit("100/hour", backend=backend, headers="both"))])
    router = APIRouter(dependencies=[Depends(RateLimit("2/minute", backend=backend, headers="both"))])

    @router.get("/a")
    async def a() -> PlainTextResponse:
        return PlainTextResponse("a")

    app.include_router(router)
    client = serve(app)
    first = client.get("/a")
    assert _ietf(first) == (
        ['"100/hour";q=100;w=3600, "2/minute";q=2;w=60'],
        ['"100/hour";r=99;t=36, "2/minute";r=1;t=30'],
    )
    # X-RateLimit-*: the most restrictive (fewest left), once.
    assert first.headers.get_list("x-ratelimit-limit") == ["2"]
    assert first.headers.get_list("x-ratelimit-remaining") == ["1"]
    assert first.headers.get_list("x-ratelimit-reset") == ["30"]
    client.get("/a")
    refused = client.get("/a")  # the router's limit refuses: the app's (allowed) still reports itself
    assert refused.status_code == 429 and refused.headers.get_list("retry-after") == ["30"]
    assert _ietf(refused) == (
        ['"100/hour";q=100;w=3600, "2/minute";q=2;w=60'],
        ['"100/hour";r=97;t=108, "2/minute";r=0;t=60'],
    )
    assert refused.headers.get_list("x-ratelimit-remaining") == ["0"]


def _combined_app(clock: Clock, *, route: dict[str, Any], middleware: dict[str, Any]) -> FastAPI:
    backend = MemoryBackend(clock=clock)
    app = FastAPI()
    app.add_middleware(RateLimitMiddleware, backend=backend, **middleware)
    limiter = RateLimit(backend=backend, name="search", **route)

    @app.get("/search", dependencies=[Depends(limiter)])
    async def search() -> PlainTextResponse:
        return PlainTextResponse("found")

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"plain": "yes"}

    return app


def test_middleware_and_route_limits_are_one_list(serve: Serve) -> None:
    clock = Clock()
    app = _combined_app(
        clock, route={"times": 2, "seconds": 60}, middleware={"limits": "600/minute", "headers": "both"}
    )
    client = serve(app)
    both = client.get("/search")
    assert both.text == "found"
    assert _ietf(both) == (
        ['"2-per-60s";q=2;w=60, "600/minute";q=600;w=60'],
        ['"2-per-60s";r=1;t=30, "600/minute";r=599;t=1'],
    )
    # The route limiter speaks IETF only; the middleware's X-RateLimit-* are alone, once.
    assert both.headers.get_list("x-ratelimit-remaining") == ["599"]
    plain = client.get("/plain")  # only the middleware's
    assert _ietf(plain) == (['"600/minute";q=600;w=60'], ['"600/minute";r=598;t=1'])
    client.get("/search")
    refused = client.get("/search")  # refused by the route: the middleware let it through and says so
    assert refused.status_code == 429 and refused.headers.get_list("retry-after") == ["30"]
    assert refused.headers.get_list("ratelimit") == ['"2-per-60s";r=0;t=60, "600/minute";r=596;t=1']


def test_the_tightest_x_ratelimit_wins_across_middleware_and_route(serve: Serve) -> None:
    clock = Clock()
    app = _combined_app(
        clock,
        route={"times": 3, "seconds": 60, "headers": "x-ratelimit"},
        middleware={"limits": "5/minute", "headers": "x-ratelimit"},
    )
    client = serve(app)
    for _ in range(3):
        client.get("/plain")  # counted by the middleware only: 2 left of 5
    first = client.get("/search")  # middleware: 1 left of 5; route: 2 left of 3
    assert first.headers.get_list("x-ratelimit-limit") == ["5"]
    assert first.headers.get_list("x-ratelimit-remaining") == ["1"]
    assert first.headers.get_list("x-ratelimit-reset") == ["48"]
    assert "ratelimit" not in first.headers and "ratelimit-policy" not in first.headers
    second = client.get("/search")  # middleware: 0 left; route: 1 left
    assert second.headers.get_list("x-ratelimit-limit") == ["5"]
    assert second.headers.get_list("x-ratelimit-remaining") == ["0"]
    assert client.get("/search").status_code == 429  # the middleware refuses, the route never counts it
    clock.advance(12)  # the middleware refills one request
    last = client.get("/search")  # middleware: 0 left; route: 0 left (equal: the route's, reported first)
    assert last.status_code == 200
    assert last.headers.get_list("x-ratelimit-limit") == ["3"]
    assert last.headers.get_list("x-ratelimit-remaining") == ["0"]


def test_a_policy_name_both_use_is_told_apart(serve: Serve) -> None:
    # Both limiters call their policy "10-per-60s": the middleware's (added second) is prefixed with its
    # name, so each item names one policy and RateLimit's items still match RateLimit-Policy's.
    app = _combined_app(Clock(), route={"times": 10, "seconds": 60}, middleware={"limits": [Limit(10, 60)]})
    client = serve(app)
    answer = client.get("/search")
    assert _ietf(answer) == (
        ['"10-per-60s";q=10;w=60, "app:10-per-60s";q=10;w=60'],
        ['"10-per-60s";r=9;t=6, "app:10-per-60s";r=9;t=6'],
    )


def test_combined_headers_through_an_asgi_middleware_stack(serve: Serve) -> None:
    # An ASGI-only middleware makes fulmen build the stack in ASGI form: RateLimitMiddleware merges into the
    # http.response.start message's headers.
    from starlette.middleware.base import BaseHTTPMiddleware as StarletteBase

    async def passthrough(request: Any, call_next: Any) -> Any:
        return await call_next(request)

    app = _combined_app(
        Clock(), route={"times": 2, "seconds": 60}, middleware={"limits": "600/minute", "headers": "both"}
    )
    app.add_middleware(StarletteBase, dispatch=passthrough)
    client = serve(app)
    both = client.get("/search")
    assert both.headers.get_list("ratelimit") == ['"2-per-60s";r=1;t=30, "600/minute";r=599;t=1']
    assert both.headers.get_list("x-ratelimit-limit") == ["600"]


def test_a_custom_429_handler_gets_the_other_limiters_headers(serve: Serve) -> None:
    clock = Clock()
    app = _combined_app(clock, route={"times": 1, "seconds": 60}, middleware={"limits": "600/minute"})

    @app.exception_handler(RateLimitExceeded)
    async def too_many(request: Request, exc: RateLimitExceeded) -> JSONResponse:
        return JSONResponse({"wait": exc.decision.retry_after}, status_code=429, headers=exc.headers)

    client = serve(app)
    client.get("/search")
    refused = client.get("/search")
    assert refused.status_code == 429 and refused.json() == {"wait": 60}
    assert refused.headers.get_list("ratelimit") == ['"1-per-60s";r=0;t=60, "600/minute";r=598;t=1']


# -- the merge itself ----------------------------------------------------------------------------------------
def test_merge_rules() -> None:
    target = [(b"content-type", b"text/plain"), (b"retry-after", b"5"), (b"ratelimit", b'"a";r=0;t=5')]
    target.append((b"ratelimit-policy", b'"a";q=1;w=5'))
    merge(
        target,
        [(b"retry-after", b"9"), (b"ratelimit-policy", b'"a";q=2;w=9'), (b"ratelimit", b'"a";r=0;t=9')],
        "x",
    )
    assert target == [
        (b"content-type", b"text/plain"),
        (b"retry-after", b"9"),  # the longer wait
        (b"ratelimit", b'"a";r=0;t=5, "x:a";r=0;t=9'),
        (b"ratelimit-policy", b'"a";q=1;w=5, "x:a";q=2;w=9'),
    ]
    lone: list[tuple[bytes, bytes]] = [(b"content-length", b"2")]
    extra = [(b"x-ratelimit-limit", b"3"), (b"x-ratelimit-remaining", b"1"), (b"x-ratelimit-reset", b"4")]
    merge(lone, extra, "y")
    assert lone == [(b"content-length", b"2"), *extra]
    merge(
        lone,
        [(b"x-ratelimit-limit", b"9"), (b"x-ratelimit-remaining", b"1"), (b"x-ratelimit-reset", b"1")],
        "z",
    )
    assert lone == [(b"content-length", b"2"), *extra]  # equal: the first stays
    merge(
        lone,
        [(b"x-ratelimit-limit", b"9"), (b"x-ratelimit-remaining", b"0"), (b"x-ratelimit-reset", b"7")],
        "z",
    )
    assert lone == [
        (b"content-length", b"2"),
        (b"x-ratelimit-limit", b"9"),
        (b"x-ratelimit-remaining", b"0"),
        (b"x-ratelimit-reset", b"7"),
    ]


def test_merge_takes_over_values_that_are_not_counts() -> None:
    # An app's own Retry-After (an HTTP-date) or X-RateLimit-Remaining ("unlimited") can't be compared with a
    # number: the limiter's value is sent, and nothing raises.
    target = [(b"retry-after", b"Wed, 21 Oct 2026 07:28:00 GMT"), (b"x-ratelimit-remaining", b"unlimited")]
    merge(
        target, [(b"retry-after", b"3"), (b"x-ratelimit-limit", b"1"), (b"x-ratelimit-remaining", b"0")], "l"
    )
    assert target == [
        (b"retry-after", b"3"),
        (b"x-ratelimit-remaining", b"0"),
        (b"x-ratelimit-limit", b"1"),
    ]


@pytest.mark.parametrize("value", ["yes", 1])
def test_middleware_openapi_option_is_a_bool(value: Any) -> None:
    app = FastAPI()
    app.add_middleware(RateLimitMiddleware, limits="1/second", openapi=value)
    with pytest.raises(TypeError, match="openapi is True or False"):
        app.openapi()


def test_a_frontend_under_an_app_wide_limiter_gets_the_headers(serve: Serve, tmp_path: Any) -> None:
    # A frontend's handler isn't an APIRoute's: its limiter reports through the injected response, which the
    # frontend copies onto the file it serves.
    (tmp_path / "index.html").write_text("<p>app</p>")
    app = FastAPI(dependencies=[Depends(RateLimit("2/minute", backend=MemoryBackend(clock=Clock())))])
    app.frontend("/", directory=tmp_path)
    client = serve(app)
    page = client.get("/")
    assert page.text == "<p>app</p>" and page.headers["ratelimit"] == '"2/minute";r=1;t=30'
    client.get("/")
    assert client.get("/").status_code == 429
