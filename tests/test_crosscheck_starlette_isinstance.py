"""Cross-check: fulmen's requests, responses, WebSockets and uploaded files pass ``isinstance`` checks
against Starlette's classes, as libraries written for FastAPI require (slowapi's ``@limiter.limit`` refuses a
request that isn't a ``starlette.requests.Request``; fastapi-csrf-protect and fastapi-cache2 check responses
the same way)."""

import functools
import inspect
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import starlette.datastructures
import starlette.requests
import starlette.responses
import starlette.websockets

import fulmen
import fulmen.responses
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


def stamped(func: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator in the style of slowapi's: it finds ``request``/``response`` among the endpoint's keyword
    arguments, refuses anything that isn't Starlette's, and stamps a header on the response it will send."""

    def check(kwargs: dict[str, Any]) -> starlette.responses.Response | None:
        request = kwargs["request"]
        if not isinstance(request, starlette.requests.Request):
            raise TypeError(f"not a Starlette request: {type(request)!r}")
        response = kwargs.get("response")
        if response is not None and not isinstance(response, starlette.responses.Response):
            raise TypeError(f"not a Starlette response: {type(response)!r}")
        return response

    def stamp(result: Any, injected: starlette.responses.Response | None, path: str) -> Any:
        target = result if isinstance(result, starlette.responses.Response) else injected
        if target is not None:
            target.headers.append("X-Stamp", path)
        return result

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            injected = check(kwargs)
            return stamp(await func(*args, **kwargs), injected, kwargs["request"].url.path)

        return async_wrapper

    @functools.wraps(func)
    def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
        injected = check(kwargs)
        return stamp(func(*args, **kwargs), injected, kwargs["request"].url.path)

    return sync_wrapper


def build(fw: Any) -> Any:
    app = fw.FastAPI()
    responses = fw.responses

    @app.get("/injected")
    @stamped
    async def injected(request: fw.Request, response: fw.Response, q: int = 0) -> Any:
        return {"q": q}

    @app.get("/sync-injected")
    @stamped
    def sync_injected(request: fw.Request, response: fw.Response) -> Any:
        return {"sync": True}

    @app.get("/returned/{kind}")
    @stamped
    async def returned(request: fw.Request, kind: str) -> Any:
        classes = {
            "plain": responses.PlainTextResponse,
            "json": responses.JSONResponse,
            "html": responses.HTMLResponse,
            "base": responses.Response,
        }
        return classes[kind]("hi" if kind != "json" else {"hi": 1})

    @app.post("/upload")
    async def upload(file: fw.UploadFile) -> Any:
        # Form-handling libraries tell files from fields with Starlette's class.
        return {"starlette": isinstance(file, starlette.datastructures.UploadFile), "name": file.filename}

    @app.get("/kinds")
    async def kinds() -> Any:
        # fastapi-cache2 picks its coder by the class of what the endpoint returned.
        made = {
            "json": responses.JSONResponse({}),
            "plain": responses.PlainTextResponse(""),
            "redirect": responses.RedirectResponse("/x"),
            "streaming": responses.StreamingResponse(iter([b""])),
        }
        names = ("JSONResponse", "PlainTextResponse", "RedirectResponse", "StreamingResponse")
        return {
            made_name: [name for name in names if isinstance(obj, getattr(starlette.responses, name))]
            for made_name, obj in made.items()
        }

    return app


CASES: list[Case] = [
    ("injected", "GET", "/injected?q=3", {}),
    ("injected-invalid", "GET", "/injected?q=x", {}),
    ("sync-injected", "GET", "/sync-injected", {}),
    ("returned-plain", "GET", "/returned/plain", {}),
    ("returned-json", "GET", "/returned/json", {}),
    ("returned-html", "GET", "/returned/html", {}),
    ("returned-base", "GET", "/returned/base", {}),
    ("kinds", "GET", "/kinds", {}),
    ("upload", "POST", "/upload", {"files": {"file": ("a.txt", b"hi", "text/plain")}}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build, CASES)


def test_starlette_isinstance_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert dict(fastapi_answers["injected"].headers)["x-stamp"] == "/injected"
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


def test_websocket_is_starlettes() -> None:
    app = fulmen.FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: fulmen.WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "websocket": isinstance(websocket, starlette.websockets.WebSocket),
                "connection": isinstance(websocket, starlette.requests.HTTPConnection),
            }
        )
        await websocket.close()

    with TestClient(app) as client, client.websocket_connect("/ws") as conn:
        assert conn.receive_json() == {"websocket": True, "connection": True}


def test_types_are_unchanged() -> None:
    """Only ``isinstance`` against Starlette's classes changes: the real type, fulmen's own checks and
    ``__class__`` assignment behave as before."""
    response = fulmen.responses.JSONResponse({"a": 1})
    assert type(response) is fulmen.responses.JSONResponse
    assert isinstance(response, fulmen.responses.JSONResponse)
    assert isinstance(response, starlette.responses.JSONResponse)
    assert not isinstance(response, starlette.responses.PlainTextResponse)
    assert not isinstance(response, fulmen.responses.PlainTextResponse)
    assert response.__class__.__name__ == "JSONResponse"
    assert issubclass(response.__class__, fulmen.responses.JSONResponse)
    assert type(response).__name__ == "JSONResponse"

    class Custom(fulmen.responses.PlainTextResponse):
        __slots__ = ()

    custom = Custom("x")
    assert isinstance(custom, starlette.responses.PlainTextResponse)
    assert isinstance(custom, Custom)
    custom.__class__ = fulmen.responses.PlainTextResponse
    assert type(custom) is fulmen.responses.PlainTextResponse

    request = fulmen.Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    assert isinstance(request, starlette.requests.Request)
    assert isinstance(request, starlette.requests.HTTPConnection)
    assert type(request) is fulmen.Request


def test_responses_still_pickle_and_copy() -> None:
    """Passing Starlette's ``isinstance`` must not break pickle (it compares ``__class__`` with the class it
    rebuilds) or copies: a cache that pickles a returned response gets fulmen's class back."""
    import copy
    import pickle

    import starlette.responses

    from fulmen.responses import JSONResponse, Response

    original = JSONResponse({"a": 1}, status_code=201, headers={"x-k": "v"})
    for clone in (pickle.loads(pickle.dumps(original)), copy.copy(original), copy.deepcopy(original)):
        assert type(clone) is JSONResponse and isinstance(clone, starlette.responses.JSONResponse)
        assert (clone.status_code, clone.body, clone.raw_headers) == (201, b'{"a":1}', original.raw_headers)
    plain = pickle.loads(pickle.dumps(Response(b"x", media_type="text/plain")))
    assert (type(plain), plain.body) == (Response, b"x")
