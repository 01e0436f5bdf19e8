"""Rate limiting: per route as a dependency, app-wide as middleware; state in memory or in Redis.

``Depends(RateLimit("10/minute"))`` limits the routes, routers or app it is declared on;
``app.add_middleware(RateLimitMiddleware, limits="100/minute")`` limits every HTTP request. Both count
per client key (the client's IP by default), answer 429 ``{"detail": "Too Many Requests"}`` with
``Retry-After`` when a limit is spent, and report the limits in headers on every response. The algorithm
(GCRA) and its storage are in ``_core`` (memory) and ``redis_backend`` (Redis, imported lazily).
See docs/ratelimit.md.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Union, cast

from fulmen.exceptions import HTTPException, WebSocketException
from fulmen.middleware import UNBOUND_APP, ASGIApp, Handle, Message, Receive, Scope, Send
from fulmen.middleware.ratelimit._core import (
    HEADER_STYLES,
    Decision,
    HeaderStyle,
    Limit,
    MemoryBackend,
    RateLimitBackend,
    parse_limit,
    parse_limits,
)
from fulmen.middleware.ratelimit.redis_backend import RateLimitBackendError, RedisBackend
from fulmen.params import Depends
from fulmen.requests import HTTPConnection, Request
from fulmen.responses import JSONResponse, Response

#: A key function: the client a request counts for (a str; other values are made one with ``str()``);
#: None lets the request through uncounted.
KeyFunc = Callable[[Request], Union[str, Awaitable[Union[str, None]], None]]

__all__ = [
    "Decision",
    "HeaderStyle",
    "KeyFunc",
    "Limit",
    "MemoryBackend",
    "RateLimit",
    "RateLimitBackend",
    "RateLimitBackendError",
    "RateLimitExceeded",
    "RateLimitMiddleware",
    "RedisBackend",
    "client_ip",
    "header_key",
    "limit_responses",
    "parse_limit",
    "parse_limits",
]


class RateLimitExceeded(HTTPException):
    """429 Too Many Requests, with ``Retry-After`` and the limit headers; register a handler to reshape it."""

    def __init__(
        self, decision: Decision, headers: dict[str, str], detail: Any = "Too Many Requests"
    ) -> None:
        super().__init__(429, detail, headers=headers)
        #: The decision that refused the request (remaining counts, reset and retry times).
        self.decision = decision


# -- key functions -----------------------------------------------------------------------------------------
def client_ip(request: HTTPConnection) -> str:
    """The client's IP address: the TCP peer, or the address a trusted proxy forwarded.

    The engine applies ``X-Forwarded-For``/``Forwarded`` only from ``forwarded_allow_ips`` peers, and so does
    uvicorn's ``--proxy-headers``; a request without a peer address (a Unix socket) counts as "unknown".
    """
    client = request.client
    return client[0] if client is not None else "unknown"


def header_key(name: str, *, fallback: KeyFunc | None = client_ip) -> KeyFunc:
    """A key function reading header ``name`` (an API key, a tenant id); ``fallback`` when it is absent
    (the client's IP by default; None lets requests without the header through uncounted)."""
    lowered = name.lower().encode("latin-1")

    def key(request: Request) -> str | Awaitable[str | None] | None:
        for header, value in request.raw_headers:
            if header == lowered:
                return "h:" + value.decode("latin-1")
        return None if fallback is None else fallback(request)

    key.__name__ = f"header_key({name!r})"
    return key


# -- headers -----------------------------------------------------------------------------------------------
class _Reporter:
    """Builds the limit headers of one limiter's responses; the constant parts are encoded once."""

    __slots__ = ("_item", "_policy", "limits", "style")

    def __init__(self, limits: Sequence[Limit], style: str) -> None:
        if style not in HEADER_STYLES:
            raise ValueError(f"headers must be one of {', '.join(map(repr, HEADER_STYLES))}, not {style!r}")
        self.limits = tuple(limits)
        self.style = style
        policy = ", ".join(f'"{lim.name}";q={lim.times};w={_seconds(lim.window_us)}' for lim in limits)
        self._policy = (b"ratelimit-policy", policy.encode("latin-1"))
        self._item = '"' + limits[0].name.replace("%", "%%") + '";r=%d;t=%d'

    def raw(self, decision: Decision) -> list[tuple[bytes, bytes]]:
        """The header pairs for ``decision`` (lower-case names, as raw headers are), Retry-After included."""
        out: list[tuple[bytes, bytes]] = []
        if not decision.allowed:
            out.append((b"retry-after", str(decision.retry_after).encode()))
        style = self.style
        remaining = decision.remaining
        if style == "none" or not remaining:  # nothing known: a fail-open pass while the backend is down
            return out
        resets = decision.reset_us
        if style != "x-ratelimit":
            out.append(self._policy)
            if len(remaining) == 1:  # PERF: one limit, one format
                value = self._item % (remaining[0], -(-resets[0] // 1_000_000))
            else:
                value = ", ".join(
                    f'"{lim.name}";r={left};t={_seconds(reset)}'
                    for lim, left, reset in zip(self.limits, remaining, resets, strict=True)
                )
            out.append((b"ratelimit", value.encode("latin-1")))
        if style != "ietf":
            # The tightest limit: the one with the fewest requests left (the first of equals).
            i = remaining.index(min(remaining))
            out.append((b"x-ratelimit-limit", str(self.limits[i].times).encode()))
            out.append((b"x-ratelimit-remaining", str(remaining[i]).encode()))
            out.append((b"x-ratelimit-reset", str(_seconds(resets[i])).encode()))
        return out

    def exceeded(self, decision: Decision) -> RateLimitExceeded:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.raw(decision)}
        return RateLimitExceeded(decision, _titled(headers))


_TITLES = {
    "retry-after": "Retry-After",
    "ratelimit-policy": "RateLimit-Policy",
    "ratelimit": "RateLimit",
    "x-ratelimit-limit": "X-RateLimit-Limit",
    "x-ratelimit-remaining": "X-RateLimit-Remaining",
    "x-ratelimit-reset": "X-RateLimit-Reset",
}


def _titled(headers: dict[str, str]) -> dict[str, str]:
    return {_TITLES.get(k, k): v for k, v in headers.items()}


def _seconds(us: int) -> int:
    """Microseconds as whole seconds, rounded up (a client that waits that long is never early)."""
    return -(-us // 1_000_000)


#: The fields one limiter's headers may share with another's on the same response.
_LIMIT_FIELDS = frozenset(
    {
        b"retry-after",
        b"ratelimit-policy",
        b"ratelimit",
        b"x-ratelimit-limit",
        b"x-ratelimit-remaining",
        b"x-ratelimit-reset",
    }
)
_POLICY_NAME = re.compile(rb'"([^"]*)"')


def merge_limit_headers(
    target: list[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]], label: str
) -> None:
    """Add one limiter's header pairs (``_Reporter.raw``) to ``target``, the response's raw headers, so that a
    response limited twice (the middleware and a route, or several ``RateLimit``s) still says it once.

    The IETF draft's ``RateLimit`` and ``RateLimit-Policy`` are lists: the second limiter's items join the
    first's in one field (a policy name both use is prefixed with ``label``, the limiter's name, so each
    item names one policy); ``X-RateLimit-*`` describe the most restrictive limit (fewest requests left, the
    first of equals); ``Retry-After`` is the longer wait.
    """
    for pair in target:
        if pair[0] in _LIMIT_FIELDS:
            break
    else:  # PERF: the usual case, one limiter: nothing to look up
        target += extra
        return
    _merge_into(target, extra, label)


def _merge_into(target: list[tuple[bytes, bytes]], extra: list[tuple[bytes, bytes]], label: str) -> None:
    found = {pair[0]: i for i, pair in enumerate(target) if pair[0] in _LIMIT_FIELDS}
    # X-RateLimit-*: ours replace the three fields when they describe a tighter limit (or none are there).
    x_at = found.get(b"x-ratelimit-remaining")
    x_ours = True
    if x_at is not None:
        for name, value in extra:
            if name == b"x-ratelimit-remaining":
                old = target[x_at][1]
                x_ours = not old.isdigit() or int(value) < int(old)  # not a count (an app's own): ours
                break
    # The IETF lists: a policy name already listed is prefixed with the limiter's name.
    renamed: list[bytes] = []
    listed = found.get(b"ratelimit-policy", found.get(b"ratelimit"))
    if listed is not None:
        existing = target[listed][1]
        for name, value in extra:
            if name == b"ratelimit-policy":
                renamed = [n for n in _POLICY_NAME.findall(value) if b'"' + n + b'"' in existing]
                break
    for name, value in extra:
        at = found.get(name)
        if name == b"ratelimit" or name == b"ratelimit-policy":
            if renamed:
                prefix = label.replace('"', "").replace("\\", "").encode("latin-1", "replace") + b":"
                for policy in renamed:
                    value = value.replace(b'"' + policy + b'"', b'"' + prefix + policy + b'"')
            if at is not None:
                value = target[at][1] + b", " + value
        elif name == b"retry-after":
            if at is not None and target[at][1].isdigit() and int(target[at][1]) >= int(value):
                continue  # the longer wait stays (an HTTP-date, which can't be compared, is replaced)
        elif not x_ours:  # an X-RateLimit-* of a looser limit
            continue
        if at is None:
            target.append((name, value))
        else:
            target[at] = (name, value)


# -- OpenAPI -----------------------------------------------------------------------------------------------
_DETAIL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"detail": {"type": "string", "title": "Detail"}},
    "required": ["detail"],
    "title": "HTTPError",
}
_HEADER_DOCS: dict[str, tuple[str, str]] = {
    "Retry-After": ("integer", "Seconds to wait before sending another request."),
    "RateLimit-Policy": ("string", 'The limits, per policy: "name";q=<quota>;w=<window in seconds>.'),
    "RateLimit": ("string", 'What is left, per policy: "name";r=<requests left>;t=<seconds until full>.'),
    "X-RateLimit-Limit": ("integer", "Requests allowed in the tightest limit's window."),
    "X-RateLimit-Remaining": ("integer", "Requests left under the tightest limit."),
    "X-RateLimit-Reset": ("integer", "Seconds until the tightest limit is full again."),
}
_STYLE_HEADERS: dict[str, tuple[str, ...]] = {
    "ietf": ("RateLimit-Policy", "RateLimit"),
    "x-ratelimit": ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"),
    "both": (
        "RateLimit-Policy",
        "RateLimit",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    ),
    "none": (),
}


def limit_responses(style: str, *, fail_closed: bool = False) -> dict[int, dict[str, Any]]:
    """The OpenAPI ``responses`` entries of a limiter: its 429 (with the headers ``style`` sends) and, when it
    is fail-closed, its 503; in the shape a route's ``responses=`` takes (a new dict each call)."""
    headers = {
        name: {"description": _HEADER_DOCS[name][1], "schema": {"type": _HEADER_DOCS[name][0]}}
        for name in ("Retry-After", *_STYLE_HEADERS[style])
    }
    out: dict[int, dict[str, Any]] = {
        429: {
            "description": "Too Many Requests",
            "headers": headers,
            "content": {"application/json": {"schema": copy.deepcopy(_DETAIL_SCHEMA)}},
        }
    }
    if fail_closed:
        out[503] = {
            "description": "Service Unavailable",
            "content": {"application/json": {"schema": copy.deepcopy(_DETAIL_SCHEMA)}},
        }
    return out


def _fail_closed(backend: RateLimitBackend) -> bool:
    """Whether ``backend`` answers 503 when its store is down (a ``RedisBackend(fail_open=False)``)."""
    return getattr(backend, "fail_open", True) is False


#: Keys longer than this (a client can send any header value) are stored as their SHA-256.
MAX_KEY_LENGTH = 128


def _bounded(key: str) -> str:
    """``key`` itself, or its digest when a client made it long: storage keys stay small."""
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def _backend_unavailable() -> HTTPException:
    return HTTPException(503, "Service Unavailable")


_sites: dict[str, int] = {}


def _creation_site(depth: int) -> str:
    """``module:line`` of the code that made a limiter: a default name stable across processes and restarts
    (Redis counters of the same declaration are shared by every worker). Limiters made by one line (a
    helper function called for several routes) are numbered in creation order: ``module:line#2``."""
    frame = sys._getframe(depth)
    site = f"{frame.f_globals.get('__name__', '?')}:{frame.f_lineno}"
    seen = _sites[site] = _sites.get(site, 0) + 1
    return site if seen == 1 else f"{site}#{seen}"


def _limits_from(
    limits: Sequence[str | Limit], times: int | None, seconds: float | None
) -> tuple[Limit, ...]:
    if times is not None or seconds is not None:
        if times is None or seconds is None:
            raise TypeError("RateLimit(times=..., seconds=...) needs both times and seconds")
        limits = (*limits, Limit(times, seconds))
    return parse_limits(list(limits))


# -- the dependency ----------------------------------------------------------------------------------------
class RateLimit:
    """A per-route limit as a dependency: ``dependencies=[Depends(RateLimit("10/minute"))]``.

    One instance is one set of counters: declared on a router or the app, it limits the sum of their
    routes' requests; declare one instance per route for separate counts. ``key`` is a key function
    (``client_ip`` by default, ``header_key("X-API-Key")``, your own ``(request) -> str``) or
    ``Depends(dep)`` to count per what a dependency returns (the current user). Every response of a
    route the request was counted on gets the limit headers: a returned value, a ``Response`` the endpoint
    returns itself, an ``HTTPException`` it raises. The route documents the 429 (``openapi_responses``).
    On a WebSocket route a refused handshake is closed with 1008 (policy violation) and reason "Too Many
    Requests".
    """

    def __init__(
        self,
        *limits: str | Limit,
        times: int | None = None,
        seconds: float | None = None,
        key: KeyFunc | Depends = client_ip,
        name: str | None = None,
        backend: RateLimitBackend | None = None,
        headers: HeaderStyle = "ietf",
    ) -> None:
        self.limits = _limits_from(limits, times, seconds)
        self.name = name if name is not None else _creation_site(2)
        self.backend: RateLimitBackend = backend if backend is not None else MemoryBackend()
        self._reporter = _Reporter(self.limits, headers)
        self._prefixes = [f"{self.name}:{limit.name}:" for limit in self.limits]
        self._key_func: KeyFunc | None = None
        if isinstance(key, Depends):
            # The key is a dependency's value: this instance gets a class whose __call__ declares it, so
            # the route's dependency plan solves it like any other (cached, overridable, validated).
            self.__class__ = _with_key_dependency(key)
        elif callable(key):
            self._key_func = key
        else:
            raise TypeError(f"RateLimit's key must be a function of the request or Depends(...), not {key!r}")

    async def __call__(self, request: HTTPConnection, response: Response) -> None:
        """Count this request; raise ``RateLimitExceeded`` (429) when a limit is spent."""
        assert self._key_func is not None
        key: Any = self._key_func(request)  # type: ignore[arg-type]
        if key is not None and type(key) is not str and inspect.isawaitable(key):
            key = await key  # PERF: a sync key function's str skips the awaitable check
        await self.hit(request, response, key)

    async def hit(
        self, request: HTTPConnection, response: Response | None, key: str | None
    ) -> Decision | None:
        """Count one request under ``key`` (None: not counted); the decision, or the 429/503 raised."""
        if key is None:
            return None
        if type(key) is not str:
            key = str(key)  # a user id from a dependency may be an int or a UUID
        if len(key) > MAX_KEY_LENGTH:
            key = _bounded(key)
        keys = [prefix + key for prefix in self._prefixes]
        backend = self.backend
        try:
            if type(backend) is MemoryBackend:
                decision = backend.check_now(keys, self.limits)  # PERF: no coroutine, it never waits
            else:
                decision = await backend.check(keys, self.limits)
        except RateLimitBackendError:
            if request.scope["type"] == "websocket":
                raise WebSocketException(1011, "Service Unavailable") from None
            raise _backend_unavailable() from None
        if not decision.allowed:
            if request.scope["type"] == "websocket":
                raise WebSocketException(1008, "Too Many Requests")
            counted = _COUNTED.get(request)  # type: ignore[call-overload]
            if counted:
                # Limiters before this one let the request through: the 429 reports them too, in the order
                # the 200s do (RateLimit-Policy stays the same list), and an exception handler sees them all.
                merged: list[tuple[bytes, bytes]] = []
                for extra, label in counted:
                    merge_limit_headers(merged, extra, label)
                merge_limit_headers(merged, self._reporter.raw(decision), self.name)
                counted.clear()
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in merged}
                raise RateLimitExceeded(decision, _titled(headers))
            raise self._reporter.exceeded(decision)
        if response is not None:
            counted = _COUNTED.get(request)  # type: ignore[call-overload]
            if counted is not None:
                counted.append((self._reporter.raw(decision), self.name))
            else:  # not under with_limit_headers (a frontend's dependencies): the injected response's way
                response.raw_headers += self._reporter.raw(decision)
        return decision

    @property
    def openapi_responses(self) -> dict[int, dict[str, Any]]:
        """The 429 (and, with a fail-closed backend, the 503) that routes using this limiter document.

        fulmen's OpenAPI generator adds them to each route that depends on this limiter (a route's own
        ``responses=`` entry for the same status wins); see docs/openapi.md, Responses from dependencies.
        """
        return limit_responses(self._reporter.style, fail_closed=_fail_closed(self.backend))

    def __repr__(self) -> str:
        return f"RateLimit({', '.join(repr(lim.name) for lim in self.limits)}, name={self.name!r})"


#: Per request on a limited route: each allowed limiter's header pairs and name, added to the response
#: by ``with_limit_headers`` whatever built it. Keyed by the request object while its route answers it.
_COUNTED: dict[Request, list[tuple[list[tuple[bytes, bytes]], str]]] = {}


def with_limit_headers(dependant: Any, handler: Any) -> Any:
    """``handler`` of a route whose dependencies include a ``RateLimit``, made to add the limit headers to
    every response it gives once the request was counted; any other route's ``handler`` itself.

    Why around the route's handler, not through the injected ``response``: that one reaches only results the
    route serialises (FastAPI's rule), not a ``Response`` the endpoint returns or an ``HTTPException`` it
    raises. APIRoute calls this at start-up (only when this module was imported: no limiter, no check).
    """
    if not any(isinstance(dep.call, RateLimit) for dep in dependant.iter_tree()):
        return handler
    counted_by = _COUNTED

    async def limit_headers(request: Request) -> Response:
        counted: list[tuple[list[tuple[bytes, bytes]], str]] = []
        counted_by[request] = counted
        try:
            response: Response = await handler(request)
        finally:
            counted_by.pop(request, None)
        for extra, label in counted:
            merge_limit_headers(response.raw_headers, extra, label)
        return response

    return limit_headers


def _with_key_dependency(key: Depends) -> type[RateLimit]:
    async def __call__(
        self: RateLimit,
        request: HTTPConnection,
        response: Response,
        key: str | None = key,  # type: ignore[assignment]  # a Depends default, as in FastAPI code
    ) -> None:
        await self.hit(request, response, key)

    return type("RateLimit", (RateLimit,), {"__call__": __call__, "__doc__": RateLimit.__doc__})


# -- the middleware ----------------------------------------------------------------------------------------
#: The keys of an OpenAPI path item that are operations (the others are summary, parameters, servers...).
_OPERATION_KEYS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

ExceededHandler = Callable[[Request, RateLimitExceeded], Union[Response, Awaitable[Response]]]


class RateLimitMiddleware:
    """Limit every HTTP request of the app: ``app.add_middleware(RateLimitMiddleware, limits="100/minute")``.

    ``exempt`` paths are not counted (``"/health"`` exactly, ``"/static/*"`` as a prefix). WebSocket
    connections pass through uncounted (limit them per route with ``RateLimit``). ``exceeded_handler``
    builds the 429 response; by default it is ``{"detail": "Too Many Requests"}`` with the headers.
    ``openapi=True`` documents the 429 (and a fail-closed backend's 503) on every operation of the app's
    OpenAPI document but the exempt paths' (the middleware can't know which routes it guards otherwise).
    """

    def __init__(
        self,
        app: ASGIApp,
        limits: str | Limit | Sequence[str | Limit] = (),
        *,
        key: KeyFunc = client_ip,
        name: str = "app",
        backend: RateLimitBackend | None = None,
        exempt: Sequence[str] = (),
        headers: HeaderStyle = "ietf",
        exceeded_handler: ExceededHandler | None = None,
        openapi: bool = False,
    ) -> None:
        self.app = app
        if not isinstance(openapi, bool):
            raise TypeError(f"RateLimitMiddleware's openapi is True or False, not {openapi!r}")
        self.openapi = openapi
        if isinstance(limits, (str, Limit)):
            limits = [limits]
        if not limits:
            raise TypeError('RateLimitMiddleware needs limits=, e.g. limits="100/minute"')
        if not callable(key):
            raise TypeError(f"RateLimitMiddleware's key must be a function of the request, not {key!r}")
        self.limits = parse_limits(limits)
        self.key = key
        self.name = name
        self.backend: RateLimitBackend = backend if backend is not None else MemoryBackend()
        self._reporter = _Reporter(self.limits, headers)
        self.exceeded_handler = exceeded_handler
        if isinstance(exempt, str):
            raise TypeError("exempt is a list of paths, e.g. exempt=['/health']")
        for path in exempt:
            if not path.startswith("/"):
                raise ValueError(f"An exempt path starts with '/': {path!r}")
        self._exempt = frozenset(p for p in exempt if not p.endswith("*"))
        self._exempt_prefixes = tuple(p[:-1] for p in exempt if p.endswith("*"))
        self._prefixes = [f"{name}:{limit.name}:" for limit in self.limits]

    @classmethod
    def update_openapi(cls, document: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        """With ``openapi=True``, add the middleware's 429 (and 503) to every operation of ``document`` but
        the exempt paths' (an operation's own entry for the status, a route limiter's included, wins).

        fulmen's ``app.openapi()`` calls it with the options the middleware was added with, once per
        generated document (never per request).
        """
        found = cls(UNBOUND_APP, *args, **kwargs)
        if not found.openapi:
            return
        answers = limit_responses(found._reporter.style, fail_closed=_fail_closed(found.backend))
        for path, item in document.get("paths", {}).items():
            if path in found._exempt or path.startswith(found._exempt_prefixes):
                continue
            for method, operation in item.items():
                if method not in _OPERATION_KEYS:
                    continue
                responses = operation.setdefault("responses", {})
                for code, answer in answers.items():
                    if str(code) not in responses:
                        responses[str(code)] = copy.deepcopy(answer)

    async def _key(self, request: Request) -> str | None:
        """The request's storage key, or None when it is not counted (exempt path, key function's None)."""
        path = request.path
        if path in self._exempt or (self._exempt_prefixes and path.startswith(self._exempt_prefixes)):
            return None
        found: Any = self.key(request)
        if found is not None and type(found) is not str and inspect.isawaitable(found):
            found = await found
        key: str | None = None if found is None else str(found)
        if key is not None and len(key) > MAX_KEY_LENGTH:
            key = _bounded(key)
        return key

    async def _decide(self, request: Request) -> Decision | Response | None:
        """None to pass uncounted, a Decision to pass with headers, a Response (429/503) to answer."""
        key = await self._key(request)
        if key is None:
            return None
        keys = [prefix + key for prefix in self._prefixes]
        try:
            decision = await self.backend.check(keys, self.limits)
        except RateLimitBackendError:
            return JSONResponse({"detail": "Service Unavailable"}, status_code=503)
        if decision.allowed:
            return decision
        return await self._refuse(request, decision)

    async def _refuse(self, request: Request, decision: Decision) -> Response:
        """The 429: ``exceeded_handler``'s answer, or ``{"detail": "Too Many Requests"}``."""
        exc = self._reporter.exceeded(decision)
        handler = self.exceeded_handler
        if handler is None:
            return JSONResponse({"detail": exc.detail}, status_code=429, headers=exc.headers)
        answer = handler(request, exc)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    # -- native path ---------------------------------------------------------------------------------------
    def wrap_handle(self, handle: Handle) -> Handle:
        """Natively: decide, then call ``handle`` and add the limit headers to its response."""
        report = self._reporter.raw
        refuse = self._refuse
        key_func = self.key
        exempt = self._exempt
        exempt_prefixes = self._exempt_prefixes
        prefixes = self._prefixes
        limits = self.limits
        backend = self.backend
        name = self.name
        # PERF: the memory backend is asked without a coroutine (its check never waits).
        memory = backend.check_now if type(backend) is MemoryBackend else None

        async def ratelimit(request: Request) -> Response:
            path = request.path
            if path in exempt or (exempt_prefixes and path.startswith(exempt_prefixes)):
                return await handle(request)
            key: Any = key_func(request)
            if type(key) is not str:  # PERF: one type check for the usual sync key function
                if key is not None and inspect.isawaitable(key):
                    key = await key
                if key is None:
                    return await handle(request)
                key = str(key)
            if len(key) > MAX_KEY_LENGTH:
                key = _bounded(key)
            keys = [prefix + key for prefix in prefixes]
            if memory is not None:
                decision = memory(keys, limits)
            else:
                try:
                    decision = await backend.check(keys, limits)
                except RateLimitBackendError:
                    return JSONResponse({"detail": "Service Unavailable"}, status_code=503)
            if not decision.allowed:
                return await refuse(request, decision)
            response = await handle(request)
            merge_limit_headers(response.raw_headers, report(decision), name)
            return response

        return ratelimit

    # -- ASGI path -----------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from fulmen.middleware._asgi import send_response

        outcome = await self._decide(Request(cast(dict[str, Any], scope), cast(Any, receive)))
        if outcome is None:
            await self.app(scope, receive, send)
            return
        if type(outcome) is not Decision:
            await send_response(outcome, scope, send)  # type: ignore[arg-type]
            return
        extra = self._reporter.raw(outcome)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(bytes(k).lower(), bytes(v)) for k, v in message.get("headers", ())]
                merge_limit_headers(headers, extra, self.name)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
