"""MCP resources: ``@mcp.resource(uri)`` functions at static URIs and RFC 6570 level-1 URI templates.

A function's return value is the resource's content: ``str`` as text, ``bytes`` as a base64 blob, anything
else as JSON text (encoded as a route's response is). Template variables are the function's parameters,
converted by annotation as a route's path parameters are.
"""

from __future__ import annotations

import base64
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from fulmen.encoders import _encode, _is_native, encode_json_converted
from fulmen.exceptions import BaseHTTPException
from fulmen.integrations.mcp._arguments import BoundFunction, InvalidArguments
from fulmen.integrations.mcp._protocol import INVALID_PARAMS, RESOURCE_NOT_FOUND, RPCError
from fulmen.requests import Request

# RFC 3986: a URI starts with its scheme.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# RFC 6570 level 1: {name}; the other operators (+ # . / ; ? &) and modifiers (* :n) are levels 2 to 4.
_EXPRESSION = re.compile(r"\{([^{}]*)\}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TEXT, _BLOB, _JSON = "text/plain", "application/octet-stream", "application/json"


class Resource:
    """A resource at a fixed URI, or a template of URIs (``users://{user_id}/profile``)."""

    __slots__ = (
        "description",
        "function",
        "listed_mime_type",
        "literals",
        "mime_type",
        "name",
        "shape",
        "title",
        "uri",
        "variables",
    )

    def __init__(
        self,
        uri: str,
        func: Callable[..., Any],
        name: str | None,
        title: str | None,
        description: str | None,
        mime_type: str | None,
    ) -> None:
        what = f"MCP resource {uri!r} (function {getattr(func, '__qualname__', func)!r})"
        if not _SCHEME.match(uri):
            raise ValueError(f"{what}: the URI needs a scheme, e.g. 'config://app' or 'users://{{user_id}}'")
        self.uri = uri
        self.variables, self.literals, self.shape = _parse_template(uri, what)
        self.function = BoundFunction(func, what)
        parameters = set(self.function.arguments)
        for variable in self.variables:
            if variable not in parameters:
                raise ValueError(f"{what}: template variable {variable!r} is not a parameter of the function")
        extra = sorted(parameters - set(self.variables))
        if extra:
            raise ValueError(
                f"{what}: parameter(s) {', '.join(map(repr, extra))} are not variables of the URI "
                + ("template" if self.variables else "(a static URI takes no arguments)")
            )
        self.name = name or getattr(func, "__name__", uri)
        self.title = title
        self.description = description if description is not None else inspect.getdoc(func)
        self.mime_type = mime_type
        # Listed: the declared type, else the one the return annotation promises; a read labels each
        # content by what the function really returned when none was declared.
        self.listed_mime_type = mime_type or _mime_type_of(func)

    @property
    def is_template(self) -> bool:
        return bool(self.variables)

    def describe(self, structured: bool) -> dict[str, Any]:
        """The entry of ``resources/list`` (``uri``) or ``resources/templates/list`` (``uriTemplate``)."""
        out: dict[str, Any] = {"uriTemplate" if self.variables else "uri": self.uri, "name": self.name}
        if structured and self.title:
            out["title"] = self.title  # BaseMetadata.title arrived in 2025-06-18, as for tools
        if self.description:
            out["description"] = self.description
        if self.listed_mime_type:
            out["mimeType"] = self.listed_mime_type
        return out

    def match(self, uri: str) -> dict[str, str] | None:
        """The template's variables in ``uri`` (percent-decoded), or None when it doesn't match.

        One pass, no backtracking: a regular expression of two variables and a literal that values may
        hold too (``x://{a}-{b}-{c}``) takes cubic time to reject a long URI, seconds for 1,000 characters.
        So the prefix and suffix are anchored, and each variable ends at the first occurrence of the literal
        after it (``x://{a}-{b}`` reads ``x://p-q-r`` as a="p", b="q-r").
        """
        literals = self.literals
        prefix, suffix = literals[0], literals[-1]
        end = len(uri) - len(suffix)
        if not uri.startswith(prefix) or not uri.endswith(suffix) or end < len(prefix):
            return None
        values: dict[str, str] = {}
        position = len(prefix)
        last = len(self.variables) - 1
        for index, name in enumerate(self.variables):
            if index == last:
                stop = end
            else:
                # +1: a value is never empty.
                stop = uri.find(literals[index + 1], position + 1, end)
                if stop < 0:
                    return None
            value = uri[position:stop]
            # Level 1 percent-encodes every reserved character of a value: "/", "?" and "#" never appear.
            if not value or "/" in value or "?" in value or "#" in value:
                return None
            values[name] = unquote(value)
            position = stop + len(literals[index + 1])
        return values

    async def read(self, uri: str, variables: dict[str, str], request: Request) -> dict[str, Any]:
        """The ``resources/read`` result for ``uri``; a variable that doesn't convert is ``-32602``."""
        try:
            values = self.function.convert(variables, "uri")
        except InvalidArguments as exc:
            raise RPCError(
                INVALID_PARAMS,
                f"Invalid params: resource {uri!r} (template {self.uri!r}): {exc.summary()}",
                {"uri": uri, "errors": exc.errors},
            ) from None
        try:
            value = await self.function.call(values, request)
        except BaseHTTPException as exc:  # HTTPException, and Starlette-style ones
            # What a route would answer: a 404 is the spec's "Resource not found", other 4xx bad params.
            if exc.status_code == 404:
                raise RPCError(
                    RESOURCE_NOT_FOUND, f"Resource not found: {exc.detail}", {"uri": uri}
                ) from None
            if 400 <= exc.status_code < 500:
                raise RPCError(INVALID_PARAMS, f"Invalid params: {exc.detail}", {"uri": uri}) from None
            raise
        return {"contents": [self._content(uri, value)]}

    def _content(self, uri: str, value: Any) -> dict[str, Any]:
        if isinstance(value, str):
            return {"uri": uri, "mimeType": self.mime_type or _TEXT, "text": value}
        if isinstance(value, (bytes, bytearray, memoryview)):
            blob = base64.b64encode(value).decode("ascii")
            return {"uri": uri, "mimeType": self.mime_type or _BLOB, "blob": blob}
        # As a route's JSON response: the same bytes FastAPI would write.
        data = _encode(value) if _is_native(value) else encode_json_converted(value)
        return {"uri": uri, "mimeType": self.mime_type or _JSON, "text": data.decode("utf-8")}


def _parse_template(uri: str, what: str) -> tuple[list[str], list[str], str]:
    """The variables of a level-1 template, the literals around them (one more than the variables: the
    prefix, those between, the suffix), and its shape (the URI with every variable as ``{}``: two templates
    of one shape match the same URIs)."""
    variables: list[str] = []
    literals: list[str] = []
    position = 0
    for found in _EXPRESSION.finditer(uri):
        literal = uri[position : found.start()]
        if "{" in literal or "}" in literal:
            raise ValueError(f"{what}: unbalanced braces in the URI template")
        if variables and found.start() == position:
            raise ValueError(
                f"{what}: variables {variables[-1]!r} and {found.group(1)!r} are adjacent; "
                "put a literal between them so a URI splits one way only"
            )
        name = found.group(1)
        if not _VARIABLE.fullmatch(name):
            raise ValueError(
                f"{what}: {{{name}}} is not a level-1 template variable (a name such as {{user_id}}; "
                "operators + # . / ; ? & and modifiers * :n are not supported)"
            )
        if name in variables:
            raise ValueError(f"{what}: variable {name!r} appears twice in the template")
        variables.append(name)
        literals.append(literal)
        position = found.end()
    tail = uri[position:]
    if "{" in tail or "}" in tail:
        raise ValueError(f"{what}: unbalanced braces in the URI template")
    literals.append(tail)
    return variables, literals, "{}".join(literals)


def _mime_type_of(func: Callable[..., Any]) -> str | None:
    """The MIME type the return annotation promises (str: text, bytes: blob, else JSON), or None when it
    promises none or several (``str | bytes``, ``Any``)."""
    try:
        returned = typing.get_type_hints(func).get("return")
    except Exception:
        return None
    if returned is None:
        return None
    members = typing.get_args(returned) if _is_union(returned) else (returned,)
    kinds = {_kind_of(m) for m in members if m is not type(None)}
    return kinds.pop() if len(kinds) == 1 else None


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Union or type(tp).__name__ == "UnionType"


def _kind_of(tp: Any) -> str | None:
    if tp is str:
        return _TEXT
    if tp in (bytes, bytearray, memoryview):
        return _BLOB
    if tp is Any:
        return None
    return _JSON
