"""Any JSON posted to the MCP endpoint gets a JSON-RPC answer (or 202), never a 500 or a lost response."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fulmen.testclient import TestClient
from tests.integration.mcp_apps import library_app, shop_app

APP, _ = shop_app(stateless=False)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
methods = st.sampled_from(
    ["initialize", "ping", "tools/list", "tools/call", "nope", "notifications/initialized"]
)
tool_names = st.sampled_from(["add", "create_item", "read_item_items__item_id__get", "price_in", "boom", "x"])
messages = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0"]), "method": methods},
    optional={
        "id": st.integers() | st.text(max_size=4) | st.none() | st.booleans(),
        "params": json_values
        | st.fixed_dictionaries(
            {"name": tool_names}, optional={"arguments": json_values, "protocolVersion": json_values}
        ),
    },
)
payloads = messages | st.lists(messages, max_size=3) | json_values


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=payloads,
    version=st.sampled_from([None, "2025-03-26", "2025-11-25", "bogus"]),
    session=st.booleans(),
)
def test_any_json_gets_a_protocol_answer(payload: Any, version: str | None, session: bool) -> None:
    with TestClient(APP, raise_server_exceptions=True) as client:
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        if session:
            init = {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"protocolVersion": "2025-06-18"},
            }
            headers["mcp-session-id"] = client.post("/mcp", json=init).headers["mcp-session-id"]
        if version is not None:
            headers["mcp-protocol-version"] = version
        response = client.post("/mcp", content=json.dumps(payload), headers=headers)
    assert response.status_code in (200, 202, 400, 404), response.text
    if response.status_code == 202:
        assert response.content == b""
        return
    body = response.json()
    for reply in body if isinstance(body, list) else [body]:
        assert reply["jsonrpc"] == "2.0" and "id" in reply
        assert ("result" in reply) != ("error" in reply)
        if "error" in reply:
            assert reply["error"]["code"] in (-32700, -32600, -32601, -32602), reply


LIBRARY, _ = library_app()
# Finite floats: json.dumps would write Infinity, which isn't JSON (the test above covers unparseable bodies).
finite_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
uris = st.sampled_from(
    ["config://app", "files://logo.png", "books://1", "books://x", "books://9", "shelves://poetry/books/1"]
) | st.text(max_size=12)
library_messages = st.fixed_dictionaries(
    {
        "jsonrpc": st.just("2.0"),
        "id": st.integers(min_value=0, max_value=9),
        "method": st.sampled_from(
            [
                "resources/list",
                "resources/templates/list",
                "resources/read",
                "prompts/list",
                "prompts/get",
                "completion/complete",
            ]
        ),
    },
    optional={
        "params": finite_json
        | st.fixed_dictionaries(
            {},
            optional={
                "uri": uris | finite_json,
                "name": st.sampled_from(["summarize", "recommend", "wrong_return", "x"]) | finite_json,
                "arguments": st.dictionaries(
                    st.sampled_from(["book_id", "words", "shelf", "mood", "other"]),
                    st.text(max_size=6) | finite_json,
                    max_size=3,
                )
                | finite_json,
                "cursor": finite_json,
                "ref": st.fixed_dictionaries(
                    {"type": st.sampled_from(["ref/prompt", "ref/resource", "ref/x"]) | finite_json},
                    optional={
                        "name": st.sampled_from(["recommend", "summarize", "x"]) | finite_json,
                        "uri": st.sampled_from(["shelves://{shelf}/books/{year}", "books://1"]) | finite_json,
                    },
                )
                | finite_json,
                "argument": st.fixed_dictionaries(
                    {},
                    optional={
                        "name": st.sampled_from(["shelf", "mood", "year", "x"]) | finite_json,
                        "value": st.text(max_size=4) | finite_json,
                    },
                )
                | finite_json,
            },
        ),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=library_messages)
def test_resources_and_prompts_answer_any_params(message: dict[str, Any]) -> None:
    """Whatever the params, a resources/prompts request gets its result or a protocol error with its id."""
    with TestClient(LIBRARY, raise_server_exceptions=True) as client:
        headers = {"content-type": "application/json", "mcp-protocol-version": "2025-11-25"}
        response = client.post("/mcp", content=json.dumps(message), headers=headers)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["jsonrpc"] == "2.0" and reply["id"] == message["id"]
    assert ("result" in reply) != ("error" in reply)
    if "error" in reply:
        # -32603 only for the prompt that returns what a prompt can't (its "Internal error" is logged).
        assert reply["error"]["code"] in (-32002, -32602, -32603), reply
        if reply["error"]["code"] == -32603:
            assert message["params"]["name"] == "wrong_return"
