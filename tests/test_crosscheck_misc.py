"""Cross-check against FastAPI 0.165: behaviour corners (security on WebSockets, custom Request classes,
exception handlers, empty bodies, docs pages) answer as FastAPI does.

The apps are written once as a function of the framework package (``fastapi`` or ``fulmen``); FastAPI's
answers come in-process through its TestClient, fulmen's through its own (and every front door where the
behaviour is HTTP).

No ``from __future__ import annotations`` here: FastAPI must resolve the handlers' annotations.
"""

import asyncio
import datetime
import gzip
import pathlib
import urllib.parse
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import fastapi
import fastapi.security
import pydantic
import pytest

import fulmen
import fulmen.security
from fulmen.testclient import TestClient, WebSocketDenialResponse

with warnings.catch_warnings():
    # Starlette 1.0 deprecates its httpx-based TestClient (use httpx2); FastAPI's tests still import it.
    warnings.simplefilter("ignore")
    from starlette.testclient import WebSocketDenialResponse as StarletteDenial

SECURITY_SCHEMES: dict[str, Callable[[Any, bool], Any]] = {
    "http-basic": lambda fw, auto: fw.security.HTTPBasic(auto_error=auto),
    "http-bearer": lambda fw, auto: fw.security.HTTPBearer(auto_error=auto),
    "api-key-header": lambda fw, auto: fw.security.APIKeyHeader(name="key", auto_error=auto),
    "api-key-cookie": lambda fw, auto: fw.security.APIKeyCookie(name="key", auto_error=auto),
    "oauth2-password": lambda fw, auto: fw.security.OAuth2PasswordBearer(tokenUrl="/t", auto_error=auto),
}


def _secured_websocket_app(fw: Any, scheme: str, auto_error: bool) -> Any:
    security = SECURITY_SCHEMES[scheme](fw, auto_error)
    app = fw.FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: fw.WebSocket, credentials: Any = fw.Security(security)) -> None:
        await websocket.accept()
        await websocket.send_json(fw.encoders.jsonable_encoder(credentials))
        await websocket.close()

    return app


def _denial(client: Any) -> tuple[int, str | None, Any]:
    with pytest.raises(StarletteDenial) as info, client.websocket_connect("/ws"):
        pass  # pragma: no cover - the handshake is refused
    return info.value.status_code, info.value.headers.get("www-authenticate"), info.value.json()


@pytest.mark.parametrize("scheme", sorted(SECURITY_SCHEMES))
def test_missing_websocket_credentials_are_a_starlette_denial(scheme: str) -> None:
    """Security on a WebSocket: a 401 denial that ``starlette.testclient.WebSocketDenialResponse`` catches."""
    with TestClient(_secured_websocket_app(fastapi, scheme, True)) as reference:
        expected = _denial(reference)
    with TestClient(_secured_websocket_app(fulmen, scheme, True)) as client:
        assert _denial(client) == expected
        with pytest.raises(WebSocketDenialResponse), client.websocket_connect("/ws"):
            pass  # pragma: no cover
    with (
        TestClient(_secured_websocket_app(fulmen, scheme, False)) as client,
        client.websocket_connect("/ws") as session,
    ):
        assert session.receive_json() is None


# -- custom Request and APIRoute classes ---------------------------------------------------------------------
def _answer(response: Any) -> tuple[int, str | None, Any]:
    return response.status_code, response.headers.get("content-type"), response.json()


def _custom_route_app(fw: Any) -> Any:
    class GzipRequest(fw.Request):  # type: ignore[misc,name-defined]
        async def body(self) -> bytes:
            if not hasattr(self, "_body"):
                body = await super().body()
                if "gzip" in self.headers.getlist("Content-Encoding"):
                    body = gzip.decompress(body)
                self._body = body
            return self._body  # type: ignore[no-any-return]

    class GzipRoute(fw.routing.APIRoute):  # type: ignore[misc,name-defined]
        def get_route_handler(self) -> Callable[..., Any]:
            original = super().get_route_handler()

            async def handler(request: Any) -> Any:
                return await original(GzipRequest(request.scope, request.receive))

            return handler

    class ErrorBodyRoute(fw.routing.APIRoute):  # type: ignore[misc,name-defined]
        def get_route_handler(self) -> Callable[..., Any]:
            original = super().get_route_handler()

            async def handler(request: Any) -> Any:
                try:
                    return await original(request)
                except fw.exceptions.RequestValidationError as exc:
                    body = await request.body()
                    raise fw.HTTPException(422, {"errors": exc.errors(), "body": body.decode()}) from None
                except fw.HTTPException as exc:
                    if exc.status_code == 418:
                        return fw.responses.JSONResponse({"caught": exc.detail}, status_code=200)
                    raise

            return handler

    app = fw.FastAPI()
    gzipped = fw.APIRouter(route_class=GzipRoute)
    logged = fw.APIRouter(route_class=ErrorBodyRoute)

    @gzipped.post("/sum")
    async def sum_numbers(numbers: list[int] = fw.Body()) -> Any:
        return {"sum": sum(numbers)}

    @gzipped.get("/class/{item}")
    async def request_class(item: int, request: fw.Request, q: str = "") -> Any:
        return {"class": type(request).__name__, "item": item, "q": q, "path": request.url.path}

    @logged.post("/strict")
    async def strict(numbers: list[int] = fw.Body()) -> Any:
        return sum(numbers)

    @logged.get("/raise/{code}")
    async def raise_code(code: int) -> Any:
        raise fw.HTTPException(code, "raised")

    app.include_router(gzipped)
    app.include_router(logged)
    return app


CUSTOM_ROUTE_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/sum", {"content": gzip.compress(b"[1, 2, 3]"), "headers": {"Content-Encoding": "gzip"}}),
    ("POST", "/sum", {"content": b"[4, 5]", "headers": {"Content-Type": "application/json"}}),
    ("POST", "/sum", {"content": gzip.compress(b"{}"), "headers": {"Content-Encoding": "gzip"}}),
    ("GET", "/class/7?q=x", {}),
    ("GET", "/class/nope", {}),
    ("POST", "/strict", {"json": [1, 2]}),
    ("POST", "/strict", {"json": {"numbers": [1]}}),
    ("GET", "/raise/418", {}),
    ("GET", "/raise/404", {}),
]


def test_custom_request_and_route_classes(serve: Callable[..., Any]) -> None:
    """``MyRequest(request.scope, request.receive)`` reads the body; a route wrapper sees raised errors."""
    with TestClient(_custom_route_app(fastapi)) as reference:
        expected = [_answer(reference.request(m, url, **kw)) for m, url, kw in CUSTOM_ROUTE_CALLS]
    client = serve(_custom_route_app(fulmen))
    assert [_answer(client.request(m, url, **kw)) for m, url, kw in CUSTOM_ROUTE_CALLS] == expected


def _scope_guard_app(fw: Any) -> Any:
    class Guard:
        """Pure ASGI middleware that reads the request through ``Request(scope, receive)``."""

        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                request = fw.Request(scope, receive)
                if request.query_params.get("key") != "open":
                    detail = {"path": request.url.path, "agent": request.headers.get("x-agent")}
                    await fw.responses.JSONResponse(detail, status_code=403)(scope, receive, send)
                    return
                if request.method == "PUT":
                    body = await request.body()
                    await fw.responses.JSONResponse({"echo": body.decode()})(scope, receive, send)
                    return
            await self.app(scope, receive, send)

    app = fw.FastAPI()
    app.add_middleware(Guard)

    @app.get("/inside")
    async def inside() -> Any:
        return {"ok": True}

    return app


SCOPE_GUARD_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/inside?key=open", {}),
    ("GET", "/inside", {"headers": {"x-agent": "007"}}),
    ("PUT", "/anything?key=open", {"content": b"hello"}),
]


def test_request_built_from_an_asgi_scope(serve: Callable[..., Any]) -> None:
    """Starlette's ``Request(scope, receive)`` works in pure ASGI middleware, body included."""
    with TestClient(_scope_guard_app(fastapi)) as reference:
        expected = [_answer(reference.request(m, url, **kw)) for m, url, kw in SCOPE_GUARD_CALLS]
    client = serve(_scope_guard_app(fulmen))
    assert [_answer(client.request(m, url, **kw)) for m, url, kw in SCOPE_GUARD_CALLS] == expected


# -- OpenAPI: unannotated parameters -------------------------------------------------------------------------
def _unannotated_app(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/path/{item_id}")
    def by_path(item_id):
        return item_id

    @app.get("/query")
    def by_query(query, optional=None, marked=fw.Query(default=None)):
        return [query, optional, marked]

    return app


def test_unannotated_parameters_in_openapi() -> None:
    """An unannotated parameter is ``Any``: its schema has only a title, as in FastAPI."""
    app = _unannotated_app(fulmen)
    assert app.openapi() == _unannotated_app(fastapi).openapi()
    with TestClient(app) as client:
        assert client.get("/query?query=1&marked=2").json() == ["1", None, "2"]


# -- Starlette's responses from endpoints and exception handlers ---------------------------------------------
def _starlette_responses_app(fw: Any, file_path: str) -> Any:
    from starlette import responses as sr

    def on_http_error(request: Any, exc: Any) -> Any:
        return sr.JSONResponse({"handled": exc.detail}, status_code=exc.status_code, headers={"x-h": "1"})

    async def on_invalid(request: Any, exc: Any) -> Any:
        return sr.PlainTextResponse("invalid", status_code=400)

    def on_crash(request: Any, exc: Any) -> Any:
        return sr.JSONResponse({"crash": str(exc)}, status_code=500)

    app = fw.FastAPI(
        exception_handlers={
            fw.HTTPException: on_http_error,
            fw.exceptions.RequestValidationError: on_invalid,
            Exception: on_crash,
        }
    )

    class Item(pydantic.BaseModel):
        name: str

    @app.get("/json")
    def json_response() -> Any:
        response = sr.JSONResponse({"a": 1}, status_code=201, headers={"x-extra": "yes"})
        response.set_cookie("flavour", "oat")
        return response

    @app.get("/redirect")
    def redirect() -> Any:
        return sr.RedirectResponse("/json")

    @app.get("/stream")
    def stream() -> Any:
        return sr.StreamingResponse(iter([b"one ", b"two"]), media_type="text/plain")

    @app.get("/file")
    def file() -> Any:
        return sr.FileResponse(file_path, filename="notes.txt")

    @app.get("/model", response_model=Item)
    def with_model() -> Any:
        return sr.JSONResponse({"not": "an item"})

    @app.get("/empty", status_code=204)
    def empty():  # type: ignore[no-untyped-def]  # no return annotation: a 204 route has no response model
        return sr.Response(status_code=202)

    @app.get("/html", response_class=fw.responses.HTMLResponse)
    def html() -> Any:
        return sr.HTMLResponse("<p>hi</p>", status_code=203)

    @app.get("/http-error")
    def http_error() -> Any:
        raise fw.HTTPException(409, "taken")

    @app.get("/invalid/{number}")
    def invalid(number: int) -> Any:
        return number  # pragma: no cover

    @app.get("/crash")
    def crash() -> Any:
        raise RuntimeError("boom")

    return app


STARLETTE_RESPONSE_PATHS = [
    "/json",
    "/redirect",
    "/stream",
    "/file",
    "/model",
    "/empty",
    "/html",
    "/http-error",
    "/invalid/x",
    "/crash",
]
_SERVER_HEADERS = frozenset({"date", "server", "connection", "keep-alive", "transfer-encoding"})


def _full_answer(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in response.headers.items() if k not in _SERVER_HEADERS}
    if "content-length" not in headers or response.status_code in (204, 304):
        headers.pop("content-length", None)
    return response.status_code, headers, response.content


def test_starlette_responses_from_endpoints_and_handlers(
    serve: Callable[..., Any], tmp_path: pathlib.Path
) -> None:
    """Starlette's own response classes (FastAPI's are the same) are sent as they are, not as JSON data."""
    path = tmp_path / "notes.txt"
    path.write_text("some notes\n")
    with TestClient(_starlette_responses_app(fastapi, str(path)), raise_server_exceptions=False) as reference:
        expected = [_full_answer(reference.get(p, follow_redirects=False)) for p in STARLETTE_RESPONSE_PATHS]
    client = serve(_starlette_responses_app(fulmen, str(path)))
    got = [_full_answer(client.get(p, follow_redirects=False)) for p in STARLETTE_RESPONSE_PATHS]
    assert dict(zip(STARLETTE_RESPONSE_PATHS, got, strict=True)) == dict(
        zip(STARLETTE_RESPONSE_PATHS, expected, strict=True)
    )


def _starlette_response_class_app(fw: Any) -> Any:
    from starlette import responses as sr

    class Point(pydantic.BaseModel):
        x: int
        when: datetime.date

    app = fw.FastAPI()
    router = fw.APIRouter(default_response_class=sr.JSONResponse)

    @router.get("/data")
    def data() -> Any:
        return {"when": datetime.date(2024, 1, 2), "n": 1}

    @router.get("/point", response_model=Point, responses={400: {"model": Point}})
    def point() -> Any:
        return {"x": "3", "when": "2024-01-02", "extra": True}

    @app.get("/text", response_class=sr.PlainTextResponse, status_code=202)
    def text() -> Any:
        return "plain"

    app.include_router(router)
    return app


def test_starlette_response_classes_as_response_class(serve: Callable[..., Any]) -> None:
    """Starlette's classes as ``response_class=`` / ``default_response_class=``: same answers and OpenAPI."""
    paths = ["/data", "/point", "/text"]
    reference_app = _starlette_response_class_app(fastapi)
    with TestClient(reference_app) as reference:
        expected = [_full_answer(reference.get(p)) for p in paths]
    app = _starlette_response_class_app(fulmen)
    assert app.openapi() == reference_app.openapi()
    client = serve(app)
    assert [_full_answer(client.get(p)) for p in paths] == expected


# -- scope["route"] and scope["endpoint"] --------------------------------------------------------------------
def _route_scope_app(fw: Any) -> Any:
    def describe(scope: Any) -> Any:
        route = scope["route"]
        return {
            "path": route.path,
            "name": route.name,
            "route_class": type(route).__name__,
            "endpoint": scope["endpoint"].__name__,
        }

    app = fw.FastAPI()
    router = fw.APIRouter(prefix="/users")
    sub = fw.FastAPI()

    @router.get("/{user_id}")
    async def get_user(user_id: str, request: fw.Request) -> Any:
        return describe(request.scope)

    @app.put("/items/{item_id:path}", name="put-item")
    def put_item(item_id: str, request: fw.Request) -> Any:
        return describe(request.scope)

    @sub.get("/inner")
    def inner(request: fw.Request) -> Any:
        return describe(request.scope)

    @app.websocket("/ws/{room}")
    async def room(room: str, websocket: fw.WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(describe(websocket.scope))
        await websocket.close()

    app.include_router(router)
    app.mount("/sub", sub)
    return app


ROUTE_SCOPE_CALLS = [("GET", "/users/ann"), ("PUT", "/items/a/b"), ("GET", "/sub/inner")]


def test_route_and_endpoint_in_the_scope(serve: Callable[..., Any]) -> None:
    """``request.scope["route"]`` is the matched route (``.path`` the template), as FastAPI sets it."""
    with TestClient(_route_scope_app(fastapi)) as reference:
        expected = [reference.request(m, p).json() for m, p in ROUTE_SCOPE_CALLS]
        with reference.websocket_connect("/ws/blue") as session:
            expected.append(session.receive_json())
    app = _route_scope_app(fulmen)
    client = serve(app)
    assert [client.request(m, p).json() for m, p in ROUTE_SCOPE_CALLS] == expected[:-1]
    with TestClient(app).websocket_connect("/ws/blue") as session:
        assert session.receive_json() == expected[-1]


# -- responses={...: {"model": ...}} is checked at declaration --------------------------------------------
class _NotAModel:
    pass


@pytest.mark.parametrize("model", [_NotAModel, list[_NotAModel]], ids=["class", "list"])
def test_invalid_model_in_responses_is_a_declaration_error(model: Any) -> None:
    """As FastAPI: a ``responses`` model that can't be a pydantic field fails when the route is declared."""
    for fw in (fastapi, fulmen):
        app = fw.FastAPI()
        with pytest.raises(fw.exceptions.FastAPIError):
            app.get("/", responses={"500": {"model": model}})(lambda: None)
    app = fulmen.FastAPI()
    app.get("/", responses={404: {"model": dict[str, int]}, 500: {"description": "no model"}})(lambda: None)


# -- an explicit HEAD route beside a GET route -------------------------------------------------------------
def _head_routes_app(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/after/{item_id}")
    def get_after(item_id: str) -> Any:
        return {"item_id": item_id}

    @app.head("/after/{item_id}")
    def head_after(item_id: str) -> Any:
        return fw.responses.JSONResponse(None, headers={"x-item": item_id})

    @app.head("/before")
    def head_before() -> Any:
        return fw.responses.Response(headers={"x-head": "own"})

    @app.get("/before")
    def get_before() -> Any:
        return {"get": True}

    return app


def test_a_head_route_answers_head_beside_a_get_route(serve: Callable[..., Any]) -> None:
    """fulmen answers HEAD on GET routes; a route declared for HEAD on the same path answers it (FastAPI's
    only answer). A HEAD answer's body is not compared: a server drops it, an in-process client may not."""
    calls = [("HEAD", "/after/foo"), ("GET", "/after/foo"), ("HEAD", "/before"), ("GET", "/before")]

    def answers(client: Any) -> list[Any]:
        return [_full_answer(client.request(m, p))[: 2 if m == "HEAD" else 3] for m, p in calls]

    with TestClient(_head_routes_app(fastapi)) as reference:
        expected = answers(reference)
    assert answers(serve(_head_routes_app(fulmen))) == expected


# -- body-less statuses ------------------------------------------------------------------------------------
def _no_body_app(fw: Any) -> Any:
    class JsonApiResponse(fw.responses.JSONResponse):  # type: ignore[misc,name-defined]
        media_type = "application/vnd.api+json"

    def set_status(response: fw.Response, to: int = 0) -> None:
        if to:
            response.status_code = to

    app = fw.FastAPI()

    @app.get("/class-204", status_code=204, response_class=JsonApiResponse)
    async def class_204() -> None:
        return None

    @app.get("/html-204", status_code=204, response_class=fw.responses.HTMLResponse)
    async def html_204():  # type: ignore[no-untyped-def]
        return "<p>dropped</p>"

    @app.delete("/{item_id}", status_code=204, response_model=None)
    async def delete(item_id: int, response: fw.Response, to: int = 0) -> Any:
        if to:
            response.status_code = to
        return {"id": item_id}

    @app.post("/dep", status_code=204, response_model=None, dependencies=[fw.Depends(set_status)])
    async def by_dependency() -> Any:
        return {"from": "dependency"}

    @app.get("/to-304", response_model=None)
    async def to_304(response: fw.Response) -> Any:
        response.status_code = 304
        return {"dropped": True}

    return app


NO_BODY_CALLS = [
    ("GET", "/class-204"),
    ("GET", "/html-204"),
    ("DELETE", "/1"),
    ("DELETE", "/1?to=400"),
    ("DELETE", "/1?to=200"),
    ("POST", "/dep"),
    ("POST", "/dep?to=409"),
    ("GET", "/to-304"),
]


def test_body_less_statuses_after_rendering(serve: Callable[..., Any]) -> None:
    """A 204 route sends no body, but one whose injected ``response`` sets another status sends the data."""
    with TestClient(_no_body_app(fastapi)) as reference:
        expected = [_full_answer(reference.request(m, p)) for m, p in NO_BODY_CALLS]
    client = serve(_no_body_app(fulmen))
    got = [_full_answer(client.request(m, p)) for m, p in NO_BODY_CALLS]
    assert dict(zip(NO_BODY_CALLS, got, strict=True)) == dict(zip(NO_BODY_CALLS, expected, strict=True))


# -- an empty path on a router -------------------------------------------------------------------------------
def _empty_path_app(fw: Any) -> tuple[Any, Any]:
    router = fw.APIRouter()

    @router.get("")
    def get_empty() -> Any:
        return ["OK"]

    app = fw.FastAPI()
    app.include_router(router, prefix="/prefix")
    return app, router


def test_empty_path_under_an_include_prefix(serve: Callable[..., Any]) -> None:
    """``@router.get("")`` is the prefix itself; included without a prefix it is a declaration error."""
    reference_app, reference_router = _empty_path_app(fastapi)
    calls = ["/prefix", "/prefix/"]
    with TestClient(reference_app) as reference:
        expected = [_full_answer(reference.get(p, follow_redirects=False)) for p in calls]
    app, router = _empty_path_app(fulmen)
    assert app.openapi() == reference_app.openapi()
    client = serve(app)
    got = [_full_answer(client.get(p, follow_redirects=False)) for p in calls]
    for answer in (*got, *expected):  # absolute, with the host each server saw: compare the path
        if "location" in answer[1]:
            answer[1]["location"] = urllib.parse.urlsplit(answer[1]["location"]).path
    assert got == expected
    for fw, unprefixed in ((fastapi, reference_router), (fulmen, router)):
        with pytest.raises(fw.exceptions.FastAPIError, match="Prefix and path cannot be both empty"):
            fw.FastAPI().include_router(unprefixed)


# -- Starlette-style routes: router.route() / add_route() ----------------------------------------------------
def _plain_routes_app(fw: Any) -> Any:
    def refuse() -> None:
        raise fw.HTTPException(403, "router dependency")

    router = fw.APIRouter(prefix="/r", dependencies=[fw.Depends(refuse)])

    @router.route("/items/")
    def read_items(request):  # type: ignore[no-untyped-def]  # Starlette's endpoints take it unannotated
        return fw.responses.JSONResponse({"hello": request.url.path, "q": request.query_params.get("q")})

    async def echo(request: Any) -> Any:
        return fw.responses.PlainTextResponse((await request.body()).decode(), status_code=201)

    router.add_route("/echo", echo, methods=["POST"], name="echo-route")

    @router.get("/guarded")
    def guarded() -> Any:
        return "never"  # pragma: no cover

    app = fw.FastAPI()
    app.include_router(router, prefix="/v1")

    async def top(request: Any) -> Any:
        return fw.responses.JSONResponse({"method": request.method})

    app.add_route("/top", top, methods=["GET", "PUT"])
    return app


PLAIN_ROUTE_CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/items/?q=1", {}),  # the router's prefix is not applied to these, as in FastAPI
    ("GET", "/v1/r/items/", {}),
    ("POST", "/v1/echo", {"content": b"body"}),
    ("GET", "/v1/echo", {}),
    ("GET", "/v1/r/guarded", {}),
    ("PUT", "/top", {}),
    ("GET", "/top", {}),
]


def test_starlette_style_routes(serve: Callable[..., Any]) -> None:
    """``router.route()`` / ``add_route()``: the endpoint gets the request; no dependencies, no OpenAPI."""
    reference_app = _plain_routes_app(fastapi)
    with TestClient(reference_app) as reference:
        expected = [_full_answer(reference.request(m, p, **kw)) for m, p, kw in PLAIN_ROUTE_CALLS]
    app = _plain_routes_app(fulmen)
    assert app.openapi() == reference_app.openapi()
    client = serve(app)
    assert [_full_answer(client.request(m, p, **kw)) for m, p, kw in PLAIN_ROUTE_CALLS] == expected
    assert app.url_path_for("echo-route") == reference_app.url_path_for("echo-route")


# -- generator endpoints that never await ----------------------------------------------------------------
def _endless_streams_app() -> Any:
    app = fulmen.FastAPI()

    @app.get("/raw", response_class=fulmen.responses.StreamingResponse)
    async def raw() -> AsyncIterator[str]:
        i = 0
        while True:  # never awaits
            yield f"item {i}\n"
            i += 1

    @app.get("/jsonl")
    async def jsonl() -> AsyncIterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    return app


@pytest.mark.timeout(20)
@pytest.mark.parametrize("path", ["/raw", "/jsonl"])
def test_a_generator_that_never_awaits_can_be_cancelled(path: str) -> None:
    """As FastAPI: the stream gives the event loop a turn per item, so a cancellation (a timeout, the
    server shutting down) reaches an endless generator that never awaits."""
    app = _endless_streams_app()
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(3600)  # a client that never disconnects
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(app(scope, receive, send), timeout=0.3)

    asyncio.run(main())
    assert len(chunks) > 1


# -- Starlette's WebSocketDisconnect ----------------------------------------------------------------------
def test_starlette_websocket_disconnect_is_caught() -> None:
    """``except starlette.websockets.WebSocketDisconnect`` in an endpoint sees the client leave, and the
    TestClient's close is Starlette's class too, as with FastAPI (whose class is Starlette's)."""
    from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

    seen: list[Any] = []
    app = fulmen.FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: fulmen.WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.receive_text()
        except StarletteDisconnect as exc:
            seen.append((exc.code, isinstance(exc, fulmen.WebSocketDisconnect)))

    @app.websocket("/closes")
    async def closes(websocket: fulmen.WebSocket) -> None:
        await websocket.accept()
        await websocket.close(4001, "bye")

    with TestClient(app) as client:
        with client.websocket_connect("/ws") as session:
            session.send_text("hi")
            session.close(4000)
        with (
            client.websocket_connect("/closes") as session,
            pytest.raises(StarletteDisconnect) as closed,
        ):
            session.receive_text()
    assert seen == [(4000, True)]
    assert (closed.value.code, closed.value.reason) == (4001, "bye")


def _middleware_answers_app(fw: Any, asgi_layer: bool) -> Any:
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import JSONResponse as StarletteJSON

    app = fw.FastAPI()

    @app.middleware("http")
    async def gate(request: Any, call_next: Any) -> Any:
        if request.url.path == "/blocked":
            return StarletteJSON({"blocked": True}, status_code=403, headers={"x-gate": "1"})
        return await call_next(request)

    if asgi_layer:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=["*"])

    @app.get("/ok")
    def ok() -> Any:
        return {"ok": True}

    return app


@pytest.mark.parametrize("asgi_layer", [False, True], ids=["native", "with-asgi-middleware"])
def test_http_middleware_answers_with_a_starlette_response(
    serve: Callable[..., Any], asgi_layer: bool
) -> None:
    """An ``@app.middleware("http")`` function may answer with Starlette's response class, as in FastAPI."""
    calls = ["/blocked", "/ok"]
    with TestClient(_middleware_answers_app(fastapi, asgi_layer)) as reference:
        expected = [_full_answer(reference.get(p)) for p in calls]
    client = serve(_middleware_answers_app(fulmen, asgi_layer))
    assert [_full_answer(client.get(p)) for p in calls] == expected


def test_a_request_made_inside_a_wrapped_handler_is_answered() -> None:
    """Only the wrapped request's errors reach the route class's wrapper; a request the endpoint makes to
    the app in-process (same task context) is answered by the app's handlers as usual."""
    import httpx

    class Passthrough(fulmen.routing.APIRoute):
        def get_route_handler(self) -> Callable[..., Any]:
            original = super().get_route_handler()

            async def handler(request: Any) -> Any:
                return await original(request)

            return handler

    app = fulmen.FastAPI()
    router = fulmen.APIRouter(route_class=Passthrough)

    @app.get("/missing")
    async def missing() -> Any:
        raise fulmen.HTTPException(404, "nothing here")

    @router.get("/outer")
    async def outer() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://inner") as inner:
            answer = await inner.get("/missing")
        return {"inner": answer.status_code, "body": answer.json()}

    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/outer").json() == {"inner": 404, "body": {"detail": "nothing here"}}
