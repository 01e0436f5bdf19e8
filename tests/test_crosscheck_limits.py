"""Cross-check of request limits: ``max_body_size``, ``form_limits`` and ``strict_content_type`` set on the
app, routers, inclusions, routes and mount points answer as FastAPI 0.165 answers (status, headers, body).

The app is written once against a framework module (``build_limits(fw)``); FastAPI's answers come in-process,
fulmen's through every front door. Bodies sent as a list of chunks go out chunked (no Content-Length): a
route then rejects them only when it reads them, as FastAPI does.

No ``from __future__ import annotations`` here: both frameworks must resolve the handlers' annotations.
"""

import logging
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pydantic
import pytest

import fulmen
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


class Item(pydantic.BaseModel):
    name: str
    price: float


def build_limits(fw: Any) -> Any:
    app = fw.FastAPI(max_body_size=16, form_limits={"max_fields": 2})

    @app.post("/json")
    async def json_body(item: dict) -> Any:
        return item

    @app.post("/raw")
    async def raw(request: fw.Request) -> Any:
        return {"size": len(await request.body())}

    @app.post("/unread")
    async def unread() -> Any:
        return {"ok": True}

    @app.post("/wide", max_body_size=64)
    async def wide(item: dict) -> Any:
        return item

    @app.post("/form")
    async def form(text: Annotated[str, fw.Form()]) -> Any:
        return {"text": text}

    @app.post("/form-part", max_body_size=1000, form_limits={"max_part_size": 4})
    async def form_part(text: Annotated[str, fw.Form()]) -> Any:
        return {"text": text}

    @app.post("/no-files", max_body_size=1000, form_limits={"max_files": 0})
    async def no_files(upload: Annotated[bytes, fw.File()]) -> Any:
        return {"size": len(upload)}

    @app.post("/manual", max_body_size=1000)
    async def manual(request: fw.Request) -> Any:
        # A form read by hand keeps request.form()'s own limits, not the route's.
        form = await request.form(max_fields=3)
        return dict(form)

    router = fw.APIRouter(max_body_size=12, form_limits={"max_fields": 1})

    @router.post("/echo")
    async def router_echo(request: fw.Request) -> Any:
        return {"size": len(await request.body())}

    @router.post("/own", max_body_size=32)
    async def router_own(request: fw.Request) -> Any:
        return {"size": len(await request.body())}

    @router.post("/form")
    async def router_form(text: Annotated[str, fw.Form()]) -> Any:
        return {"text": text}

    app.include_router(router, prefix="/router")
    # The router's own limit is more specific than the inclusion's.
    app.include_router(router, prefix="/again", max_body_size=100, form_limits={"max_fields": 5})

    plain = fw.APIRouter()

    @plain.post("/echo")
    async def plain_echo(request: fw.Request) -> Any:
        return {"size": len(await request.body())}

    app.include_router(plain, prefix="/included", max_body_size=24)

    lax = fw.APIRouter(strict_content_type=False)

    @lax.post("/item")
    async def lax_item(item: Item) -> Any:
        return item

    def needs_item(item: Item) -> str:
        return item.name

    @lax.post("/dependency")
    async def lax_dependency(name: Annotated[str, fw.Depends(needs_item)]) -> Any:
        return {"name": name}

    strict_inside = fw.APIRouter(strict_content_type=True)

    @strict_inside.post("/item")
    async def strict_item(item: Item) -> Any:
        return item

    lax.include_router(strict_inside, prefix="/strict")
    app.include_router(lax, prefix="/lax", max_body_size=1000)

    child = fw.FastAPI()

    @child.post("/echo")
    async def child_echo(request: fw.Request) -> Any:
        return {"size": len(await request.body())}

    @child.post("/form")
    async def child_form(text: Annotated[str, fw.Form()]) -> Any:
        return {"text": text}

    app.mount("/child", child)
    return app


def _chunks(size: int) -> list[bytes]:
    return [b"x" * (size // 2), b"x" * (size - size // 2)]


JSON = {"content-type": "application/json"}
ITEM = b'{"name": "Foo", "price": 5}'
MULTIPART = [b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\n', b"abcdefghijkl\r\n--b--\r\n"]
MULTIPART_TYPE = {"content-type": "multipart/form-data; boundary=b"}
CASES: list[Case] = [
    # App limit (16): a declared length over it is a plain-text 413, read or not.
    ("json-ok", "POST", "/json", {"content": b'{"a": "123456"}', "headers": JSON}),
    ("json-over", "POST", "/json", {"content": b'{"a": "12345678901"}', "headers": JSON}),
    ("raw-at-limit", "POST", "/raw", {"content": b"x" * 16}),
    ("raw-over", "POST", "/raw", {"content": b"x" * 17}),
    ("raw-empty", "POST", "/raw", {}),
    ("unread-over", "POST", "/unread", {"content": b"x" * 17}),
    # Chunked: over the limit only when the route reads it (then the app's HTTPException handler answers).
    ("raw-chunked-ok", "POST", "/raw", {"content": _chunks(16)}),
    ("raw-chunked-over", "POST", "/raw", {"content": _chunks(17)}),
    ("json-chunked-over", "POST", "/json", {"content": _chunks(17), "headers": JSON}),
    ("unread-chunked-over", "POST", "/unread", {"content": _chunks(17)}),
    ("no-route-over", "POST", "/nowhere", {"content": b"x" * 17}),
    ("no-route-ok", "POST", "/nowhere", {"content": b"x"}),
    # The route's own limit beats the app's.
    ("wide-ok", "POST", "/wide", {"content": b'{"a": "' + b"x" * 40 + b'"}', "headers": JSON}),
    ("wide-over", "POST", "/wide", {"content": b'{"a": "' + b"x" * 60 + b'"}', "headers": JSON}),
    # Form limits: app default (2 fields), a route's own setting, request.form() by hand.
    ("form-ok", "POST", "/form", {"data": {"text": "ab"}}),
    ("form-fields", "POST", "/form", {"data": {"text": "a", "b": "c", "d": "e"}}),
    ("form-chunked-over", "POST", "/form", {"content": MULTIPART, "headers": MULTIPART_TYPE}),
    ("form-part-ok", "POST", "/form-part", {"files": {"text": (None, "abcd")}}),
    ("form-part-over", "POST", "/form-part", {"files": {"text": (None, "abcde")}}),
    ("form-part-urlencoded", "POST", "/form-part", {"data": {"text": "abcde"}}),
    ("no-files", "POST", "/no-files", {"files": {"upload": ("a.txt", b"abc")}}),
    ("manual-ok", "POST", "/manual", {"data": {"a": "1", "b": "2", "c": "3"}}),
    ("manual-over", "POST", "/manual", {"data": {"a": "1", "b": "2", "c": "3", "d": "4"}}),
    # Routers: the router's default, a route's own, the router's own over the inclusion's.
    ("router-ok", "POST", "/router/echo", {"content": b"x" * 12}),
    ("router-over", "POST", "/router/echo", {"content": b"x" * 13}),
    ("router-own", "POST", "/router/own", {"content": b"x" * 30}),
    ("router-form-fields", "POST", "/router/form", {"data": {"text": "a", "b": "c"}}),
    ("again-over", "POST", "/again/echo", {"content": b"x" * 13}),
    ("again-form-fields", "POST", "/again/form", {"data": {"text": "a", "b": "c"}}),
    ("included-ok", "POST", "/included/echo", {"content": b"x" * 20}),
    ("included-over", "POST", "/included/echo", {"content": b"x" * 25}),
    # strict_content_type: a lax router, a strict one inside it.
    ("lax-no-type", "POST", "/lax/item", {"content": ITEM}),
    ("lax-json", "POST", "/lax/item", {"content": ITEM, "headers": JSON}),
    ("lax-text-plain", "POST", "/lax/item", {"content": ITEM, "headers": {"content-type": "text/plain"}}),
    ("lax-bad-json", "POST", "/lax/item", {"content": b'{"name": '}),
    ("lax-dependency-no-type", "POST", "/lax/dependency", {"content": ITEM}),
    ("strict-no-type", "POST", "/lax/strict/item", {"content": ITEM}),
    ("strict-json", "POST", "/lax/strict/item", {"content": ITEM, "headers": JSON}),
    ("app-strict-no-type", "POST", "/json", {"content": b'{"a": 1}'}),
    # A mounted app inherits the mount point's limits.
    ("child-ok", "POST", "/child/echo", {"content": b"x" * 16}),
    ("child-over", "POST", "/child/echo", {"content": b"x" * 17}),
    ("child-form-fields", "POST", "/child/form", {"data": {"text": "a", "b": "c", "d": "e"}}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_limits, CASES)


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    """Every request is answered exactly as FastAPI answers it, through every front door."""
    assert_same_as_fastapi(serve(build_limits(fulmen)), CASES, fastapi_answers)


def test_fastapi_answers_are_not_trivial(fastapi_answers: dict[str, Answer]) -> None:
    """The comparison covers successes, 413s (plain text and JSON), 400s and 422s."""
    assert {200, 400, 413, 422} <= {a.status for a in fastapi_answers.values()}
    bodies = {a.body for a in fastapi_answers.values() if a.status == 413}
    assert bodies == {b"Content Too Large", b'{"detail":"Content Too Large"}'}


def build_reading_middleware(fw: Any) -> Any:
    """An app limit with a middleware that reads the body (when asked) before a route with its own limit."""
    app = fw.FastAPI(max_body_size=8)

    @app.middleware("http")
    async def read_first(request: Any, call_next: Any) -> Any:
        if request.headers.get("x-read"):
            await request.body()
        return await call_next(request)

    @app.post("/wide", max_body_size=32)
    async def wide(request: fw.Request) -> Any:
        return {"size": len(await request.body())}

    @app.post("/narrow", max_body_size=4)
    async def narrow(request: fw.Request) -> Any:
        return {"size": len(await request.body())}

    return app


READ = {"x-read": "1"}
MIDDLEWARE_CASES: list[Case] = [
    ("wide", "POST", "/wide", {"content": b"x" * 20}),
    ("wide-read-first", "POST", "/wide", {"content": b"x" * 20, "headers": READ}),
    ("wide-chunked", "POST", "/wide", {"content": _chunks(20)}),
    ("wide-chunked-read-first", "POST", "/wide", {"content": _chunks(20), "headers": READ}),
    ("small-read-first", "POST", "/wide", {"content": b"x" * 8, "headers": READ}),
    ("narrow-read-first", "POST", "/narrow", {"content": b"x" * 6, "headers": READ}),
    ("narrow-chunked-read-first", "POST", "/narrow", {"content": _chunks(6), "headers": READ}),
]


def test_middleware_reading_the_body(serve: Callable[..., httpx.Client]) -> None:
    """A middleware reading the body is held to the app's limit; the route's own limit applies after it."""
    expected = fastapi_answers_for(build_reading_middleware, MIDDLEWARE_CASES)
    assert {a.status for a in expected.values()} == {200, 413}
    assert_same_as_fastapi(serve(build_reading_middleware(fulmen)), MIDDLEWARE_CASES, expected)


@pytest.mark.parametrize(
    "configure",
    [
        lambda fw: fw.FastAPI(max_body_size=-1),
        lambda fw: fw.FastAPI(max_body_size=True),
        lambda fw: fw.FastAPI(max_body_size=1.5),
        lambda fw: fw.APIRouter(max_body_size="5"),
        lambda fw: fw.FastAPI().post("/", max_body_size=-1)(lambda: None),
        lambda fw: fw.FastAPI().include_router(fw.APIRouter(), max_body_size=-1),
        lambda fw: fw.FastAPI(form_limits={"max_parts": 1}),
        lambda fw: fw.FastAPI(form_limits={"max_files": -1}),
        lambda fw: fw.FastAPI(form_limits={"max_fields": False}),
        lambda fw: fw.APIRouter(form_limits={"max_part_size": 1.5}),
        lambda fw: fw.FastAPI().include_router(fw.APIRouter(), form_limits={"max_fields": -1}),
    ],
)
def test_bad_settings_fail_at_configuration(configure: Callable[[Any], Any]) -> None:
    """A bad limit is a ValueError when it is configured, in both frameworks."""
    import fastapi

    for fw in (fastapi, fulmen):
        with pytest.raises(ValueError):
            configure(fw)


def test_settings_are_copied() -> None:
    """Changing the dict passed as ``form_limits`` afterwards changes nothing (as in FastAPI)."""
    limits = {"max_fields": 1}
    app = fulmen.FastAPI(form_limits=limits)
    limits["max_fields"] = 0

    @app.post("/")
    async def endpoint(text: Annotated[str, fulmen.Form()]) -> Any:
        return text

    with fulmen.testclient.TestClient(app) as client:
        assert client.post("/", data={"text": "ok"}).json() == "ok"


def test_engine_limit_is_checked_before_the_app(caplog: pytest.LogCaptureFixture) -> None:
    """The engine's server-wide ``max_body_size`` answers the same 413 before any route (docs/engine.md);
    a route allowing more is named in a warning at start-up."""
    from tests.engine.conftest import start_engine_in_thread

    app = fulmen.FastAPI(max_body_size=1000)
    child = fulmen.FastAPI()

    @app.post("/raw")
    async def raw(request: fulmen.Request) -> Any:
        return {"size": len(await request.body())}

    @app.post("/small", max_body_size=10)
    async def small() -> Any:
        return {}

    @child.put("/big", max_body_size=20)
    async def big() -> Any:
        return {}

    app.mount("/child", child)
    with caplog.at_level(logging.WARNING, logger="fulmen.error"):
        port, stop = start_engine_in_thread(app, max_body_size=10)
    try:
        warnings = [r.getMessage() for r in caplog.records if "max_body_size" in r.getMessage()]
        assert len(warnings) == 1
        expected = "POST /raw, PUT /child/big: max_body_size is larger than the server's (10 bytes)"
        assert warnings[0].startswith(expected)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.post("/raw", content=b"x" * 10).json() == {"size": 10}
            over = client.post("/raw", content=b"x" * 11)
            assert (over.status_code, over.text) == (413, "Content Too Large")
    finally:
        stop()


def build_body_readers(fw: Any) -> Any:
    app = fw.FastAPI(max_body_size=1000)

    @app.post("/json")
    async def json_body(item: dict) -> Any:
        return item

    @app.post("/bytes")
    async def raw_bytes(data: Annotated[bytes, fw.Body(media_type="application/octet-stream")]) -> Any:
        return len(data)

    @app.post("/form")
    async def form(text: Annotated[str, fw.Form()]) -> Any:
        return text

    async def needs_item(item: dict) -> Any:
        return item

    @app.post("/dependency")
    async def dependency(item: Annotated[dict, fw.Depends(needs_item)]) -> Any:
        return item

    return app


async def _leave_mid_body(app: Any, path: str, content_type: bytes) -> list[tuple[Any, Any]]:
    """Drive ``app`` over ASGI with a client that sends part of a body and disconnects."""
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b'{"a": ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent: list[tuple[Any, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append((message.get("status"), message.get("body")))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", content_type)],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    "path,content_type",
    [
        ("/json", b"application/json"),
        ("/bytes", b"application/octet-stream"),
        ("/form", b"application/x-www-form-urlencoded"),
        ("/dependency", b"application/json"),
    ],
)
def test_client_leaving_mid_body_is_a_400(path: str, content_type: bytes) -> None:
    """A body that can't be read to the end (the client left) is FastAPI's 400, not a 500 and a traceback."""
    import asyncio

    import fastapi

    expected = asyncio.run(_leave_mid_body(build_body_readers(fastapi), path, content_type))
    got = asyncio.run(_leave_mid_body(build_body_readers(fulmen), path, content_type))
    assert got == expected == [(400, None), (None, b'{"detail":"There was an error parsing the body"}')]
