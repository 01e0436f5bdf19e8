"""Starlette's ``route.matches(scope)`` on fulmen's routes, for libraries that walk ``app.routes`` themselves.

Metrics and tracing middleware (prometheus-fastapi-instrumentator, starlette-exporter, OpenTelemetry's FastAPI
instrumentation) find the template of a request's route by calling ``matches(scope)`` on every route and
comparing the answer with Starlette's ``Match`` enum, by identity. fulmen's router never calls these
methods (it has its own table); they answer with Starlette's own ``Match`` members when the program has
imported ``starlette.routing`` (any caller comparing with them has), so fulmen never imports Starlette here.
"""

from __future__ import annotations

import re
import sys
from enum import Enum
from typing import Any


class Match(Enum):
    """Starlette's ``Match`` values, answered while Starlette isn't loaded (nobody holds its own then)."""

    NONE = 0
    PARTIAL = 1
    FULL = 2


def match_enum() -> Any:
    """Starlette's ``Match`` enum once ``starlette.routing`` is imported, else fulmen's stand-in."""
    module = sys.modules.get("starlette.routing")
    return Match if module is None else module.Match


def route_path(scope: dict[str, Any]) -> str:
    """The scope's path under its ``root_path`` (whole segments only), as Starlette's routes match it."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


def path_params_in(
    regex: re.Pattern[str], convertors: dict[str, Any], scope: dict[str, Any]
) -> dict[str, Any] | None:
    """The scope's path parameters (the outer ones, then this template's converted) or None: no match."""
    found = regex.match(route_path(scope))
    if found is None:
        return None
    try:
        own = {name: convertors[name].convert(value) for name, value in found.groupdict().items()}
    except ValueError:
        return None  # fulmen's router skips a route whose convertor rejects the value; so does this
    params = dict(scope.get("path_params", {}))
    params.update(own)
    return params


def match_http_route(route: Any, scope: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``APIRoute.matches``: FULL, PARTIAL (path fits, method doesn't: a 405) or NONE, and the child scope."""
    match = match_enum()
    if scope["type"] != "http":
        return match.NONE, {}
    child = _child_scope(route, scope)
    if child is None:
        return match.NONE, {}
    return (match.FULL if scope["method"] in route.methods else match.PARTIAL), child


def match_websocket_route(route: Any, scope: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``APIWebSocketRoute.matches``: FULL for a websocket scope whose path fits, else NONE."""
    match = match_enum()
    if scope["type"] != "websocket":
        return match.NONE, {}
    child = _child_scope(route, scope)
    if child is None:
        return match.NONE, {}
    return match.FULL, child


def _child_scope(route: Any, scope: dict[str, Any]) -> dict[str, Any] | None:
    """What a route matching ``scope``'s path adds to it (Starlette's child scope), or None if the path
    doesn't fit."""
    params = path_params_in(route.path_regex, route.param_convertors, scope)
    if params is None:
        return None
    endpoint = getattr(route, "plain_endpoint", None) or route.endpoint
    return {"endpoint": endpoint, "path_params": params, "route": route}


def match_mount(mount: Any, scope: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``Mount.matches``: FULL for a path fulmen sends to the mount; the child scope is re-rooted under it."""
    match = match_enum()
    if scope["type"] not in ("http", "websocket"):
        return match.NONE, {}
    path = route_path(scope)
    if not mount.covers(path):
        return match.NONE, {}
    root_path = scope.get("root_path", "")
    child = {
        "path_params": dict(scope.get("path_params", {})),
        "app_root_path": scope.get("app_root_path", root_path),
        "root_path": root_path + mount.path,
        "endpoint": mount.app,
    }
    return match.FULL, child
