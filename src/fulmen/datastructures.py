"""Request-side data structures: headers, query parameters, URLs, addresses, state, forms and uploaded files.

They wrap the raw values the front doors hand over and parse them on first use, so a route pays only for
what it reads (DESIGN.md §3.2).
"""

from __future__ import annotations

import re
import sys
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    MutableMapping,
    Sequence,
    ValuesView,
)
from typing import Any, BinaryIO, NamedTuple, TypeVar, overload
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from fulmen._lookalike import lookalike_class, lookalike_reduce_ex
from fulmen._typing import is_class

_T = TypeVar("_T")
_K = TypeVar("_K")
_V = TypeVar("_V")


class Address(NamedTuple):
    """A peer or server address, as ``request.client`` / ``request.server`` give it."""

    host: str
    port: int


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued view of request headers; ``[]``/``get`` return the first value."""

    __slots__ = ("_raw",)

    def __init__(
        self,
        headers: Mapping[str, str] | None = None,
        raw: list[tuple[bytes, bytes]] | None = None,
        scope: MutableMapping[str, Any] | None = None,
    ) -> None:
        if raw is not None:
            self._raw = raw
        elif headers is not None:
            self._raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        elif scope is not None:
            # As Starlette: the scope's (or ASGI message's) header list becomes a list shared with this view,
            # so a MutableHeaders made from an ``http.response.start`` message edits the message.
            self._raw = scope["headers"] = list(scope["headers"])
        else:
            self._raw = []

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The header list as (lower-case name, value) byte pairs, in arrival order."""
        return self._raw

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:  # values are str: None only for a missing header
            raise KeyError(key)
        return value

    @overload
    def get(self, key: str) -> str | None: ...
    @overload
    def get(self, key: str, default: str | _T) -> str | _T: ...
    def get(self, key: str, default: object = None) -> object:
        """The first value of a header, or ``default``."""
        # PERF: one frame; Mapping.get would call __getitem__ and catch its KeyError for a missing header.
        name = key.lower().encode("latin-1")
        for k, v in self._raw:
            if k == name:
                return v.decode("latin-1")
        return default

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = key.lower().encode("latin-1")
        return any(k == name for k, _ in self._raw)

    def getlist(self, key: str) -> list[str]:
        """Every value of a header, in order (for repeated headers)."""
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self._raw if k == name]

    def mutablecopy(self) -> MutableHeaders:
        """An editable copy (for middleware that builds new headers from the request's)."""
        return MutableHeaders(raw=self._raw[:])

    def keys(self) -> list[str]:  # type: ignore[override]
        return [k.decode("latin-1") for k, _ in self._raw]

    def values(self) -> list[str]:  # type: ignore[override]
        return [v.decode("latin-1") for _, v in self._raw]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return False
        return sorted(self._raw) == sorted(other._raw)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # As Starlette: a dict when no name repeats, else the raw byte pairs.
        as_dict = dict(self.items())
        if len(as_dict) == len(self._raw):
            return f"{type(self).__name__}({as_dict!r})"
        return f"{type(self).__name__}(raw={self._raw!r})"


def _parse_query(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)``, minus its per-pair unquoting when nothing is escaped."""
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    # PERF: the usual query string has no escapes; splitting it directly is ~4x cheaper than parse_qsl.
    items = []
    for pair in query.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            items.append((name, value))
    return items


def _multi_pairs(value: Any, kwargs: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """The (key, value) pairs of a multi-dict, a mapping or an iterable of pairs, then of ``kwargs``."""
    if not value:
        pairs: list[tuple[Any, Any]] = []
    elif hasattr(value, "multi_items"):  # another multi-dict: keep its repeated keys
        pairs = list(value.multi_items())
    elif hasattr(value, "items"):
        pairs = list(value.items())
    else:
        pairs = list(value)
    if kwargs:
        pairs.extend(kwargs.items())
    return pairs


def _key(pair: tuple[Any, Any]) -> Any:
    return pair[0]


class ImmutableMultiDict(Mapping[_K, _V]):
    """A read-only mapping that keeps every value of a repeated key, as Starlette's.

    ``[]``/``get`` give the last value of a key, ``getlist`` every value in order, ``multi_items`` every pair.
    ``QueryParams`` and ``FormData`` are multi-dicts.
    """

    __slots__ = ("_dict", "_list")

    def __init__(self, items: Any = None, /, **kwargs: Any) -> None:
        pairs = _multi_pairs(items, kwargs)
        self._list: list[tuple[_K, _V]] = pairs
        self._dict: dict[_K, _V] = dict(pairs)

    def getlist(self, key: Any) -> list[_V]:
        """Every value given for ``key``, in order."""
        return [v for k, v in self._list if k == key]

    def multi_items(self) -> list[tuple[_K, _V]]:
        """All (key, value) pairs, repeated keys included, in order."""
        return list(self._list)

    def keys(self) -> KeysView[_K]:
        return self._dict.keys()

    def values(self) -> ValuesView[_V]:
        return self._dict.values()

    def items(self) -> ItemsView[_K, _V]:
        return self._dict.items()

    def __getitem__(self, key: _K) -> _V:
        return self._dict[key]

    @overload
    def get(self, key: _K) -> _V | None: ...
    @overload
    def get(self, key: _K, default: _V | _T) -> _V | _T: ...
    def get(self, key: _K, default: object = None) -> object:
        """The last value given for ``key``, or ``default``."""
        # PERF: a dict lookup; Mapping.get would go through __getitem__ and catch KeyError when missing.
        return self._dict.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._dict

    def __iter__(self) -> Iterator[_K]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __eq__(self, other: object) -> bool:
        # As Starlette: the same class, the same pairs; pairs of one key keep their order.
        if not isinstance(other, type(self)):
            return False
        return sorted(self._list, key=_key) == sorted(other._list, key=_key)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._list!r})"


class MultiDict(ImmutableMultiDict[Any, Any]):
    """An editable ``ImmutableMultiDict``: ``[]=`` replaces every value of a key, ``append`` adds one."""

    __slots__ = ()

    def __setitem__(self, key: Any, value: Any) -> None:
        self.setlist(key, [value])

    def __delitem__(self, key: Any) -> None:
        del self._dict[key]
        self._list = [(k, v) for k, v in self._list if k != key]

    def pop(self, key: Any, default: Any = None) -> Any:
        """Remove every value of ``key``; return the last one (or ``default``)."""
        self._list = [(k, v) for k, v in self._list if k != key]
        return self._dict.pop(key, default)

    def popitem(self) -> tuple[Any, Any]:
        """Remove the last key (every value of it); return it with its last value."""
        key, value = self._dict.popitem()
        self._list = [(k, v) for k, v in self._list if k != key]
        return key, value

    def poplist(self, key: Any) -> list[Any]:
        """Remove every value of ``key`` and return them in order."""
        values = self.getlist(key)
        self.pop(key)
        return values

    def clear(self) -> None:
        self._dict.clear()
        self._list.clear()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Add ``key`` with ``default`` if absent; return its (last) value."""
        if key not in self._dict:
            self._dict[key] = default
            self._list.append((key, default))
        return self._dict[key]

    def setlist(self, key: Any, values: list[Any]) -> None:
        """Replace every value of ``key`` with ``values`` (none removes the key); they go last."""
        if not values:
            self.pop(key, None)
            return
        self._list = [(k, v) for k, v in self._list if k != key] + [(key, v) for v in values]
        self._dict[key] = values[-1]

    def append(self, key: Any, value: Any) -> None:
        """Add one more value for ``key``."""
        self._list.append((key, value))
        self._dict[key] = value

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Replace the keys of the given multi-dict, mapping or pairs (with all their values)."""
        other = MultiDict(*args, **kwargs)
        self._list = [(k, v) for k, v in self._list if k not in other._dict] + other._list
        self._dict.update(other._dict)


class QueryParams(ImmutableMultiDict[str, str]):
    """Multi-valued query string; ``[]``/``get`` return the last value, as Starlette does.

    Built from a query string (``str`` or ``bytes``), a mapping, a multi-dict or (key, value) pairs, plus
    keyword arguments; keys and values become strings.
    """

    __slots__ = ()

    def __init__(self, query: Any = "", /, **kwargs: Any) -> None:
        if isinstance(query, bytes):
            query = query.decode("latin-1")
        if isinstance(query, str) and not kwargs:
            # PERF: the request's own query string: no str() conversion pass over already-str pairs.
            items = _parse_query(query)
        else:
            if isinstance(query, str):
                query = _parse_query(query)
            items = [(str(k), str(v)) for k, v in _multi_pairs(query, kwargs)]
        self._list = items
        self._dict = dict(items)

    def __str__(self) -> str:
        return urlencode(self._list)

    def __repr__(self) -> str:
        return f"QueryParams({str(self)!r})"


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# RFC 3986 host [":" port]: a reg-name / IPv4 address, or an IP literal in brackets (IPv6 or IPvFuture).
_REG_NAME = r"[A-Za-z0-9._~%!$&'()*+,;=-]+"
_IP_LITERAL = r"\[(?:(?P<ipv6>[0-9A-Fa-f]*:[0-9A-Fa-f.:]+)|v[0-9A-Fa-f]+\.[A-Za-z0-9._~!$&'()*+,;=:-]+)\]"
_HOST_PORT = re.compile(rf"(?P<host>{_REG_NAME}|{_IP_LITERAL})(?::(?P<port>[0-9]+))?")


def parse_host(value: str | None) -> tuple[str, str | None] | None:
    """Split a Host header into (host, port or None); None when it isn't a valid ``host[:port]``."""
    if value is None:
        return None
    match = _HOST_PORT.fullmatch(value)
    if match is None:
        return None
    ipv6 = match["ipv6"]
    if ipv6 is not None and not _is_ipv6(ipv6):
        return None
    return match["host"], match["port"]


def _valid_port(port: str | None) -> bool:
    if port is None:
        return True
    digits = port.lstrip("0")
    return len(digits) <= 5 and int(digits or "0") <= 65535


def request_url(
    scheme: str, host: str | None, server: Sequence[Any] | None, path: str, query: bytes
) -> tuple[str, bool]:
    """The URL a request was made to, as Starlette's ``URL(scope=...)`` builds it, and whether it has a host.

    The Host header wins when valid; else the server address; else the URL is only the path and query.
    ``path`` is the full path (with the root path).
    """
    path = path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    parsed = parse_host(host)
    netloc: str | None = None
    if parsed is not None and _valid_port(parsed[1]):
        netloc = parsed[0] if parsed[1] is None else f"{parsed[0]}:{parsed[1]}"
    elif server is not None:
        name, port = str(server[0]), server[1]
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"
        netloc = name if port == _DEFAULT_PORTS.get(scheme) else f"{name}:{port}"
    text = query.decode("utf-8", "replace")
    if netloc is not None:
        return urlunsplit((scheme, netloc, path, text, "")), True
    if path.startswith("//"):
        path = "/%2F" + path[2:]  # without a host, "//x" would read as an authority
    return (f"{path}?{text}" if text else path), False


def first_header(raw: Iterable[Sequence[bytes]], name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case bytes) in a raw header list, or None."""
    for k, v in raw:
        if k == name:
            return v
    return None


def scope_url(scope: Mapping[str, Any]) -> tuple[str, bool]:
    """``request_url`` for an ASGI scope (its Host header, server, full path and query string)."""
    host = first_header(scope["headers"], b"host")
    return request_url(
        scope.get("scheme", "http"),
        None if host is None else host.decode("latin-1"),
        scope.get("server"),
        scope["path"],
        scope.get("query_string", b""),
    )


class URL:
    """A URL and its parts, as Starlette's ``URL``: ``scheme``, ``netloc``, ``path``, ``query``, ``port`` ...

    ``URL(url)``, ``URL(scope=scope)`` (the URL an ASGI ``http``/``websocket`` scope was made to) or
    ``URL(scheme=..., netloc=..., path=...)``. The string is split on first access to a part.
    """

    __slots__ = ("_components", "_url")

    def __init__(self, url: str = "", scope: Mapping[str, Any] | None = None, **components: Any) -> None:
        if scope is not None:
            if url or components:
                raise ValueError("URL() takes a url, a scope or components, not several")
            url, _ = scope_url(scope)
        elif components:
            if url:
                raise ValueError("URL() takes a url or components, not both")
            url = URL().replace(**components).components.geturl()
        self._url = url
        self._components: SplitResult | None = None

    @property
    def components(self) -> SplitResult:
        """The URL split into ``(scheme, netloc, path, query, fragment)``."""
        parts = self._components
        if parts is None:
            parts = self._components = urlsplit(self._url)
        return parts

    @property
    def scheme(self) -> str:
        return self.components.scheme

    @property
    def netloc(self) -> str:
        return self.components.netloc

    @property
    def path(self) -> str:
        return self.components.path

    @property
    def query(self) -> str:
        return self.components.query

    @property
    def fragment(self) -> str:
        return self.components.fragment

    @property
    def username(self) -> str | None:
        return self.components.username

    @property
    def password(self) -> str | None:
        return self.components.password

    @property
    def hostname(self) -> str | None:
        return self.components.hostname

    @property
    def port(self) -> int | None:
        return self.components.port

    @property
    def is_secure(self) -> bool:
        """True for https and wss URLs."""
        return self.scheme in ("https", "wss")

    def replace(self, **kwargs: Any) -> URL:
        """A copy with some parts replaced: ``scheme``, ``netloc``, ``path``, ``query``, ``fragment``, or the
        netloc's ``hostname``, ``port``, ``username``, ``password`` (``port=None`` drops the port)."""
        if "hostname" in kwargs or "port" in kwargs or "username" in kwargs or "password" in kwargs:
            hostname: str | None = kwargs.pop("hostname", None)
            port = kwargs.pop("port", self.port)
            username = kwargs.pop("username", self.username)
            password = kwargs.pop("password", self.password)
            if hostname is None:
                # The current host as written (brackets kept), without the userinfo and the port.
                hostname = self.netloc.rpartition("@")[2]
                if hostname and not hostname.endswith("]"):
                    hostname = hostname.rsplit(":", 1)[0]
            elif ":" in hostname and not hostname.startswith("[") and _is_ipv6(hostname):
                hostname = f"[{hostname}]"
            netloc = hostname if port is None else f"{hostname}:{port}"
            if username is not None:
                userinfo = username if password is None else f"{username}:{password}"
                netloc = f"{userinfo}@{netloc}"
            kwargs["netloc"] = netloc
        return type(self)(self.components._replace(**kwargs).geturl())

    def include_query_params(self, **kwargs: Any) -> URL:
        """A copy with these query parameters set: other parameters keep their place, these go last."""
        given = [(str(k), str(v)) for k, v in kwargs.items()]
        names = {k for k, _ in given}
        kept = [(k, v) for k, v in parse_qsl(self.query, keep_blank_values=True) if k not in names]
        return self.replace(query=urlencode(kept + given))

    def replace_query_params(self, **kwargs: Any) -> URL:
        """A copy whose query is exactly these parameters."""
        return self.replace(query=urlencode([(str(k), str(v)) for k, v in kwargs.items()]))

    def remove_query_params(self, keys: str | Sequence[str]) -> URL:
        """A copy without the query parameters named ``keys`` (every value of each)."""
        names = {keys} if isinstance(keys, str) else set(keys)
        pairs = [(k, v) for k, v in parse_qsl(self.query, keep_blank_values=True) if k not in names]
        return self.replace(query=urlencode(pairs))

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        url = self._url
        if self.password:
            url = str(self.replace(password="********"))
        return f"{type(self).__name__}({url!r})"

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self._url)

    def __reduce__(self) -> tuple[Callable[[str], URL], tuple[str]]:
        return (new_url, (self._url,))  # the Starlette twin is made at run time: not importable by name


_url_twin: list[type[URL]] = []


def url_class() -> type[URL]:
    """The class of the URLs a request gives: fulmen's ``URL``, also Starlette's once Starlette is imported.

    Libraries check ``isinstance(url, starlette.datastructures.URL)`` (authlib's ``authorize_redirect(request,
    request.url_for(...))``); the subclass of both is made once, fulmen's methods and slots first.
    """
    if "starlette.datastructures" not in sys.modules:
        return URL
    if not _url_twin:
        theirs = getattr(sys.modules["starlette.datastructures"], "URL", None)
        if not is_class(theirs):  # a partly imported or unexpected module: fulmen's URL alone
            return URL
        namespace = {"__module__": URL.__module__, "__qualname__": URL.__qualname__, "__slots__": ()}
        _url_twin.append(type("URL", (URL, theirs), namespace))
    return _url_twin[0]


def new_url(url: str) -> URL:
    """``URL(url)`` of ``url_class()``."""
    return url_class()(url)


class URLPath(str):
    """A path ``url_path_for`` returns: a ``str`` that also knows its route's protocol (and host, if any).

    ``make_absolute_url(base_url)`` turns it into a full ``URL`` under ``base_url``, the scheme following the
    protocol (``http``/``https`` for an HTTP route, ``ws``/``wss`` for a WebSocket one), as in Starlette.
    """

    protocol: str
    host: str

    def __new__(cls, path: str, protocol: str = "", host: str = "") -> URLPath:
        if protocol not in ("http", "websocket", ""):
            raise ValueError(f"URLPath protocol must be 'http', 'websocket' or '', not {protocol!r}")
        path = path.replace("\\", "%5C")
        if path.startswith("//"):
            path = "/%2F" + path[2:]  # "//x" would read as an authority
        self = super().__new__(cls, path)
        self.protocol = protocol
        self.host = host
        return self

    def make_absolute_url(self, base_url: str | URL) -> URL:
        """This path under ``base_url`` (its path prefix kept), with the scheme of this path's protocol."""
        base = URL(base_url) if isinstance(base_url, str) else base_url
        if self.protocol == "http":
            scheme = "https" if base.is_secure else "http"
        elif self.protocol == "websocket":
            scheme = "wss" if base.is_secure else "ws"
        else:
            scheme = base.scheme
        path = base.path.rstrip("/") + str(self)
        return url_class()(scheme=scheme, netloc=self.host or base.netloc, path=path)


def _is_ipv6(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


class State:
    """Attribute bag for ``app.state`` and ``request.state``, also used as ``state["key"]``."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_state", dict(state or {}))

    @classmethod
    def sharing(cls, state: dict[str, Any]) -> State:
        """A ``State`` over ``state`` itself, not a copy (an ASGI scope's ``"state"``, as Starlette's)."""
        self = cls.__new__(cls)
        object.__setattr__(self, "_state", state)
        return self

    def __setattr__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["_state"][key]
        except KeyError:
            raise AttributeError(f"'State' object has no attribute '{key}'") from None

    def __delattr__(self, key: str) -> None:
        del self._state[key]

    # Item access and iteration over the same values, as Starlette's State (``app.state["db"]``).
    def __getitem__(self, key: str) -> Any:
        return self._state[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._state[key] = value

    def __delitem__(self, key: str) -> None:
        del self._state[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._state)

    def __len__(self) -> int:
        return len(self._state)


class MutableHeaders(Headers):
    """Response headers: a case-insensitive view that writes through to the response's raw header list."""

    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        """Set a header; it keeps the place of its first line and the other lines of that name go."""
        name = key.lower().encode("latin-1")
        line = (name, value.encode("latin-1"))
        raw = self._raw
        found = [i for i, (k, _) in enumerate(raw) if k == name]
        if not found:
            raw.append(line)
            return
        for i in reversed(found[1:]):
            del raw[i]
        raw[found[0]] = line

    def __delitem__(self, key: str) -> None:
        """Remove every line of a header; a missing header is not an error (as Starlette)."""
        name = key.lower().encode("latin-1")
        self._raw[:] = [(k, v) for k, v in self._raw if k != name]

    def __or__(self, other: Mapping[str, str]) -> MutableHeaders:
        if not isinstance(other, Mapping):
            raise TypeError(f"Expected a mapping but got {type(other).__name__}")
        merged = self.mutablecopy()
        merged.update(other)
        return merged

    def __ior__(self, other: Mapping[str, str]) -> MutableHeaders:
        if not isinstance(other, Mapping):
            raise TypeError(f"Expected a mapping but got {type(other).__name__}")
        self.update(other)
        return self

    def append(self, key: str, value: str) -> None:
        """Add a header line, keeping existing ones with the same name (``Set-Cookie``, ``Vary``...)."""
        self._raw.append((key.lower().encode("latin-1"), value.encode("latin-1")))

    def setdefault(self, key: str, value: str) -> str:
        """Set ``key`` if absent and return its value."""
        existing = self.get(key)
        if existing is not None:
            return existing
        self.append(key, value)
        return value

    def update(self, other: Mapping[str, str]) -> None:
        """Set every header of ``other``, replacing same-named ones."""
        for k, v in other.items():
            self[k] = v

    def add_vary_header(self, vary: str) -> None:
        """Add a value to ``Vary`` (every existing ``Vary`` line joins into one, as Starlette does)."""
        self["vary"] = ", ".join([*self.getlist("vary"), vary])


class UploadFile:
    """A file uploaded in a multipart form: ``filename``, ``content_type``, ``headers``, ``size``, ``file``.

    ``file`` is the raw Python file (a ``SpooledTemporaryFile`` that moves to disk past 1 MiB), for ``def``
    handlers; the ``async`` methods run in the thread pool once the data lives on disk, so reading a large
    upload never blocks the event loop.
    """

    #: ``isinstance(obj, starlette.datastructures.UploadFile)`` holds once Starlette is imported.
    __class__ = lookalike_class
    __reduce_ex__ = lookalike_reduce_ex

    def __init__(
        self,
        file: BinaryIO,
        *,
        size: int | None = None,
        filename: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        # The attributes (names and order) are FastAPI's: a 422 error that echoes an UploadFile as its input
        # shows them, and fulmen's error bodies must be the same.
        self.filename = filename
        self.file = file
        self.size = size
        self.headers = headers if headers is not None else Headers()
        #: The spooled file's in-memory limit (0: no limit, or not a spooled file).
        self._max_mem_size: int = getattr(file, "_max_size", 0)

    @property
    def content_type(self) -> str | None:
        """The part's ``Content-Type`` header, if it had one."""
        return self.headers.get("content-type")

    def _in_memory(self) -> bool:
        # SpooledTemporaryFile sets _rolled once it has moved to disk; any other file counts as on disk.
        return not getattr(self.file, "_rolled", True)

    async def write(self, data: bytes) -> None:
        """Append bytes (in the thread pool when the file is, or is about to be, on disk)."""
        if self.size is not None:
            self.size += len(data)
        limit = self._max_mem_size
        if self._in_memory() and not (limit and self.file.tell() + len(data) > limit):
            self.file.write(data)
            return
        await _blocking(self.file.write, data)

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all when -1)."""
        if self._in_memory():
            return self.file.read(size)
        result: bytes = await _blocking(self.file.read, size)
        return result

    async def seek(self, offset: int) -> None:
        """Move to byte ``offset``."""
        if self._in_memory():
            self.file.seek(offset)
        else:
            await _blocking(self.file.seek, offset)

    async def close(self) -> None:
        """Close the file (a file spooled to disk is deleted)."""
        if self._in_memory():
            self.file.close()
        else:
            await _blocking(self.file.close)

    @classmethod
    def _validate(cls, value: Any, _info: Any = None) -> UploadFile:
        if not isinstance(value, cls):
            raise ValueError(f"Expected UploadFile, received: {type(value)}")
        return value

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Let pydantic models declare ``UploadFile`` fields (form models with files)."""
        from pydantic_core import core_schema  # lazy: only apps with pydantic models reach this

        return core_schema.with_info_plain_validator_function(cls._validate)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {"type": "string", "contentMediaType": "application/octet-stream"}

    def __repr__(self) -> str:
        return f"UploadFile(filename={self.filename!r}, size={self.size!r}, headers={self.headers!r})"


async def _blocking(func: Any, *args: Any) -> Any:
    from fulmen._concurrency import run_in_threadpool  # lazy: plan imports this module

    return await run_in_threadpool(func, *args)


FormValue = UploadFile | str


class FormData(ImmutableMultiDict[str, FormValue]):
    """A submitted form: an immutable multi-dict of ``str`` fields and ``UploadFile`` files.

    ``form["name"]``/``get`` give the last value of a name, ``getlist`` every value in order.
    """

    __slots__ = ()

    def has_files(self) -> bool:
        """True when any value is an uploaded file."""
        return any(isinstance(v, UploadFile) for _, v in self._list)

    async def close(self) -> None:
        """Close every uploaded file of the form."""
        for _, value in self._list:
            if isinstance(value, UploadFile):
                await value.close()


def __getattr__(name: str) -> Any:
    """``Default``/``DefaultPlaceholder`` (in ``fulmen.response_model``), where FastAPI users import them."""
    if name in ("Default", "DefaultPlaceholder"):
        from fulmen import response_model

        return getattr(response_model, name)
    raise AttributeError(f"module 'fulmen.datastructures' has no attribute {name!r}")
