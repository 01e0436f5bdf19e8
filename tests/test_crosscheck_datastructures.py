"""Cross-check: Starlette's data structures as FastAPI code uses them (``request.headers``,
``request.query_params``, ``response.headers``, ``MutableHeaders(scope=message)`` in ASGI middleware, forms
and their files' ``repr``), and fulmen's ``MultiDict``/``ImmutableMultiDict`` against Starlette's.
"""

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import starlette.datastructures

import fulmen
import fulmen.datastructures
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import Case, assert_same_as_fastapi, fastapi_answers_for

# The module each framework's users import MutableHeaders, QueryParams... from.
DATASTRUCTURES = {"fastapi": starlette.datastructures, "fulmen": fulmen.datastructures}


def build(fw: Any) -> Any:
    ds = DATASTRUCTURES[fw.__name__]
    app = fw.FastAPI()

    class StampHeaders:
        """Pure ASGI middleware editing the response's start message through ``MutableHeaders(scope=...)``."""

        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            async def stamped(message: Any) -> None:
                if message["type"] == "http.response.start" and scope["path"] == "/stamped":
                    message["headers"] = tuple(message["headers"])  # a tuple becomes the list it writes to
                    headers = ds.MutableHeaders(scope=message)
                    headers.append("x-stamp", "asgi")
                    headers["x-first"] = "replaced"
                await send(message)

            await self.app(scope, receive, stamped)

    app.add_middleware(StampHeaders)

    @app.middleware("http")
    async def edit(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        if request.url.path == "/edited":
            response.headers["x-first"] = "changed"  # keeps its place among the headers
            del response.headers["x-missing"]  # not an error
            del response.headers["x-gone"]
            response.headers.add_vary_header("Cookie")
            headers = response.headers
            headers |= {"x-merged": "yes"}
            copy = headers | {"x-copy-only": "1"}
            response.headers["x-copy-has"] = str("x-copy-only" in copy)
        return response

    def headed() -> Any:
        response = fw.responses.PlainTextResponse("ok")
        response.headers.append("x-first", "1")
        response.headers.append("x-gone", "1")
        response.headers.append("x-last", "1")
        response.headers.append("vary", "Accept")
        response.headers.append("vary", "Origin")
        return response

    app.get("/edited")(headed)
    app.get("/stamped")(headed)

    @app.get("/request-headers")
    def request_headers(request: fw.Request) -> Any:
        copy = request.headers.mutablecopy()
        copy["x-one"] = "changed"
        merged = copy | {"x-new": "1"}
        return {
            "repr": repr(ds.Headers(raw=[(k, v) for k, v in request.headers.raw if k.startswith(b"x-")])),
            "copy": [[k, v] for k, v in copy.items() if k.startswith("x-")],
            "merged": [[k, v] for k, v in merged.items() if k.startswith("x-")],
            "untouched": request.headers.getlist("x-one"),
        }

    @app.get("/query")
    def query(request: fw.Request) -> Any:
        params = request.query_params
        rebuilt = ds.QueryParams(params)
        return {
            "same": rebuilt == params,
            "rebuilt": str(rebuilt),
            "extra": str(ds.QueryParams(params, page=2)),
            "numbers": str(ds.QueryParams({"n": 1, "f": 2.5})),
            "pairs": str(ds.QueryParams([("a", 1), ("a", 2)])),
            "reordered": params == ds.QueryParams(sorted(params.multi_items(), key=lambda kv: kv[1])),
            "keys": list(params.keys()),
            "values": list(params.values()),
            "items": [list(kv) for kv in params.items()],
        }

    @app.post("/form")
    async def form(request: fw.Request) -> Any:
        data = await request.form()
        upload = data["file"]
        await data.close()  # FastAPI leaves a form read through the request open
        return {
            "upload": repr(upload),
            "headers": repr(upload.headers),
            "fields": data.getlist("tag"),
            "equal_to_copy": data == type(data)(data.multi_items()),
            "keys": list(data.keys()),
        }

    @app.get("/paths/{item_id}", name="item")
    def paths(request: fw.Request, item_id: int) -> Any:
        path = request.app.url_path_for("item", item_id=item_id)
        ws_path = request.app.url_path_for("feed")
        return {
            "path": path,
            "is_str": isinstance(path, str),
            "protocols": [path.protocol, ws_path.protocol],
            "absolute": str(path.make_absolute_url("https://example.com/base/")),
            "ws_absolute": str(ws_path.make_absolute_url(base_url=ds.URL("http://example.com"))),
        }

    @app.websocket("/feed", name="feed")
    async def feed(websocket: fw.WebSocket) -> None:
        await websocket.close()  # pragma: no cover

    @app.get("/state")
    def state(request: fw.Request) -> Any:
        request.state["user"] = "ada"
        request.app.state["hits"] = request.app.state["hits"] + 1 if "hits" in request.app.state else 1
        del request.state["user"]
        request.state["role"] = "admin"
        return {
            "attr": request.state.role,
            "keys": [k for k in request.state if k in ("user", "role")],
            "len": len(request.app.state),
            "hits": request.app.state.hits,
        }

    return app


REPEATED = [("x-one", "1"), ("x-one", "2"), ("x-two", "3")]
CASES: list[Case] = [
    ("edited", "GET", "/edited", {}),
    ("stamped", "GET", "/stamped", {}),
    ("request-headers", "GET", "/request-headers", {"headers": REPEATED}),
    ("request-headers-unique", "GET", "/request-headers", {"headers": {"x-one": "1", "x-two": "2"}}),
    ("paths", "GET", "/paths/7", {}),
    ("state", "GET", "/state", {}),
    ("state-again", "GET", "/state", {}),
    ("query", "GET", "/query?b=2&a=1&b=1&e=", {}),
    (
        "form",
        "POST",
        "/form",
        {"files": {"file": ("a.txt", b"data", "text/plain")}, "data": {"tag": ["x", "y"]}},
    ),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> Any:
    return fastapi_answers_for(build, CASES)


def test_datastructures_as_in_fastapi(serve: Callable[..., httpx.Client], fastapi_answers: Any) -> None:
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


def _app_headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k.startswith("x-") or k == "vary"]


@pytest.mark.parametrize("path", ["/edited", "/stamped"])
def test_header_order_as_in_fastapi(serve: Callable[..., httpx.Client], path: str) -> None:
    """Setting a header keeps its line where it was (the answers above compare headers as sets)."""
    import fastapi

    with TestClient(build(fastapi)) as client:
        expected = _app_headers(client.get(path))
    assert _app_headers(serve(build(fulmen)).get(path)) == expected


def _exercise(ds: Any) -> list[Any]:
    """The same operations on a module's MultiDict/ImmutableMultiDict, and what each gave."""
    out: list[Any] = []
    frozen = ds.ImmutableMultiDict([("a", 1), ("b", 2), ("a", 3)], c=4)
    out += [frozen["a"], frozen.getlist("a"), frozen.multi_items(), list(frozen.items()), repr(frozen)]
    out += [frozen == ds.ImmutableMultiDict([("b", 2), ("a", 1), ("a", 3), ("c", 4)]), frozen == {"a": 3}]
    out.append(frozen == ds.ImmutableMultiDict([("a", 3), ("a", 1), ("b", 2), ("c", 4)]))
    out.append(ds.ImmutableMultiDict(frozen).multi_items())
    md = ds.MultiDict([("a", 1), ("b", 2), ("a", 3)])
    md["a"] = 9
    out.append(md.multi_items())
    md.append("b", 5)
    out += [md.multi_items(), md.getlist("b"), md.poplist("b"), md.multi_items()]
    md.setlist("c", [1, 2])
    out += [md.multi_items(), md.setdefault("c", 0), md.setdefault("d", 7), md.multi_items()]
    md.update([("c", 3), ("e", 4)], f=5)
    out += [md.multi_items(), md.pop("zz", "dflt"), md.pop("c"), md.popitem(), md.multi_items()]
    del md["a"]
    out.append(md.multi_items())
    md.setlist("d", [])
    out.append(md.multi_items())
    md.clear()
    out += [md.multi_items(), len(md), repr(md)]
    return out


def test_multidict_as_starlette() -> None:
    assert _exercise(fulmen.datastructures) == _exercise(starlette.datastructures)
