"""Model Context Protocol server: a fulmen app's routes and functions as MCP tools, resources and prompts.

``MCPServer(app).mount()`` serves MCP's Streamable HTTP transport at ``/mcp``; no MCP library is needed
(JSON-RPC is handled here with msgspec). See docs/mcp.md.
"""

from __future__ import annotations

from fulmen.integrations.mcp._prompts import AssistantMessage, Message, UserMessage
from fulmen.integrations.mcp._protocol import SUPPORTED_VERSIONS
from fulmen.integrations.mcp._server import MCPServer
from fulmen.integrations.mcp._tools import Tool

__all__ = ["SUPPORTED_VERSIONS", "AssistantMessage", "MCPServer", "Message", "Tool", "UserMessage"]
