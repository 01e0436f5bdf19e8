"""TLS on the engine: certificates generated per test session with trustme, real TLS clients (httpx, ssl,
websockets), client certificates, encrypted keys, start-up errors and the ``fulmen run --ssl-*`` options.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from websockets.sync.client import connect as ws_connect

from fulmen import FastAPI
from fulmen.cli import _config_from_args, build_parser
from fulmen.engine.config import Config, ConfigError
from fulmen.engine.server import create_ssl_context
from fulmen.responses import FileResponse
from tests.engine.conftest import EngineThread, RawConn, ServerProcess
from tests.engine.test_proxy_headers import make_info_app


@dataclass
class Certs:
    ca: Any
    ca_file: Path
    cert_file: Path
    key_file: Path
    encrypted_key_file: Path
    other_key_file: Path
    client_cert: Any


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(folder / "cert.pem"), append=True)
    server.private_key_pem.write_to_path(str(folder / "key.pem"))
    key = serialization.load_pem_private_key(server.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    (folder / "encrypted.pem").write_bytes(encrypted)
    ca.issue_cert("other.example").private_key_pem.write_to_path(str(folder / "other-key.pem"))
    return Certs(
        ca=ca,
        ca_file=folder / "ca.pem",
        cert_file=folder / "cert.pem",
        key_file=folder / "key.pem",
        encrypted_key_file=folder / "encrypted.pem",
        other_key_file=folder / "other-key.pem",
        client_cert=ca.issue_cert("client@example.com"),
    )


def client_context(certs: Certs) -> ssl.SSLContext:
    context = ssl.create_default_context()
    certs.ca.configure_trust(context)
    return context


def make_tls_app(big_file: Path) -> FastAPI:
    app = make_info_app()

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(big_file)

    return app


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "big.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return path


@pytest.fixture(scope="module")
def tls_engine(certs: Certs, big_file: Path) -> Iterator[EngineThread]:
    engine = EngineThread(
        make_tls_app(big_file), ssl_certfile=str(certs.cert_file), ssl_keyfile=str(certs.key_file)
    )
    yield engine
    engine.stop()


def test_https_request_verifies_and_sees_https_urls(tls_engine: EngineThread, certs: Certs) -> None:
    with httpx.Client(verify=client_context(certs)) as client:
        response = client.get(f"https://127.0.0.1:{tls_engine.port}/info")
        again = client.get(f"https://localhost:{tls_engine.port}/info") if _localhost_v4() else response
    assert response.status_code == 200
    info = response.json()
    assert info["scheme"] == "https"
    assert info["url"] == f"https://127.0.0.1:{tls_engine.port}/info"
    assert info["url_for"] == f"https://127.0.0.1:{tls_engine.port}/items/7"
    assert again.json()["scheme"] == "https"


def _localhost_v4() -> bool:
    try:
        return socket.getaddrinfo("localhost", None)[0][4][0] == "127.0.0.1"
    except OSError:
        return False


def test_unverified_client_is_refused_by_its_own_check(tls_engine: EngineThread) -> None:
    # Without the CA the client rejects the certificate: proof that the server presents the generated one.
    with httpx.Client() as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(f"https://127.0.0.1:{tls_engine.port}/info")


def test_alpn_http11_and_tls12_minimum(tls_engine: EngineThread, certs: Certs) -> None:
    context = client_context(certs)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", tls_engine.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.selected_alpn_protocol() == "http/1.1"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        tls.sendall(b"GET /items/3 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")
    assert data.endswith(b'{"item_id":3}')
    assert tls_engine.server.ssl_context is not None
    assert tls_engine.server.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_tls12_client_is_served(tls_engine: EngineThread, certs: Certs) -> None:
    context = client_context(certs)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(verify=context) as client:
        assert client.get(f"https://127.0.0.1:{tls_engine.port}/items/1").json() == {"item_id": 1}


def test_file_response_over_tls_arrives_intact(
    tls_engine: EngineThread, certs: Certs, big_file: Path
) -> None:
    with httpx.Client(verify=client_context(certs)) as client:
        response = client.get(f"https://127.0.0.1:{tls_engine.port}/file")
        ranged = client.get(f"https://127.0.0.1:{tls_engine.port}/file", headers={"Range": "bytes=100-199"})
    expected = big_file.read_bytes()
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(expected)
    assert response.content == expected
    assert ranged.status_code == 206
    assert ranged.content == expected[100:200]


def test_plain_http_to_the_tls_port_does_not_hurt_the_server(
    tls_engine: EngineThread, certs: Certs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with RawConn(tls_engine.port) as conn:
        conn.send(b"GET /info HTTP/1.1\r\nHost: test\r\n\r\n")
        reply = conn.read_until_close()
    assert not reply.startswith(b"HTTP/1.1 200")
    with httpx.Client(verify=client_context(certs)) as client:
        assert client.get(f"https://127.0.0.1:{tls_engine.port}/items/2").json() == {"item_id": 2}
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert not [r for r in server_side if r.levelno > logging.DEBUG], server_side


def test_wss_websocket_echo(tls_engine: EngineThread, certs: Certs) -> None:
    with ws_connect(f"wss://127.0.0.1:{tls_engine.port}/ws", ssl=client_context(certs)) as ws:
        info = json.loads(ws.recv(timeout=5))
        for text in ("hello", "x" * 100_000):
            ws.send(text)
            assert ws.recv(timeout=5) == text
    assert info["scheme"] == "wss"
    assert info["url"] == f"wss://127.0.0.1:{tls_engine.port}/ws"


def test_client_certificate_required(certs: Certs, big_file: Path) -> None:
    engine = EngineThread(
        make_tls_app(big_file),
        ssl_certfile=str(certs.cert_file),
        ssl_keyfile=str(certs.key_file),
        ssl_ca_certs=str(certs.ca_file),
        ssl_cert_reqs="required",
    )
    try:
        url = f"https://127.0.0.1:{engine.port}/items/5"
        with httpx.Client(verify=client_context(certs)) as client, pytest.raises(httpx.TransportError):
            client.get(url)  # no client certificate: the handshake (or the first read, TLS 1.3) fails
        with_cert = client_context(certs)
        certs.client_cert.configure_cert(with_cert)
        with httpx.Client(verify=with_cert) as client:
            assert client.get(url).json() == {"item_id": 5}
        # A certificate from another CA is refused too.
        stranger = trustme.CA().issue_cert("mallory@example.com")
        foreign = client_context(certs)
        stranger.configure_cert(foreign)
        with httpx.Client(verify=foreign) as client, pytest.raises(httpx.TransportError):
            client.get(url)
    finally:
        engine.stop()


def test_client_certificate_optional(certs: Certs, big_file: Path) -> None:
    engine = EngineThread(
        make_tls_app(big_file),
        ssl_certfile=str(certs.cert_file),
        ssl_keyfile=str(certs.key_file),
        ssl_ca_certs=str(certs.ca_file),
        ssl_cert_reqs=1,
    )
    try:
        with httpx.Client(verify=client_context(certs)) as client:
            assert client.get(f"https://127.0.0.1:{engine.port}/items/6").json() == {"item_id": 6}
    finally:
        engine.stop()


def test_encrypted_key_with_the_right_password(certs: Certs, big_file: Path) -> None:
    engine = EngineThread(
        make_tls_app(big_file),
        ssl_certfile=str(certs.cert_file),
        ssl_keyfile=str(certs.encrypted_key_file),
        ssl_keyfile_password="s3cret",
    )
    try:
        with httpx.Client(verify=client_context(certs)) as client:
            assert client.get(f"https://127.0.0.1:{engine.port}/info").json()["scheme"] == "https"
    finally:
        engine.stop()


def tls_config(certs: Certs, **changes: Any) -> Config:
    settings: dict[str, Any] = {"ssl_certfile": str(certs.cert_file), "ssl_keyfile": str(certs.key_file)}
    settings.update(changes)
    return Config(**settings)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ssl_keyfile_password": "wrong"}, "--ssl-keyfile-password: can't decrypt"),
        ({"ssl_keyfile_password": None}, "encrypted; give its password with --ssl-keyfile-password"),
    ],
)
def test_encrypted_key_errors(certs: Certs, changes: dict[str, Any], message: str) -> None:
    config = tls_config(certs, ssl_keyfile=str(certs.encrypted_key_file), **changes)
    with pytest.raises(ConfigError, match=message):
        create_ssl_context(config)
    with pytest.raises(ConfigError, match=message):
        EngineThread(
            make_info_app(), **{k: getattr(config, k) for k in ("ssl_certfile", "ssl_keyfile")}, **changes
        )


def test_startup_errors_name_the_option(certs: Certs, tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"ssl_certfile": str(tmp_path / "missing.pem")}, "--ssl-certfile: can't read"),
        ({"ssl_keyfile": str(tmp_path / "missing.key")}, "--ssl-keyfile: can't read"),
        ({"ssl_keyfile": str(certs.other_key_file)}, "--ssl-keyfile: the private key does not match"),
        ({"ssl_keyfile": str(certs.cert_file)}, "--ssl-keyfile: .* holds no PEM private key"),
        ({"ssl_certfile": str(certs.key_file)}, "--ssl-certfile: .* holds no PEM certificate"),
        ({"ssl_ca_certs": str(tmp_path / "nope.pem"), "ssl_cert_reqs": 2}, "--ssl-ca-certs: can't read"),
        ({"ssl_cert_reqs": 2}, "--ssl-cert-reqs .* needs --ssl-ca-certs"),
        ({"ssl_ciphers": "NO-SUCH-CIPHER"}, "--ssl-ciphers"),
    ]
    for changes, message in cases:
        with pytest.raises(ConfigError, match=message):
            create_ssl_context(tls_config(certs, **changes))
    with pytest.raises(ConfigError, match="needs ssl_certfile"):
        Config(ssl_keyfile=str(certs.key_file))
    with pytest.raises(ConfigError, match="ssl_cert_reqs"):
        Config(ssl_cert_reqs="sometimes")


def test_certfile_with_the_key_inside(certs: Certs, tmp_path: Path) -> None:
    combined = tmp_path / "combined.pem"
    combined.write_bytes(certs.cert_file.read_bytes() + certs.key_file.read_bytes())
    assert create_ssl_context(Config(ssl_certfile=str(combined))) is not None
    assert create_ssl_context(Config()) is None


def test_cli_options_map_to_the_settings() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "m:app",
            "--ssl-keyfile",
            "k.pem",
            "--ssl-certfile",
            "c.pem",
            "--ssl-keyfile-password",
            "pw",
            "--ssl-ca-certs",
            "ca.pem",
            "--ssl-cert-reqs",
            "2",
            "--ssl-ciphers",
            "ECDHE+AESGCM",
        ]
    )
    config = _config_from_args(args)
    assert (config.ssl_keyfile, config.ssl_certfile, config.ssl_keyfile_password) == ("k.pem", "c.pem", "pw")
    assert (config.ssl_ca_certs, config.ssl_cert_reqs, config.ssl_ciphers) == ("ca.pem", 2, "ECDHE+AESGCM")
    named = _config_from_args(build_parser().parse_args(["run", "m:app", "--ssl-cert-reqs", "optional"]))
    assert named.ssl_cert_reqs == ssl.CERT_OPTIONAL
    plain = _config_from_args(build_parser().parse_args(["run", "m:app"]))
    assert (plain.ssl_certfile, plain.ssl_cert_reqs, plain.is_ssl) == (None, ssl.CERT_NONE, False)


def test_cli_serves_https(certs: Certs) -> None:
    server = ServerProcess(
        "tests.engine.sample_app:app",
        "--port",
        "0",
        "--no-access-log",
        "--ssl-keyfile",
        str(certs.key_file),
        "--ssl-certfile",
        str(certs.cert_file),
        ready=r"running on https://[^:]+:(\d+)",
    )
    try:
        port = server.wait_ready()
        with httpx.Client(verify=client_context(certs)) as client:
            response = client.get(f"https://127.0.0.1:{port}/fast")
    finally:
        server.kill()
    assert response.status_code == 200
    assert response.text == "fast"


def test_cli_tls_error_exits_1_with_the_message(certs: Certs, tmp_path: Path) -> None:
    server = ServerProcess(
        "tests.engine.sample_app:app",
        "--port",
        "0",
        "--ssl-keyfile",
        str(certs.other_key_file),
        "--ssl-certfile",
        str(certs.cert_file),
    )
    try:
        code = server.proc.wait(20)
    finally:
        server.kill()
    output = server.output()
    assert code == 1, output
    assert "fulmen: error: --ssl-keyfile: the private key does not match" in output
    assert "Traceback" not in output
