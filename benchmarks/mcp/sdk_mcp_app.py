"""The official MCP SDK's server with the same tool (stateless, JSON responses): `uvicorn sdk_mcp_app:app`."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("bench")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


app = mcp.streamable_http_app(json_response=True, stateless_http=True)
