"""Proxy headers: which peers may speak for the client, and what their forwarding headers say.

Behind a reverse proxy the TCP peer is the proxy; the client's address, the scheme it used and the Host it
asked for arrive in ``X-Forwarded-For`` / ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` or in RFC 7239
``Forwarded``. The engine believes them only from a trusted peer (``forwarded_allow_ips``). Trust is decided
once per connection (``HttpProtocol.connection_made``); only a trusted connection's parser notices these
header names, so a request that carries none of them never runs code from this module.

When both styles arrive, the X-Forwarded-* headers win and ``Forwarded`` is ignored: most proxies set only
X-Forwarded-*, and pass a client's own ``Forwarded`` header through untouched.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from fulmen.datastructures import Address
from fulmen.engine.config import ConfigError
from fulmen.requests import Request

_Ip = ipaddress.IPv4Address | ipaddress.IPv6Address
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Trust answers remembered per address (bounded: peers are few; a flood of new ones only recomputes).
_CACHE_SIZE = 4096

_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_WS_SCHEMES = {"http": "ws", "https": "wss"}

# RFC 7239 §4: forwarded-pair = token "=" value, value = token / quoted-string. Unquoted values may also hold
# ":" "[" "]" (IPv6 and ports that some proxies forget to quote).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PAIR = re.compile(rf'[ \t]*({_TOKEN})[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[!#$%&\'*+.^_`|~0-9A-Za-z:\[\]-]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")
#: An obfuscated node name or port (RFC 7239 §6.3): "_" followed by ALPHA / DIGIT / "." / "_" / "-".
_OBFUSCATED = re.compile(r"_[A-Za-z0-9._-]+")


def _parse_ip(text: str) -> _Ip | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return ip


class TrustedProxies:
    """The peers whose forwarding headers are believed: IP addresses, CIDR networks, or everyone ("*")."""

    __slots__ = ("_addresses", "_cache", "_networks", "always")

    def __init__(self, spec: str | Sequence[str]) -> None:
        items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [s.strip() for s in spec]
        items = [s for s in items if s]
        #: "*": every peer is a trusted proxy.
        self.always = "*" in items
        self._addresses: set[_Ip] = set()
        self._networks: list[_Net] = []
        self._cache: dict[str, bool] = {}
        for item in items:
            if item == "*":
                continue
            if "/" in item:
                try:
                    self._networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    raise ConfigError(f"forwarded_allow_ips: {item!r} is not a valid CIDR network") from None
                continue
            ip = _parse_ip(item[1:-1] if item.startswith("[") and item.endswith("]") else item)
            if ip is None:
                raise ConfigError(
                    f"forwarded_allow_ips: {item!r} is not an IP address, a CIDR network or '*' "
                    "(host names are not resolved)"
                )
            self._addresses.add(ip)

    def __contains__(self, host: object) -> bool:
        if self.always:
            return True
        if not isinstance(host, str):
            return False
        known = self._cache.get(host)
        if known is None:
            known = self._check(host)
            if len(self._cache) < _CACHE_SIZE:
                self._cache[host] = known
        return known

    def _check(self, host: str) -> bool:
        ip = _parse_ip(host)
        if ip is None:
            return False  # obfuscated identifiers, "unknown", garbage: never a trusted proxy
        return ip in self._addresses or any(ip in net for net in self._networks)


def _forwarded_for_host(entry: str) -> str | None:
    """The address in an X-Forwarded-For entry ("1.2.3.4", "1.2.3.4:80", "[::1]:80"); None if invalid."""
    if entry.startswith("["):
        end = entry.find("]")
        if end < 0 or (end + 1 < len(entry) and not entry[end + 1 :].startswith(":")):
            return None
        host = entry[1:end]
    elif entry.count(":") == 1:
        host = entry.partition(":")[0]
    else:
        host = entry
    return host if _parse_ip(host) is not None else None


def _node(value: str | None) -> Address | None:
    """A ``Forwarded`` node (RFC 7239 §6) as an address: IP (and port), obfuscated name or "unknown"."""
    if not value:
        return None
    port = 0
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        try:
            ipaddress.IPv6Address(host)  # brackets hold an IPv6 address only
        except ValueError:
            return None
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
            if port_text.isdigit() and int(port_text) <= 65535:
                port = int(port_text)
            elif _OBFUSCATED.fullmatch(port_text) is None:
                return None
        return Address(host, port)
    host, sep, port_text = value.partition(":") if value.count(":") == 1 else (value, "", "")
    if host.lower() != "unknown" and _OBFUSCATED.fullmatch(host) is None and _parse_ip(host) is None:
        return None
    if sep:
        if port_text.isdigit() and int(port_text) <= 65535:
            port = int(port_text)
        elif _OBFUSCATED.fullmatch(port_text) is None:
            return None
    return Address(host, port)


def parse_forwarded(value: str) -> list[dict[str, str]] | None:
    """The elements of a ``Forwarded`` header (RFC 7239 §4), parameters lower-cased; None if malformed."""
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    pos, end = 0, len(value)
    while True:
        match = _PAIR.match(value, pos)
        if match is not None:
            name, text = match.group(1).lower(), match.group(2)
            if text.startswith('"'):
                text = _QUOTED_PAIR.sub(r"\1", text[1:-1])
            if name in current:
                return None  # a parameter may occur once per element
            current[name] = text
            pos = match.end()
        while pos < end and value[pos] in " \t":
            pos += 1
        if pos >= end:
            if current:
                elements.append(current)
            return elements
        separator = value[pos]
        pos += 1
        if separator == ",":
            if current:
                elements.append(current)
            current = {}
        elif separator != ";":
            return None


def _pick(hosts: Sequence[str | None], trusted: TrustedProxies) -> int:
    """The client's hop: the right-most that isn't a trusted proxy (the left-most if all are)."""
    if trusted.always:
        return 0
    for i in range(len(hosts) - 1, -1, -1):
        if hosts[i] not in trusted:
            return i
    return 0


def _select(values: list[bytes], index: int | None, hops: int) -> str | None:
    """One X-Forwarded-Proto/Host value: the only one, the client's hop's, else the nearest proxy's."""
    if not values:
        return None
    items = [s.strip() for s in b",".join(values).decode("latin-1").split(",")]
    if len(items) == 1:
        return items[0]
    if index is not None and len(items) == hops:
        return items[index]
    return items[-1]


def apply_forwarded(request: Request, trusted: TrustedProxies, websocket: bool) -> None:
    """Rewrite ``request``'s client, scheme and Host from the forwarding headers a trusted peer sent.

    Malformed values are ignored (the connection's own values stay); nothing here raises for bad input.
    """
    xff: list[bytes] = []
    xfp: list[bytes] = []
    xfh: list[bytes] = []
    forwarded: list[bytes] = []
    for name, value in request.raw_headers:
        if name == b"x-forwarded-for":
            xff.append(value)
        elif name == b"x-forwarded-proto":
            xfp.append(value)
        elif name == b"x-forwarded-host":
            xfh.append(value)
        elif name == b"forwarded":
            forwarded.append(value)
    proto: str | None = None
    host: str | None = None
    if xff or xfp or xfh:
        index: int | None = None
        hops = 0
        if xff:
            entries = [e.strip() for e in b",".join(xff).decode("latin-1").split(",")]
            hosts = [_forwarded_for_host(e) for e in entries]
            if hosts and None not in hosts:
                index = _pick(hosts, trusted)
                hops = len(hosts)
                request.client = Address(str(hosts[index]), 0)
        proto = _select(xfp, index, hops)
        host = _select(xfh, index, hops)
    elif forwarded:
        elements = parse_forwarded(",".join(v.decode("latin-1") for v in forwarded))
        if elements:
            nodes = [_node(e.get("for")) for e in elements]
            index = _pick([None if n is None else n.host for n in nodes], trusted)
            node = nodes[index]
            if node is not None:
                request.client = node
            proto = elements[index].get("proto")
            host = elements[index].get("host")
    if proto:
        scheme = _SCHEMES.get(proto.lower())
        if scheme is not None:
            request.scheme = _WS_SCHEMES[scheme] if websocket else scheme
    if host:
        _set_host(request, host)


def _set_host(request: Request, host: str) -> None:
    from fulmen.engine.protocol import _HOST_RE  # the same rule as the Host header itself

    try:
        value = host.encode("ascii")
    except UnicodeEncodeError:
        return
    if value[:1] == b":" or _HOST_RE.fullmatch(value) is None:
        return
    headers = request.raw_headers
    for i, (name, _) in enumerate(headers):
        if name == b"host":
            headers[i] = (b"host", value)
            return
    headers.append((b"host", value))


__all__ = ["TrustedProxies", "apply_forwarded", "parse_forwarded"]
