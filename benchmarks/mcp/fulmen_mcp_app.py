"""fulmen with its MCP server: ``python fulmen_mcp_app.py PORT [--no-mcp]`` (engine, one worker)."""

from __future__ import annotations

import sys

from fulmen import FastAPI
from fulmen.integrations.mcp import MCPServer

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


if "--no-mcp" not in sys.argv:
    mcp = MCPServer(app, name="bench")

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

    mcp.mount()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
