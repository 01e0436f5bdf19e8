"""The ``fulmen`` command line: app loading, errors, ``python -m fulmen run`` and ``--reload``."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fulmen.cli import AppLoadError, build_parser, load_app
from fulmen.engine.config import Config, ConfigError
from tests.engine.conftest import FULMEN_PATH, RawConn, ServerProcess, exchange

APP_SOURCE = """
from fulmen.responses import PlainTextResponse

class App:
    async def handle(self, request):
        return PlainTextResponse({text!r})
    async def startup(self):
        pass
    async def shutdown(self):
        pass

app = App()

def create_app():
    return App()

async def asgi_app(scope, receive, send):
    pass
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "cliapp.py").write_text(APP_SOURCE.format(text="v1"))
    return tmp_path


def test_load_app_and_factory(app_dir: Path) -> None:
    assert hasattr(load_app("cliapp:app", app_dir=str(app_dir)), "handle")
    assert hasattr(load_app("cliapp:create_app", factory=True, app_dir=str(app_dir)), "handle")


@pytest.mark.parametrize(
    ("target", "factory", "message"),
    [
        ("cliapp", False, "module:attribute"),
        ("no_such_module_xyz:app", False, "could not import module 'no_such_module_xyz'"),
        ("cliapp:missing", False, "has no attribute 'missing'"),
        ("cliapp:create_app", False, "did you mean --factory"),
        ("cliapp:app", True, "not callable"),
    ],
)
def test_load_app_errors_are_clear(app_dir: Path, target: str, factory: bool, message: str) -> None:
    with pytest.raises(AppLoadError, match=message):
        load_app(target, factory=factory, app_dir=str(app_dir))


def test_load_app_checks_the_interface(app_dir: Path) -> None:
    assert load_app("cliapp:asgi_app", app_dir=str(app_dir), interface="asgi") is not None
    with pytest.raises(AppLoadError, match="not a fulmen application"):
        load_app("cliapp:asgi_app", app_dir=str(app_dir), interface="fulmen")
    with pytest.raises(AppLoadError, match="async callable, not a WSGI app"):
        load_app("cliapp:asgi_app", app_dir=str(app_dir), interface="wsgi")


def test_parser_accepts_documented_options() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "m:app",
            "--host",
            "0.0.0.0",
            "--port",
            "9000",
            "--workers",
            "3",
            "--reload",
            "--factory",
            "--log-level",
            "debug",
            "--no-access-log",
        ]
    )
    assert (args.app, args.host, args.port, args.workers, args.reload, args.factory) == (
        "m:app",
        "0.0.0.0",
        9000,
        3,
        True,
        True,
    )
    assert (args.log_level, args.no_access_log) == ("debug", True)


def test_config_validation_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="max_header_count"):
        Config(max_header_count=0)
    with pytest.raises(ConfigError, match="unknown engine setting"):
        Config.from_options(max_bodysize=1)


def test_cli_refuses_a_non_fulmen_app(app_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fulmen", "run", "cliapp:asgi_app", "--interface", "fulmen", "--port", "0"],
        cwd=app_dir,
        env={"PYTHONPATH": str(FULMEN_PATH)},
        capture_output=True,
        timeout=20,
    )
    assert proc.returncode == 1
    assert b"not a fulmen application" in proc.stderr


def test_cli_serves_the_app(app_dir: Path) -> None:
    server = ServerProcess("cliapp:app", "--port", "0", "--no-access-log", cwd=app_dir)
    try:
        port = server.wait_ready()
        assert exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body == b"v1"
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(10) == 0
    finally:
        server.kill()


def test_reload_restarts_on_python_change(app_dir: Path) -> None:
    server = ServerProcess("cliapp:app", "--port", "0", "--reload", cwd=app_dir)
    try:
        port = server.wait_ready()
        assert exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body == b"v1"
        time.sleep(0.3)
        (app_dir / "cliapp.py").write_text(APP_SOURCE.format(text="v2"))
        deadline = time.monotonic() + 15
        while True:
            ports = [
                int(m.group(1))
                for line in server.lines
                if (m := re.search(r"running on http://[^:]+:(\d+)", line))
            ]
            if len(ports) >= 2:
                new_port = ports[-1]
                break
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        with RawConn(new_port) as conn:
            assert conn.request("GET", "/").body == b"v2"
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0
    finally:
        server.kill()


def test_websocket_options_reach_the_config() -> None:
    from fulmen.cli import _config_from_args

    args = build_parser().parse_args(
        [
            "run",
            "m:app",
            "--ws-max-size",
            "1024",
            "--ws-max-queue",
            "4",
            "--ws-ping-interval",
            "0",
            "--ws-ping-timeout",
            "5",
            "--ws-per-message-deflate",
            "false",
        ]
    )
    config = _config_from_args(args)
    assert (config.ws_max_size, config.ws_max_queue) == (1024, 4)
    assert (config.ws_ping_interval, config.ws_ping_timeout) == (None, 5.0)
    assert config.ws_per_message_deflate is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "m:app", "--ws-per-message-deflate", "maybe"])
