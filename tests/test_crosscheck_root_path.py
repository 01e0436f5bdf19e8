"""Cross-check of ``FastAPI(root_path=...)`` (FastAPI's "Behind a Proxy"): the root path shows in the scope,
``base_url`` and ``url_for``; paths that carry the prefix are routed without it, others as they are.
Through every front door, with no middleware, a native one and an ASGI-only one.
"""

import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import fulmen
from tests.crosscheck_apps import PassThrough
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def build(fw: Any, middleware: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FastAPI 0.165 deprecates root_path= in favour of the server's
        app = fw.FastAPI(root_path="/api/v1")

    @app.get("/app")
    def read_main(request: fw.Request) -> Any:
        return {
            "root_path": request.scope["root_path"],
            "url_path": request.url.path,
            "base_url_path": request.base_url.path,
            "url_for_path": request.url_for("read_main").path,
            "query": request.url.query,
        }

    @app.get("/")
    def root() -> Any:
        return "root"

    if middleware == "native":

        @app.middleware("http")
        async def tag(request: Any, call_next: Any) -> Any:
            response = await call_next(request)
            response.headers["x-seen-path"] = request.url.path
            return response

    elif middleware == "asgi":
        app.add_middleware(PassThrough)
    return app


CASES: list[Case] = [
    ("unprefixed", "GET", "/app?x=1", {}),
    ("prefixed", "GET", "/api/v1/app?x=1", {}),
    ("prefixed-slash-redirect", "GET", "/api/v1/app/", {}),
    ("unprefixed-slash-redirect", "GET", "/app/", {}),
    ("prefix-only", "GET", "/api/v1", {}),
    ("prefix-root", "GET", "/api/v1/", {}),
    ("prefix-lookalike", "GET", "/api/v1app", {}),
    ("openapi-prefixed", "GET", "/api/v1/openapi.json", {}),
    ("openapi-unprefixed", "GET", "/openapi.json", {}),
    ("not-found", "GET", "/api/v1/nowhere", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, dict[str, Answer]]:
    return {mw: fastapi_answers_for(lambda fw, mw=mw: build(fw, mw), CASES) for mw in ("none", "native")}


@pytest.mark.parametrize("middleware", ["none", "native", "asgi"])
def test_root_path_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, dict[str, Answer]], middleware: str
) -> None:
    """Every case answers as FastAPI does; with an ASGI-only middleware, as FastAPI without one."""
    expected = fastapi_answers["none" if middleware == "asgi" else middleware]
    assert_same_as_fastapi(serve(build(fulmen, middleware)), CASES, expected)


def test_docs_page_loads_the_prefixed_document(serve: Callable[..., httpx.Client]) -> None:
    r = serve(build(fulmen, "none")).get("/api/v1/docs")
    assert r.status_code == 200
    assert "'/api/v1/openapi.json'" in r.text or '"/api/v1/openapi.json"' in r.text


def test_websocket_routes_under_the_root_path() -> None:
    """WebSocket paths are re-rooted too (fulmen's TestClient drives both apps, as in test_websockets)."""
    import fastapi

    from fulmen.testclient import TestClient

    seen = []
    for fw in (fastapi, fulmen):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            app = fw.FastAPI(root_path="/api/v1")
        WS = fw.WebSocket

        @app.websocket("/ws")
        async def ws(websocket: WS) -> None:
            await websocket.accept()
            await websocket.send_json([websocket.scope["root_path"], websocket.url.path])
            await websocket.close()

        with TestClient(app) as client:
            for path in ("/api/v1/ws", "/ws"):
                with client.websocket_connect(path) as session:
                    seen.append((fw.__name__, session.receive_json()))
    assert [answer for _, answer in seen[2:]] == [answer for _, answer in seen[:2]]
    assert seen[0][1] == ["/api/v1", "/api/v1/ws"]


def _asgi_answer(app: Any, scope_type: str, path: str, root_path: str) -> tuple[Any, ...]:
    """Call ``app`` with one hand-made ASGI scope (as a server that passes ``root_path`` separately does)."""
    import asyncio

    sent: list[dict[str, Any]] = []
    incoming = (
        [{"type": "http.request", "body": b"", "more_body": False}]
        if scope_type == "http"
        else [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    )

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": scope_type,
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "http" if scope_type == "http" else "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    if scope_type == "http":
        scope["method"] = "GET"

    asyncio.run(app(scope, receive, send))
    if scope_type == "http":
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        location = dict(start.get("headers", [])).get(b"location")
        return start["status"], location, body
    return tuple(m["type"] for m in sent) + tuple(m.get("text", "") for m in sent)


@pytest.mark.parametrize(
    ("scope_type", "path"),
    [
        ("http", "/apiary"),  # shares the root path's letters, not its segment: routed as it is
        ("http", "/api/ary"),
        ("http", "/api"),
        ("http", "/ary"),
        ("websocket", "/apiary"),
        ("websocket", "/api/ary"),
    ],
)
def test_server_root_path_strips_whole_segments_only(scope_type: str, path: str) -> None:
    """A server's ``root_path`` is taken off the path only at a segment boundary, as in Starlette."""
    import fastapi

    answers = []
    for fw in (fastapi, fulmen):
        app = fw.FastAPI()

        @app.get("/ary")
        def short() -> str:
            return "short"

        @app.get("/apiary")
        def whole() -> str:
            return "whole"

        @app.get("/")
        def root() -> str:
            return "root"

        @app.websocket("/ary")
        async def ws_short(websocket: fw.WebSocket) -> None:
            await websocket.accept()
            await websocket.send_text("short")
            await websocket.close()

        @app.websocket("/apiary")
        async def ws_whole(websocket: fw.WebSocket) -> None:
            await websocket.accept()
            await websocket.send_text("whole")
            await websocket.close()

        answers.append(_asgi_answer(app, scope_type, path, "/api"))
    assert answers[1] == answers[0]
