"""Cross-check against FastAPI 0.165: the shapes the hot path specialises answer as FastAPI answers them.

The engine hands routes a body it has already read (solved without coroutines); the ASGI front doors read it
through ``request.body()``. Returned pydantic models are dumped without ``model_dump``'s Python frame unless
the model overrides it; scalars inside dicts, lists and msgspec Structs are checked inline. Dependencies
without sub-dependencies or a body are solved synchronously, and asynchronously again when an override
brings sub-dependencies. Each case
is compared with FastAPI's answer through every front door (engine, ASGI, uvicorn).

No ``from __future__ import annotations`` here: FastAPI must resolve the handlers' annotations.
"""

import datetime
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import fastapi
import httpx
import msgspec
import pydantic
import pytest

import fulmen
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import _reraise_only_unanswered

pytestmark = pytest.mark.timeout(60)

UTC = datetime.timezone.utc


class Item(pydantic.BaseModel):
    name: str
    price: float = pydantic.Field(alias="cost")


class Shouting(pydantic.BaseModel):
    word: str

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        data = super().model_dump(**kwargs)
        data["word"] = data["word"].upper()
        return data


class Tagged(pydantic.BaseModel):
    """A body model whose ``model_validate_json`` FastAPI never calls (it validates the parsed JSON)."""

    tag: str

    @classmethod
    def model_validate_json(cls, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        raise AssertionError("FastAPI validates the parsed body, not through model_validate_json")


class Point(msgspec.Struct):
    x: int
    label: str
    seen: Any = None


def build(fw: Any) -> Any:
    app = fw.FastAPI()
    events: list[str] = []

    @app.post("/item", response_model=None)
    async def echo_item(item: Item) -> Any:
        return item

    @app.post("/item-and-query", response_model=None)
    async def item_and_query(item: Item, q: int, x_token: Annotated[str, fw.Header()]) -> Any:
        return {"item": item, "q": q, "token": x_token}

    @app.get("/shouting", response_model=None)
    async def shouting() -> Any:
        return Shouting(word="hi")

    @app.post("/tagged", response_model=None)
    async def tagged(body: Tagged) -> Any:
        return {"tag": body.tag}

    @app.get("/point/{kind}", response_model=None)
    async def point(kind: str) -> Any:
        seen = {
            "plain": None,
            "exponent": 1e20,
            "aware": datetime.datetime(2020, 1, 1, tzinfo=UTC),
            "nested": [1, True, None, {"a": 2.5}],
        }[kind]
        if fw is fastapi:  # FastAPI can't encode a Struct: fulmen writes one as the dict of its fields
            return {"x": 1, "label": "p", "seen": seen}
        return Point(x=1, label="p", seen=seen)

    @app.get("/scalars", response_model=None)
    async def scalars() -> Any:
        return {"i": 1, "b": False, "n": None, "d": datetime.date(2020, 1, 2), "f": 1e-7, "l": [1, 2e16, "s"]}

    async def session() -> AsyncIterator[dict[str, Any]]:
        events.append("open")
        try:
            yield {"open": True}
        finally:
            events.append("close")

    def token(x_token: Annotated[str, fw.Header()]) -> str:
        return x_token

    @app.get("/deps", response_model=None)
    async def deps(
        q: str,
        tok: Annotated[str, fw.Depends(token)],
        s: Annotated[dict[str, Any], fw.Depends(session)],
    ) -> Any:
        return {"q": q, "token": tok, "session": s["open"]}

    @app.get("/events", response_model=None)
    async def read_events() -> Any:
        return events

    def inner(limit: int = 3) -> int:
        return limit

    def override_with_sub(n: Annotated[int, fw.Depends(inner)]) -> str:
        return f"sub:{n}"

    @app.api_route("/overridden", methods=["GET", "POST"], response_model=None)
    async def overridden(tok: Annotated[str, fw.Depends(token)]) -> Any:
        return {"tok": tok}

    @app.post("/override/{which}", response_model=None)
    async def set_override(which: str) -> Any:
        overrides = {"sub": override_with_sub}
        if which in overrides:
            app.dependency_overrides[token] = overrides[which]
        else:
            app.dependency_overrides.clear()
        return which

    return app


#: (method, url, JSON body or None, headers)
CASES: list[tuple[str, str, Any, dict[str, str]]] = [
    ("POST", "/item", {"name": "a", "cost": 1.5}, {}),
    ("POST", "/item", {"name": "a", "price": 1.5}, {}),  # by alias only: 422
    ("POST", "/item", None, {}),  # no body: 422 missing
    ("POST", "/item-and-query?q=3", {"name": "a", "cost": 2}, {"x-token": "t"}),
    ("POST", "/item-and-query?q=x", {"name": 5}, {}),  # every error at once, body shown
    ("GET", "/shouting", None, {}),
    ("POST", "/tagged", {"tag": "t"}, {}),
    ("POST", "/tagged", {"tag": 1}, {}),
    ("GET", "/point/plain", None, {}),
    ("GET", "/point/exponent", None, {}),
    ("GET", "/point/aware", None, {}),
    ("GET", "/point/nested", None, {}),
    ("GET", "/scalars", None, {}),
    ("GET", "/deps?q=1", None, {"x-token": "t"}),
    ("GET", "/deps", None, {}),  # errors from the endpoint and from a sub-dependency, together
    ("GET", "/events", None, {}),
    ("GET", "/overridden", None, {"x-token": "t"}),
    ("POST", "/override/sub", None, {}),
    ("GET", "/overridden?limit=7", None, {}),
    ("GET", "/overridden?limit=x", None, {}),
    ("POST", "/override/none", None, {}),
    ("GET", "/overridden", None, {"x-token": "back"}),
]


def _answers(client: httpx.Client) -> list[tuple[int, str | None, Any]]:
    out = []
    for method, url, body, headers in CASES:
        r = client.request(method, url, json=body, headers=headers)
        out.append((r.status_code, r.headers.get("content-type"), r.content))
    return out


@pytest.fixture(scope="module")
def fastapi_answers() -> list[tuple[int, str | None, Any]]:
    with TestClient(_reraise_only_unanswered(build(fastapi))) as client:
        return _answers(client)


def test_fastapi_answers_are_meaningful(fastapi_answers: list[tuple[int, str | None, Any]]) -> None:
    """Guards against comparing two broken apps."""
    by_case = {(m, u, repr(b)): a for (m, u, b, _), a in zip(CASES, fastapi_answers, strict=True)}
    assert by_case[("POST", "/item", repr({"name": "a", "cost": 1.5}))] == (
        200,
        "application/json",
        b'{"name":"a","cost":1.5}',
    )
    assert by_case[("GET", "/shouting", "None")][2] == b'{"word":"HI"}'
    assert by_case[("POST", "/tagged", repr({"tag": "t"}))][2] == b'{"tag":"t"}'
    assert by_case[("GET", "/point/exponent", "None")][2] == b'{"x":1,"label":"p","seen":1e+20}'
    assert by_case[("GET", "/deps?q=1", "None")][2] == b'{"q":"1","token":"t","session":true}'
    # the second /deps call fails validation after the session opened: it is closed all the same
    assert by_case[("GET", "/events", "None")][2] == b'["open","close","open","close"]'
    assert by_case[("GET", "/overridden?limit=7", "None")][2] == b'{"tok":"sub:7"}'


def test_same_answers_as_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: list[tuple[int, str | None, Any]]
) -> None:
    client = serve(build(fulmen))
    got = _answers(client)
    failures = [
        f"  {method} {url} {body!r}\n    fastapi: {want}\n    fulmen:  {have}"
        for (method, url, body, _), want, have in zip(CASES, fastapi_answers, got, strict=True)
        if want != have
    ]
    assert not failures, f"{len(failures)} answers differ from FastAPI:\n" + "\n".join(failures)
