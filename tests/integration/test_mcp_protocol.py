"""The MCP endpoint's protocol rules, as raw HTTP through every front door (engine, ASGI, uvicorn).

JSON-RPC errors and their codes, protocol-version and Origin checks, GET/DELETE, notifications, batches
(2025-03-26 only), sessions, and the errors a wrong declaration raises at start-up.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest

from fulmen import Body, Cookie, Depends, FastAPI, Header, HTTPException, Query, Request
from fulmen.integrations.mcp import SUPPORTED_VERSIONS, MCPServer
from fulmen.middleware.cors import CORSMiddleware
from fulmen.responses import JSONResponse
from fulmen.testclient import TestClient
from tests.integration.mcp_apps import shop_app, unit

Serve = Callable[..., httpx.Client]
ACCEPT = "application/json, text/event-stream"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}


def post(
    client: httpx.Client, payload: Any, version: str | None = "2025-06-18", **headers: str
) -> httpx.Response:
    sent = {"accept": ACCEPT, "content-type": "application/json", **headers}
    if version is not None:
        sent["mcp-protocol-version"] = version
    if isinstance(payload, bytes):
        return client.post("/mcp", content=payload, headers=sent)
    return client.post("/mcp", json=payload, headers=sent)


def call(id_: Any, method: str, params: Any = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    return message


def test_initialize_negotiates_the_version(serve: Serve) -> None:
    client = serve(shop_app()[0])
    response = post(client, INIT, version=None)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "mcp-session-id" not in response.headers  # stateless by default
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "shop-mcp", "version": "1.2.3"},
            "instructions": "Use the tools to manage the shop.",
        },
    }
    for asked, answered in [
        ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ]:
        payload = {**INIT, "params": {**INIT["params"], "protocolVersion": asked}}  # type: ignore[dict-item]
        assert post(client, payload, version=None).json()["result"]["protocolVersion"] == answered


def test_json_rpc_errors(serve: Serve) -> None:
    client = serve(shop_app()[0])
    parse = post(client, b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert parse.status_code == 400
    body = parse.json()
    assert body["id"] is None and body["error"]["code"] == -32700

    unknown = post(client, call(7, "resources/list"))
    assert unknown.status_code == 200
    assert unknown.json() == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32601, "message": "Method not found: resources/list"},
    }

    for params in ([1, 2], {"arguments": {}}, {"name": 5}, {"name": "add", "arguments": [1]}):
        bad = post(client, call("x", "tools/call", params)).json()
        assert bad["id"] == "x" and bad["error"]["code"] == -32602, params
    assert post(client, call(3, "tools/call", {"name": "nope"})).json()["error"] == {
        "code": -32602,
        "message": "Unknown tool: nope",
    }
    assert post(client, call(4, "initialize", {"capabilities": {}})).json()["error"]["code"] == -32602

    for message, id_ in [
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, 1),
        ({"id": 2, "method": "ping"}, 2),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": 5, "method": 12}, 5),
        ({"jsonrpc": "2.0", "id": 6}, 6),
        ("ping", None),
    ]:
        answer = post(client, message)
        assert answer.status_code == 200
        assert answer.json()["id"] == id_ and answer.json()["error"]["code"] == -32600, message
    assert post(client, call(9, "ping")).json() == {"jsonrpc": "2.0", "id": 9, "result": {}}


def test_protocol_version_header(serve: Serve) -> None:
    client = serve(shop_app()[0])
    wrong = post(client, call(1, "tools/list"), version="2024-01-01")
    assert wrong.status_code == 400
    error = wrong.json()["error"]
    assert error["code"] == -32600 and "2024-01-01" in error["message"]
    assert error["data"] == {"supported": list(SUPPORTED_VERSIONS)}
    for version in SUPPORTED_VERSIONS:
        assert post(client, call(1, "tools/list"), version=version).status_code == 200
    # Without the header the spec says to assume 2025-03-26: no titles or output schemas then.
    old = post(client, call(1, "tools/list"), version=None).json()["result"]["tools"]
    new = post(client, call(1, "tools/list"), version="2025-06-18").json()["result"]["tools"]
    assert not any("outputSchema" in t or "title" in t for t in old)
    assert any("outputSchema" in t for t in new) and any("title" in t for t in new)
    result = post(client, call(2, "tools/call", {"name": "add", "arguments": {"a": 1}}), version="2025-03-26")
    assert result.json()["result"] == {"content": [{"type": "text", "text": "3"}]}


def test_origin_validation(serve: Serve) -> None:
    client = serve(shop_app()[0])
    rebound = post(client, call(1, "ping"), origin="http://evil.example")
    assert rebound.status_code == 403
    assert rebound.json()["error"]["code"] == -32600
    for origin in ("http://localhost:6274", "http://127.0.0.1:8000", "http://[::1]:3000"):
        assert post(client, call(1, "ping"), origin=origin).status_code == 200, origin
    assert post(client, call(1, "ping"), origin="null").status_code == 403
    assert client.get("/mcp", headers={"origin": "http://evil.example"}).status_code == 403

    configured = serve(shop_app(allowed_origins=["https://app.example"])[0])
    assert post(configured, call(1, "ping"), origin="https://app.example").status_code == 200
    assert post(configured, call(1, "ping"), origin="http://localhost:6274").status_code == 403
    assert post(configured, call(1, "ping")).status_code == 200  # no Origin: not a browser
    anyone = serve(shop_app(allowed_origins=["*"])[0])
    assert post(anyone, call(1, "ping"), origin="http://evil.example").status_code == 200


def test_get_delete_and_media_types(serve: Serve) -> None:
    client = serve(shop_app()[0])
    get = client.get("/mcp", headers={"accept": "text/event-stream"})
    assert get.status_code == 405
    assert get.headers["allow"] == "POST, DELETE"
    assert client.delete("/mcp").status_code == 405  # stateless: no session to end
    wrong_type = client.post("/mcp", content=b"{}", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    not_acceptable = post(client, call(1, "ping"), accept="text/html")
    assert not_acceptable.status_code == 406
    assert post(client, call(1, "ping"), accept="*/*").status_code == 200
    assert client.put("/mcp", json=call(1, "ping")).status_code == 405  # not a method of the endpoint


def test_notifications_and_responses_are_accepted(serve: Serve) -> None:
    client = serve(shop_app()[0])
    for message in (
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}},
        {"jsonrpc": "2.0", "id": 4, "result": {}},
    ):
        accepted = post(client, message)
        assert accepted.status_code == 202 and accepted.content == b"", message


def test_batches_in_2025_03_26_only(serve: Serve) -> None:
    client = serve(shop_app()[0])
    batch = [
        call(1, "ping"),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        call(2, "tools/call", {"name": "add", "arguments": {"a": 5, "b": 5}}),
        call(3, "nope"),
    ]
    answered = post(client, batch, version="2025-03-26")
    assert answered.status_code == 200
    assert answered.json() == [
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        {"jsonrpc": "2.0", "id": 2, "result": {"content": [{"type": "text", "text": "10"}]}},
        {"jsonrpc": "2.0", "id": 3, "error": {"code": -32601, "message": "Method not found: nope"}},
    ]
    only_notifications = post(
        client, [{"jsonrpc": "2.0", "method": "notifications/initialized"}], version=None
    )
    assert only_notifications.status_code == 202
    for version in ("2025-06-18", "2025-11-25"):
        refused = post(client, batch, version=version)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == -32600
    assert post(client, [], version="2025-03-26").status_code == 400
    assert post(client, [INIT], version="2025-03-26").status_code == 400


def test_sessions(serve: Serve) -> None:
    app, mcp = shop_app(stateless=False, max_sessions=2)
    client = serve(app)
    first = post(client, INIT, version=None)
    session = first.headers["mcp-session-id"]
    assert session and all(0x21 <= ord(c) <= 0x7E for c in session)
    missing = post(client, call(1, "ping"))
    assert missing.status_code == 400 and "Mcp-Session-Id" in missing.json()["error"]["message"]
    assert post(client, call(1, "ping"), **{"mcp-session-id": "forged"}).status_code == 404
    ok = post(
        client, call(2, "tools/call", {"name": "add", "arguments": {"a": 1}}), **{"mcp-session-id": session}
    )
    assert ok.json()["result"]["structuredContent"] == {"result": 3}
    # The session's version applies when the header is left out (2025-06-18 here: structured content).
    implicit = post(
        client,
        call(2, "tools/call", {"name": "add", "arguments": {"a": 1}}),
        version=None,
        **{"mcp-session-id": session},
    )
    assert implicit.json()["result"]["structuredContent"] == {"result": 3}
    assert client.delete("/mcp").status_code == 400
    assert client.delete("/mcp", headers={"mcp-session-id": session}).status_code == 204
    assert client.delete("/mcp", headers={"mcp-session-id": session}).status_code == 404
    assert post(client, call(3, "ping"), **{"mcp-session-id": session}).status_code == 404
    # Beyond max_sessions the oldest session ends.
    ids = [post(client, INIT, version=None).headers["mcp-session-id"] for _ in range(3)]
    assert list(mcp._sessions) == ids[1:]
    assert post(client, call(4, "ping"), **{"mcp-session-id": ids[0]}).status_code == 404


def test_middleware_and_overrides_apply_to_tool_calls(serve: Serve) -> None:
    app, _ = shop_app()

    @app.middleware("http")
    async def block_saws(request: Request, call_next: Any) -> Any:
        if request.url.path == "/items" and request.method == "POST":
            body = await request.body()
            if b"saw" in body:
                return JSONResponse({"detail": "no saws"}, status_code=403)
        response = await call_next(request)
        response.headers["x-seen"] = "yes"
        return response

    app.dependency_overrides[unit] = lambda: "USD"
    client = serve(app)
    blocked = post(
        client, call(1, "tools/call", {"name": "create_item", "arguments": {"name": "saw", "price": 1}})
    )
    assert blocked.json()["result"] == {
        "content": [{"type": "text", "text": '{"detail":"no saws"}'}],
        "isError": True,
    }
    priced = post(
        client, call(2, "tools/call", {"name": "price_in", "arguments": {"item": {"name": "a", "price": 1}}})
    )
    assert priced.json()["result"]["structuredContent"]["currency"] == "USD"
    # The MCP endpoint itself is a route like the others: middleware sees it too.
    assert post(client, call(3, "ping")).headers["x-seen"] == "yes"


def test_router_and_mount_http() -> None:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    mcp = MCPServer(app, path="/tools/mcp")
    app.include_router(mcp.router)
    with TestClient(app) as client:
        listed = client.post("/tools/mcp", json=call(1, "tools/list"), headers={"accept": ACCEPT})
        assert [t["name"] for t in listed.json()["result"]["tools"]] == ["hello_hello_get"]

    guarded = FastAPI()
    guarded.get("/hello")(hello)

    def api_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if x_api_key != "k":
            raise HTTPException(status_code=401, detail="API key needed")

    guarded_mcp = MCPServer(guarded)
    guarded.include_router(guarded_mcp.router, prefix="/agents", dependencies=[Depends(api_key)])
    with TestClient(guarded) as client:
        refused = client.post("/agents/mcp", json=call(1, "ping"))
        assert refused.status_code == 401 and refused.json() == {"detail": "API key needed"}
        allowed = client.post("/agents/mcp", json=call(1, "tools/list"), headers={"x-api-key": "k"})
        assert [t["name"] for t in allowed.json()["result"]["tools"]] == ["hello_hello_get"]
        assert guarded_mcp._tools is not None  # read at start-up: the router's start-up handler ran

    other = FastAPI()
    other.get("/hi")(hello)
    MCPServer(other).mount_http()
    with TestClient(other) as client:
        assert client.post("/mcp", json=call(1, "ping")).json()["result"] == {}


def test_routes_added_later_and_refresh() -> None:
    app = FastAPI()
    mcp = MCPServer(app)
    mcp.mount()

    @app.get("/late")
    def late() -> dict[str, str]:
        return {"late": "yes"}

    with TestClient(app) as client:  # tools are read at start-up
        names = [t["name"] for t in client.post("/mcp", json=call(1, "tools/list")).json()["result"]["tools"]]
        assert names == ["late_late_get"]

        @app.get("/later")
        def later() -> dict[str, str]:
            return {"later": "yes"}

        # The OpenAPI document changed: the tools are read again.
        assert len(client.post("/mcp", json=call(1, "tools/list")).json()["result"]["tools"]) == 2

        @mcp.tool()
        def later_function() -> int:
            return 1

        assert len(client.post("/mcp", json=call(1, "tools/list")).json()["result"]["tools"]) == 3
        # Edited in place, an operation needs refresh() to be read again.
        app.openapi()["paths"]["/late"]["get"]["summary"] = "Late, edited"
        mcp.refresh()
        [first, *_] = client.post("/mcp", json=call(1, "tools/list")).json()["result"]["tools"]
        assert first["description"] == "Late, edited"


def test_declaration_errors() -> None:
    app = FastAPI()
    with pytest.raises(ValueError, match="include_operations or exclude_operations, not both"):
        MCPServer(app, include_operations=["a"], exclude_operations=["b"])
    with pytest.raises(ValueError, match="include_tags or exclude_tags, not both"):
        MCPServer(app, include_tags=["a"], exclude_tags=["b"])
    with pytest.raises(ValueError, match="must start with '/'"):
        MCPServer(app, path="mcp")
    with pytest.raises(TypeError, match="list of strings"):
        MCPServer(app, include_tags="items")  # type: ignore[arg-type]
    mcp = MCPServer(app)
    mcp.mount()
    with pytest.raises(RuntimeError, match="mounted already"):
        mcp.mount()

    def spread(*args: int) -> int:
        return 0

    with pytest.raises(TypeError, match=r"MCP tool .*spread: \*args and \*\*kwargs can't be tool arguments"):
        mcp.tool()(spread)

    wrong, _ = shop_app(include_operations=["create_item", "no_such_operation"])
    unknown = r"include_operations=\.\.\.\) names what the app doesn't have: no_such_operation"
    with pytest.raises(ValueError, match=unknown), TestClient(wrong):
        pass
    clash, clash_mcp = shop_app()

    @clash_mcp.tool(name="create_item")
    def create_item() -> None:
        return None

    with pytest.raises(ValueError, match="Two MCP tools are named 'create_item'"), TestClient(clash):
        pass


def test_tool_function_without_args_and_with_depends() -> None:
    app = FastAPI()
    mcp = MCPServer(app)
    mcp.mount()

    @mcp.tool()
    async def now(request: Request, currency: str = Depends(unit)) -> dict[str, str]:
        return {"path": request.url.path, "currency": currency}

    with TestClient(app) as client:
        tools = client.post(
            "/mcp", json=call(1, "tools/list"), headers={"mcp-protocol-version": "2025-06-18"}
        )
        [tool] = tools.json()["result"]["tools"]
        assert tool["inputSchema"] == {"type": "object", "properties": {}}
        result = client.post(
            "/mcp",
            json=call(2, "tools/call", {"name": "now"}),
            headers={"mcp-protocol-version": "2025-06-18"},
        )
        assert result.json()["result"]["structuredContent"] == {"path": "/tools/0", "currency": "EUR"}


def test_import_pulls_no_mcp_sdk() -> None:
    code = (
        "import sys, fulmen, fulmen.integrations.mcp\n"
        "heavy = ('mcp', 'mcp_types', 'starlette', 'anyio', 'pydantic', 'httpx')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_arguments_become_the_request_an_http_client_sends(serve: Serve) -> None:
    app = FastAPI()

    @app.get("/files/{name}", operation_id="read_file")
    def read_file(
        name: str,
        flag: bool = False,
        tags: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI's spelling of a list default)
        session: Annotated[str | None, Cookie()] = None,
    ) -> dict[str, Any]:
        return {"name": name, "flag": flag, "tags": tags, "session": session}

    @app.post("/numbers", operation_id="total")
    def total(numbers: list[int]) -> int:
        return sum(numbers)

    @app.put("/notes", operation_id="note")
    def note(body: str, text: Annotated[str, Body()]) -> dict[str, str]:
        return {"body": body, "text": text}

    MCPServer(app).mount()
    client = serve(app)
    noted = post(
        client, call(6, "tools/call", {"name": "note", "arguments": {"body": "q", "request_body": "t"}})
    )
    assert noted.json()["result"]["structuredContent"] == {"body": "q", "text": "t"}
    arguments = {"name": "a b%d é", "flag": True, "tags": ["x", "y"], "session": "abc"}
    result = post(client, call(1, "tools/call", {"name": "read_file", "arguments": arguments})).json()[
        "result"
    ]
    assert result["structuredContent"] == arguments
    unset = post(
        client, call(2, "tools/call", {"name": "read_file", "arguments": {"name": "n", "session": None}})
    )
    assert unset.json()["result"]["structuredContent"] == {
        "name": "n",
        "flag": False,
        "tags": [],
        "session": None,
    }
    slash = post(client, call(3, "tools/call", {"name": "read_file", "arguments": {"name": "a/b"}})).json()
    assert slash["result"] == {
        "content": [{"type": "text", "text": '{"detail":"Not Found"}'}],
        "isError": True,
    }
    # A list body is one "body" argument.
    [tool] = [
        t for t in post(client, call(4, "tools/list")).json()["result"]["tools"] if t["name"] == "total"
    ]
    assert tool["inputSchema"]["required"] == ["body"]
    summed = post(client, call(5, "tools/call", {"name": "total", "arguments": {"body": [1, 2, 3]}})).json()
    assert summed["result"]["structuredContent"] == {"result": 6}


def test_browser_client_behind_cors(serve: Serve) -> None:
    app, _ = shop_app(allowed_origins=["https://app.example.com"], stateless=False)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["https://app.example.com"],
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["authorization", "content-type", "mcp-protocol-version", "mcp-session-id"],
        expose_headers=["Mcp-Session-Id"],
    )
    client = serve(app)
    origin = "https://app.example.com"
    preflight = client.options(
        "/mcp",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, mcp-protocol-version, mcp-session-id",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == origin
    started = post(client, INIT, version=None, origin=origin)
    assert started.headers["access-control-expose-headers"] == "Mcp-Session-Id"
    assert started.headers["mcp-session-id"]
