"""Path templates and the route table: static paths by dict lookup, parameterised paths by a radix tree.

Matching follows FastAPI's precedence: among routes that match a path, the one declared first wins. The table
keeps that rule while staying fast: for every static path it precomputes, once, which route answers each
method (an earlier ``/users/{id}`` still beats a later ``/users/me``), and a dynamic path walks a tree of path
segments whose cost grows with the path's length, not with the number of routes.

Apart from fulmen.routing (the user-facing APIRoute, APIRouter and Mount, which users subclass and extend):
this module runs on every request and holds only internal classes, so it can be compiled with mypyc
(docs/engine.md, "What to compile").
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fulmen.exceptions import FastAPIError, no_match_found

if TYPE_CHECKING:
    from fulmen.routing import APIRoute, Mount

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


def parse_path(path: str) -> tuple[str, dict[str, Convertor], list[_Segment]]:
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


Match = tuple["APIRoute", dict[str, Any]]
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

    def clear(self) -> None:
        """Forget every route and mount (the router's route list is added again after an edit)."""
        self._routes = []
        self.mounts.clear()
        self._root = _Node()
        self._static_paths = {}
        self._static = None

    def add(self, route: APIRoute) -> None:
        """Register a route; the same method on an identical path template is a start-up error."""
        shape = path_shape(route.path)
        if route.implicit_head and "HEAD" not in route.methods:  # given back when the table is rebuilt
            route.methods.add("HEAD")
            route.method_list.append("HEAD")
        for other in self._routes:
            if path_shape(other.path) == shape:
                clash = (route.methods & other.methods) - {"HEAD"}
                if clash:
                    raise FastAPIError(
                        f"Route {sorted(clash)[0]} {route.path!r} ({route.name}) conflicts with the route "
                        f"declared before it, {other.path!r} ({other.name}); the second could never be "
                        "reached"
                    )
                # A route declaring HEAD answers it, declared before or after a GET route on the same path
                # (FastAPI's GET routes don't answer HEAD at all).
                if route.implicit_head and "HEAD" in other.methods and not other.implicit_head:
                    _drop_head(route)
                elif other.implicit_head and "HEAD" in route.methods and not route.implicit_head:
                    _drop_head(other)
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
                    _, _, rest_segments = parse_path("/" + rest)
                    node.catch_all.append((index, route, rest_regex(rest_segments)))
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

    def url_path_for(self, name: str, /, **path_params: Any) -> str:
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
        raise no_match_found(name, path_params)


def _drop_head(route: APIRoute) -> None:
    route.methods.discard("HEAD")
    if "HEAD" in route.method_list:
        route.method_list.remove("HEAD")


def path_shape(path: str) -> str:
    """The path template with parameter names erased but convertors kept: equal shapes match equal paths."""
    return _PARAM_RE.sub(lambda m: "{" + (m.group(2) or "str") + "}", path)


def rest_regex(segments: list[_Segment]) -> re.Pattern[str]:
    parts = []
    for seg in segments:
        if seg.static:
            parts.append(re.escape(seg.text))
        else:
            assert seg.regex is not None
            parts.append(seg.regex.pattern[1:-1])
    return re.compile("^" + "/".join(parts) + "$")


def template_regex(segments: list[_Segment]) -> re.Pattern[str]:
    """The whole path template as one anchored regex (Starlette's ``path_regex``), a group per parameter."""
    return re.compile("^/" + rest_regex(segments).pattern[1:])


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
