"""Cross-check against FastAPI 0.165: response classes given the handler's result (``RedirectResponse`` and
``FileResponse`` take it positionally, as their URL or path), the injected ``response: Response`` parameter
(``status_code`` reads ``None`` until set; ``media_type``, ``charset`` or any attribute can be set on it), and
responses sent as ASGI apps by a pure ASGI middleware (``await response(scope, receive, send)``).

FastAPI's answers come in-process through the TestClient, fulmen's through every front door.

No ``from __future__ import annotations`` here: FastAPI must resolve the handlers' annotations.
"""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi
import fastapi.responses
import httpx
import pytest
import starlette.background
import starlette.responses

import fulmen
import fulmen.background
import fulmen.responses
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import _reraise_only_unanswered
from tests.test_crosscheck_responses import Answer, _comparable, ask

pytestmark = pytest.mark.timeout(60)

NOTES = b"some notes\n" * 10


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("objects") / "notes.txt"
    path.write_bytes(NOTES)
    return path


# ------------------------------------------------------------------------------------------------------------
# Response classes and the injected response parameter
# ------------------------------------------------------------------------------------------------------------
def build_routes(fw: Any, notes: Path) -> Any:
    R = fw.responses
    app = fw.FastAPI()

    @app.get("/redirect-class", response_class=R.RedirectResponse)
    def redirect_class():
        return "https://docs.pydantic.dev/"

    @app.get("/redirect-class-302", response_class=R.RedirectResponse, status_code=302)
    def redirect_class_302():
        return "/elsewhere?x=1 2"

    @app.get("/redirect-class-308", response_class=R.RedirectResponse, status_code=308)
    async def redirect_class_308():
        return "/target"

    @app.get("/redirect-class-param", response_class=R.RedirectResponse)
    async def redirect_class_param(response: fw.Response):
        response.headers["x-a"] = "1"
        response.set_cookie("seen", "yes")
        return "/with-header"

    @app.get("/redirect-class-param-status", response_class=R.RedirectResponse)
    def redirect_class_param_status(response: fw.Response):
        response.status_code = 301
        return "/moved"

    @app.get("/redirect-class-returned", response_class=R.RedirectResponse)
    def redirect_class_returned():
        return R.RedirectResponse("/explicit", status_code=303)

    @app.get("/file-class", response_class=R.FileResponse)
    async def file_class():
        return str(notes)

    @app.get("/file-class-status", response_class=R.FileResponse, status_code=203)
    def file_class_status():
        return notes

    @app.get("/html-class-status", response_class=R.HTMLResponse, status_code=201)
    def html_class_status():
        return "<p>made</p>"

    @app.get("/param-attributes")
    def param_attributes(response: fw.Response):
        # Starlette's responses take any attribute; on the injected response they change nothing.
        response.media_type = "text/plain"
        response.charset = "latin-1"
        response.custom = {"any": "thing"}
        response.headers["x-custom"] = str(response.custom["any"])
        return {"a": 1}

    @app.get("/param-status")
    def param_status(response: fw.Response):
        return {"status": response.status_code}

    @app.get("/param-status-set", status_code=202)
    async def param_status_set(response: fw.Response):
        before = response.status_code
        response.status_code = 201
        return {"before": before, "after": response.status_code}

    def status_seen(response: fw.Response) -> Any:
        return response.status_code

    @app.get("/param-status-dependency")
    def param_status_dependency(seen: Any = fw.Depends(status_seen)):
        return {"status": seen}

    return app


ROUTE_CASES = [
    "/redirect-class",
    "/redirect-class-302",
    "/redirect-class-308",
    "/redirect-class-param",
    "/redirect-class-param-status",
    "/redirect-class-returned",
    "/file-class",
    "/file-class-status",
    "/html-class-status",
    "/param-attributes",
    "/param-status",
    "/param-status-set",
    "/param-status-dependency",
]


@pytest.fixture(scope="module")
def fastapi_route_answers(notes: Path) -> dict[str, Answer]:
    app = _reraise_only_unanswered(build_routes(fastapi, notes))
    with TestClient(app, raise_server_exceptions=False) as client:
        return {url: ask(client, "GET", url, {}) for url in ROUTE_CASES}


def test_fastapi_route_answers_are_meaningful(fastapi_route_answers: dict[str, Answer]) -> None:
    answers = fastapi_route_answers
    assert answers["/redirect-class"].status == 307
    assert ("location", "https://docs.pydantic.dev/") in answers["/redirect-class"].headers
    assert answers["/redirect-class-308"].status == 308
    assert ("x-a", "1") in answers["/redirect-class-param"].headers
    assert answers["/file-class"].body == NOTES
    assert answers["/param-attributes"].body == b'{"a":1}'
    assert answers["/param-status"].body == b'{"status":null}'
    assert answers["/param-status-dependency"].body == b'{"status":null}'


def test_routes_answer_as_fastapi(
    serve: Callable[..., httpx.Client], notes: Path, fastapi_route_answers: dict[str, Answer]
) -> None:
    client = serve(build_routes(fulmen, notes))
    failures = []
    for url in ROUTE_CASES:
        expected, got = _comparable(fastapi_route_answers[url], ask(client, "GET", url, {}))
        if got != expected:
            failures.append(f"  {url}\n    fastapi: {expected.show()}\n    fulmen:  {got.show()}")
    assert not failures, f"{len(failures)} answers differ from FastAPI:\n" + "\n".join(failures)


def test_only_the_injected_response_takes_any_attribute() -> None:
    """Response classes keep ``__slots__`` (cheap to create); the injected parameter has a ``__dict__``."""
    injected = fulmen.responses.InjectedResponse()
    injected.media_type = "text/plain"
    injected.anything = 1  # type: ignore[attr-defined]
    assert injected.status_code is None and isinstance(injected, fulmen.responses.Response)
    response = fulmen.responses.JSONResponse({"a": 1})
    response.status_code, response.body, response.background = 201, b"{}", None
    with pytest.raises(AttributeError):
        response.anything = 1  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------------------
# Responses sent by a pure ASGI middleware
# ------------------------------------------------------------------------------------------------------------
def build_middleware_app(fw: Any, notes: Path, log: list[str]) -> Any:
    R = fw.responses
    background = fw.background if fw is fulmen else starlette.background

    def record(what: str) -> None:
        log.append(what)

    async def chunks():
        yield b"a,"
        await asyncio.sleep(0)
        yield "b,"
        yield b"c"

    def answer(path: str) -> Any:
        if path == "/mw/json":
            return R.JSONResponse({"detail": "blocked"}, status_code=403)
        if path == "/mw/plain":
            return R.PlainTextResponse("no", status_code=401, headers={"x-a": "1"})
        if path == "/mw/cookie":
            response = R.HTMLResponse("<p>hi</p>")
            response.set_cookie("k", "v", httponly=True)
            return response
        if path == "/mw/redirect":
            return R.RedirectResponse("/elsewhere")
        if path == "/mw/empty":
            return R.Response(status_code=204)
        if path == "/mw/stream":
            task = background.BackgroundTask(record, "stream")
            return R.StreamingResponse(chunks(), media_type="text/plain", background=task)
        if path == "/mw/stream-sync":
            return R.StreamingResponse(iter([b"x", b"y"]), status_code=201, headers={"x-s": "1"})
        if path == "/mw/file":
            return R.FileResponse(notes, background=background.BackgroundTask(record, "file"))
        if path == "/mw/background":
            return R.JSONResponse({"ok": True}, background=background.BackgroundTask(record, "plain"))
        return None

    class Answering:
        """Pure ASGI middleware that answers /mw/... itself."""

        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                response = answer(scope["path"])
                if response is not None:
                    await response(scope, receive, send)
                    return
            await self.app(scope, receive, send)

    app = fw.FastAPI()
    app.add_middleware(Answering)

    @app.get("/ok")
    def ok():
        return {"passed": "through"}

    @app.api_route("/mw/{rest:path}", methods=["GET", "HEAD"])
    def not_reached(rest: str):
        return "the middleware answers first"

    return app


MIDDLEWARE_CASES: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/ok", {}),
    ("GET", "/mw/json", {}),
    ("HEAD", "/mw/json", {}),
    ("GET", "/mw/plain", {}),
    ("GET", "/mw/cookie", {}),
    ("GET", "/mw/redirect", {}),
    ("GET", "/mw/empty", {}),
    ("GET", "/mw/stream", {}),
    ("GET", "/mw/stream-sync", {}),
    ("GET", "/mw/file", {}),
    ("HEAD", "/mw/file", {}),
    ("GET", "/mw/file", {"range": "bytes=0-9"}),
    ("GET", "/mw/file", {"range": "bytes=0-1,5-6"}),
    ("GET", "/mw/background", {}),
]


def _wait_for(log: list[str], expected: list[str]) -> None:
    """Background tasks run after the body was sent: over a socket the client may see it first."""
    deadline = time.monotonic() + 5
    while sorted(log) != sorted(expected) and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.fixture(scope="module")
def fastapi_middleware_answers(notes: Path) -> tuple[dict[str, Answer], list[str]]:
    log: list[str] = []
    app = _reraise_only_unanswered(build_middleware_app(fastapi, notes, log))
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = {f"{m} {u} {h}": ask(client, m, u, h) for m, u, h in MIDDLEWARE_CASES}
    return answers, log


def test_fastapi_middleware_answers_are_meaningful(
    fastapi_middleware_answers: tuple[dict[str, Answer], list[str]],
) -> None:
    answers, log = fastapi_middleware_answers
    assert answers["GET /mw/json {}"].status == 403
    assert answers["GET /mw/stream {}"].body == b"a,b,c"
    assert answers["GET /mw/file {'range': 'bytes=0-9'}"].status == 206
    assert sorted(log) == ["file"] * 4 + ["plain", "stream"]  # HEAD and ranges run it too


def test_middleware_sends_responses_as_fastapi(
    serve: Callable[..., httpx.Client],
    notes: Path,
    fastapi_middleware_answers: tuple[dict[str, Answer], list[str]],
) -> None:
    expected_answers, expected_log = fastapi_middleware_answers
    log: list[str] = []
    client = serve(build_middleware_app(fulmen, notes, log))
    failures = []
    for method, url, headers in MIDDLEWARE_CASES:
        key = f"{method} {url} {headers}"
        expected, got = _comparable(expected_answers[key], ask(client, method, url, headers))
        if got != expected:
            failures.append(f"  {key}\n    fastapi: {expected.show()}\n    fulmen:  {got.show()}")
    assert not failures, f"{len(failures)} answers differ from FastAPI:\n" + "\n".join(failures)
    _wait_for(log, expected_log)
    assert sorted(log) == sorted(expected_log)


# ------------------------------------------------------------------------------------------------------------
# The ASGI messages themselves, against Starlette's
# ------------------------------------------------------------------------------------------------------------
async def _messages(response: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await never.wait()  # the client never leaves
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await response(scope, receive, send)
    return sent


def _scope(method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers or [],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }


def _assembled(messages: list[dict[str, Any]]) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
    """Status, sorted headers, the whole body, and whether the last message closed the body."""
    start, *bodies = messages
    assert start["type"] == "http.response.start"
    assert all(m["type"] == "http.response.body" for m in bodies)
    body = b"".join(m.get("body", b"") for m in bodies)
    return start["status"], sorted(map(tuple, start["headers"])), body, not bodies[-1].get("more_body", False)


def test_plain_response_messages_are_starlettes() -> None:
    for make in (
        lambda R: R.JSONResponse({"a": "é"}, status_code=201, headers={"x-a": "1"}),
        lambda R: R.PlainTextResponse("text"),
        lambda R: R.RedirectResponse("/there"),
        lambda R: R.Response(status_code=204),
    ):
        ours = asyncio.run(_messages(make(fulmen.responses), _scope()))
        theirs = asyncio.run(_messages(make(starlette.responses), _scope()))
        assert [dict(m, headers=list(map(tuple, m.get("headers", ())))) for m in ours] == [
            dict(m, headers=list(map(tuple, m.get("headers", ())))) for m in theirs
        ]


def test_streamed_response_messages_match_starlettes(notes: Path) -> None:
    async def chunks() -> Any:
        yield b"1"
        yield "2"

    cases: list[tuple[Callable[[Any], Any], dict[str, Any]]] = [
        (lambda R: R.StreamingResponse(chunks(), media_type="text/csv"), _scope()),
        (lambda R: R.StreamingResponse(iter([b"a", b"b"]), headers={"x-s": "1"}), _scope()),
        (lambda R: R.FileResponse(notes, filename="n.txt"), _scope()),
        (lambda R: R.FileResponse(notes), _scope(headers=[(b"range", b"bytes=2-5")])),
    ]
    for make, scope in cases:
        ours = _assembled(asyncio.run(_messages(make(fulmen.responses), scope)))
        theirs = _assembled(asyncio.run(_messages(make(starlette.responses), scope)))
        assert ours == theirs
    # Chunks go as they come (more_body), the end is an empty closing message.
    messages = asyncio.run(_messages(fulmen.responses.StreamingResponse(chunks()), _scope()))
    assert [(m.get("body"), m.get("more_body")) for m in messages[1:]] == [
        (b"1", True),
        (b"2", True),
        (b"", False),
    ]
