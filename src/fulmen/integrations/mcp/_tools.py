"""MCP tools built from an app's OpenAPI operations, and how a call's arguments become an HTTP request.

fulmen's OpenAPI output already says everything a tool needs (name, description, parameters, body and
response schemas), so tools are read from it once, as fastapi-mcp does with FastAPI's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from fulmen.integrations.mcp._protocol import listing_entry

_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_REF_PREFIX = "#/components/schemas/"

#: Where each argument of a tool goes in the HTTP request.
PATH, QUERY, HEADER, COOKIE, BODY_FIELD, BODY = "path", "query", "header", "cookie", "body-field", "body"


@dataclass
class Tool:
    """One MCP tool: what ``tools/list`` shows and how ``tools/call`` reaches its route."""

    name: str
    description: str | None
    input_schema: dict[str, Any]
    method: str
    path: str
    tags: list[str] = field(default_factory=list)
    title: str | None = None
    output_schema: dict[str, Any] | None = None
    #: True when the output schema wraps a non-object result as ``{"result": ...}`` (MCP wants objects).
    wrap_output: bool = False
    #: Argument name -> where it goes (PATH, QUERY, HEADER, COOKIE, BODY_FIELD, BODY).
    locations: dict[str, str] = field(default_factory=dict)
    body_required: bool = False
    read_only: bool = False
    #: The ASGI app that answers the call (the user's app, or the private app of ``@mcp.tool()`` functions).
    target: Any = None

    def describe(self, structured: bool) -> dict[str, Any]:
        """The tool as ``tools/list`` lists it; ``structured`` adds title and outputSchema (2025-06-18+)."""
        out = listing_entry(self.name, self.title, self.description, structured)
        out["inputSchema"] = self.input_schema
        if structured and self.output_schema is not None:
            out["outputSchema"] = self.output_schema
        if self.read_only:
            out["annotations"] = {"readOnlyHint": True}
        return out

    def build_request(
        self, arguments: Mapping[str, Any]
    ) -> tuple[str, bytes, list[tuple[bytes, bytes]], bytes]:
        """Path, query string, headers and JSON body for a call with ``arguments``.

        Raises ``KeyError`` naming an argument the tool does not take, ``MissingArgument`` for a path
        parameter not given (any other missing argument is left to the route's validation, which reports it).
        """
        import msgspec

        path = self.path
        query: list[tuple[str, str]] = []
        headers: list[tuple[bytes, bytes]] = []
        cookies: list[str] = []
        body_fields: dict[str, Any] = {}
        body: Any = None
        has_body = False
        for name, value in arguments.items():
            where = self.locations.get(name)
            if where is None:
                raise KeyError(name)
            if where == BODY_FIELD:
                body_fields[name] = value
            elif where == BODY:
                body, has_body = value, True
            elif value is None:
                continue  # an optional parameter given as null: left out, so the route's default applies
            elif where == PATH:
                path = path.replace("{" + name + "}", quote(_text(value), safe=""))
            elif where == QUERY:
                values = value if isinstance(value, list) else [value]
                query.extend((name, _text(v)) for v in values)
            elif where == HEADER:
                values = value if isinstance(value, list) else [value]
                headers.extend((name.lower().encode("latin-1"), _text(v).encode("latin-1")) for v in values)
            else:
                cookies.append(f"{name}={_text(value)}")
        for name, where in self.locations.items():
            if where == PATH and "{" + name + "}" in path:
                raise MissingArgument(name)
        if cookies:
            headers.append((b"cookie", "; ".join(cookies).encode("latin-1")))
        if body_fields or (self.body_required and BODY_FIELD in self.locations.values()):
            body, has_body = body_fields, True
        data = msgspec.json.encode(body) if has_body else b""
        return path, urlencode(query).encode("ascii"), headers, data


class MissingArgument(Exception):
    """A path parameter is missing from a call's arguments."""


def _text(value: Any) -> str:
    """A parameter value as the text a client would send (JSON's true/false for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Refs:
    """Rewrites OpenAPI component references to a schema's own ``$defs``, collecting what is used."""

    def __init__(self, components: Mapping[str, Any]) -> None:
        self.components = components

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """The schema a top-level ``$ref`` points to (one level), else ``schema``."""
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            target = self.components.get(ref[len(_REF_PREFIX) :])
            if isinstance(target, Mapping):
                return target
        return schema

    def finish(self, schema: dict[str, Any]) -> dict[str, Any]:
        """``schema`` with its references pointing at ``$defs``, which holds every component reached."""
        used: set[str] = set()
        out: dict[str, Any] = _rewrite(copy.deepcopy(schema), used)
        defs: dict[str, Any] = {}
        pending = list(used)
        while pending:
            name = pending.pop()
            if name in defs or name not in self.components:
                continue
            found: set[str] = set()
            defs[name] = _rewrite(copy.deepcopy(self.components[name]), found)
            pending.extend(found - defs.keys())
        if defs:
            out["$defs"] = dict(sorted(defs.items()))
        return out


def _rewrite(node: Any, used: set[str]) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(_REF_PREFIX):
                name = value[len(_REF_PREFIX) :]
                used.add(name)
                node[key] = "#/$defs/" + name
            else:
                _rewrite(value, used)
    elif isinstance(node, list):
        for item in node:
            _rewrite(item, used)
    return node


def _description(operation: Mapping[str, Any]) -> str | None:
    parts = [str(operation[k]) for k in ("summary", "description") if operation.get(k)]
    return "\n\n".join(parts) or None


def _success_schema(operation: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema of the first 2xx response, or None when it has none (or an empty one)."""
    for code, response in sorted(operation.get("responses", {}).items()):
        if not str(code).startswith("2") or not isinstance(response, Mapping):
            continue
        media = response.get("content", {}).get("application/json")
        if isinstance(media, Mapping) and media.get("schema"):
            schema = media["schema"]
            return schema if isinstance(schema, Mapping) else None
        return None
    return None


class UnsupportedOperation(Exception):
    """An operation that can't be a tool (a form or file body); tools are built for the others."""


def tool_from_operation(
    path: str, method: str, operation: Mapping[str, Any], path_item: Mapping[str, Any], refs: _Refs
) -> Tool:
    """The tool for one OpenAPI operation; raises ``UnsupportedOperation`` for form and file bodies."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    locations: dict[str, str] = {}
    parameters = [*path_item.get("parameters", ()), *operation.get("parameters", ())]
    for parameter in parameters:
        name = parameter["name"]
        schema = dict(parameter.get("schema") or {})
        if parameter.get("description") and "description" not in schema:
            schema["description"] = parameter["description"]
        properties[name] = schema
        locations[name] = parameter.get("in", QUERY)
        if parameter.get("required"):
            required.append(name)
    body_required = False
    request_body = operation.get("requestBody")
    if isinstance(request_body, Mapping):
        content = request_body.get("content", {})
        media = content.get("application/json")
        if media is None:
            raise UnsupportedOperation(f"its body is {', '.join(content) or 'of no media type'}, not JSON")
        body_required = bool(request_body.get("required"))
        body_schema = media.get("schema") or {}
        resolved = refs.resolve(body_schema)
        fields = resolved.get("properties")
        if (
            resolved.get("type") == "object"
            and isinstance(fields, Mapping)
            and not set(fields) & set(properties)
            and not resolved.get("additionalProperties")
        ):
            # An object body: its fields are the tool's arguments, beside the parameters (as fastapi-mcp).
            for name, schema in fields.items():
                properties[name] = schema
                locations[name] = BODY_FIELD
            if body_required:
                required.extend(resolved.get("required", ()))
        else:
            # Anything else (a list, a scalar, a name clash with a parameter): one "body" argument
            # ("request_body" when a parameter is called "body").
            key = "request_body" if "body" in properties else "body"
            properties[key] = dict(body_schema)
            locations[key] = BODY
            if body_required:
                required.append(key)
    input_schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        input_schema["required"] = required
    output_schema: dict[str, Any] | None = None
    wrap = False
    success = _success_schema(operation)
    if success is not None:
        resolved_success = refs.resolve(success)
        if resolved_success.get("type") == "object":
            # Inlined at the top: MCP wants an output schema whose own type is "object".
            output_schema = refs.finish(dict(resolved_success))
        else:
            wrap = True
            output_schema = refs.finish(
                {"type": "object", "properties": {"result": success}, "required": ["result"]}
            )
    return Tool(
        name=operation["operationId"],
        title=operation.get("summary"),
        description=_description(operation),
        input_schema=refs.finish(input_schema),
        output_schema=output_schema,
        wrap_output=wrap,
        method=method.upper(),
        path=path,
        tags=[str(t) for t in operation.get("tags", ())],
        locations=locations,
        body_required=body_required,
        read_only=method == "get",
    )


def tools_from_openapi(document: Mapping[str, Any]) -> Iterable[tuple[Tool | None, str, str]]:
    """(tool, operationId, reason it was skipped) for every operation with an ``operationId``."""
    refs = _Refs(document.get("components", {}).get("schemas", {}))
    for path, item in document.get("paths", {}).items():
        for method in _HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, Mapping) or not operation.get("operationId"):
                continue
            try:
                yield tool_from_operation(path, method, operation, item, refs), operation["operationId"], ""
            except UnsupportedOperation as exc:
                yield None, operation["operationId"], str(exc)
