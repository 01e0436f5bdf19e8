"""Per-route request limits: ``max_body_size`` and ``form_limits`` (FastAPI 0.165's settings, same answers).

Set on ``FastAPI()``, ``APIRouter()``, ``include_router()`` or a path operation; the most specific setting
wins, and a mounted app inherits what its mount point has. Everything is resolved when the route is
registered: a route without limits runs no code from here (DESIGN.md §3.2); only an app with both a limit and
middleware adds one step before its middleware. The engine's own ``max_body_size`` (docs/engine.md) is a
separate, server-wide cap checked before routing. docs/limits.md is the user's guide.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypedDict, cast

from fulmen.exceptions import BaseHTTPException
from fulmen.requests import Request
from fulmen.responses import PlainTextResponse, Response

__all__ = [
    "FormLimits",
    "first_limit",
    "limit_request",
    "validate_form_limits",
    "validate_max_body_size",
]

_TOO_LARGE = "Content Too Large"


class FormLimits(TypedDict, total=False):
    """Limits for parsing ``Form()``/``File()`` parameters; a key left out keeps the enclosing value."""

    #: Most non-file fields in one form.
    max_fields: int
    #: Most files in one multipart form.
    max_files: int
    #: Largest non-file field, in bytes.
    max_part_size: int


_FORM_LIMIT_KEYS = frozenset(FormLimits.__annotations__)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def validate_max_body_size(max_body_size: object) -> None:
    """Reject, at configuration time, a limit that isn't a non-negative int or None."""
    if max_body_size is not None and not _is_count(max_body_size):
        raise ValueError(f"max_body_size must be a non-negative integer or None, got {max_body_size!r}")


def validate_form_limits(limits: Mapping[str, Any] | None) -> FormLimits:
    """A checked copy of ``limits`` (later changes to the caller's dict don't apply); ``{}`` for None."""
    if limits is None:
        return {}
    if not isinstance(limits, Mapping):
        raise ValueError(f"form_limits must be a dict, got {limits!r}")
    for key, value in limits.items():
        if key not in _FORM_LIMIT_KEYS:
            known = ", ".join(sorted(_FORM_LIMIT_KEYS))
            raise ValueError(f"form_limits: unknown setting {key!r}; the settings are {known}")
        if not _is_count(value):
            raise ValueError(f"form_limits: {key} must be a non-negative integer, got {value!r}")
    return cast(FormLimits, dict(limits))


def first_limit(*limits: int | None) -> int | None:
    """The first configured limit, most specific first (None: no limit anywhere)."""
    for limit in limits:
        if limit is not None:
            return limit
    return None


class ContentTooLarge(BaseHTTPException):
    """Raised by a read of a request body that grows past the route's limit; answered by the app's
    ``HTTPException`` handlers (``413 {"detail": "Content Too Large"}``), as in FastAPI."""

    def __init__(self) -> None:
        super().__init__(413, _TOO_LARGE)


async def _too_large() -> bytes:
    raise ContentTooLarge()


class _CountingReader:
    """A body reader raising ``ContentTooLarge`` past ``limit`` bytes (or for a declared length over it);
    ``limit`` changes when a more specific setting is reached (the app's, then the route's)."""

    __slots__ = ("_read", "declared", "limit", "seen")

    def __init__(self, read: Any, limit: int, declared: int | None) -> None:
        self._read = read
        self.limit = limit
        self.declared = declared
        self.seen = 0

    async def __call__(self) -> bytes:
        if self.declared is not None and self.declared > self.limit:
            raise ContentTooLarge()
        chunk: bytes = await self._read()
        self.seen += len(chunk)
        if self.seen > self.limit:
            raise ContentTooLarge()
        return chunk


class _BufferedReader:
    """A buffered body over the app's limit, read under the limit in force when it is read (a route may allow
    more than the app)."""

    __slots__ = ("body", "limit", "seen")

    def __init__(self, body: bytes, limit: int) -> None:
        self.body = body
        self.limit = limit
        self.seen = 0

    async def __call__(self) -> bytes:
        if len(self.body) > self.limit:
            raise ContentTooLarge()
        chunk, self.body = self.body, b""
        self.seen += len(chunk)
        return chunk


def _declared_length(request: Request) -> int | None:
    for name, value in request.raw_headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


RouteHandler = Callable[[Request], Coroutine[Any, Any, Response]]


def limit_request(
    handler: RouteHandler, max_body_size: int | None, form_limits: FormLimits | None
) -> RouteHandler:
    """``handler`` checking the body size and handing the form limits to the form parser; ``handler``
    itself when there is nothing to enforce."""
    if max_body_size is None and not form_limits:
        return handler
    if max_body_size is None:
        only_form_limits: Mapping[str, Any] = form_limits or {}

        def with_form_limits(request: Request) -> Coroutine[Any, Any, Response]:
            request._form_limits = only_form_limits
            return handler(request)

        return with_form_limits

    limit = max_body_size
    limits = form_limits or None

    async def with_body_limit(request: Request) -> Response:
        declared = _declared_length(request)
        if declared is not None and declared > limit:
            # FastAPI (Starlette's body-limit middleware) answers a declared length over the limit itself,
            # in plain text, without the app's exception handlers.
            return PlainTextResponse(_TOO_LARGE, status_code=413)
        body = request._body
        if body is None:
            read = request._read_body
            if isinstance(read, (_CountingReader, _BufferedReader)):
                read.limit = limit  # the app's limit (before its middleware) gives way to the route's
                if read.seen > limit:
                    raise ContentTooLarge()
            elif read is not None:
                request._read_body = _CountingReader(read, limit, declared)
        elif len(body) > limit:
            # A buffered body without a length (chunked), or one a middleware read: too large only if the
            # handler reads it, as when FastAPI counts the bytes it receives.
            request._body = None
            request._read_body = _too_large
        if limits is not None:
            request._form_limits = limits
        return await handler(request)

    return with_body_limit


def limit_before_middleware(handle: RouteHandler, max_body_size: int) -> RouteHandler:
    """``handle`` (the app's middleware) reading bodies under the app's ``max_body_size``: a middleware that
    reads the body is held to the app's limit, a route's own limit takes over when it is reached (FastAPI)."""
    limit = max_body_size

    async def app_body_limit(request: Request) -> Response:
        read = request._read_body
        if isinstance(read, (_CountingReader, _BufferedReader)):
            read.limit = limit  # a mounted app with its own limit, inside its parent's
        elif request._body is None:
            if read is not None:
                request._read_body = _CountingReader(read, limit, _declared_length(request))
        elif len(request._body) > limit:
            request._read_body = _BufferedReader(request._body, limit)
            request._body = None
        try:
            return await handle(request)
        except ContentTooLarge:
            # A middleware read past the limit and let the error out: Starlette's limiter answers it.
            return PlainTextResponse(_TOO_LARGE, status_code=413)

    return app_body_limit


def too_large_before_routing(request: Request, max_body_size: int | None) -> Response | None:
    """The 413 for a request no route answers when its declared length is over the app's limit, else None."""
    if max_body_size is None:
        return None
    declared = _declared_length(request)
    if declared is not None and declared > max_body_size:
        return PlainTextResponse(_TOO_LARGE, status_code=413)
    return None


def limits_over(app: Any, cap: int) -> list[str]:
    """The routes (``"POST /uploads/"``) of ``app`` and its mounted apps whose body limit is over ``cap``.

    The engine warns with these at start-up: its own ``max_body_size`` is checked first, before routing.
    """
    found: list[str] = []
    seen: set[int] = set()

    def visit(target: Any, prefix: str) -> None:
        table = getattr(target, "table", None)
        if table is None or id(target) in seen:
            return
        seen.add(id(target))
        for route in table.routes:
            limit = getattr(route, "max_body_size", None)
            if limit is not None and limit > cap:
                methods = ",".join(m for m in getattr(route, "method_list", ()) if m != "HEAD")
                found.append(f"{methods} {prefix}{route.path}")
        for mount in table.mounts:
            visit(mount.app, prefix + mount.path)

    visit(app, "")
    return found
