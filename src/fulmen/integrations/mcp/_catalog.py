"""The resources, resource templates and prompts of one MCP server, and the JSON-RPC methods serving them.

``resources/*``, ``prompts/*`` and ``completion/complete`` are answered here; ``MCPServer`` keeps the
transport, the session and the tools.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fulmen.integrations.mcp._prompts import Prompt
from fulmen.integrations.mcp._protocol import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    RESOURCE_NOT_FOUND,
    RPCError,
    name_and_arguments,
)
from fulmen.integrations.mcp._resources import Resource
from fulmen.requests import Request

#: The spec: a completion holds at most 100 values.
_MAX_COMPLETIONS = 100


class Catalog:
    """What ``@mcp.resource`` and ``@mcp.prompt()`` declared, checked when added, served by ``answer``."""

    def __init__(self) -> None:
        # Resources by URI, templates by their template, prompts by name.
        self.resources: dict[str, Resource] = {}
        self.templates: dict[str, Resource] = {}
        self.prompts: dict[str, Prompt] = {}
        #: True when a prompt argument or template variable has values to offer (an Enum, Literal, bool).
        self.completes = False
        # PERF: the listings, described once per protocol generation (cleared when something is added).
        self._described: dict[tuple[str, bool], list[dict[str, Any]]] = {}

    def add_resource(self, resource: Resource) -> None:
        """Add a resource or template; ``ValueError`` when its URI, or the URIs it matches, are taken."""
        func = resource.function.func
        what = f"MCP resource {resource.uri!r} (function {func.__qualname__!r})"
        taken = self.templates if resource.is_template else self.resources
        if resource.uri in taken:
            owner = taken[resource.uri].function.func.__qualname__
            raise ValueError(f"{what}: the URI is declared already, by function {owner!r}")
        if resource.is_template:
            for other in self.templates.values():
                if other.shape == resource.shape:
                    raise ValueError(
                        f"{what}: template {other.uri!r} (function {other.function.func.__qualname__!r}) "
                        "matches the same URIs"
                    )
        taken[resource.uri] = resource
        self._added(resource)

    def add_prompt(self, prompt: Prompt) -> None:
        """Add a prompt; ``ValueError`` when its name is taken."""
        if prompt.name in self.prompts:
            other = self.prompts[prompt.name].function.func.__qualname__
            raise ValueError(
                f"MCP prompt {prompt.name!r} (function {prompt.function.func.__qualname__!r}): the name is "
                f"taken already, by function {other!r}; give one another name"
            )
        self.prompts[prompt.name] = prompt
        self._added(prompt)

    def _added(self, served: Resource | Prompt) -> None:
        self._described.clear()
        # A static resource has no arguments: only prompts and templates can make this True.
        self.completes = self.completes or any(a.choices for a in served.function.arguments.values())

    def capabilities(self) -> dict[str, Any]:
        """The ``initialize`` capabilities for what is declared (none for what isn't)."""
        out: dict[str, Any] = {}
        if self.resources or self.templates:
            out["resources"] = {"subscribe": False, "listChanged": False}
        if self.prompts:
            out["prompts"] = {"listChanged": False}
        if self.completes:
            out["completions"] = {}
        return out

    def serves(self, method: str) -> bool:
        """True for a method of a declared capability (the others are "Method not found")."""
        if method.startswith("resources/"):
            return bool(self.resources or self.templates)
        if method.startswith("prompts/"):
            return bool(self.prompts)
        return method == "completion/complete" and self.completes

    async def answer(
        self, method: str, params: Mapping[str, Any], request: Request, structured: bool
    ) -> dict[str, Any]:
        """The result of ``method`` (one ``serves`` accepts); ``RPCError`` for the spec's errors.

        ``structured`` (2025-06-18 and later) adds the titles to the listings.
        """
        if method == "resources/read":
            return await self._read(params, request)
        if method == "prompts/get":
            return await self._get_prompt(params, request)
        if method == "completion/complete":
            return self._complete(params)
        listings = {
            "resources/list": ("resources", "resources"),
            "resources/templates/list": ("templates", "resourceTemplates"),
            "prompts/list": ("prompts", "prompts"),
        }
        if method in listings:
            if params.get("cursor") is not None:
                # Listings come whole, in one page: no cursor was issued, so any cursor sent is invalid.
                raise RPCError(
                    INVALID_PARAMS,
                    "Invalid params: unknown cursor (this server lists everything in one page)",
                )
            kind, key = listings[method]
            return {key: self._describe(kind, structured)}
        # resources/subscribe and unsubscribe: the capability says no subscriptions.
        raise RPCError(METHOD_NOT_FOUND, f"Method not found: {method}")

    async def _read(self, params: Mapping[str, Any], request: Request) -> dict[str, Any]:
        uri = params.get("uri")
        if not isinstance(uri, str):
            raise RPCError(INVALID_PARAMS, "Invalid params: uri (a string) is required")
        resource = self.resources.get(uri)
        if resource is not None:
            return await resource.read(uri, {}, request)
        for template in self.templates.values():
            variables = template.match(uri)
            if variables is not None:
                return await template.read(uri, variables, request)
        raise RPCError(RESOURCE_NOT_FOUND, "Resource not found", {"uri": uri})

    async def _get_prompt(self, params: Mapping[str, Any], request: Request) -> dict[str, Any]:
        name, arguments = name_and_arguments(params)
        prompt = self.prompts.get(name)
        if prompt is None:
            raise RPCError(INVALID_PARAMS, f"Unknown prompt: {name}")
        return await prompt.get(arguments, request)

    def _complete(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``completion/complete``: the argument's allowed values that start with what was typed."""
        ref = params.get("ref")
        argument = params.get("argument")
        if not isinstance(ref, dict) or not isinstance(argument, dict):
            raise RPCError(INVALID_PARAMS, "Invalid params: ref and argument (objects) are required")
        name, value = argument.get("name"), argument.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise RPCError(INVALID_PARAMS, "Invalid params: argument needs a name and a value (strings)")
        kind = ref.get("type")
        key = ref.get("name" if kind == "ref/prompt" else "uri")
        if kind not in ("ref/prompt", "ref/resource") or not isinstance(key, str):
            raise RPCError(
                INVALID_PARAMS,
                "Invalid params: ref must be {'type': 'ref/prompt', 'name': ...} or "
                "{'type': 'ref/resource', 'uri': <a resource template>}",
            )
        served: Prompt | Resource | None
        if kind == "ref/prompt":
            served, label = self.prompts.get(key), f"prompt {key!r}"
        else:
            served, label = self.templates.get(key), f"resource template {key!r}"
        if served is None:
            raise RPCError(INVALID_PARAMS, f"Invalid params: no {label}")
        found = served.function.arguments.get(name)
        if found is None:
            raise RPCError(INVALID_PARAMS, f"Invalid params: {label} has no argument {name!r}")
        typed = value.casefold()
        values = [c for c in found.choices or () if c.casefold().startswith(typed)]
        return {
            "completion": {
                "values": values[:_MAX_COMPLETIONS],
                "total": len(values),
                "hasMore": len(values) > _MAX_COMPLETIONS,
            }
        }

    def _describe(self, kind: str, structured: bool) -> list[dict[str, Any]]:
        """A listing (resources, templates or prompts), described once per protocol generation."""
        described = self._described.get((kind, structured))
        if described is None:
            served: Iterable[Resource | Prompt] = (
                self.resources.values()
                if kind == "resources"
                else self.templates.values()
                if kind == "templates"
                else self.prompts.values()
            )
            described = self._described[kind, structured] = [s.describe(structured) for s in served]
        return described
