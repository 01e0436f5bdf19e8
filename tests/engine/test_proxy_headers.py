"""Proxy headers on the engine: X-Forwarded-For/Proto/Host and RFC 7239 Forwarded from trusted peers only.

The test client connects from 127.0.0.1; a peer is made untrusted by setting ``forwarded_allow_ips`` to other
addresses. What the app sees is read back through FastAPI-style APIs (``request.client.host``,
``request.url``, ``request.url_for``), over real sockets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import connect as ws_connect

from fulmen import FastAPI, Request, WebSocket
from fulmen.engine.config import Config, ConfigError
from fulmen.engine.proxy import TrustedProxies, parse_forwarded
from tests.engine.conftest import EngineThread, RawConn, ServerProcess


def make_info_app() -> FastAPI:
    """A FastAPI-style app reporting what a route sees of the connection (used by the TLS tests too)."""
    app = FastAPI()

    @app.get("/info")
    async def info(request: Request) -> dict[str, Any]:
        client = request.client
        return {
            "scheme": request.url.scheme,
            "url": str(request.url),
            "base_url": str(request.base_url),
            "url_for": str(request.url_for("item", item_id=7)),
            "client_host": None if client is None else client[0],
            "client_port": None if client is None else client[1],
            "host_header": request.headers.get("host"),
            "root_path": request.scope["root_path"],
            "xff": request.headers.get("x-forwarded-for"),
        }

    @app.get("/items/{item_id}", name="item")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        client = websocket.client
        await websocket.send_text(
            json.dumps(
                {
                    "scheme": websocket.url.scheme,
                    "url": str(websocket.url),
                    "client_host": None if client is None else client[0],
                }
            )
        )
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(text)

    return app


def get_info(port: int, headers: dict[str, str] | None = None, host: str = "test") -> dict[str, Any]:
    with RawConn(port) as conn:
        response = conn.request("GET", "/info", {"Host": host, **(headers or {})})
    assert response.status == 200, response
    info: dict[str, Any] = json.loads(response.body)
    return info


@pytest.fixture(scope="module")
def trusted() -> Iterator[EngineThread]:
    """The default settings: proxy headers on, 127.0.0.1 (the test client) trusted."""
    engine = EngineThread(make_info_app())
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def untrusted() -> Iterator[EngineThread]:
    """Proxy headers on, but the peer (127.0.0.1) is not among the trusted proxies."""
    engine = EngineThread(make_info_app(), forwarded_allow_ips="10.0.0.1, 192.168.0.0/16")
    yield engine
    engine.stop()


# -- X-Forwarded-* -------------------------------------------------------------------------------------------
def test_no_forwarding_headers_keeps_the_peer(trusted: EngineThread) -> None:
    with RawConn(trusted.port) as conn:
        response = conn.request("GET", "/info")
        local_port = conn.sock.getsockname()[1]
    info = json.loads(response.body)
    assert (info["client_host"], info["client_port"]) == ("127.0.0.1", local_port)
    assert info["scheme"] == "http"
    assert info["url"] == "http://test/info"


def test_x_forwarded_for_sets_the_client_with_port_0(trusted: EngineThread) -> None:
    info = get_info(trusted.port, {"X-Forwarded-For": "203.0.113.7"})
    assert (info["client_host"], info["client_port"]) == ("203.0.113.7", 0)
    assert info["xff"] == "203.0.113.7"  # the header itself is passed through untouched


def test_x_forwarded_for_list_takes_the_right_most_untrusted(trusted: EngineThread) -> None:
    # 127.0.0.1 is a trusted proxy, so it is skipped; 198.51.100.2 is the nearest untrusted hop.
    info = get_info(trusted.port, {"X-Forwarded-For": "203.0.113.7, 198.51.100.2, 127.0.0.1"})
    assert info["client_host"] == "198.51.100.2"


def test_x_forwarded_for_repeated_fields_join_in_order(trusted: EngineThread) -> None:
    with RawConn(trusted.port) as conn:
        conn.send(
            b"GET /info HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 203.0.113.7\r\n"
            b"X-Forwarded-For: 198.51.100.2, 127.0.0.1\r\n\r\n"
        )
        info = json.loads(conn.read_response().body)
    assert info["client_host"] == "198.51.100.2"


def test_each_request_on_a_connection_stands_alone(trusted: EngineThread) -> None:
    with RawConn(trusted.port) as conn:
        local_port = conn.sock.getsockname()[1]
        conn.send(  # pipelined: forwarded, plain, forwarded differently
            b"GET /info HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 203.0.113.7\r\n"
            b"X-Forwarded-Proto: https\r\n\r\n"
            b"GET /info HTTP/1.1\r\nHost: test\r\n\r\n"
            b"GET /info HTTP/1.1\r\nHost: test\r\nForwarded: for=198.51.100.9\r\n\r\n"
        )
        infos = [json.loads(conn.read_response().body) for _ in range(3)]
    assert [(i["client_host"], i["client_port"], i["scheme"]) for i in infos] == [
        ("203.0.113.7", 0, "https"),
        ("127.0.0.1", local_port, "http"),
        ("198.51.100.9", 0, "http"),
    ]


def test_x_forwarded_for_all_trusted_takes_the_left_most(trusted: EngineThread) -> None:
    info = get_info(trusted.port, {"X-Forwarded-For": "127.0.0.1, 127.0.0.1"})
    assert (info["client_host"], info["client_port"]) == ("127.0.0.1", 0)


def test_x_forwarded_for_ipv6_and_ports(trusted: EngineThread) -> None:
    assert get_info(trusted.port, {"X-Forwarded-For": "2001:db8::1"})["client_host"] == "2001:db8::1"
    assert get_info(trusted.port, {"X-Forwarded-For": "[2001:db8::2]:4711"})["client_host"] == "2001:db8::2"
    info = get_info(trusted.port, {"X-Forwarded-For": "203.0.113.9:5555"})
    assert (info["client_host"], info["client_port"]) == ("203.0.113.9", 0)


def test_x_forwarded_proto_sets_the_scheme_and_urls(trusted: EngineThread) -> None:
    info = get_info(trusted.port, {"X-Forwarded-Proto": "https"}, host="api.example.com")
    assert info["scheme"] == "https"
    assert info["url"] == "https://api.example.com/info"
    assert info["base_url"] == "https://api.example.com/"
    assert info["url_for"] == "https://api.example.com/items/7"


def test_x_forwarded_proto_list_and_case(trusted: EngineThread) -> None:
    assert get_info(trusted.port, {"X-Forwarded-Proto": "HTTPS"})["scheme"] == "https"
    # A list without a matching X-Forwarded-For: the value the nearest (trusted) proxy appended.
    assert get_info(trusted.port, {"X-Forwarded-Proto": "https, http"})["scheme"] == "http"
    # A list aligned with X-Forwarded-For: the client's hop's value.
    info = get_info(
        trusted.port, {"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https, http"}
    )
    assert (info["client_host"], info["scheme"]) == ("203.0.113.7", "https")


def test_x_forwarded_host_sets_the_host_the_app_sees(trusted: EngineThread) -> None:
    info = get_info(trusted.port, {"X-Forwarded-Host": "shop.example.com:8443", "X-Forwarded-Proto": "https"})
    assert info["host_header"] == "shop.example.com:8443"
    assert info["url"] == "https://shop.example.com:8443/info"
    assert info["url_for"] == "https://shop.example.com:8443/items/7"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "not-an-ip"},
        {"X-Forwarded-For": "203.0.113.7, garbage here"},
        {"X-Forwarded-For": ""},
        {"X-Forwarded-For": "[2001:db8::1"},
        {"X-Forwarded-Proto": "gopher"},
        {"X-Forwarded-Proto": ""},
        {"X-Forwarded-Host": "evil.com/path"},
        {"X-Forwarded-Host": "a b"},
        {"X-Forwarded-Host": ":80"},
        {"X-Forwarded-Host": "caf\xe9.example"},
        {"Forwarded": 'for="unterminated'},
        {"Forwarded": "for=1.2.3.4;for=5.6.7.8"},
        {"Forwarded": "for=1.2.3.4 junk"},
        {"Forwarded": 'for=999.1.1.1;proto=gopher;host="a b"'},
        {"Forwarded": ";;,,"},
    ],
)
def test_malformed_values_are_ignored(trusted: EngineThread, headers: dict[str, str]) -> None:
    with RawConn(trusted.port) as conn:
        response = conn.request("GET", "/info", {"Host": "test", **headers})
        local_port = conn.sock.getsockname()[1]
        # The connection stays usable.
        assert conn.request("GET", "/items/1").status == 200
    assert response.status == 200
    info = json.loads(response.body)
    assert (info["client_host"], info["client_port"]) == ("127.0.0.1", local_port)
    assert info["scheme"] == "http"
    assert info["url"] == "http://test/info"


def test_untrusted_peer_headers_are_ignored(untrusted: EngineThread) -> None:
    with RawConn(untrusted.port) as conn:
        response = conn.request(
            "GET",
            "/info",
            {
                "X-Forwarded-For": "203.0.113.7",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "evil.example",
                "Forwarded": "for=198.51.100.1;proto=https;host=evil2.example",
            },
        )
        local_port = conn.sock.getsockname()[1]
    info = json.loads(response.body)
    assert (info["client_host"], info["client_port"]) == ("127.0.0.1", local_port)
    assert info["scheme"] == "http"
    assert info["url"] == "http://test/info"
    assert info["host_header"] == "test"
    assert info["xff"] == "203.0.113.7"  # passed through as a plain header


def test_proxy_headers_off_ignores_them() -> None:
    engine = EngineThread(make_info_app(), proxy_headers=False)
    try:
        info = get_info(engine.port, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    finally:
        engine.stop()
    assert info["client_host"] == "127.0.0.1"
    assert info["scheme"] == "http"


@pytest.mark.parametrize("allow", ["127.0.0.0/8", "10.0.0.0/8, 127.0.0.1/32", "*", ["::1", "127.0.0.1"]])
def test_cidr_lists_and_star_trust_the_peer(allow: str | list[str]) -> None:
    engine = EngineThread(make_info_app(), forwarded_allow_ips=allow)
    try:
        info = get_info(engine.port, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    finally:
        engine.stop()
    assert (info["client_host"], info["scheme"]) == ("203.0.113.7", "https")


def test_star_takes_the_left_most_address() -> None:
    engine = EngineThread(make_info_app(), forwarded_allow_ips="*")
    try:
        info = get_info(engine.port, {"X-Forwarded-For": "203.0.113.7, 198.51.100.2"})
    finally:
        engine.stop()
    assert info["client_host"] == "203.0.113.7"


def test_cidr_proxies_in_the_chain_are_skipped() -> None:
    engine = EngineThread(make_info_app(), forwarded_allow_ips="127.0.0.1, 10.0.0.0/8")
    try:
        info = get_info(engine.port, {"X-Forwarded-For": "203.0.113.7, 10.1.2.3, 10.9.9.9"})
    finally:
        engine.stop()
    assert info["client_host"] == "203.0.113.7"


def test_forwarded_allow_ips_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1")
    assert Config().forwarded_allow_ips == "10.0.0.1"
    assert Config(forwarded_allow_ips="127.0.0.1").forwarded_allow_ips == "127.0.0.1"
    engine = EngineThread(make_info_app())  # 127.0.0.1 is no longer trusted
    try:
        info = get_info(engine.port, {"X-Forwarded-For": "203.0.113.7"})
    finally:
        engine.stop()
    assert info["client_host"] == "127.0.0.1"


def test_invalid_forwarded_allow_ips_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"proxy\.example"):
        Config(forwarded_allow_ips="127.0.0.1, proxy.example")
    with pytest.raises(ConfigError, match="CIDR"):
        Config(forwarded_allow_ips="10.0.0.0/33")


def test_trust_of_ipv4_mapped_peers() -> None:
    proxies = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    assert "::ffff:127.0.0.1" in proxies
    assert "::ffff:10.2.3.4" in proxies
    assert "11.0.0.1" not in proxies
    assert "_hidden" not in proxies


# -- Forwarded (RFC 7239) ------------------------------------------------------------------------------------
def test_forwarded_for_proto_host(trusted: EngineThread) -> None:
    info = get_info(trusted.port, {"Forwarded": 'for=203.0.113.60;proto=https;host="api.example.com"'})
    assert (info["client_host"], info["client_port"]) == ("203.0.113.60", 0)
    assert info["url"] == "https://api.example.com/info"
    assert info["url_for"] == "https://api.example.com/items/7"


def test_forwarded_quoted_ipv6_with_port(trusted: EngineThread) -> None:
    info = get_info(trusted.port, {"Forwarded": 'For="[2001:db8:cafe::17]:4711"'})
    assert (info["client_host"], info["client_port"]) == ("2001:db8:cafe::17", 4711)


def test_forwarded_multiple_elements_skip_trusted_proxies(trusted: EngineThread) -> None:
    info = get_info(
        trusted.port,
        {"Forwarded": "for=192.0.2.43;proto=https, for=198.51.100.17;proto=http, for=127.0.0.1;proto=http"},
    )
    # 127.0.0.1 is trusted and skipped; 198.51.100.17 is the client, with its element's proto.
    assert (info["client_host"], info["scheme"]) == ("198.51.100.17", "http")


def test_forwarded_repeated_fields_are_one_list(trusted: EngineThread) -> None:
    with RawConn(trusted.port) as conn:
        conn.send(
            b"GET /info HTTP/1.1\r\nHost: test\r\nForwarded: for=192.0.2.43;proto=https\r\n"
            b"Forwarded: for=127.0.0.1\r\n\r\n"
        )
        info = json.loads(conn.read_response().body)
    assert (info["client_host"], info["scheme"]) == ("192.0.2.43", "https")


def test_forwarded_obfuscated_and_unknown_identifiers(trusted: EngineThread) -> None:
    info = get_info(trusted.port, {"Forwarded": "for=_hidden;proto=https"})
    assert (info["client_host"], info["client_port"], info["scheme"]) == ("_hidden", 0, "https")
    info = get_info(trusted.port, {"Forwarded": 'for="_gazonk:_port"'})
    assert (info["client_host"], info["client_port"]) == ("_gazonk", 0)
    assert get_info(trusted.port, {"Forwarded": "for=unknown"})["client_host"] == "unknown"


def test_forwarded_without_for_keeps_the_peer(trusted: EngineThread) -> None:
    info = get_info(trusted.port, {"Forwarded": "proto=https;by=203.0.113.43"})
    assert (info["client_host"], info["scheme"]) == ("127.0.0.1", "https")


def test_x_forwarded_wins_over_forwarded(trusted: EngineThread) -> None:
    info = get_info(
        trusted.port,
        {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=198.51.100.1;proto=https;host=other.example"},
    )
    # Any X-Forwarded-* header present: Forwarded is ignored entirely (scheme and host included).
    assert (info["client_host"], info["scheme"], info["host_header"]) == ("203.0.113.7", "http", "test")


def test_parse_forwarded_grammar() -> None:
    assert parse_forwarded('for="\\"quoted\\"";by=_b, for=1.2.3.4') == [
        {"for": '"quoted"', "by": "_b"},
        {"for": "1.2.3.4"},
    ]
    assert parse_forwarded(" for = 1.2.3.4 ; PROTO = https ") == [{"for": "1.2.3.4", "proto": "https"}]
    assert parse_forwarded("for=1.2.3.4,,for=5.6.7.8;") == [{"for": "1.2.3.4"}, {"for": "5.6.7.8"}]
    assert parse_forwarded("for") is None
    assert parse_forwarded("for=a;for=b") is None


# -- WebSockets, root_path, CLI ------------------------------------------------------------------------------
def test_websocket_handshake_uses_proxy_headers(trusted: EngineThread) -> None:
    headers = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ws.example",
    }
    with ws_connect(f"ws://127.0.0.1:{trusted.port}/ws", additional_headers=headers) as ws:
        info = json.loads(ws.recv(timeout=5))
        ws.send("hi")
        assert ws.recv(timeout=5) == "hi"
    assert info == {"scheme": "wss", "url": "wss://ws.example/ws", "client_host": "203.0.113.7"}


def test_websocket_untrusted_keeps_ws(untrusted: EngineThread) -> None:
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    with ws_connect(f"ws://127.0.0.1:{untrusted.port}/ws", additional_headers=headers) as ws:
        info = json.loads(ws.recv(timeout=5))
    assert (info["scheme"], info["client_host"]) == ("ws", "127.0.0.1")


def test_root_path_shows_in_scope_and_url_for() -> None:
    engine = EngineThread(make_info_app(), root_path="/api/v1")
    try:
        info = get_info(engine.port, {"X-Forwarded-Proto": "https"}, host="example.com")
    finally:
        engine.stop()
    assert info["root_path"] == "/api/v1"
    assert info["base_url"] == "https://example.com/api/v1/"
    assert info["url_for"] == "https://example.com/api/v1/items/7"


def test_cli_proxy_options_and_root_path(tmp_path: Any) -> None:
    (tmp_path / "proxyapp.py").write_text(
        "from tests.engine.test_proxy_headers import make_info_app\napp = make_info_app()\n"
    )
    server = ServerProcess(
        "proxyapp:app",
        "--port",
        "0",
        "--no-access-log",
        "--root-path",
        "/prefix",
        "--forwarded-allow-ips",
        "10.0.0.0/8,127.0.0.1",
        cwd=tmp_path,
    )
    try:
        port = server.wait_ready()
        info = get_info(port, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, "h.example")
    finally:
        server.kill()
    assert (info["client_host"], info["scheme"]) == ("203.0.113.7", "https")
    assert info["url_for"] == "https://h.example/prefix/items/7"
    assert info["root_path"] == "/prefix"

    server = ServerProcess(
        "proxyapp:app", "--port", "0", "--no-access-log", "--no-proxy-headers", cwd=tmp_path
    )
    try:
        port = server.wait_ready()
        info = get_info(port, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    finally:
        server.kill()
    assert (info["client_host"], info["scheme"]) == ("127.0.0.1", "http")
