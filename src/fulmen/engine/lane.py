"""The compiled engine's lane: whether a server uses it, its route table, and its hand-overs.

With ``FULMEN_COMPILE=1`` the package carries ``fulmen.engine._lane`` (Cython): a connection class that
answers a read holding exactly one request for a *lane route* without any Python frame of the engine's, and
hands everything else to ``HttpProtocol``. A lane route is an ``async def`` endpoint without dependencies or a
response model, answered as JSON, in an app without middleware: a GET with no parameters or one path
parameter, or a POST with one JSON body parameter. This module is the Python half: it runs at start-up and on
the (rare) hand-over paths. See docs/engine.md, "The lane".
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import re
from typing import TYPE_CHECKING, Any, NamedTuple

import httptools

from fulmen._concurrency import run_eager, start_eager, task_context
from fulmen.datastructures import Address
from fulmen.encoders import _encode
from fulmen.engine.protocol import _HOST_RE, STATUS_LINES, HttpProtocol, ServerState

if TYPE_CHECKING:
    from fulmen.requests import Request

_lane: Any
try:
    from fulmen.engine import _lane  # type: ignore[attr-defined,no-redef]  # Cython: only in a compiled build
except ImportError:  # the pure-Python build: no lane
    _lane = None

#: ``FULMEN_LANE=0`` turns the lane off in a compiled build (to compare, or to rule it out).
ENV = "FULMEN_LANE"


def available() -> bool:
    """True when this build has the lane and ``FULMEN_LANE`` doesn't turn it off."""
    return _lane is not None and os.environ.get(ENV, "1") != "0"


#: ``{name}`` alone in the last segment of a template (no convertor): the lane's templates.
_LAST_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)}")


class LaneTable(NamedTuple):
    """The routes a lane answers, looked up by the raw path of a request.

    ``static``: ``{path: (endpoint, serialize, head, where)}``. ``templates``: ``{prefix: (endpoint,
    serialize, head, where, name, validate)}`` for a route ``prefix{name}``; the last segment is validated
    by the plan's own ``validate``. ``static_paths``: every static path of the table (a template never
    answers those). ``head`` is the response head up to the content length. ``posts``: ``{path: (endpoint,
    serialize, head, where, name, decode)}`` for a static POST route whose one parameter is a JSON body
    (``decode``: the plan's own decoder).
    """

    static: dict[bytes, tuple[Any, ...]]
    templates: dict[bytes, tuple[Any, ...]]
    static_paths: frozenset[bytes]
    posts: dict[bytes, tuple[Any, ...]]


def lane_table(app: Any) -> LaneTable:
    """The lane routes of ``app``: GET routes whose handler is the plan's plain async one, answered as JSON.

    Only a fulmen app served as itself (no middleware, root path, telemetry or wrapper: ``handle`` is the
    class's) has any. A route qualifies when its endpoint has no parameters, or one path parameter as the
    whole last segment of its path; no dependencies, response model or ``response_class``; and the route table
    itself picks it for every path the lane would answer with it (declaration order and all).
    """
    from fulmen.app import Fulmen

    empty = LaneTable({}, {}, frozenset(), {})
    if not isinstance(app, Fulmen) or "handle" in vars(app) or type(app).handle is not Fulmen.handle:
        return empty
    table = app.table
    static: dict[bytes, tuple[Any, ...]] = {}
    templates: dict[bytes, tuple[Any, ...]] = {}
    posts: dict[bytes, tuple[Any, ...]] = {}
    static_paths = frozenset(r.path.encode("utf-8") for r in table.routes if "{" not in r.path)
    for route in table.routes:
        path = route.path
        if not path.isascii() or "%" in path:
            continue
        body = getattr(route.handler, "lane_body", None)
        if body is not None and "POST" in route.methods and "{" not in path:
            found = table.match("POST", path)
            head = _head(body[1])
            if type(found) is tuple and found[0] is route and head is not None:
                call, serialize, where, name, decode = body
                posts[path.encode("ascii")] = (call, serialize, head, where, name, decode)
            continue
        if "GET" not in route.methods:
            continue
        if "{" not in path:
            bare = getattr(route.handler, "lane", None)
            found = table.match("GET", path)
            if bare is None or type(found) is not tuple or found[0] is not route or found[1]:
                continue
            call, serialize, where = bare
            head = _head(serialize)
            if head is not None:
                static[path.encode("ascii")] = (call, serialize, head, where)
            continue
        one = getattr(route.handler, "lane_path", None)
        if one is None:
            continue
        prefix, _, last = path.rpartition("/")
        param = _LAST_PARAM.fullmatch(last)
        if param is None or "{" in prefix or param.group(1) != one[3] or not _alone(route, table.routes):
            continue
        call, serialize, where, name, validate = one
        head = _head(serialize)
        if head is not None:
            templates[(prefix + "/").encode("ascii")] = (call, serialize, head, where, name, validate)
    return LaneTable(static, templates, static_paths, posts)


def _head(serialize: Any) -> bytes | None:
    """Status line and ``content-length: `` for a route fulmen's serializer answers as JSON, else None."""
    status = getattr(serialize, "native_status", None)
    line = STATUS_LINES.get(status) if isinstance(status, int) else None
    return None if line is None else line + b"content-length: "


def _alone(route: Any, routes: list[Any]) -> bool:
    """No other template could match a path ``route`` matches (static paths are checked per request)."""
    mine = route.path.split("/")
    for other in routes:
        if other is route or "{" not in other.path:
            continue
        theirs = other.path.split("/")
        if ":path}" in other.path:
            # A catch-all matches any depth: only a static segment that differs before it rules it out.
            before = other.path[: other.path.index("{")].split("/")[:-1]
            if all(a == b for a, b in zip(before, mine, strict=False)):
                return False
            continue
        if len(theirs) != len(mine):
            continue
        if all("{" in b or a == b for a, b in zip(mine[:-1], theirs[:-1], strict=True)):
            return False
    return True


def lane_factory(state: ServerState, protocol: type[HttpProtocol]) -> Any:
    """The connection factory for a server, or None when its connections can't take the lane.

    The lane only stands in for the plain ``HttpProtocol`` (not the access log's, the concurrency limit's or
    a request-streaming app's) on a plain TCP server without a root path (which moves where routes match).
    """
    config = state.config
    if (
        not available()
        or protocol is not HttpProtocol
        or state.access_log
        or config.is_ssl
        or config.root_path
    ):
        return None
    routes = lane_table(state.app)
    if not routes.static and not routes.templates and not routes.posts:
        return None
    support = _Support(state)
    lane_class = _lane.LaneProtocol

    def factory() -> Any:
        return lane_class(state, routes, support)

    return factory


class _Support:
    """What a lane connection calls in Python: once per connection, or when it gives a request up."""

    encode = staticmethod(_encode)
    run_eager = staticmethod(run_eager)
    task_context = staticmethod(task_context)
    status_lines = STATUS_LINES

    def __init__(self, state: ServerState) -> None:
        self.state = state

    @staticmethod
    def host_ok(value: bytes) -> bool:
        """HttpProtocol's Host check (trailing whitespace dropped, then the uri-host [":" port] grammar)."""
        return _HOST_RE.fullmatch(value.rstrip(b" \t")) is not None

    @staticmethod
    def peer(state: ServerState, transport: Any) -> tuple[Any, Any, bool]:
        """``(client, server, trusted)`` as HttpProtocol notes them when a connection is made."""
        client: Address | None = None
        server: tuple[str, int] | None = None
        trusted = state.trusted_proxies
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            client = Address(str(peer[0]), int(peer[1]))
            is_trusted = trusted is not None and client.host in trusted
        else:
            is_trusted = trusted is not None and trusted.always
        sock = transport.get_extra_info("sockname")
        if isinstance(sock, tuple) and len(sock) >= 2:
            server = (str(sock[0]), int(sock[1]))
        return client, server, is_trusted

    def refuse(self, lane: Any, transport: Any) -> None:
        """Over the connection cap, or shutting down: HttpProtocol answers 503 and closes."""
        protocol = HttpProtocol(self.state)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)

    def hand_over(self, lane: Any, data: bytes) -> HttpProtocol:
        """Before any handler ran: a fresh HttpProtocol parses ``data`` from its first byte and keeps the
        connection."""
        transport, write_paused = lane.release()
        protocol = HttpProtocol(self.state)
        protocol.take_over(transport, data, write_paused)
        return protocol

    def adopt_task(self, lane: Any, task: asyncio.Future[Any], serialize: Any, where: Any) -> None:
        """The endpoint suspended, or raised: HttpProtocol answers with the Response it leads to."""
        context = task_context(task)
        finish = _finish(task, serialize, where, lane)
        outcome = start_eager(finish, self.state.loop, context)
        self._adopt(lane, outcome, context)

    def adopt_error(self, lane: Any, exc: Exception, where: Any, context: contextvars.Context | None) -> None:
        """The route's serializer raised: the app's exception handlers answer, then HttpProtocol writes it."""
        outcome = start_eager(_answer_exception(lane, where, exc), self.state.loop, context)
        self._adopt(lane, outcome, context)

    def adopt_response(self, lane: Any, response: Any, context: contextvars.Context | None) -> None:
        """A response the lane doesn't write itself (streamed, with background work, a 204...)."""
        self._adopt(lane, response, context)

    def build_request(self, lane: Any) -> Request:
        """The Request for the lane's current read (see ``build_request``)."""
        return build_request(lane, self.state)

    def _adopt(self, lane: Any, outcome: Any, context: contextvars.Context | None) -> None:
        request = lane.build_request()
        protocol = self.hand_over(lane, b"")
        protocol.adopt(request, outcome, context)


async def _finish(task: asyncio.Future[Any], serialize: Any, where: Any, lane: Any) -> Any:
    # The rest of the plan's bare handler (fulmen.plan, run_bare) for an endpoint the lane started.
    try:
        return serialize(await task)
    except Exception as exc:
        return await _answer_exception(lane, where, exc)


async def _answer_exception(lane: Any, where: Any, exc: Exception) -> Any:
    request = lane.build_request()
    where.attach(exc, request.method, request.root_path)
    return await request.app.handle_exception(request, exc)


class _Fields:
    """Collects header fields as HttpProtocol.on_header stores them (lower-case name, no trailing OWS)."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if value and value[-1] in b" \t":
            value = value.rstrip(b" \t")
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)


def build_request(lane: Any, state: ServerState) -> Request:
    """The Request HttpProtocol would have built for the lane's current request (for exception handlers)."""
    from fulmen.requests import Request

    url: bytes = lane.url
    path, _, query = url.partition(b"?")
    # The lane keeps no header list: the read (exactly this request) is parsed again for it.
    fields = _Fields()
    httptools.HttpRequestParser(fields).feed_data(lane.raw)
    headers = fields.headers
    config = state.config
    request: Request = Request(  # type: ignore[call-overload]  # positional, as HttpProtocol.on_message_complete
        "POST" if lane.raw.startswith(b"POST ") else "GET",
        path,
        query,
        headers,
        None,
        b"".join(fields.body),
        None,
        lane.client,
        lane.server,
        state.scheme,
        "1.1",
        config.root_path,
        state.app,
    )
    request._disconnect_probe = lane
    if lane.path_params is not None:
        request.path_params = lane.path_params
    return request
