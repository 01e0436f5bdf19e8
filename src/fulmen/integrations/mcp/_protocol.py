"""JSON-RPC 2.0 and MCP protocol constants: versions, error codes and message shapes."""

from __future__ import annotations

from typing import Any

#: Protocol versions this server speaks over Streamable HTTP, newest first.
SUPPORTED_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
LATEST_VERSION = SUPPORTED_VERSIONS[0]
#: The spec: without an MCP-Protocol-Version header (and nothing else to go by) assume 2025-03-26.
DEFAULT_VERSION = "2025-03-26"
#: JSON-RPC batches were allowed in 2025-03-26 only (removed in 2025-06-18).
BATCH_VERSIONS = frozenset({"2025-03-26"})
#: Tool titles, output schemas and structured content arrived in 2025-06-18.
STRUCTURED_VERSIONS = frozenset({"2025-06-18", "2025-11-25"})

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: The spec's "Resource not found" (2025-03-26 to 2025-11-25; SEP-2164 moves later versions to -32602).
RESOURCE_NOT_FOUND = -32002


class RPCError(Exception):
    """A JSON-RPC error to answer with (code, message and optional data)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def error_message(id_: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    """A JSON-RPC error response object."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": error}


def result_message(id_: Any, result: Any) -> dict[str, Any]:
    """A JSON-RPC success response object."""
    return {"jsonrpc": "2.0", "id": id_, "result": result}


def name_and_arguments(params: Any) -> tuple[str, dict[str, Any]]:
    """``params.name`` and ``params.arguments`` (default {}) of a ``tools/call`` or ``prompts/get``."""
    name = params.get("name")
    if not isinstance(name, str):
        raise RPCError(INVALID_PARAMS, "Invalid params: name (a string) is required")
    arguments = params.get("arguments")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise RPCError(INVALID_PARAMS, "Invalid params: arguments must be an object")
    return name, arguments


def listing_entry(name: str, title: str | None, description: str | None, structured: bool) -> dict[str, Any]:
    """The name, title (clients of 2025-06-18 and later) and description a listing's entry starts with."""
    out: dict[str, Any] = {"name": name}
    if structured and title:
        out["title"] = title
    if description:
        out["description"] = description
    return out
