"""``request.scope`` as Starlette code uses it: a dict whose writes change the request.

Starlette's ``request.scope`` *is* the request: middleware rewrites ``scope["path"]`` before routing, edits
``scope["headers"]`` (``MutableHeaders(scope=request.scope)``) for the route to read, or stores its own keys.
fulmen's request is built from parsed values, so its scope is a dict made on demand; this dict writes each
change back to the request (and to the server's ASGI scope, which an ASGI middleware stack passes inward).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fulmen.datastructures import State

if TYPE_CHECKING:
    from fulmen.requests import Request


def _set_path(request: Request, path: str) -> None:
    # As an ASGI scope's path, it holds the root path (a mount's prefix too); routes see the rest.
    mounted = request._mounted_from
    if mounted is not None:  # inside a mounted app the scope's path is the outer app's whole path
        outer_root = mounted[1]
        outer_path = path[len(outer_root) :] if outer_root and path.startswith(outer_root) else path
        request._mounted_from = (mounted[0], outer_root, outer_path)
    root = request.root_path
    size = len(root)
    if root and path.startswith(root) and (len(path) == size or path[size] == "/"):
        path = path[size:] or "/"
    request.path = path
    request._url = None


def _set_headers(request: Request, headers: list[tuple[bytes, bytes]]) -> None:
    # The list itself, not a copy: Starlette's MutableHeaders(scope=...) goes on editing the list it stored.
    request.raw_headers = headers
    request._headers = None
    request._cookies = None
    request._url = None  # the Host header


def _set_query_string(request: Request, query_string: bytes) -> None:
    request.query_string = query_string
    request._query_params = None
    request._url = None


def _set_state(request: Request, state: Any) -> None:
    request._state = state if isinstance(state, State) else State(state)


def _setter(name: str, *, url: bool = False) -> Any:
    def set_attribute(request: Request, value: Any) -> None:
        setattr(request, name, value)
        if url:
            request._url = None

    return set_attribute


#: Scope keys that are request attributes: how a write changes the request. Other keys are kept beside it.
_WRITE_BACK: dict[str, Any] = {
    "path": _set_path,
    "headers": _set_headers,
    "query_string": _set_query_string,
    "state": _set_state,
    "raw_path": _setter("raw_path"),
    "method": _setter("method"),
    "path_params": _setter("path_params"),
    "http_version": _setter("http_version"),
    "root_path": _setter("root_path", url=True),
    "scheme": _setter("scheme", url=True),
    "server": _setter("server", url=True),
    "client": _setter("client"),
}


class RequestScope(dict[str, Any]):
    """The ASGI-style scope of a request; setting or deleting a key changes the request, as in Starlette."""

    __slots__ = ("request",)

    def __init__(self, request: Request, items: dict[str, Any]) -> None:
        super().__init__(items)
        self.request = request

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        request = self.request
        write = _WRITE_BACK.get(key)
        if write is not None:
            write(request, value)
        else:
            extra = request.scope_extra
            if extra is None:
                extra = request.scope_extra = {}
            extra[key] = value
        asgi_scope: dict[str, Any] | None = getattr(request, "_asgi_scope", None)
        if asgi_scope is not None and key != "path":
            # An ASGI stack's inner layers build their request from the server's scope; its "path" holds the
            # root path, which the request's path doesn't.
            asgi_scope[key] = value
        elif asgi_scope is not None:
            asgi_scope["path"] = request.root_path + request.path

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        extra = self.request.scope_extra
        if extra is not None:
            extra.pop(key, None)
        asgi_scope: dict[str, Any] | None = getattr(self.request, "_asgi_scope", None)
        if asgi_scope is not None:
            asgi_scope.pop(key, None)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        pairs: Iterable[tuple[str, Any]] = other.items() if isinstance(other, Mapping) else other
        for key, value in pairs:
            self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy.copy(), deepcopy() and pickle give a plain dict: a copy is a snapshot, not the request.
        return (dict, (dict(self),))

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default:
            return default[0]
        raise KeyError(key)
