"""Routes and the router: static paths by dict lookup, parameterised paths by a radix tree.

Matching follows FastAPI's precedence: among routes that match a path, the one declared first wins. The router
keeps that rule while staying fast: for every static path it precomputes, once, which route answers each
method (an earlier ``/users/{id}`` still beats a later ``/users/me``), and a dynamic path walks a tree of path
segments whose cost grows with the path's length, not with the number of routes.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fulmen.exceptions import FastAPIError
from fulmen.params import Depends
from fulmen.plan import Dependant, RequestHandler, add_route_dependencies, compile_plan, get_dependant
from fulmen.response_model import (
    Default,
    DefaultPlaceholder,
    IncEx,
    compile_response_serializer,
    effective_response_model,
    is_body_allowed_for_status_code,
)
from fulmen.responses import JSONResponse, Response

_PLAIN_PARAM = re.compile(r"{[a-zA-Z_][a-zA-Z0-9_]*(?::str)?}")
_PARAM_RE = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")


@dataclass(frozen=True)
class Convertor:
    """A path convertor (``{id:int}``): the regex a segment must match and how to turn it into a value."""

    regex: str
    convert: Callable[[str], Any]
    to_string: Callable[[Any], str]


def _float_to_string(value: float) -> str:
    return f"{value:0.20f}".rstrip("0").rstrip(".")


CONVERTORS: dict[str, Convertor] = {
    "str": Convertor("[^/]+", str, str),
    "path": Convertor(".*", str, str),
    "int": Convertor("[0-9]+", int, str),
    "float": Convertor(r"[0-9]+(\.[0-9]+)?", float, _float_to_string),
    "uuid": Convertor(
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", uuid.UUID, str
    ),
}


def _generate_unique_id(route: APIRoute) -> str:
    operation_id = f"{route.name}{route.path_format}"
    operation_id = re.sub(r"\W", "_", operation_id)
    methods = sorted(route.methods - {"HEAD"}) or sorted(route.methods)
    return f"{operation_id}_{methods[0].lower()}"


class APIRoute:
    """One path operation: path template, methods, the endpoint and its compiled plan."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Sequence[str] | None = None,
        status_code: int | None = None,
        response_class: type[Response] | DefaultPlaceholder = Default(JSONResponse),
        name: str | None = None,
        tags: list[str | Enum] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        operation_id: str | None = None,
        include_in_schema: bool = True,
        response_model: Any = Default(None),
        response_model_include: IncEx | None = None,
        response_model_exclude: IncEx | None = None,
        response_model_by_alias: bool = True,
        response_model_exclude_unset: bool = False,
        response_model_exclude_defaults: bool = False,
        response_model_exclude_none: bool = False,
        openapi_extra: dict[str, Any] | None = None,
        inline_sync: bool = False,
        dependencies: Sequence[Depends] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] = _generate_unique_id,
        **extra: Any,
    ) -> None:
        if not path.startswith("/") and not path.startswith("{$"):
            # FastAPI's OpenAPI callback paths ("{$callback_url}/...") are documented, never routed.
            raise FastAPIError(f"Routed paths must start with '/', got {path!r}")
        self.path = path
        #: The unique-id function chosen for this route or its router (None: the including router's).
        self.unique_id_function: Callable[[APIRoute], str] | None = None
        self.endpoint = endpoint
        upper = [m.upper() for m in (methods or ["GET"])]
        if "GET" in upper and "HEAD" not in upper:
            upper.append("HEAD")
        self.methods: set[str] = set(upper)
        #: Methods in declaration order, for the ``Allow`` header.
        self.method_list: list[str] = list(dict.fromkeys(upper))
        self.status_code = status_code
        #: True when no response class was chosen anywhere (route, router or app): FastAPI then writes a
        #: response model's JSON with pydantic's ``dump_json`` instead of rendering it with the class.
        self.response_class_is_default = isinstance(response_class, DefaultPlaceholder)
        self.response_class: type[Response] = (
            response_class.value if isinstance(response_class, DefaultPlaceholder) else response_class
        )
        self.name = name if name is not None else getattr(endpoint, "__name__", type(endpoint).__name__)
        self.tags = list(tags or [])
        self.summary = summary
        self.description = description
        if description is None:
            self.description = (endpoint.__doc__ or "").split("\f")[0].strip() if endpoint.__doc__ else None
        self.response_description = response_description
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.include_in_schema = include_in_schema
        self.response_model_include = response_model_include
        self.response_model_exclude = response_model_exclude
        self.response_model_by_alias = response_model_by_alias
        self.response_model_exclude_unset = response_model_exclude_unset
        self.response_model_exclude_defaults = response_model_exclude_defaults
        self.response_model_exclude_none = response_model_exclude_none
        self.openapi_extra = openapi_extra
        self.inline_sync = inline_sync
        self.extra = extra
        self.path_format, self.param_convertors, self.segments = _parse_path(path)
        #: False when every parameter uses the str convertor (values pass through unchanged).
        self.convert_params = any(c is not CONVERTORS["str"] for c in self.param_convertors.values())
        where = f"route {'/'.join(sorted(self.methods - {'HEAD'}) or self.methods)} {path!r}"
        self.dependencies = list(dependencies or [])
        self.dependant: Dependant = get_dependant(
            endpoint, path=path, path_param_names=set(self.param_convertors), where=where
        )
        if self.dependencies:
            add_route_dependencies(self.dependant, self.dependencies)
        declared = {f.name for d in self.dependant.iter_tree() for f in d.path_params}
        missing = [p for p in self.param_convertors if p not in declared]
        if missing:
            raise FastAPIError(
                f"{where}: path parameter {missing[0]!r} is not a parameter of "
                f"{getattr(endpoint, '__qualname__', endpoint)!r}; add `{missing[0]}` to its signature"
            )
        self.unique_id = operation_id or generate_unique_id_function(self)
        #: The model results are validated and serialised with (FastAPI's rules), or None.
        self.response_model: Any = effective_response_model(endpoint, response_model, where=where)
        serialize_result = None
        if self.response_model:
            if not is_body_allowed_for_status_code(status_code):
                raise FastAPIError(f"{where}: Status code {status_code} must not have a response body")
            serialize_result = compile_response_serializer(
                self.response_model,
                include=response_model_include,
                exclude=response_model_exclude,
                by_alias=response_model_by_alias,
                exclude_unset=response_model_exclude_unset,
                exclude_defaults=response_model_exclude_defaults,
                exclude_none=response_model_exclude_none,
                where=where,
                json_bytes=self.response_class_is_default,
            )
        invoke_override = None
        if self.dependant.is_generator or self.dependant.is_async_generator:
            invoke_override = self._stream_invoke(status_code, where)
        self.handler: RequestHandler = compile_plan(
            self.dependant,
            response_class=self.response_class,
            status_code=status_code,
            inline_sync=inline_sync,
            serialize_result=serialize_result,
            result_is_json=self.response_class_is_default,
            invoke_override=invoke_override,
        )
        if type(self).get_route_handler is not APIRoute.get_route_handler:
            self.handler = _guarded(self.get_route_handler())

    def get_route_handler(self) -> Callable[[Any], Coroutine[Any, Any, Response]]:
        """The compiled ``request -> response`` handler; a route class may wrap it, as in FastAPI.

        Errors inside the wrapped handler are already responses (the app's exception handlers ran), so a
        wrapper sees a 422 or 500 response rather than the exception.
        """
        return self.handler

    def _stream_invoke(self, status_code: int | None, where: str) -> Callable[[dict[str, Any]], Any]:
        """A path operation that yields: JSON Lines, Server-Sent Events or raw chunks (FastAPI 0.165)."""
        from fulmen.stream_endpoints import compile_stream_invoke, item_serializer_for

        options = {
            "include": self.response_model_include,
            "exclude": self.response_model_exclude,
            "by_alias": self.response_model_by_alias,
            "exclude_unset": self.response_model_exclude_unset,
            "exclude_defaults": self.response_model_exclude_defaults,
            "exclude_none": self.response_model_exclude_none,
        }
        item_serializer = item_serializer_for(
            self.endpoint,
            response_class=self.response_class,
            response_class_is_default=self.response_class_is_default,
            options=options,
            where=where,
        )
        return compile_stream_invoke(
            self.endpoint,
            is_async=self.dependant.is_async_generator,
            response_class=self.response_class,
            response_class_is_default=self.response_class_is_default,
            status_code=status_code,
            item_serializer=item_serializer,
        )

    def url_path_for(self, **path_params: Any) -> str | None:
        """This route's path with the given parameters filled in, or None if they don't fit."""
        if set(path_params) != set(self.param_convertors):
            return None
        path = self.path_format
        for name, conv in self.param_convertors.items():
            path = path.replace("{" + name + "}", conv.to_string(path_params[name]))
        return path

    def __repr__(self) -> str:
        return f"APIRoute(path={self.path!r}, name={self.name!r}, methods={sorted(self.methods)!r})"


# ------------------------------------------------------------------------------------------------------------
# Path templates
# ------------------------------------------------------------------------------------------------------------
@dataclass
class _Segment:
    """One ``/``-separated piece of a path template."""

    text: str
    static: bool
    regex: re.Pattern[str] | None = None
    names: list[str] = field(default_factory=list)
    catch_all: bool = False  # contains a {x:path} parameter


def _parse_path(path: str) -> tuple[str, dict[str, Convertor], list[_Segment]]:
    convertors: dict[str, Convertor] = {}
    path_format = ""
    idx = 0
    for m in _PARAM_RE.finditer(path):
        name, conv_name = m.group(1), m.group(2) or "str"
        if conv_name not in CONVERTORS:
            raise FastAPIError(f"Unknown path convertor {conv_name!r} in {path!r}")
        if name in convertors:
            raise FastAPIError(f"Duplicated param name {name!r} at path {path!r}")
        convertors[name] = CONVERTORS[conv_name]
        path_format += path[idx : m.start()] + "{" + name + "}"
        idx = m.end()
    path_format += path[idx:]
    segments: list[_Segment] = []
    for part in path.split("/")[1:]:
        matches = list(_PARAM_RE.finditer(part))
        if not matches:
            segments.append(_Segment(part, True))
            continue
        regex = "^"
        last = 0
        names = []
        catch_all = False
        for m in matches:
            conv = m.group(2) or "str"
            regex += re.escape(part[last : m.start()]) + f"(?P<{m.group(1)}>{CONVERTORS[conv].regex})"
            names.append(m.group(1))
            catch_all = catch_all or conv == "path"
            last = m.end()
        regex += re.escape(part[last:]) + "$"
        segments.append(_Segment(part, False, re.compile(regex), names, catch_all))
    return path_format, convertors, segments


# ------------------------------------------------------------------------------------------------------------
# The route table
# ------------------------------------------------------------------------------------------------------------
class _Node:
    __slots__ = ("catch_all", "dynamic", "plain", "routes", "static")

    def __init__(self) -> None:
        #: (name, child) when the only dynamic child is a plain "{name}" segment: the fast descent takes it.
        self.plain: tuple[str, _Node] | None = None
        self.static: dict[str, _Node] = {}
        # Template text -> (regex or None for a plain "{name}" segment, param names, child node).
        self.dynamic: dict[str, tuple[re.Pattern[str] | None, list[str], _Node]] = {}
        # Routes whose template continues with a {x:path} segment: matched by a full regex on the rest.
        self.catch_all: list[tuple[int, APIRoute, re.Pattern[str]]] = []
        self.routes: list[tuple[int, APIRoute]] = []


Match = tuple[APIRoute, dict[str, Any]]
_AMBIGUOUS: Any = object()


class RouteTable:
    """Finds the route for (method, path) with FastAPI's precedence, in time bounded by the path's length."""

    def __init__(self) -> None:
        self._routes: list[APIRoute] = []
        #: Mounted sub-applications, tried in declaration order when no route matches.
        self.mounts: list[Mount] = []
        self._root = _Node()
        self._static_paths: dict[str, list[tuple[int, APIRoute]]] = {}
        # path -> {method: (route, params)} and the Allow list, for every static path (built lazily).
        self._static: dict[str, tuple[dict[str, Match], str]] | None = None

    @property
    def routes(self) -> list[APIRoute]:
        """Routes in declaration order."""
        return self._routes

    def add(self, route: APIRoute) -> None:
        """Register a route; the same method on an identical path template is a start-up error."""
        shape = _shape(route.path)
        for other in self._routes:
            if _shape(other.path) == shape:
                clash = (route.methods & other.methods) - {"HEAD"}
                if clash:
                    raise FastAPIError(
                        f"Route {sorted(clash)[0]} {route.path!r} ({route.name}) conflicts with the route "
                        f"declared before it, {other.path!r} ({other.name}); the second could never be "
                        "reached"
                    )
        index = len(self._routes)
        self._routes.append(route)
        if all(s.static for s in route.segments):
            self._static_paths.setdefault(route.path, []).append((index, route))
        else:
            node = self._root
            for i, seg in enumerate(route.segments):
                if seg.static:
                    node = node.static.setdefault(seg.text, _Node())
                elif seg.catch_all:
                    rest = "/".join(s.text for s in route.segments[i:])
                    _, _, rest_segments = _parse_path("/" + rest)
                    node.catch_all.append((index, route, _rest_regex(rest_segments)))
                    break
                else:
                    entry = node.dynamic.get(seg.text)
                    if entry is None:
                        assert seg.regex is not None
                        plain = _PLAIN_PARAM.fullmatch(seg.text) is not None
                        entry = node.dynamic[seg.text] = (None if plain else seg.regex, seg.names, _Node())
                        only = next(iter(node.dynamic.values())) if len(node.dynamic) == 1 else None
                        node.plain = (only[1][0], only[2]) if only is not None and only[0] is None else None
                    node = entry[2]
            else:
                node.routes.append((index, route))
        self._static = None

    # -- matching --------------------------------------------------------------------------------------------
    def _candidates(self, path: str) -> list[tuple[int, APIRoute, dict[str, Any]]]:
        """Every route whose template matches ``path``, in declaration order, with converted params."""
        found: list[tuple[int, APIRoute, dict[str, str]]] = []
        for index, route in self._static_paths.get(path, ()):
            found.append((index, route, {}))
        if path.startswith("/"):
            _walk(self._root, path.split("/")[1:], 0, [], found)
        if len(found) > 1:
            found.sort(key=lambda item: item[0])
        out = []
        for index, route, raw in found:
            if route.convert_params:
                try:
                    raw = {k: route.param_convertors[k].convert(v) for k, v in raw.items()}
                except ValueError:
                    continue
            out.append((index, route, raw))
        return out

    def _build_static(self) -> dict[str, tuple[dict[str, Match], str]]:
        table: dict[str, tuple[dict[str, Match], str]] = {}
        for path in self._static_paths:
            table[path] = self._resolve(path)
        self._static = table
        return table

    def _resolve(
        self, path: str, candidates: list[tuple[int, APIRoute, dict[str, Any]]] | None = None
    ) -> tuple[dict[str, Match], str]:
        by_method: dict[str, Match] = {}
        allow: list[str] = []
        for _, route, values in candidates if candidates is not None else self._candidates(path):
            for m in route.method_list:
                by_method.setdefault(m, (route, values))
                if m not in allow:
                    allow.append(m)
        return by_method, ", ".join(allow)

    def match(self, method: str, path: str) -> Match | str | None:
        """The (route, path params) for this request; else the Allow header value (405) or None (404)."""
        static = self._static
        if static is None:
            static = self._build_static()
        # PERF: a static path resolves with two dict lookups; its precedence was settled at build time.
        hit = static.get(path)
        if hit is not None:
            found = hit[0].get(method)
            if found is not None:
                return found[0], dict(found[1])
            return hit[1]
        fast = self._descend(method, path)
        if fast is not _AMBIGUOUS:
            return fast  # type: ignore[no-any-return]
        candidates = self._candidates(path)
        # PERF: the usual dynamic hit is a single candidate that accepts the method.
        if len(candidates) == 1 and method in candidates[0][1].methods:
            return candidates[0][1], candidates[0][2]
        by_method, allow = self._resolve(path, candidates)
        found = by_method.get(method)
        if found is not None:
            return found
        return allow or None

    def _descend(self, method: str, path: str) -> Any:
        """Match by one walk down the tree while no branch is possible; ``_AMBIGUOUS`` where one is.

        With no branching every candidate lies on that single walk, so the answer equals the full search's.
        """
        # PERF: no recursion, no candidate lists: dict lookups and one params dict.
        node = self._root
        params: dict[str, Any] = {}
        for part in path.split("/")[1:]:
            if node.catch_all:
                return _AMBIGUOUS
            child = node.static.get(part)
            if child is not None:
                if node.dynamic:
                    return _AMBIGUOUS
                node = child
                continue
            if not node.dynamic or not part:
                return None
            plain = node.plain
            if plain is None:
                return _AMBIGUOUS
            params[plain[0]] = part
            node = plain[1]
        if node.catch_all:
            return _AMBIGUOUS
        # Only static and plain "{name}" segments were crossed, so these routes' parameters are all str:
        # nothing to convert, and no convertor can reject the path.
        allow: list[str] = []
        for _, route in node.routes:  # declaration order: the first that takes the method wins
            if method in route.methods:
                return route, params
            allow.extend(m for m in route.method_list if m not in allow)
        return ", ".join(allow) or None

    def url_path_for(self, name: str, **path_params: Any) -> str:
        """The path of the route called ``name`` with these parameters (raises if none fits)."""
        for route in self._routes:
            if route.name == name:
                path = route.url_path_for(**path_params)
                if path is not None:
                    return path
        for mount in self.mounts:
            path = mount.url_path_for(name, **path_params)
            if path is not None:
                return path
        raise FastAPIError(f"No route exists for name {name!r} and params {sorted(path_params)!r}.")


def _shape(path: str) -> str:
    """The path template with parameter names erased but convertors kept: equal shapes match equal paths."""
    return _PARAM_RE.sub(lambda m: "{" + (m.group(2) or "str") + "}", path)


def _rest_regex(segments: list[_Segment]) -> re.Pattern[str]:
    parts = []
    for seg in segments:
        if seg.static:
            parts.append(re.escape(seg.text))
        else:
            assert seg.regex is not None
            parts.append(seg.regex.pattern[1:-1])
    return re.compile("^" + "/".join(parts) + "$")


def _walk(
    node: _Node,
    parts: list[str],
    i: int,
    params: list[tuple[str, str]],
    found: list[tuple[int, APIRoute, dict[str, str]]],
) -> None:
    if node.catch_all:
        rest = "/".join(parts[i:])
        for index, route, regex in node.catch_all:
            m = regex.match(rest)
            if m is not None:
                found.append((index, route, {**dict(params), **m.groupdict()}))
    if i == len(parts):
        for index, route in node.routes:
            found.append((index, route, dict(params)))
        return
    part = parts[i]
    child = node.static.get(part)
    if child is not None:
        _walk(child, parts, i + 1, params, found)
    if part and node.dynamic:
        for seg_regex, names, sub in node.dynamic.values():
            if seg_regex is None:
                # PERF: a plain {name} segment accepts any non-empty segment; no regex needed.
                params.append((names[0], part))
                _walk(sub, parts, i + 1, params, found)
                params.pop()
                continue
            m = seg_regex.match(part)
            if m is not None:
                groups = m.groupdict()
                params.extend((n, groups[n]) for n in names)
                _walk(sub, parts, i + 1, params, found)
                del params[len(params) - len(names) :]


# ------------------------------------------------------------------------------------------------------------
# Mounted applications
# ------------------------------------------------------------------------------------------------------------
class Mount:
    """A sub-application answering every path under ``path`` (``app.mount("/static", StaticFiles(...))``).

    A fulmen app, or anything with a native ``handle(request)``, is called directly with the request re-rooted
    (``root_path`` grows by ``path``, ``path`` loses it); any other ASGI app goes through the ASGI adapter.
    """

    def __init__(self, path: str, app: Any, name: str | None = None) -> None:
        if path and (not path.startswith("/") or path.endswith("/")):
            raise FastAPIError(f"A mount path must start with '/' and must not end with '/', got {path!r}")
        self.path = path
        self.app = app
        self.name = name
        self._handle: Callable[[Any], Any] | None = None

    def matches(self, path: str) -> bool:
        """Whether ``path`` (relative to the parent's root) is under this mount."""
        prefix = self.path
        return path == prefix or path.startswith(prefix + "/") or not prefix

    @property
    def handle(self) -> Callable[[Any], Any]:
        """The sub-app's ``handle(request)``: native when it has one, else through the ASGI adapter."""
        handle = self._handle
        if handle is None:
            build = getattr(self.app, "build_middleware_stack", None)
            if build is not None:
                build()  # a fulmen sub-app: its middleware stack is final from here on
            native = getattr(self.app, "handle", None)
            if getattr(self.app, "asgi_middleware_installed", False):
                native = None  # its ASGI middleware only runs through its ASGI entry point
            if callable(native):
                handle = native
            else:
                from fulmen.engine.asgi_adapter import ASGIAdapter

                handle = ASGIAdapter(self.app).handle
            self._handle = handle
        return handle

    def url_path_for(self, name: str, **path_params: Any) -> str | None:
        """``name`` is this mount's name (with a ``path`` parameter) or ``"mount:route"`` inside a sub-app."""
        if self.name is not None and name == self.name and set(path_params) <= {"path"}:
            rest = str(path_params.get("path", ""))
            return self.path + ("/" + rest.lstrip("/") if rest else "/")
        if self.name is not None and name.startswith(self.name + ":"):
            sub = getattr(self.app, "url_path_for", None)
            if sub is not None:
                try:
                    return self.path + str(sub(name[len(self.name) + 1 :], **path_params))
                except Exception:
                    return None
        if self.name is None:
            sub = getattr(self.app, "url_path_for", None)
            if sub is not None:
                try:
                    return self.path + str(sub(name, **path_params))
                except Exception:
                    return None
        return None

    def __repr__(self) -> str:
        return f"Mount(path={self.path!r}, name={self.name!r}, app={self.app!r})"


# ------------------------------------------------------------------------------------------------------------
# WebSocket routes (``@app.websocket``): a table of their own, so HTTP routing never looks at them
# ------------------------------------------------------------------------------------------------------------
WebSocketHandler = Callable[[Any], Coroutine[Any, Any, None]]


class APIWebSocketRoute:
    """One WebSocket endpoint: path template, endpoint, and its dependency plan (solved once per connection).

    As in FastAPI, path/query/header/cookie parameters and ``Depends`` are solved before the endpoint runs;
    a validation error raises ``WebSocketRequestValidationError`` (the app's default handler closes the
    socket with code 1008, which a server turns into a 403 on the handshake).
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        dependencies: Sequence[Depends] | None = None,
    ) -> None:
        if not path.startswith("/") and not path.startswith("{$"):
            # FastAPI's OpenAPI callback paths ("{$callback_url}/...") are documented, never routed.
            raise FastAPIError(f"Routed paths must start with '/', got {path!r}")
        self.path = path
        #: The unique-id function chosen for this route or its router (None: the including router's).
        self.unique_id_function: Callable[[APIRoute], str] | None = None
        self.endpoint = endpoint
        self.name = name if name is not None else getattr(endpoint, "__name__", type(endpoint).__name__)
        self.dependencies = list(dependencies or [])
        self.path_format, self.param_convertors, segments = _parse_path(path)
        self.static = all(s.static for s in segments)
        self.path_regex = re.compile("^/" + _rest_regex(segments).pattern[1:])
        where = f"websocket route {path!r}"
        self.dependant: Dependant = get_dependant(
            endpoint, path=path, path_param_names=set(self.param_convertors), where=where
        )
        if self.dependencies:
            add_route_dependencies(self.dependant, self.dependencies)
        tree = self.dependant.iter_tree()
        declared = {f.name for d in tree for f in d.path_params}
        missing = [p for p in self.param_convertors if p not in declared]
        if missing:
            raise FastAPIError(
                f"{where}: path parameter {missing[0]!r} is not a parameter of "
                f"{getattr(endpoint, '__qualname__', endpoint)!r}; add `{missing[0]}` to its signature"
            )
        bodies = [f.name for d in tree for f in d.body_params]
        if bodies:
            raise FastAPIError(
                f"{where}: parameter {bodies[0]!r} would be read from a request body, which a WebSocket "
                "handshake doesn't have; declare it as Query(), Header() or Cookie(), or receive it as a "
                "message"
            )
        if not self.dependant.is_coroutine:
            raise FastAPIError(f"{where}: a WebSocket endpoint must be an `async def` function")
        self.handler: WebSocketHandler = compile_websocket_handler(self.dependant)

    def match(self, path: str) -> dict[str, Any] | None:
        """The converted path parameters if ``path`` fits this route's template, else None."""
        if self.static:
            return {} if path == self.path else None
        m = self.path_regex.match(path)
        if m is None:
            return None
        raw = m.groupdict()
        try:
            return {k: self.param_convertors[k].convert(v) for k, v in raw.items()}
        except ValueError:
            return None

    def url_path_for(self, **path_params: Any) -> str | None:
        """This route's path with the given parameters filled in, or None if they don't fit."""
        if set(path_params) != set(self.param_convertors):
            return None
        path = self.path_format
        for name, conv in self.param_convertors.items():
            path = path.replace("{" + name + "}", conv.to_string(path_params[name]))
        return path

    def __repr__(self) -> str:
        return f"APIWebSocketRoute(path={self.path!r}, name={self.name!r})"


class WebSocketRouteTable:
    """WebSocket routes in declaration order; the first whose template fits a path wins (FastAPI's rule).

    A handshake happens once per connection, so a scan in declaration order is plenty.
    """

    def __init__(self) -> None:
        self.routes: list[APIWebSocketRoute] = []

    def add(self, route: APIWebSocketRoute) -> None:
        """Register a route; an identical path template declared twice is a start-up error."""
        shape = _shape(route.path)
        for other in self.routes:
            if _shape(other.path) == shape:
                raise FastAPIError(
                    f"WebSocket route {route.path!r} ({route.name}) conflicts with the route declared before "
                    f"it, {other.path!r} ({other.name}); the second could never be reached"
                )
        self.routes.append(route)

    def match(self, path: str) -> tuple[APIWebSocketRoute, dict[str, Any]] | None:
        """The route for ``path`` and its path parameters, or None."""
        for route in self.routes:
            params = route.match(path)
            if params is not None:
                return route, params
        return None

    def url_path_for(self, name: str, **path_params: Any) -> str | None:
        """The path of the WebSocket route called ``name``, or None."""
        for route in self.routes:
            if route.name == name:
                path = route.url_path_for(**path_params)
                if path is not None:
                    return path
        return None


def compile_websocket_handler(dep: Dependant) -> WebSocketHandler:
    """``async handler(websocket)``: solve the parameters and dependencies, run the endpoint, end ``yield``
    dependencies (newest first, the endpoint's exception thrown into them), as FastAPI's websocket routes do.
    """
    from fulmen.dependencies import DependencyRunner, _Run, _unwind
    from fulmen.exceptions import RequestValidationError, WebSocketRequestValidationError

    runner = DependencyRunner(dep, inline_sync=False)
    call = dep.call

    async def run_websocket(websocket: Any) -> None:
        run = _Run(websocket, False)
        try:
            try:
                values = await runner.solve(run)
            except RequestValidationError as exc:
                raise WebSocketRequestValidationError(exc.errors()) from None
            await call(**values)
        except BaseException as exc:
            if not (run.function_exits or run.request_exits):
                raise
            left = await _unwind(run.function_exits, exc, False)
            left = await _unwind(run.request_exits, left, False)
            if left is None:
                return  # a yield dependency handled it (as an AsyncExitStack would)
            if left is exc:
                raise
            raise left from None
        if run.function_exits or run.request_exits:
            left = await _unwind(run.function_exits, None, False)
            left = await _unwind(run.request_exits, left, False)
            if left is not None:
                raise left

    return run_websocket


def _guarded(handler: Callable[[Any], Awaitable[Response]]) -> RequestHandler:
    """A custom route class's handler, with its own exceptions answered by the app's exception handlers."""

    async def run_custom(request: Any) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            return await request.app.handle_exception(request, exc)  # type: ignore[no-any-return]

    return run_custom
