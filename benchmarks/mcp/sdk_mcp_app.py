"""The official MCP SDK's server with the same tool and resources (stateless, JSON responses):
`uvicorn sdk_mcp_app:app`."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

# WARNING: the SDK logs two INFO lines per stateless request by default; fulmen and uvicorn run without
# access logs here, so the SDK does too.
mcp = MCPServer("bench", log_level="WARNING")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.resource("config://app")
def config() -> dict[str, object]:
    """The app's settings."""
    return {"name": "bench", "debug": False, "workers": 1}


@mcp.resource("users://{user_id}/profile")
async def profile(user_id: int) -> str:
    """One user's profile."""
    return f"user {user_id}"


app = mcp.streamable_http_app(json_response=True, stateless_http=True)
