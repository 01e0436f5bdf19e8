"""Engine test helpers: a server on its own thread and uvloop loop, and a raw-socket HTTP client.

``start_engine_in_thread(app)`` is also used by the top-level ``serve`` fixture (front door "engine").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

import fulmen
from fulmen.engine.config import Config
from fulmen.engine.server import Server, create_socket, run_loop
from tests.engine.sample_app import SampleApp, make_app

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
#: Where the ``fulmen`` under test is imported from, first on subprocesses' PYTHONPATH: the checkout's src/
#: (an editable install), or site-packages when CI tests an installed build (the compiled engine).
FULMEN_PATH = Path(fulmen.__file__).resolve().parents[1]


class EngineThread:
    """A fulmen ``Server`` for ``app`` on a daemon thread with its own (uvloop) event loop."""

    def __init__(self, app: Any, **settings: Any) -> None:
        settings.setdefault("port", 0)
        settings.setdefault("access_log", False)
        self.app = app
        self.config = Config(**settings)
        self.server = Server(app, self.config)
        self.sock = create_socket(self.config)
        self.port: int = self.sock.getsockname()[1]
        self.host = "127.0.0.1"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.result: Any = None
        self.thread = threading.Thread(target=self._run, name="fulmen-engine", daemon=True)
        self.thread.start()
        if not self.server.started.wait(10):
            raise RuntimeError("engine did not start")

    def _run(self) -> None:
        self.result = run_loop(self._main())

    async def _main(self) -> bool:
        self.loop = asyncio.get_running_loop()
        return await self.server.serve(self.sock, install_signals=False)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop thread and return its result."""
        assert self.loop is not None
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(5)

    def connections(self) -> list[Any]:
        state = self.server.state
        assert state is not None
        return self.call(lambda: list(state.connections))

    def stop(self) -> None:
        self.server.request_exit()
        self.thread.join(15)
        if self.thread.is_alive():
            raise RuntimeError("engine thread did not stop")


def start_engine_in_thread(app: Any, **settings: Any) -> tuple[int, Callable[[], None]]:
    """Start ``app`` on the engine in this process; returns (port, stop)."""
    engine = EngineThread(app, **settings)
    return engine.port, engine.stop


# -- a raw HTTP/1.1 client -----------------------------------------------------------------------------------
@dataclass
class RawResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]


class RawConn:
    """A blocking socket with a read buffer and just enough HTTP/1.1 to read responses."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"connection closed while reading a response head; got {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def read_response(self, *, head_only: bool = False) -> RawResponse:
        head = self.read_head()
        lines = head.split(b"\r\n")
        status_line = lines[0].decode("latin-1")
        match = re.fullmatch(r"HTTP/1\.1 (\d{3}) ?(.*)", status_line)
        assert match, f"bad status line {status_line!r}"
        status = int(match.group(1))
        headers = []
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.lower(), value.strip()))
        response = RawResponse(status, match.group(2), headers, b"", head)
        if head_only or status < 200 or status in (204, 304):
            return response
        length = response.header("content-length")
        if length is None:
            raise AssertionError(f"response without content-length: {head!r}")
        n = int(length)
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError("connection closed while reading a response body")
        response.body, self.buf = self.buf[:n], self.buf[n:]
        return response

    def request(
        self, method: str = "GET", path: str = "/", headers: dict[str, str] | None = None, body: bytes = b""
    ) -> RawResponse:
        hdrs = {"Host": "test"}
        hdrs.update(headers or {})
        if body and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
            hdrs["Content-Length"] = str(len(body))
        text = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        self.send(text.encode("latin-1") + body)
        return self.read_response(head_only=method == "HEAD")

    def read_until_close(self, timeout: float = 5.0) -> bytes:
        """Everything until the server closes (raises TimeoutError if it doesn't)."""
        self.sock.settimeout(timeout)
        data, self.buf = self.buf, b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk

    def is_closed(self, timeout: float = 2.0) -> bool:
        """True if the server closed the connection (EOF or reset) within ``timeout`` without sending more."""
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
        if chunk:
            self.buf += chunk
            return False
        return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def exchange(port: int, data: bytes, timeout: float = 5.0) -> RawResponse:
    """Send raw bytes on a new connection, read one response."""
    with RawConn(port, timeout=timeout) as conn:
        conn.send(data)
        return conn.read_response()


# -- fixtures ------------------------------------------------------------------------------------------------
#: Settings for the shared module engine: small limits and short timeouts so the limit tests are fast.
TEST_SETTINGS: dict[str, Any] = {
    "max_url_length": 1024,
    "max_header_bytes": 4096,
    "max_header_count": 20,
    "max_body_size": 64 * 1024,
    "headers_timeout": 0.6,
    "keep_alive_timeout": 1.0,
    "body_timeout": 0.6,
}


@pytest.fixture(scope="module")
def engine() -> Iterator[EngineThread]:
    """One engine per test module serving the sample app with TEST_SETTINGS."""
    server = EngineThread(make_app(), **TEST_SETTINGS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def port(engine: EngineThread) -> int:
    return engine.port


@pytest.fixture
def sample_app() -> SampleApp:
    return make_app()


# -- subprocess servers --------------------------------------------------------------------------------------
class ServerProcess:
    """``python -m fulmen run ...`` (or ``dev``) in a subprocess; stderr read on a thread for the port."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
        ready: str = r"running on http://[^:]+:(\d+)",
        command: str = "run",
    ) -> None:
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(FULMEN_PATH), str(REPO), full_env.get("PYTHONPATH", "")]
        )
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fulmen", command, *args],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._ready = re.compile(ready)
        self.port = 0
        self._port_found = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            match = self._ready.search(line)
            if match and not self.port:
                self.port = int(match.group(1))
                self._port_found.set()

    def wait_ready(self, timeout: float = 15.0) -> int:
        if not self._port_found.wait(timeout):
            self.kill()
            raise RuntimeError("server did not start:\n" + "\n".join(self.lines))
        return self.port

    def wait_for_line(self, pattern: str, timeout: float = 10.0, start: int = 0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[start:]:
                match = regex.search(line)
                if match:
                    return match
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))

    def kill(self) -> None:
        """Kill the process if it still runs and release its pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def output(self) -> str:
        return "\n".join(self.lines)
