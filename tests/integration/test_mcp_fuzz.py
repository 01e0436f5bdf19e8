"""Any JSON posted to the MCP endpoint gets a JSON-RPC answer (or 202), never a 500 or a lost response."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fulmen.testclient import TestClient
from tests.integration.mcp_apps import shop_app

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
