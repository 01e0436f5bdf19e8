"""Deployment options with uvicorn's names: --uds, --fd, --env-file, --log-config, --limit-concurrency,
response headers (--header, --server-header, --date-header), the timeout aliases and WEB_CONCURRENCY."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from fulmen import FastAPI, WebSocket
from fulmen.cli import _config_from_args, build_parser
from fulmen.engine.config import Config, ConfigError
from fulmen.requests import Request
from fulmen.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from tests.engine.conftest import FULMEN_PATH, REPO, EngineThread, RawConn, ServerProcess, exchange

APP_SOURCE = """
import os

from fulmen import FastAPI, Request

app = FastAPI()
#: Read at import: --env-file must have loaded it before the app module is imported.
GREETING = os.environ.get("DEPLOY_GREETING", "unset")


@app.get("/")
async def root(request: Request):
    return {
        "client": request.client,
        "server": request.server,
        "pid": os.getpid(),
        "greeting": GREETING,
    }
"""

#: The start-up line of a server on a Unix socket or an inherited descriptor; the group is the worker's pid.
UNIX_READY = r"running on unix socket .* \[pid (\d+)\]"
FD_READY = r"running on socket fd \d+ .* \[pid (\d+)\]"


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "deployapp.py").write_text(APP_SOURCE)
    return tmp_path


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short directory for socket files (a Unix socket path is limited to about 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="fd-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def unix_get(path: Path, target: str = "/", timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """One GET over a Unix socket: (status, headers, body); the server closes after it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: unix\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def stop(server: ServerProcess) -> int:
    server.proc.send_signal(signal.SIGTERM)
    return server.proc.wait(15)


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {"PYTHONPATH": os.pathsep.join([str(FULMEN_PATH), str(REPO)]), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "fulmen", "run", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
    )


# -- --uds ---------------------------------------------------------------------------------------------------
def test_uds_with_two_workers_answers_and_removes_its_socket(app_dir: Path, sock_dir: Path) -> None:
    path = sock_dir / "app.sock"
    server = ServerProcess(
        "deployapp:app", "--uds", str(path), "--workers", "2", cwd=app_dir, ready=UNIX_READY
    )
    try:
        server.wait_ready()
        _wait_for(lambda: sum("running on unix socket" in line for line in server.lines) == 2, timeout=10)
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666  # uvicorn's mode
        pids = set()
        for _ in range(6):
            status, _, body = unix_get(path)
            assert status == 200
            data = json.loads(body)
            # uvicorn puts client None and server (path, None) in the scope; a fulmen Request has no port to
            # show, so request.client and request.server are None (as under uvicorn's ASGI front door).
            assert (data["client"], data["server"]) == (None, None)
            pids.add(data["pid"])
        assert pids <= {int(m) for m in _worker_pids(server)}
        server.wait_for_line(r'- - "GET / HTTP/1.1" 200')  # the access log shows no peer address
        assert stop(server) == 0
        assert not path.exists()  # the supervisor removed the socket file it created
    finally:
        server.kill()


def _worker_pids(server: ServerProcess) -> list[str]:
    import re

    return [
        m.group(1) for line in server.lines if (m := re.search(r"Started worker \d+ \[pid (\d+)\]", line))
    ]


def test_uds_replaces_a_stale_socket_but_refuses_other_files(app_dir: Path, sock_dir: Path) -> None:
    path = sock_dir / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))  # a socket file nobody listens on: a crashed server's leftover
    dead.close()
    server = ServerProcess("deployapp:app", "--uds", str(path), cwd=app_dir, ready=UNIX_READY)
    try:
        server.wait_ready()
        assert unix_get(path)[0] == 200
        # A second server on the same live socket must not steal it.
        second = run_cli("deployapp:app", "--uds", str(path), cwd=app_dir)
        assert second.returncode == 1
        assert "fulmen: error: --uds: a server is already listening on" in second.stderr
        assert unix_get(path)[0] == 200
        assert stop(server) == 0
    finally:
        server.kill()
    regular = sock_dir / "data.txt"
    regular.write_text("precious")
    refused = run_cli("deployapp:app", "--uds", str(regular), cwd=app_dir)
    assert refused.returncode == 1
    assert "--uds" in refused.stderr and "is not a socket" in refused.stderr
    assert regular.read_text() == "precious"


async def _asgi_scope_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = json.dumps({"client": scope["client"], "server": scope["server"]}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


def test_uds_asgi_scope_matches_uvicorn(sock_dir: Path) -> None:
    path = sock_dir / "asgi.sock"
    engine = EngineThread(_asgi_scope_app, uds=str(path), interface="asgi")
    try:
        status, _, body = unix_get(path)
        assert status == 200
        assert json.loads(body) == {"client": None, "server": [str(path), None]}
    finally:
        engine.stop()
    assert path.exists()  # the socket was made by the test's EngineThread, not by the server: left alone


class ClientApp:
    async def handle(self, request: Request) -> Response:
        return JSONResponse({"client": request.client, "scheme": request.scheme})

    async def startup(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _unix_get_forwarded(path: Path) -> Any:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\n"
            b"Connection: close\r\n\r\n"
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data.partition(b"\r\n\r\n")[2])


def test_uds_peer_is_a_trusted_proxy_only_with_a_star(sock_dir: Path) -> None:
    path = sock_dir / "proxy.sock"
    for allow, expected in (("127.0.0.1", {"client": None, "scheme": "http"}), ("*", None)):
        engine = EngineThread(ClientApp(), uds=str(path), forwarded_allow_ips=allow)
        try:
            data = _unix_get_forwarded(path)
        finally:
            engine.stop()
            path.unlink()
        if expected is None:  # nginx on the socket, trusted: its X-Forwarded-* count, as under uvicorn
            assert data == {"client": ["203.0.113.9", 0], "scheme": "https"}
        else:
            assert data == expected


# -- --fd ----------------------------------------------------------------------------------------------------
def test_fd_serves_an_inherited_socket_with_workers(app_dir: Path) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FULMEN_PATH), str(REPO)]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fulmen", "run", "deployapp:app", "--fd", str(fd), "--workers", "2"],
        cwd=app_dir,
        env=full_env,
        pass_fds=(fd,),
        stderr=subprocess.PIPE,
        text=True,
    )
    listener.close()  # only the server holds it now
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        assert response.status == 200
        assert json.loads(response.body)["client"][0] == "127.0.0.1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert proc.stderr is not None
        assert f"starting 2 workers on socket fd {fd} (http://127.0.0.1:{port})" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_fd_that_is_not_a_listening_socket_is_a_clear_error(app_dir: Path, tmp_path: Path) -> None:
    unbound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    plain = open(tmp_path / "file.txt", "w")  # noqa: SIM115 - an fd that is no socket
    try:
        cases = [
            (unbound.fileno(), "is not listening"),
            (udp.fileno(), "is not a stream"),
            (plain.fileno(), "not a socket"),
        ]
        for fd, message in cases:
            full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FULMEN_PATH), str(REPO)]))
            proc = subprocess.run(
                [sys.executable, "-m", "fulmen", "run", "deployapp:app", "--fd", str(fd)],
                cwd=app_dir,
                env=full_env,
                pass_fds=(fd,),
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert proc.returncode == 1, proc.stderr
            assert f"--fd {fd}" in proc.stderr and message in proc.stderr
        closed = run_cli("deployapp:app", "--fd", "987", cwd=app_dir)
        assert closed.returncode == 1
        assert "--fd 987: not an open file descriptor" in closed.stderr
    finally:
        unbound.close()
        udp.close()
        plain.close()


def test_uds_fd_and_host_port_are_exclusive(app_dir: Path) -> None:
    for args, named in (
        (["--uds", "/tmp/x.sock", "--port", "9000"], "--port and --uds"),
        (["--fd", "3", "--host", "0.0.0.0"], "--host and --fd"),
        (["--uds", "/tmp/x.sock", "--fd", "3"], "--uds and --fd"),
    ):
        proc = run_cli("deployapp:app", *args, cwd=app_dir)
        assert proc.returncode == 2
        assert f"{named} can't be combined" in proc.stderr
    with pytest.raises(ConfigError, match="exclusive"):
        Config(uds="/tmp/x.sock", fd=3)


# -- --env-file ----------------------------------------------------------------------------------------------
def test_env_file_is_loaded_before_the_app_is_imported(app_dir: Path, sock_dir: Path) -> None:
    env_file = app_dir / "prod.env"
    env_file.write_text('# comment\nexport DEPLOY_GREETING="hello from .env"\nWEB_CONCURRENCY=2\n')
    path = sock_dir / "env.sock"
    server = ServerProcess(
        "deployapp:app", "--uds", str(path), "--env-file", str(env_file), cwd=app_dir, ready=UNIX_READY
    )
    try:
        server.wait_ready()
        assert json.loads(unix_get(path)[2])["greeting"] == "hello from .env"
        # WEB_CONCURRENCY from the file counts too, as under uvicorn: two workers.
        server.wait_for_line(r"starting 2 workers")
        assert stop(server) == 0
    finally:
        server.kill()


def test_env_file_does_not_override_the_environment_and_must_exist(app_dir: Path, sock_dir: Path) -> None:
    env_file = app_dir / ".env"
    env_file.write_text("DEPLOY_GREETING=from-file\n")
    path = sock_dir / "env2.sock"
    server = ServerProcess(
        "deployapp:app",
        "--uds",
        str(path),
        "--env-file",
        str(env_file),
        cwd=app_dir,
        ready=UNIX_READY,
        env={"DEPLOY_GREETING": "from-environment"},
    )
    try:
        server.wait_ready()
        assert json.loads(unix_get(path)[2])["greeting"] == "from-environment"
        assert stop(server) == 0
    finally:
        server.kill()
    missing = run_cli("deployapp:app", "--env-file", "nope.env", cwd=app_dir)
    assert missing.returncode == 2
    assert "--env-file: no such file: 'nope.env'" in missing.stderr


# -- --log-config --------------------------------------------------------------------------------------------
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"custom": {"format": "CUSTOM|%(name)s|%(levelname)s|%(message)s"}},
    "handlers": {
        "err": {"class": "logging.StreamHandler", "formatter": "custom", "stream": "ext://sys.stderr"}
    },
    "loggers": {"fulmen": {"handlers": ["err"], "level": "INFO", "propagate": False}},
}


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".ini"])
def test_log_config_changes_the_log_format(app_dir: Path, sock_dir: Path, suffix: str) -> None:
    config_path = app_dir / f"logging{suffix}"
    if suffix == ".json":
        config_path.write_text(json.dumps(LOG_CONFIG))
    elif suffix == ".yaml":
        yaml = pytest.importorskip("yaml")
        config_path.write_text(yaml.safe_dump(LOG_CONFIG))
    else:
        config_path.write_text(
            "[loggers]\nkeys=root,fulmen\n[handlers]\nkeys=err\n[formatters]\nkeys=custom\n"
            "[logger_root]\nlevel=WARNING\nhandlers=\n"
            "[logger_fulmen]\nlevel=INFO\nhandlers=err\nqualname=fulmen\npropagate=0\n"
            "[handler_err]\nclass=StreamHandler\nformatter=custom\nargs=(sys.stderr,)\n"
            "[formatter_custom]\nformat=CUSTOM|%(name)s|%(levelname)s|%(message)s\n"
        )
    path = sock_dir / "log.sock"
    server = ServerProcess(
        "deployapp:app",
        "--uds",
        str(path),
        "--workers",
        "2",
        "--log-config",
        str(config_path),
        cwd=app_dir,
        ready=r"CUSTOM\|fulmen.error\|INFO\|Fulmen running on unix socket .* \[pid (\d+)\]",
    )
    try:
        server.wait_ready()
        assert unix_get(path)[0] == 200
        server.wait_for_line(r'^CUSTOM\|fulmen.access\|INFO\|- - "GET / HTTP/1.1" 200')
        assert stop(server) == 0
        # Every line, the supervisor's and the workers', went through the configured formatter.
        assert all(line.startswith("CUSTOM|") for line in server.lines if line.strip()), server.output()
    finally:
        server.kill()


def test_bad_log_configs_are_clear_errors(app_dir: Path) -> None:
    broken = app_dir / "broken.json"
    broken.write_text("{not json")
    invalid = app_dir / "invalid.json"
    invalid.write_text(json.dumps({"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}))
    for path, message in (
        (broken, "is not valid JSON"),
        (invalid, "can't apply"),
        (app_dir / "missing.yaml", "no such file"),
    ):
        proc = run_cli("deployapp:app", "--log-config", str(path), cwd=app_dir)
        assert proc.returncode == 2
        assert "--log-config" in proc.stderr and message in proc.stderr


# -- --limit-concurrency -------------------------------------------------------------------------------------
class GateApp:
    """/slow waits until the test opens the gate; / answers at once."""

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None
        self.waiting = 0

    async def handle(self, request: Request) -> Response:
        if request.path == "/slow":
            if self.gate is None:
                self.gate = asyncio.Event()
            self.waiting += 1
            await self.gate.wait()
            return PlainTextResponse("slow done")
        if request.path == "/stream":

            async def parts() -> Any:
                yield b"a"
                if self.gate is None:
                    self.gate = asyncio.Event()
                self.waiting += 1
                await self.gate.wait()
                yield b"b"

            return StreamingResponse(parts())
        return JSONResponse({"ok": True})

    async def startup(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_limit_concurrency_answers_503_while_the_limit_is_reached() -> None:
    app = GateApp()
    engine = EngineThread(app, limit_concurrency=2)
    try:
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/").status == 200
        slow = [RawConn(engine.port), RawConn(engine.port)]
        for conn in slow:
            conn.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        _wait_for(lambda: app.waiting == 2)
        with RawConn(engine.port) as extra:
            response = extra.request("GET", "/")
            assert (response.status, response.body) == (503, b"Service Unavailable")
            assert response.header("content-type") == "text/plain; charset=utf-8"
            assert response.header("connection") == "close"
            assert extra.is_closed()
        assert app.gate is not None
        engine.call(app.gate.set)
        for conn in slow:
            assert conn.read_response().body == b"slow done"  # the requests in flight were unaffected
            conn.close()
        _wait_for(lambda: not engine.connections())
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/").status == 200
            assert conn.request("GET", "/").status == 200  # keep-alive: the same connection again
    finally:
        engine.stop()


def test_limit_concurrency_counts_running_requests_and_streams(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="fulmen.error")
    app = GateApp()
    engine = EngineThread(app, limit_concurrency=1)
    try:
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/").status == 200  # limit 1: one connection, one request at a time
            # A second request pipelined behind a running stream on the same connection is one too many.
            conn.send(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
            _wait_for(lambda: app.waiting == 1)
            conn.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            _wait_for(lambda: any(r.getMessage() == "Exceeded concurrency limit." for r in caplog.records))
            assert app.gate is not None
            engine.call(app.gate.set)
            data = conn.read_until_close()
        assert b"transfer-encoding: chunked" in data and data.count(b"HTTP/1.1 ") == 2
        assert b"HTTP/1.1 503 Service Unavailable" in data
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/").status == 200
    finally:
        engine.stop()


def test_limit_concurrency_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"limit_concurrency \(--limit-concurrency\) must be at least 1"):
        Config(limit_concurrency=0)


# -- response headers ----------------------------------------------------------------------------------------
async def _stream_parts() -> Any:
    yield b"x"


class HeadersApp:
    async def handle(self, request: Request) -> Response:
        if request.path == "/stream":
            return StreamingResponse(_stream_parts())
        return PlainTextResponse("hi")

    async def startup(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def _heads(engine: EngineThread) -> list[dict[str, list[str]]]:
    heads = []
    for target in ("/", "/stream"):
        with RawConn(engine.port) as conn:
            conn.send(f"GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
            head = conn.read_until_close().split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
        fields: dict[str, list[str]] = {}
        for line in head:
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.strip())
        heads.append(fields)
    return heads


def test_default_headers_on_the_wire() -> None:
    engine = EngineThread(HeadersApp())
    try:
        for fields in _heads(engine):
            assert "date" in fields and "server" not in fields  # fulmen's defaults
    finally:
        engine.stop()
    engine = EngineThread(
        HeadersApp(),
        server_header=True,
        date_header=False,
        headers=["X-Frame-Options: DENY", ("Strict-Transport-Security", "max-age=63072000")],
    )
    try:
        for fields in _heads(engine):
            assert fields["server"] == ["fulmen"]
            assert "date" not in fields
            assert fields["x-frame-options"] == ["DENY"]
            assert fields["strict-transport-security"] == ["max-age=63072000"]
    finally:
        engine.stop()
    engine = EngineThread(HeadersApp(), server_header=True, headers=["Server: edge"])
    try:
        for fields in _heads(engine):
            assert fields["server"] == ["edge"]  # a --header server replaces 'server: fulmen', as uvicorn's
            assert len(fields["date"]) == 1
    finally:
        engine.stop()


def test_websocket_handshake_carries_the_headers() -> None:
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    for options, date in (
        ({"server_header": True, "headers": ["X-A: 1"]}, True),
        ({"date_header": False}, False),
    ):
        engine = EngineThread(app, **options)
        try:
            with connect(f"ws://127.0.0.1:{engine.port}/ws") as client:
                assert client.recv() == "hi"
                headers = client.response.headers
            assert ("Date" in headers) is date
            if options.get("server_header"):
                assert (headers["server"], headers["x-a"]) == ("fulmen", "1")
            else:
                assert "server" not in headers
        finally:
            engine.stop()


def test_header_options_through_the_cli(app_dir: Path, sock_dir: Path) -> None:
    path = sock_dir / "h.sock"
    server = ServerProcess(
        "deployapp:app",
        "--uds",
        str(path),
        "--header",
        "X-Region: eu-west",
        "--header",
        "X-Build:42",
        "--server-header",
        "--no-date-header",
        cwd=app_dir,
        ready=UNIX_READY,
    )
    try:
        server.wait_ready()
        status, headers, _ = unix_get(path)
        assert status == 200
        assert (headers["x-region"], headers["x-build"], headers["server"]) == ("eu-west", "42", "fulmen")
        assert "date" not in headers
        assert stop(server) == 0
    finally:
        server.kill()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("NoColon", "expected NAME:VALUE"),
        ("Bad Name: x", "is not a valid header name"),
        ("X-Split: a\r\nInjected: 1", "control character"),
        ("X-Text: caf\u00e9\u2603", "not latin-1"),
    ],
)
def test_bad_headers_are_rejected(header: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config(headers=[header])


# -- aliases and WEB_CONCURRENCY -----------------------------------------------------------------------------
def test_uvicorn_spellings_and_web_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    parser = build_parser()
    args = parser.parse_args(
        ["run", "m:app", "--timeout-keep-alive", "7", "--timeout-graceful-shutdown", "3"]
    )
    config = _config_from_args(args)
    assert (config.keep_alive_timeout, config.graceful_timeout, config.workers) == (7.0, 3.0, 1)
    ours = _config_from_args(parser.parse_args(["run", "m:app", "--keep-alive-timeout", "2"]))
    assert ours.keep_alive_timeout == 2.0
    config = Config.from_options(timeout_keep_alive=4, timeout_graceful_shutdown=9)  # app.run(...) keywords
    assert (config.keep_alive_timeout, config.graceful_timeout) == (4, 9)
    with pytest.raises(ConfigError, match="same setting"):
        Config.from_options(timeout_keep_alive=4, keep_alive_timeout=5)
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert _config_from_args(parser.parse_args(["run", "m:app"])).workers == 3
    assert _config_from_args(parser.parse_args(["run", "m:app", "--workers", "2"])).workers == 2
    # `fulmen dev` and --reload ignore it, as uvicorn --reload does (no "--reload and --workers > 1" error).
    assert _config_from_args(parser.parse_args(["dev", "m:app"])).workers == 1
    assert _config_from_args(parser.parse_args(["run", "m:app", "--reload"])).workers == 1
    for bad in ("many", "0"):
        monkeypatch.setenv("WEB_CONCURRENCY", bad)
        with pytest.raises(ConfigError, match="WEB_CONCURRENCY"):
            _config_from_args(parser.parse_args(["run", "m:app"]))


def test_bad_values_are_rejected_with_the_option_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fd \(--fd\)"):
        Config(fd=-1)
    with pytest.raises(ConfigError, match=r"env_file \(--env-file\): no such file"):
        Config(env_file=str(tmp_path / "missing.env"))
    with pytest.raises(ConfigError, match=r"log_config \(--log-config\): no such file"):
        Config(log_config=str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="uds"):
        Config(uds="")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "m:app", "--limit-concurrency", "many"])


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def test_app_run_takes_the_new_options(app_dir: Path, sock_dir: Path) -> None:
    path = sock_dir / "run.sock"
    script = (
        "from deployapp import app\n"
        f"app.run(uds={str(path)!r}, server_header=True, headers=[('X-From', 'app.run')], "
        "timeout_keep_alive=3, limit_concurrency=5)\n"
    )
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FULMEN_PATH), str(REPO)]))
    full_env.pop("WEB_CONCURRENCY", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=app_dir, env=full_env, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(lambda: _accepts(path) or proc.poll() is not None, timeout=15)
        assert proc.poll() is None
        status, headers, _ = unix_get(path)
        assert (status, headers["server"], headers["x-from"]) == (200, "fulmen", "app.run")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert not path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_missing_optional_libraries_name_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fulmen.engine import startup_files

    env_file = tmp_path / ".env"
    env_file.write_text("A=1\n")
    yaml_file = tmp_path / "logging.yaml"
    yaml_file.write_text("version: 1\n")
    monkeypatch.setitem(sys.modules, "dotenv", None)  # as if python-dotenv weren't installed
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ConfigError, match=r'pip install "fulmen\[dotenv\]"'):
        startup_files.load_env_file(str(env_file))
    with pytest.raises(ConfigError, match=r'pip install "fulmen\[yaml\]"'):
        startup_files.apply_log_config(str(yaml_file))
