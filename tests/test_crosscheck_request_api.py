"""Starlette's ``Request`` API beyond the basics, cross-checked against FastAPI where it runs in-process:
``json()`` errors, ``session``/``auth``/``user`` from ASGI middleware, ``is_disconnected()``.
"""

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import fastapi
import httpx
import pytest

import fulmen
from fulmen.testclient import TestClient


def _json_app(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.post("/json")
    async def decode(request: fw.Request) -> Any:
        try:
            return {"value": await request.json()}
        except json.JSONDecodeError as exc:
            return {"error": "JSONDecodeError", "msg": exc.msg, "pos": exc.pos}
        except ValueError as exc:  # UnicodeDecodeError for a body that is not valid UTF-8
            return {"error": type(exc).__name__}

    return app


BODIES = [
    b'{"a": [1, 2.5, "\xc3\xa9"]}',
    b"{nope",
    b"",
    b'\xef\xbb\xbf{"bom": 1}',
    '{"utf16": 1}'.encode("utf-16"),
    b'{"a":"\xe9"}',
    b"[NaN, Infinity]",
    b"[1] x",
    b"123456789012345678901234567890",
]


@pytest.mark.parametrize("body", BODIES)
def test_request_json_behaves_as_starlette(serve: Callable[..., httpx.Client], body: bytes) -> None:
    with TestClient(_json_app(fastapi)) as client:
        expected = client.post("/json", content=body)
    got = serve(_json_app(fulmen)).post("/json", content=body)
    assert got.status_code == expected.status_code == 200
    assert got.json() == expected.json()


def _session_app(fw: Any) -> Any:
    from starlette.authentication import AuthCredentials, AuthenticationBackend, SimpleUser
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.middleware.sessions import SessionMiddleware

    class HeaderAuth(AuthenticationBackend):
        async def authenticate(self, conn: Any) -> Any:
            name = conn.headers.get("x-user")
            return None if name is None else (AuthCredentials(["authenticated"]), SimpleUser(name))

    app = fw.FastAPI()

    # Added first: innermost, inside the session and authentication middleware.
    @app.middleware("http")
    async def count_visits(request: Any, call_next: Any) -> Any:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return await call_next(request)

    app.add_middleware(AuthenticationMiddleware, backend=HeaderAuth())
    app.add_middleware(SessionMiddleware, secret_key="s3cret")

    @app.get("/login/{name}")
    def login(name: str, request: fw.Request) -> Any:
        request.session["user"] = name
        return {"ok": True}

    @app.get("/me")
    def me(request: fw.Request) -> Any:
        return {
            "session": dict(request.session),
            "in_scope": request.scope["session"] is request.session,
            "user": request.user.display_name if request.user.is_authenticated else None,
            "scopes": request.auth.scopes,
        }

    @app.get("/logout")
    def logout(request: fw.Request) -> Any:
        request.session.clear()
        return {"ok": True}

    return app


def _session_story(client: httpx.Client) -> list[Any]:
    story: list[Any] = []
    for path, headers in [
        ("/me", {}),
        ("/login/bob", {}),
        ("/me", {"x-user": "ann"}),
        ("/logout", {}),
        ("/me", {}),
    ]:
        r = client.get(path, headers=headers)
        cookie = r.headers.get("set-cookie", "")
        story.append(
            [r.status_code, r.json(), r.headers.get("vary"), cookie.split(";", 1)[-1], "session=" in cookie]
        )
    return story


def test_session_and_authentication_middleware(serve: Callable[..., httpx.Client]) -> None:
    with TestClient(_session_app(fastapi)) as client:
        expected = _session_story(client)
    got = _session_story(serve(_session_app(fulmen)))
    assert got == expected
    assert got[2][1] == {
        "session": {"visits": 3, "user": "bob"},
        "in_scope": True,
        "user": "ann",
        "scopes": ["authenticated"],
    }
    assert got[4][1]["session"] == {"visits": 1}  # cleared by /logout, then counted again


def _bare_app(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/attrs")
    def attrs(request: fw.Request) -> Any:
        out = {}
        for name in ("session", "auth", "user"):
            try:
                getattr(request, name)
            except AssertionError as exc:
                out[name] = str(exc)
        return out

    return app


def test_session_auth_user_without_their_middleware(serve: Callable[..., httpx.Client]) -> None:
    with TestClient(_bare_app(fastapi)) as client:
        expected = client.get("/attrs").json()
    assert serve(_bare_app(fulmen)).get("/attrs").json() == expected
    assert expected["session"] == "SessionMiddleware must be installed to access request.session"


def _disconnect_app(seen: dict[str, Any], done: threading.Event, with_middleware: bool) -> fulmen.FastAPI:
    app = fulmen.FastAPI()
    if with_middleware:  # an ASGI-only middleware: the stack runs in ASGI form on every front door
        from starlette.middleware.sessions import SessionMiddleware

        app.add_middleware(SessionMiddleware, secret_key="s3cret")

    @app.post("/wait")
    async def wait(request: fulmen.Request) -> dict[str, Any]:
        seen["before"] = await request.is_disconnected()
        seen["body"] = (await request.body()).decode()  # read after the check: nothing was lost
        seen["after_body"] = await request.is_disconnected()
        seen["started"] = True
        for _ in range(1000):  # the SSE loop: until the client leaves (10 s at most)
            if await request.is_disconnected():
                seen["left"] = True
                break
            await asyncio.sleep(0.01)
        done.set()
        return {}

    return app


async def _asgi_disconnect(app: Any, body: list[bytes]) -> None:
    """Run ``app`` for one POST over ASGI: body chunks, then ``http.disconnect`` once the handler started."""
    leave = asyncio.Event()
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(body) - 1}
        for i, chunk in enumerate(body)
    ]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/wait",
        "headers": [(b"host", b"t")],
        "query_string": b"",
    }
    task = asyncio.ensure_future(app(scope, receive, send))
    await asyncio.sleep(0.2)
    leave.set()
    await asyncio.wait_for(task, 10)


@pytest.mark.parametrize("with_middleware", [False, True], ids=["plain", "asgi-middleware"])
def test_is_disconnected_sees_the_client_leave(
    front_door: str, serve: Callable[..., httpx.Client], with_middleware: bool
) -> None:
    seen: dict[str, Any] = {}
    done = threading.Event()
    app = _disconnect_app(seen, done, with_middleware)
    if front_door == "asgi":
        asyncio.run(_asgi_disconnect(app, [b"he", b"llo"]))
    else:
        url = serve(app).base_url
        with socket.create_connection((url.host, url.port)) as sock:
            sock.sendall(b"POST /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
            deadline = time.monotonic() + 10
            while not seen.get("started") and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.1)
    assert done.wait(10)
    assert seen == {"before": False, "body": "hello", "after_body": False, "started": True, "left": True}


def test_is_disconnected_in_a_streamed_response(front_door: str, serve: Callable[..., httpx.Client]) -> None:
    """An event stream polling ``is_disconnected()`` while the front door watches the connection too."""
    seen: list[bool] = []
    done = threading.Event()
    app = fulmen.FastAPI()

    @app.post("/wait")
    async def events(request: fulmen.Request) -> fulmen.responses.StreamingResponse:
        async def stream() -> Any:
            try:
                for i in range(1000):
                    gone = await request.is_disconnected()
                    seen.append(gone)
                    if gone:
                        break
                    yield f"data: {i}\n\n"
                    await asyncio.sleep(0.01)
            finally:
                done.set()  # ended by the check above, or cancelled by the front door

        return fulmen.responses.StreamingResponse(stream(), media_type="text/event-stream")

    if front_door == "asgi":
        asyncio.run(_asgi_disconnect(app, [b""]))
    else:
        url = serve(app).base_url
        with socket.create_connection((url.host, url.port)) as sock:
            sock.sendall(b"POST /wait HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            received = b""
            while b"data: 0" not in received:
                chunk = sock.recv(4096)
                assert chunk
                received += chunk
            time.sleep(0.1)
    assert done.wait(10)
    assert len(seen) > 3
    assert not any(seen[:-1])


def test_a_request_made_by_hand_is_never_disconnected() -> None:
    assert asyncio.run(fulmen.Request("GET", b"/", b"", []).is_disconnected()) is False
