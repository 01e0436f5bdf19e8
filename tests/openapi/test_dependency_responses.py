"""Responses a dependency declares (``openapi_responses``): the rate limiter's 429 in the OpenAPI document.

A route that depends on ``RateLimit`` (on the route, its router, an inclusion or the app) documents the 429
exactly as FastAPI documents the same entry given in ``responses=``: the cross-checks build one app with the
limiter as a dependency (fulmen) and one with its ``openapi_responses`` as ``responses=`` (FastAPI) and
compare the whole documents, key order included. ``RateLimitMiddleware(openapi=True)`` adds it to every
operation but the exempt ones.
"""

from __future__ import annotations

from typing import Any

import pytest

import fulmen
from fulmen import Depends, FastAPI
from fulmen.middleware.ratelimit import (
    MemoryBackend,
    RateLimit,
    RateLimitMiddleware,
    RedisBackend,
    limit_responses,
)
from fulmen.testclient import TestClient
from tests.openapi.compare import assert_same, fastapi_document, fulmen_document


def _limiter(style: Any = "ietf", **options: Any) -> RateLimit:
    return RateLimit("10/minute", headers=style, name="docs", **options)


def _closed() -> RedisBackend:
    # Never connected: the document only reads whether it fails closed.
    return RedisBackend("redis://127.0.0.1:1/0", fail_open=False)


def build_levels(fw: Any, style: str, closed: bool) -> Any:
    """Limits on a route, a router, an inclusion and the app; a route's own 429 and 404."""
    native = fw is fulmen
    limiter = _limiter(style, backend=_closed() if closed else MemoryBackend())
    answers = limit_responses(style, fail_closed=closed)

    def limited(**kwargs: Any) -> dict[str, Any]:
        # fulmen: the dependency; FastAPI: what the dependency documents, as responses=.
        if native:
            return {"dependencies": [fw.Depends(limiter)], **kwargs}
        return {"responses": {**answers, **kwargs.pop("responses", {})}, **kwargs}

    app = fw.FastAPI()

    @app.get("/route", **limited())
    async def route() -> dict[str, str]:
        return {}

    @app.get("/own", **limited(responses={429: {"description": "Slow down"}, 404: {"description": "None"}}))
    async def own(item: int) -> dict[str, str]:
        return {}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {}

    router = fw.APIRouter(**limited())

    @router.post("/in-router", status_code=201)
    async def in_router(body: dict[str, int]) -> dict[str, int]:
        return body

    app.include_router(router, prefix="/r")
    included = fw.APIRouter()

    @included.get("/by-inclusion")
    async def by_inclusion() -> str:
        return ""

    app.include_router(included, prefix="/i", **limited())
    return app


@pytest.mark.parametrize("style", ["ietf", "x-ratelimit", "both", "none"])
@pytest.mark.parametrize("closed", [False, True], ids=["fail-open", "fail-closed"])
def test_a_limited_route_documents_its_429_as_fastapi_documents_responses(style: str, closed: bool) -> None:
    expected = fastapi_document(build_levels, style, closed)
    assert_same(expected, fulmen_document(build_levels, style, closed))


def build_app_level(fw: Any) -> Any:
    if fw is fulmen:
        app = fw.FastAPI(dependencies=[fw.Depends(_limiter())])
    else:
        app = fw.FastAPI(responses=limit_responses("ietf"))

    @app.get("/a")
    async def a() -> str:
        return ""

    return app


def test_an_app_wide_limiter_documents_every_route() -> None:
    assert_same(fastapi_document(build_app_level), fulmen_document(build_app_level))


def test_the_429_entry() -> None:
    app = FastAPI()

    @app.get("/", dependencies=[Depends(_limiter("both"))])
    async def root() -> str:
        return ""

    with TestClient(app) as client:
        answers = client.get("/openapi.json").json()["paths"]["/"]["get"]["responses"]
    assert list(answers) == ["200", "429"]
    too_many = answers["429"]
    assert too_many["description"] == "Too Many Requests"
    assert too_many["content"]["application/json"]["schema"] == {
        "properties": {"detail": {"type": "string", "title": "Detail"}},
        "type": "object",
        "required": ["detail"],
        "title": "HTTPError",
    }
    assert list(too_many["headers"]) == [
        "Retry-After",
        "RateLimit-Policy",
        "RateLimit",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    ]
    assert too_many["headers"]["Retry-After"]["schema"] == {"type": "integer"}
    assert too_many["headers"]["RateLimit"]["schema"] == {"type": "string"}
    # Each call gives a new dict: changing one document can't change the next.
    assert _limiter().openapi_responses == limit_responses("ietf")
    assert _limiter().openapi_responses is not _limiter().openapi_responses
    assert _limiter(backend=_closed()).openapi_responses.keys() == {429, 503}


class Pager:
    """A class dependency: its ``openapi_responses`` is a property (of the instances FastAPI makes)."""

    def __init__(self, page: int = 1) -> None:
        self.page = page

    @property
    def openapi_responses(self) -> dict[int, Any]:
        return {416: {"description": "No such page"}}


def test_any_dependency_can_declare_responses() -> None:
    def verify_key() -> None:
        """A plain function dependency with its responses as an attribute."""

    verify_key.openapi_responses = {403: {"description": "Bad key"}}  # type: ignore[attr-defined]

    async def user(key: None = Depends(verify_key)) -> str:
        return "u"

    app = FastAPI()

    @app.get("/me")
    async def me(name: str = Depends(user)) -> str:  # a sub-dependency's responses count too
        return name

    @app.get("/class")  # a class as the dependency: its attribute is the property, not a mapping: ignored
    async def as_class(pager: Pager = Depends()) -> int:
        return pager.page

    paths = app.openapi()["paths"]
    assert paths["/me"]["get"]["responses"]["403"] == {"description": "Bad key"}
    assert "416" not in paths["/class"]["get"]["responses"]


def test_the_middleware_documents_every_operation_when_asked() -> None:
    def build(**options: Any) -> FastAPI:
        app = FastAPI()
        app.add_middleware(
            RateLimitMiddleware, limits="100/minute", exempt=["/health", "/static/*"], **options
        )

        @app.get("/items/{item_id}")
        async def item(item_id: int) -> int:
            return item_id

        @app.get("/limited", dependencies=[Depends(_limiter("x-ratelimit"))])
        async def limited() -> str:
            return ""

        @app.get("/own", responses={429: {"description": "Mine"}})
        async def own() -> str:
            return ""

        @app.get("/health")
        async def health() -> str:
            return ""

        @app.get("/static/app.js")
        async def asset() -> str:
            return ""

        return app

    quiet = build().openapi()["paths"]  # openapi=False (the default): the middleware adds nothing
    assert [path for path, item in quiet.items() if "429" in item["get"]["responses"]] == ["/limited", "/own"]
    # (app.openapi() itself: the middleware would answer GET /openapi.json 503, its Redis being down.)
    paths = build(openapi=True, backend=_closed(), headers="both").openapi()["paths"]
    item = paths["/items/{item_id}"]["get"]["responses"]
    assert list(item) == ["200", "422", "429", "503"]
    assert item["429"] == _shaped(limit_responses("both")[429])
    assert item["503"]["description"] == "Service Unavailable"
    # A route limiter's entry (its own header style) and a route's own entry win over the middleware's.
    assert list(paths["/limited"]["get"]["responses"]["429"]["headers"]) == [
        "Retry-After",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    ]
    assert paths["/own"]["get"]["responses"]["429"] == {"description": "Mine"}
    assert "429" not in paths["/health"]["get"]["responses"]
    assert "429" not in paths["/static/app.js"]["get"]["responses"]


def _shaped(entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` as the document has it: the JSON schema's keys in pydantic's order (FastAPI's shape)."""
    schema = entry["content"]["application/json"]["schema"]
    ordered = {key: schema[key] for key in ("properties", "type", "required", "title")}
    return {**entry, "content": {"application/json": {"schema": ordered}}}
