"""The request object shared by both front doors (engine and ASGI).

Built from raw values with ``__slots__``; headers, query parameters, cookies and the URL are parsed on first
access only (DESIGN.md §3.2), so a route that reads nothing pays nothing.
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    ItemsView,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, Protocol, overload
from urllib.parse import unquote

import msgspec

from fulmen._lookalike import lookalike_class, lookalike_reduce_ex
from fulmen._mypyc import mypyc_attr
from fulmen.datastructures import (
    URL,
    Address,
    FormData,
    Headers,
    QueryParams,
    State,
    first_header,
    request_url,
    url_class,
)

if TYPE_CHECKING:
    from fulmen.app import Fulmen
    from fulmen.forms import AwaitableForm

#: An async callable that returns the next chunk of the request body, b"" at the end.
BodyReader = Callable[[], Awaitable[bytes]]
#: An ASGI ``receive`` callable.
Receive = Callable[[], Awaitable[dict[str, Any]]]


async def _empty_receive() -> dict[str, Any]:
    raise RuntimeError("Receive channel has not been made available")


class ClientDisconnect(Exception):
    """The client went away before the request body was complete."""


class DisconnectProbe(Protocol):
    """What a front door gives a request to answer ``is_disconnected()``: a check that never waits."""

    def client_disconnected(self) -> bool:
        """True once the client has closed the connection."""
        ...


def parse_cookie_header(value: str) -> dict[str, str]:
    """Parse a ``Cookie`` header into a dict the way browsers send it (lenient, last value wins)."""
    cookies: dict[str, str] = {}
    for chunk in value.split(";"):
        if "=" in chunk:
            key, val = chunk.split("=", 1)
        else:
            key, val = "", chunk
        key, val = key.strip(), val.strip()
        if key or val:
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = SimpleCookie().value_decode(val)[0]
            cookies[key] = val
    return cookies


# Python subclasses (custom request classes) must keep working if this module is compiled with mypyc.
@mypyc_attr(allow_interpreted_subclasses=True)
class Request:
    """An HTTP request: method, URL, headers, cookies, client, body and per-request state."""

    __slots__ = (
        "__weakref__",  # weak references work, as on Starlette's Request (caches keyed by request)
        "_asgi_scope",
        "_body",
        "_cookies",
        "_disconnect_probe",
        "_form",
        "_form_limits",
        "_headers",
        "_json",
        "_mounted_from",
        "_query_params",
        "_read_body",
        "_receive",
        "_state",
        "_url",
        "app",
        "client",
        "http_version",
        "method",
        "path",
        "path_params",
        "query_string",
        "raw_headers",
        "raw_path",
        "root_path",
        "scheme",
        "scope_extra",
        "server",
    )

    #: ``isinstance(obj, <Starlette's class>)`` holds once Starlette is imported (fulmen._lookalike).
    __class__ = lookalike_class
    __reduce_ex__ = lookalike_reduce_ex

    @overload
    def __init__(
        self, scope: dict[str, Any], receive: Receive = _empty_receive, send: Any = None, /
    ) -> None: ...

    @overload
    def __init__(
        self,
        method: str,
        raw_path: bytes,
        query_string: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        path: str | None = None,
        body: bytes | None = b"",
        read_body: BodyReader | None = None,
        client: Address | tuple[str, int] | None = None,
        server: Address | tuple[str, int] | None = None,
        scheme: str = "http",
        http_version: str = "1.1",
        root_path: str = "",
        app: Fulmen | None = None,
        state: dict[str, Any] | None = None,
    ) -> None: ...

    def __init__(
        self,
        method: Any,
        raw_path: Any = _empty_receive,
        query_string: Any = b"",
        raw_headers: Any = None,
        # PERF: not keyword-only: the engine passes everything positionally (about half the call cost).
        path: str | None = None,
        body: bytes | None = b"",
        read_body: BodyReader | None = None,
        client: Address | tuple[str, int] | None = None,
        server: Address | tuple[str, int] | None = None,
        scheme: str = "http",
        http_version: str = "1.1",
        root_path: str = "",
        app: Fulmen | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        """Front doors pass the parsed request; ``Request(scope, receive)`` (Starlette's signature) works too,
        for custom request classes (``MyRequest(request.scope, request.receive)``) and pure ASGI code."""
        # PERF: most paths carry no escapes; skip unquote's work for them.
        if path is None:
            try:
                raw = raw_path.decode("latin-1")
            except AttributeError:
                # PERF: Starlette's signature is told apart here, where the engine's call passes no path
                # anyway: a try costs nothing when nothing is raised.
                if not isinstance(method, dict):
                    raise
                self._init_from_scope(method, raw_path)
                return
            path = unquote(raw) if "%" in raw else raw
        self.method: str = method
        self.raw_path: bytes = raw_path
        self.path: str = path
        self.query_string: bytes = query_string
        #: Header (name, value) pairs with lower-case names, in arrival order.
        self.raw_headers: list[tuple[bytes, bytes]] = raw_headers
        self._body = body
        self._read_body = read_body
        self.client = client
        self.server = server
        self.scheme = scheme
        self.http_version = http_version
        self.root_path = root_path
        self.app = app
        self.path_params: dict[str, Any] = {}
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._url: URL | None = None
        #: ``State``, or an ASGI scope's "state" dict not wrapped yet (see ``state``), or None until used.
        self._state: State | dict[str, Any] | None = None if state is None else State(state)
        self.scope_extra: dict[str, Any] | None = None
        # PERF: set here, not left unset: getattr() on an unset slot raises and clears an AttributeError
        # inside, which cost a mounted route ~3,400 instructions per request (callgrind) in _call_mount.
        self._mounted_from: tuple[Any, str, str] | None = None

    def _init_from_scope(self, scope: dict[str, Any], receive: Receive) -> None:
        """``Request(scope, receive)``: the request an ASGI scope describes, its body read from ``receive``.

        Built from another request's ``scope`` and ``receive`` it keeps that request's views (root path,
        mount, state, disconnect check) and takes the scope's headers and path parameters.
        """
        from fulmen.asgi import _ASGIBody, _under_root_path

        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            raise AssertionError(f"Request needs an http or websocket scope, not {kind!r}")
        headers = [(k.lower(), v) for k, v in scope.get("headers", ())]
        reader = _ASGIBody(receive)
        source = receive.request if isinstance(receive, _RequestReceive) else None
        if source is not None:
            self.method = source.method
            self.raw_path = source.raw_path
            self.path = source.path
            self.query_string = source.query_string
            self.client = source.client
            self.server = source.server
            self.scheme = source.scheme
            self.http_version = source.http_version
            self.root_path = source.root_path
            self._state = source.state
            self.scope_extra = source.scope_extra
            self._mounted_from = source._mounted_from
            asgi_scope: dict[str, Any] | None = getattr(source, "_asgi_scope", None)
            if asgi_scope is not None:
                self._asgi_scope = asgi_scope
            probe: DisconnectProbe | None = getattr(source, "_disconnect_probe", None)
            self._disconnect_probe = reader if probe is None else probe
        else:
            path, raw_path, root_path = _under_root_path(scope)
            client = scope.get("client")
            server = scope.get("server")
            self.method = scope.get("method", "GET")
            self.raw_path = raw_path
            self.path = path
            self.query_string = scope.get("query_string", b"")
            self.client = Address(*client) if client else None
            self.server = Address(*server) if server and server[1] is not None else None
            self.scheme = scope.get("scheme", "http")
            self.http_version = scope.get("http_version", "1.1")
            self.root_path = root_path
            self._state = scope.get("state")  # shared with the scope, as Starlette's request.state
            self.scope_extra = None
            self._mounted_from = None
            self._asgi_scope = scope
            self._disconnect_probe = reader
        # ``_body`` stays unset until the body is read: Starlette's custom request recipes test for it.
        self._read_body = reader
        self._receive = receive
        self.raw_headers = headers
        self.app = scope.get("app")
        self.path_params = dict(scope.get("path_params") or {})
        self._headers = None
        self._query_params = None
        self._cookies = None
        self._url = None

    @property
    def receive(self) -> Receive:
        """An ASGI ``receive`` callable that delivers this request's body, for ``Request(scope, receive)``."""
        receive: Receive | None = getattr(self, "_receive", None)
        if receive is None:
            receive = self._receive = _RequestReceive(self)
        return receive

    # -- lazily parsed views -------------------------------------------------------------------------------
    @property
    def headers(self) -> Headers:
        """Request headers (case-insensitive; ``getlist`` for repeated ones)."""
        h = self._headers
        if h is None:
            h = self._headers = Headers(raw=self.raw_headers)
        return h

    @property
    def query_params(self) -> QueryParams:
        """Query string parameters (``getlist`` for repeated keys)."""
        q = self._query_params
        if q is None:
            q = self._query_params = QueryParams(self.query_string)
        return q

    @property
    def cookies(self) -> dict[str, str]:
        """Cookies sent in the ``Cookie`` header."""
        c = self._cookies
        if c is None:
            c = {}
            for k, v in self.raw_headers:
                if k == b"cookie":
                    c.update(parse_cookie_header(v.decode("latin-1")))
            self._cookies = c
        return c

    @property
    def state(self) -> State:
        """Free-form per-request state (``request.state.user = ...``)."""
        s = self._state
        if s is None:
            # Lifespan state (``yield {...}`` in the lifespan) is copied in lazily, on first use only.
            app = self.app
            initial = app.lifespan_state if app is not None else None
            s = self._state = State(initial)
        elif isinstance(s, dict):
            # An ASGI scope's "state" dict (the ASGI front door), wrapped on first use: shared, not copied.
            s = self._state = State.sharing(s)
        return s

    def _host_header(self) -> str | None:
        host = first_header(self.raw_headers, b"host")
        return None if host is None else host.decode("latin-1")

    @property
    def base_url(self) -> URL:
        """Scheme, host and the application's root path with a trailing slash; a mount's prefix is not part
        of it, as in Starlette."""
        outer = self._mounted_from
        root = self.root_path if outer is None else outer[1]
        url, _ = request_url(
            self.scheme, self._host_header(), self.server, root if root.endswith("/") else root + "/", b""
        )
        return url_class()(url)

    @property
    def url(self) -> URL:
        """The URL the request was made to, as Starlette builds it: scheme, host (the Host header when valid,
        else the server address), root path, the *decoded* path and the query string."""
        u = self._url
        if u is None:
            url, _ = request_url(
                self.scheme, self._host_header(), self.server, self.root_path + self.path, self.query_string
            )
            u = self._url = url_class()(url)
        return u

    def url_for(self, name: str, /, **path_params: Any) -> URL:
        """The absolute URL of the route called ``name`` with these path parameters."""
        outer = self._mounted_from
        app = self.app if outer is None else outer[0]
        if app is None:
            raise RuntimeError("request.url_for needs the request to be bound to an application")
        # As in Starlette: names resolve from the outermost application ("mount:route" inside a named mount).
        path = app.url_path_for(name, **path_params)
        return url_class()(str(self.base_url).rstrip("/") + path)

    # -- body ------------------------------------------------------------------------------------------------
    def stream(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks as they arrive (the whole body at once when it is already buffered)."""
        # An iterator class: mypyc can't compile async generators (docs/engine.md, What to compile).
        return _BodyChunks(self)

    async def body(self) -> bytes:
        """The whole request body as bytes (read once, then cached)."""
        try:
            body = self._body
        except AttributeError:  # a request built from an ASGI scope, its body not read yet
            body = None
        if body is None:
            body = self._body = b"".join([chunk async for chunk in self.stream()])
        return body

    async def json(self) -> Any:
        """The body decoded as JSON (``json.JSONDecodeError`` when it isn't JSON, as in Starlette)."""
        # ``_json`` stays unset until the body is parsed, as on Starlette's Request: FastAPI libraries test
        # for it (fastapi-csrf-protect reads a token from ``request._json`` when it is there).
        try:
            return self._json
        except AttributeError:
            pass
        body = await self.body()
        try:
            self._json = msgspec.json.decode(body)
        except msgspec.DecodeError:
            # What msgspec refuses, json.loads decides, as in Starlette: a BOM or UTF-16/32 body, NaN and
            # Infinity parse; malformed JSON raises json.JSONDecodeError, bad UTF-8 UnicodeDecodeError.
            self._json = json.loads(body)
        return self._json

    #: The front door's connection check (unset for a request made by hand: never disconnected).
    # PERF: not set in __init__; each front door stores it after building the request (one store).
    _disconnect_probe: DisconnectProbe

    async def is_disconnected(self) -> bool:
        """True once the client has gone away; never waits (for loops such as
        ``while not await request.is_disconnected(): ...``)."""
        probe: DisconnectProbe | None = getattr(self, "_disconnect_probe", None)
        return probe is not None and probe.client_disconnected()

    #: The parsed form, once ``form()`` has read it (unset until then).
    _form: FormData
    _json: Any
    #: The route's ``form_limits`` for its Form()/File() parameters (fulmen.limits; unset for most routes).
    _form_limits: Mapping[str, Any]

    def form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> AwaitableForm:
        """The body parsed as a form (``FormData``, cached); ``async with request.form() as form:`` also
        closes its uploaded files at the end of the block. Needs python-multipart.

        Limits as Starlette's: more files or fields, or a non-file part over ``max_part_size`` bytes: 400.
        """
        # PERF: ``_form`` is not set in __init__ (requests without forms skip the store); read with getattr.
        from fulmen.forms import AwaitableForm

        return AwaitableForm(self, max_files, max_fields, max_part_size)

    # -- compatibility ---------------------------------------------------------------------------------------
    #: The ASGI scope the request was built from (ASGI front door and ASGI middleware stacks only).
    # PERF: not set in __init__ (the engine's requests never have one); read with getattr.
    _asgi_scope: dict[str, Any]

    def _from_middleware(self, key: str, middleware: str) -> Any:
        """``scope[key]`` as an ASGI middleware set it (``SessionMiddleware``...); else AssertionError."""
        extra = self.scope_extra
        if extra is not None and key in extra:
            return extra[key]
        scope: dict[str, Any] | None = getattr(self, "_asgi_scope", None)
        if scope is not None and key in scope:
            return scope[key]
        raise AssertionError(f"{middleware} must be installed to access request.{key}")

    @property
    def session(self) -> dict[str, Any]:
        """The session dict of Starlette's ``SessionMiddleware`` (changes are saved in its cookie)."""
        session: dict[str, Any] = self._from_middleware("session", "SessionMiddleware")
        mark_accessed = getattr(session, "mark_accessed", None)
        if mark_accessed is not None:
            mark_accessed()  # Starlette's session then adds ``Vary: Cookie`` to the response
        return session

    @property
    def auth(self) -> Any:
        """The credentials set by Starlette's ``AuthenticationMiddleware``."""
        return self._from_middleware("auth", "AuthenticationMiddleware")

    @property
    def user(self) -> Any:
        """The user set by Starlette's ``AuthenticationMiddleware``."""
        return self._from_middleware("user", "AuthenticationMiddleware")

    @property
    def scope(self) -> dict[str, Any]:
        """An ASGI-style scope dict describing this request, for code written against Starlette's Request.

        Writes change the request, as Starlette's scope is the request's own (``RequestScope``)."""
        from fulmen.request_scope import RequestScope

        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": self.http_version,
            "method": self.method,
            "scheme": self.scheme,
            # Inside a mount, Starlette's scope keeps the whole path (root_path holds the mount's prefix).
            "path": self.path
            if self._mounted_from is None
            else self._mounted_from[1] + self._mounted_from[2],
            "raw_path": self.raw_path,
            "query_string": self.query_string,
            "root_path": self.root_path,
            "headers": self.raw_headers,
            "client": self.client,
            "server": self.server,
            "path_params": self.path_params,
            "app": self.app,
            "state": self.state._state,
        }
        if self.app is not None:
            scope["router"] = self.app.router  # the router that routed it (Starlette's router sets it)
            # Starlette's scope["route"]: routing records nothing per request, so it is found again here.
            route = self.app._matched_route(self)
            if route is not None:
                scope["route"] = route
                # and scope["endpoint"], as Starlette's routing sets it (add_route's: the user's function)
                scope["endpoint"] = getattr(route, "plain_endpoint", None) or route.endpoint
        asgi_scope: dict[str, Any] | None = getattr(self, "_asgi_scope", None)
        if asgi_scope is not None:
            # What ASGI middleware added to the server's scope (``session``, ``user``, ``auth``...).
            for key, value in asgi_scope.items():
                scope.setdefault(key, value)
        if self.scope_extra:
            scope.update(self.scope_extra)
        return RequestScope(self, scope)

    def __getitem__(self, key: str) -> Any:
        return self.scope[key]

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"

    # A read-only mapping over ``scope``, as Starlette's Request (``"user" in request``, ``dict(request)``).
    def __iter__(self) -> Iterator[str]:
        return iter(self.scope)

    def __len__(self) -> int:
        return len(self.scope)

    def __contains__(self, key: object) -> bool:
        return key in self.scope

    def keys(self) -> KeysView[str]:
        return self.scope.keys()

    def values(self) -> ValuesView[Any]:
        return self.scope.values()

    def items(self) -> ItemsView[str, Any]:
        return self.scope.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self.scope.get(key, default)

    async def close(self) -> None:
        """Close the uploaded files of a form read with ``request.form()`` (Starlette's API)."""
        form: FormData | None = getattr(self, "_form", None)
        if form is not None:
            await form.close()

    async def send_push_promise(self, path: str) -> None:
        """HTTP/2 server push (Starlette's API). A hint a server may ignore: fulmen sends none."""

    async def send_early_hints(self, link: str, /, *additional_links: str) -> None:
        """``103 Early Hints`` with these ``Link`` values (Starlette's API). A hint a server may ignore:
        fulmen sends none."""


Mapping.register(Request)  # isinstance(request, Mapping), as for Starlette's


if TYPE_CHECKING:

    class HTTPConnection(Protocol):
        """What a ``Request`` and a ``WebSocket`` have in common (URL, headers, cookies, client, app, state).

        Type checkers see a protocol, which both satisfy; at run time it is an ABC both are registered with.
        """

        @property
        def app(self) -> Fulmen | None: ...
        @property
        def url(self) -> URL: ...
        @property
        def base_url(self) -> URL: ...
        @property
        def headers(self) -> Headers: ...
        @property
        def query_params(self) -> QueryParams: ...
        @property
        def path_params(self) -> dict[str, Any]: ...
        @property
        def cookies(self) -> dict[str, str]: ...
        @property
        def client(self) -> Address | tuple[str, int] | None: ...
        @property
        def state(self) -> State: ...
        @property
        def scope(self) -> dict[str, Any]: ...
        @property
        def session(self) -> dict[str, Any]: ...
        @property
        def auth(self) -> Any: ...
        @property
        def user(self) -> Any: ...
        def url_for(self, name: str, /, **path_params: Any) -> URL: ...

else:

    class HTTPConnection(abc.ABC):  # noqa: B024 - a marker: Request and WebSocket are registered, not derived
        """What a ``Request`` and a ``WebSocket`` have in common (URL, headers, cookies, client, app, state).

        Annotate a dependency's parameter with it to receive whichever the route has, as in FastAPI/Starlette;
        ``isinstance(conn, HTTPConnection)`` is true for both.
        """

    HTTPConnection.register(Request)


class _BodyChunks:
    """``Request.stream()``: the buffered body as one chunk, or the reader's chunks until it returns b""."""

    def __init__(self, request: Request) -> None:
        self._request: Request | None = request  # None once the first chunk was asked for
        self._reader: BodyReader | None = None

    def __aiter__(self) -> _BodyChunks:
        return self

    async def __anext__(self) -> bytes:
        request = self._request
        if request is not None:
            # The first step, as an async generator would take it: on the first __anext__, not on stream().
            self._request = None
            try:
                body = request._body
            except AttributeError:  # a request built from an ASGI scope, its body not read yet
                body = None
            if body is not None:
                if body:
                    return body
                raise StopAsyncIteration
            reader = request._read_body
            if reader is None:
                # Already streamed (by stream() or form()) and not kept: Starlette's error, not a silent b"".
                raise RuntimeError("Stream consumed")
            self._reader = reader
            request._read_body = None  # the body can be streamed once
        reader = self._reader
        if reader is None:
            raise StopAsyncIteration
        chunk = await reader()
        if not chunk:
            self._reader = None
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Stop early, as ``aclose()`` on an async generator does; later ``__anext__`` calls end at once."""
        self._request = None
        self._reader = None


class _RequestReceive:
    """``Request.receive``: the body as ASGI ``http.request`` messages, then ``http.disconnect`` once the
    client has gone (until then it waits, as a server's ``receive`` does)."""

    __slots__ = ("_chunks", "_done", "request")

    def __init__(self, request: Request) -> None:
        self.request = request
        self._chunks: AsyncIterator[bytes] | None = None
        self._done = False

    async def __call__(self) -> dict[str, Any]:
        if not self._done:
            chunks = self._chunks
            if chunks is None:
                chunks = self._chunks = self.request.stream()
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                self._done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return {"type": "http.request", "body": chunk, "more_body": True}
        while not await self.request.is_disconnected():
            await asyncio.sleep(0.1)
        return {"type": "http.disconnect"}
