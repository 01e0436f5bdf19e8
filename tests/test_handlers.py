"""Handlers and responses through every front door: return values, Response classes, cookies, errors."""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import decimal
import enum
import re
import sys
import threading
import uuid
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest

from fulmen import BackgroundTasks, FastAPI, HTTPException, Request, Response, status
from fulmen.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from fulmen.testclient import TestClient


class Color(enum.Enum):
    red = "red"


class Point(msgspec.Struct):
    x: int
    y: int


def _app(**options: Any) -> FastAPI:
    app = FastAPI(**options)

    # No return annotations on /types, /sa-keys and /nan: an annotation is a response model (pydantic's
    # serialisation, see test_response_model.py); these check the plain jsonable_encoder path.
    @app.get("/types")
    async def types():
        return {
            "dt": datetime.datetime(2024, 1, 2, 3, 4, 5),
            "dt_utc": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            "date": datetime.date(2024, 1, 2),
            "uuid": uuid.UUID(int=1),
            "dec": decimal.Decimal("1.50"),
            "dec_int": decimal.Decimal("2"),
            "color": Color.red,
            "bytes": b"hi",
            "td": datetime.timedelta(seconds=90),
            "set": {1},
            "tuple": (1, 2),
            "struct": Point(1, 2),
        }

    @app.get("/sa-keys")
    async def sa_keys():
        return {"_sa_instance_state": 1, "a": {"_sa_x": 2, "b": 3}}

    @app.get("/nan")
    async def nan():
        return float("nan")

    @app.post("/created", status_code=status.HTTP_201_CREATED)
    async def created() -> dict[str, bool]:
        return {"ok": True}

    @app.delete("/gone", status_code=204)
    async def gone() -> None:
        return None

    @app.get("/text", response_class=PlainTextResponse)
    async def text() -> str:
        return "plain"

    @app.get("/html", response_class=HTMLResponse)
    async def html() -> str:
        return "<h1>hi</h1>"

    @app.get("/custom")
    async def custom() -> Response:
        return Response(content=b"raw", media_type="application/octet-stream", headers={"x-custom": "1"})

    @app.get("/json-response")
    async def json_response() -> JSONResponse:
        return JSONResponse({"a": "ü"}, status_code=202, headers={"x-a": "b"})

    @app.get("/redirect")
    async def redirect() -> RedirectResponse:
        return RedirectResponse("/text")

    @app.get("/cookies")
    async def cookies() -> Response:
        r = JSONResponse({"ok": True})
        r.set_cookie("a", "1", httponly=True)
        r.set_cookie("b", "2", max_age=60)
        r.delete_cookie("c")
        return r

    @app.get("/sub-response")
    async def sub(response: Response) -> dict[str, str]:
        response.headers["x-extra"] = "yes"
        response.set_cookie("sub", "1")
        response.status_code = 203
        return {"ok": "sub"}

    @app.get("/http-error")
    async def http_error() -> None:
        raise HTTPException(status_code=418, detail={"why": "teapot"}, headers={"x-error": "1"})

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("handler bug")

    @app.get("/sync-crash")
    def sync_crash() -> None:
        raise ValueError("sync bug")

    @app.get("/sync")
    def sync() -> dict[str, bool]:
        return {
            "main_thread": threading.current_thread() is threading.main_thread(),
            "pool": threading.current_thread().name.startswith("fulmen-sync"),
        }

    @app.get("/inline", inline_sync=True)
    def inline() -> dict[str, bool]:
        return {"pool": threading.current_thread().name.startswith("fulmen-sync")}

    @app.get("/request")
    async def request_info(request: Request) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "multi": request.query_params.getlist("m"),
            "header": request.headers.get("x-test"),
            "cookie": request.cookies.get("k"),
            "has_client": request.client is not None,
        }

    @app.post("/echo-body")
    async def echo_body(request: Request) -> dict[str, Any]:
        body = await request.body()
        return {"len": len(body), "json": await request.json()}

    @app.get("/task")
    async def task_info() -> dict[str, Any]:
        # Both need a current task, as under any ASGI server (asyncio.timeout is Python 3.11+).
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(5):
                await asyncio.sleep(0)
        else:
            with anyio.fail_after(5):
                await asyncio.sleep(0)
        return {"task": asyncio.current_task() is not None}

    @app.get("/eager")
    async def eager() -> dict[str, Any]:
        return {"task": asyncio.current_task() is not None}

    return app


def test_return_types_encode_like_fastapi(serve: Any) -> None:
    r = serve(_app()).get("/types")
    assert r.status_code == 200
    assert r.json() == {
        "dt": "2024-01-02T03:04:05",
        "dt_utc": "2024-01-02T03:04:05+00:00",
        "date": "2024-01-02",
        "uuid": "00000000-0000-0000-0000-000000000001",
        "dec": 1.5,
        "dec_int": 2,
        "color": "red",
        "bytes": "hi",
        "td": 90.0,
        "set": [1],
        "tuple": [1, 2],
        "struct": {"x": 1, "y": 2},
    }
    assert r.headers["content-type"] == "application/json"


def test_status_codes_and_response_classes(serve: Any) -> None:
    client = serve(_app())
    r = client.post("/created")
    assert (r.status_code, r.json()) == (201, {"ok": True})
    r = client.delete("/gone")
    assert r.status_code == 204 and r.content == b"" and "content-length" not in r.headers
    r = client.get("/text")
    assert (r.text, r.headers["content-type"]) == ("plain", "text/plain; charset=utf-8")
    r = client.get("/html")
    assert (r.text, r.headers["content-type"]) == ("<h1>hi</h1>", "text/html; charset=utf-8")
    r = client.get("/custom")
    assert (r.content, r.headers["content-type"], r.headers["x-custom"]) == (
        b"raw",
        "application/octet-stream",
        "1",
    )
    r = client.get("/json-response")
    assert (r.status_code, r.json(), r.headers["x-a"]) == (202, {"a": "ü"}, "b")
    assert r.content == '{"a":"ü"}'.encode()


def test_redirect(serve: Any) -> None:
    client = serve(_app(), follow_redirects=False)
    r = client.get("/redirect")
    assert (r.status_code, r.headers["location"]) == (307, "/text")


def test_cookies_stay_separate(serve: Any) -> None:
    r = serve(_app()).get("/cookies")
    cookies = r.headers.get_list("set-cookie")
    assert cookies[:2] == ["a=1; HttpOnly; Path=/; SameSite=lax", "b=2; Max-Age=60; Path=/; SameSite=lax"]
    # As in Starlette, delete_cookie expires "now" (an int expiry is an offset from the current time).
    assert re.fullmatch(
        r'c=""; expires=\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT; Max-Age=0; Path=/; SameSite=lax', cookies[2]
    )


def test_partitioned_cookies_set_and_deleted() -> None:
    """CHIPS cookies: ``partitioned=True`` adds the attribute on every Python (Starlette needs 3.14);
    ``delete_cookie`` takes it too: a browser drops a partitioned cookie only with a partitioned deletion."""
    response = Response()
    response.set_cookie("chip", "1", secure=True, samesite="none", partitioned=True)
    response.delete_cookie("chip", secure=True, samesite="none", partitioned=True)
    response.delete_cookie("plain")
    set_line, deleted, plain = response.headers.getlist("set-cookie")
    assert set_line == "chip=1; Path=/; SameSite=none; Secure; Partitioned"
    assert deleted.endswith("; Max-Age=0; Path=/; SameSite=none; Secure; Partitioned")
    assert "Partitioned" not in plain


def test_injected_response_parameter(serve: Any) -> None:
    r = serve(_app()).get("/sub-response")
    assert r.status_code == 203
    assert r.json() == {"ok": "sub"}
    assert r.headers["x-extra"] == "yes"
    assert r.headers["set-cookie"].startswith("sub=1")


def test_http_exception(serve: Any) -> None:
    r = serve(_app()).get("/http-error")
    assert (r.status_code, r.json(), r.headers["x-error"]) == (418, {"detail": {"why": "teapot"}}, "1")


def test_crash_is_500_and_connection_lives_on(
    serve: Any, front_door: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = serve(_app())
    for path in ("/crash", "/sync-crash"):
        r = client.get(path)
        assert (r.status_code, r.text) == (500, "Internal Server Error")
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert client.get("/eager").status_code == 200  # same client (keep-alive on the engine), still served
    if front_door == "engine":  # an ASGI server gets the error raised on to it and logs it itself
        assert any("handler bug" in (rec.exc_text or str(rec.exc_info)) for rec in caplog.records)


def test_sync_handlers_run_in_threadpool_unless_inline(serve: Any) -> None:
    client = serve(_app())
    assert client.get("/sync").json() == {"main_thread": False, "pool": True}
    assert client.get("/inline").json() == {"pool": False}


def test_app_level_inline_switch() -> None:
    with TestClient(_app(inline_sync=True)) as client:
        assert client.get("/sync").json()["pool"] is False


def test_request_object(serve: Any) -> None:
    r = serve(_app()).get("/request?a=1&m=x&m=y", headers={"x-test": "v", "cookie": "k=cv; other=2"})
    assert r.json() == {
        "method": "GET",
        "path": "/request",
        "query": {"a": "1", "m": "y"},
        "multi": ["x", "y"],
        "header": "v",
        "cookie": "cv",
        "has_client": True,
    }
    r = serve(_app()).post("/echo-body", json={"a": [1, 2]})
    assert r.json() == {"len": len(b'{"a":[1,2]}'), "json": {"a": [1, 2]}}


def test_handlers_run_inside_a_task(serve: Any) -> None:
    client = serve(_app())
    assert client.get("/task").json() == {"task": True}
    assert client.get("/eager").json() == {"task": True}


def test_unparseable_bodies_are_400_like_fastapi(serve: Any) -> None:
    # json.loads fails with something other than a syntax error (bad UTF-8, nesting too deep for the
    # parser): FastAPI answers 400, for every kind of body type.
    app = FastAPI()

    @app.post("/struct")
    async def struct_body(point: Point) -> int:
        return point.x

    @app.post("/embedded")
    async def embedded(a: Point, b: Point) -> int:
        return a.x

    client = serve(app)
    deep = b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "y": 1}'
    for path, body in (("/struct", deep), ("/struct", b'{"x": "\xff"}'), ("/embedded", deep)):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert (r.status_code, r.json()) == (400, {"detail": "There was an error parsing the body"}), path


def test_sqlalchemy_state_keys_are_dropped_like_fastapi(serve: Any) -> None:
    # jsonable_encoder's sqlalchemy_safe rule: keys starting with "_sa" never reach the client.
    assert serve(_app()).get("/sa-keys").content == b'{"a":{"b":3}}'


def test_nan_is_a_server_error_like_fastapi(serve: Any) -> None:
    assert serve(_app()).get("/nan").status_code == 500


def test_raise_server_exceptions_in_testclient() -> None:
    with TestClient(_app()) as client, pytest.raises(RuntimeError, match="handler bug"):
        client.get("/crash")


def test_background_tasks_run_after_response(serve: Any) -> None:
    app = FastAPI()
    done: list[str] = []
    event = threading.Event()

    def record(tag: str) -> None:
        done.append(tag)
        event.set()

    @app.post("/work")
    async def work(tasks: BackgroundTasks) -> dict[str, int]:
        tasks.add_task(record, "first")
        return {"queued": len(tasks.tasks)}

    client = serve(app)
    assert client.post("/work").json() == {"queued": 1}
    assert event.wait(5)
    assert done == ["first"]


def test_lifespan_state_and_events(serve: Any) -> None:
    calls: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        calls.append("start")
        yield {"db": "connected"}
        calls.append("stop")

    app = FastAPI(lifespan=lifespan)

    @app.get("/state")
    async def state(request: Request) -> dict[str, str]:
        return {"db": request.state.db}

    client = serve(app)
    assert client.get("/state").json() == {"db": "connected"}
    assert calls == ["start"]


def test_contextvars_do_not_leak_between_requests(serve: Any) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    app = FastAPI()

    @app.get("/set/{value}")
    async def set_value(value: str) -> dict[str, str]:
        before = var.get()
        var.set(value)
        return {"before": before}

    client = serve(app)
    assert client.get("/set/a").json() == {"before": "unset"}
    assert client.get("/set/b").json() == {"before": "unset"}


def test_response_sent_to_a_hand_made_scope(tmp_path: Any) -> None:
    """``await response(scope, receive, send)`` needs only what ASGI middleware tends to pass (no path)."""
    file = tmp_path / "a.txt"
    file.write_bytes(b"hello")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    from fulmen.responses import FileResponse

    asyncio.run(FileResponse(file)({"type": "http", "method": "HEAD", "headers": []}, receive, send))
    assert sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"content-length"] == b"5"
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b""
