"""MCP prompts: ``@mcp.prompt()`` functions whose parameters are the prompt's arguments.

A function returns the prompt's messages: a ``str`` (one user message), a ``Message`` (``UserMessage``,
``AssistantMessage``), a ``{"role": ..., "content": ...}`` dict, or a list of these.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal

from fulmen.exceptions import BaseHTTPException
from fulmen.integrations.mcp._arguments import BoundFunction, InvalidArguments
from fulmen.integrations.mcp._protocol import INVALID_PARAMS, RPCError, listing_entry
from fulmen.requests import Request

_ROLES = ("user", "assistant")


class Message:
    """One message of a prompt: a role ("user" or "assistant") and its content.

    ``content`` is text, or a content block as the spec writes it (``{"type": "image", "data": ...,
    "mimeType": ...}``, ``{"type": "resource", ...}``), passed on as given.
    """

    __slots__ = ("content", "role")

    def __init__(self, content: str | Mapping[str, Any], role: Literal["user", "assistant"] = "user") -> None:
        if role not in _ROLES:
            raise ValueError(f"A prompt message's role is 'user' or 'assistant', not {role!r}")
        if not isinstance(content, str) and (
            not isinstance(content, Mapping) or not isinstance(content.get("type"), str)
        ):
            raise TypeError(
                "A prompt message's content is a str or a content block with a 'type' "
                f"({{'type': 'image', ...}}), not {type(content).__name__}"
            )
        self.role = role
        self.content = content

    def to_json(self) -> dict[str, Any]:
        """The message as ``prompts/get`` sends it."""
        content = self.content
        block = {"type": "text", "text": content} if isinstance(content, str) else dict(content)
        return {"role": self.role, "content": block}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.content!r}, role={self.role!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.role == other.role and self.content == other.content

    __hash__ = None  # type: ignore[assignment]  # mutable content: equal messages needn't hash alike


class UserMessage(Message):
    """A message from the user (the SDK's ``UserMessage``)."""

    __slots__ = ()

    def __init__(self, content: str | Mapping[str, Any]) -> None:
        super().__init__(content, "user")


class AssistantMessage(Message):
    """A message from the assistant, e.g. the start of the answer the prompt expects."""

    __slots__ = ()

    def __init__(self, content: str | Mapping[str, Any]) -> None:
        super().__init__(content, "assistant")


class Prompt:
    """One prompt: what ``prompts/list`` shows and the function ``prompts/get`` runs."""

    __slots__ = ("description", "function", "name", "title")

    def __init__(
        self, func: Callable[..., Any], name: str, title: str | None, description: str | None
    ) -> None:
        what = f"MCP prompt {name!r} (function {getattr(func, '__qualname__', func)!r})"
        self.function = BoundFunction(func, what)
        self.name = name
        self.title = title
        self.description = description if description is not None else inspect.getdoc(func)

    def describe(self, structured: bool) -> dict[str, Any]:
        """The entry of ``prompts/list``; ``structured`` (2025-06-18+) adds the titles."""
        out = listing_entry(self.name, self.title, self.description, structured)
        arguments = []
        for argument in self.function.arguments.values():
            entry: dict[str, Any] = {"name": argument.name}
            if structured and argument.title:
                entry["title"] = argument.title
            if argument.description:
                entry["description"] = argument.description
            entry["required"] = argument.required
            arguments.append(entry)
        if arguments:
            out["arguments"] = arguments
        return out

    async def get(self, arguments: Mapping[str, Any], request: Request) -> dict[str, Any]:
        """The ``prompts/get`` result; a missing, unknown or invalid argument is ``-32602``."""
        for key in arguments:
            if key not in self.function.arguments:
                raise RPCError(
                    INVALID_PARAMS, f"Invalid params: prompt {self.name!r} has no argument {key!r}"
                )
        try:
            values = self.function.convert(arguments, "arguments")
        except InvalidArguments as exc:
            missing = [e["loc"][1] for e in exc.errors if e["type"] == "missing"]
            if missing:
                names = ", ".join(map(repr, missing))
                plural = "s" if len(missing) > 1 else ""
                message = f"Missing required argument{plural} {names} for prompt {self.name!r}"
            else:
                message = f"Invalid arguments for prompt {self.name!r}: {exc.summary()}"
            raise RPCError(INVALID_PARAMS, f"Invalid params: {message}", {"errors": exc.errors}) from None
        try:
            returned = await self.function.call(values, request)
        except BaseHTTPException as exc:  # HTTPException, and Starlette-style ones
            if 400 <= exc.status_code < 500:  # the function refused the arguments, as a route would
                raise RPCError(INVALID_PARAMS, f"Invalid params: {exc.detail}") from None
            raise
        out: dict[str, Any] = {}
        if self.description:
            out["description"] = self.description
        out["messages"] = _messages(returned, self.name)
        return out


def _messages(returned: Any, name: str) -> list[dict[str, Any]]:
    items = returned if isinstance(returned, (list, tuple)) else [returned]
    messages = []
    for item in items:
        if isinstance(item, str):
            messages.append(UserMessage(item).to_json())
        elif isinstance(item, Message):
            messages.append(item.to_json())
        elif isinstance(item, Mapping) and set(item) == {"role", "content"}:
            messages.append(Message(item["content"], item["role"]).to_json())
        else:
            raise TypeError(
                f"MCP prompt {name!r} returned {type(item).__name__}; return a str, a Message "
                "(UserMessage, AssistantMessage), a {'role': ..., 'content': ...} dict, or a list of them"
            )
    return messages
