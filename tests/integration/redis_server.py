"""A throwaway Redis server for the integration tests: ``redis-server`` on a free port, no persistence.

Started in a temp dir with ``--save ''`` and ``--appendonly no``, stopped (terminate, then kill) when the
``with`` block ends, even on failure. Where ``redis-server`` is missing or won't start, tests skip with the
reason on a laptop and fail under CI=true (``tests.conftest.ci``).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import ci


class RedisUnavailable(RuntimeError):
    """The server can't be started here (no binary, or it didn't answer)."""


@dataclass
class RedisServer:
    """A running ``redis-server``: where it listens, and its process (tests may stop it to simulate an
    outage)."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> bytes:
        """Run one command over a raw socket (RESP), so the fixture needs no client library."""
        payload = f"*{len(args)}\r\n".encode() + b"".join(
            f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
        )
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(payload)
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        if reply.startswith(b"-"):
            raise RuntimeError(reply.decode())
        return reply

    def stop(self) -> None:
        """Stop the server (idempotent): terminate, then kill if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server(port: int | None = None) -> Iterator[RedisServer]:
    """Start a ``redis-server`` for the ``with`` block (on ``port``, or a free one); raises
    ``RedisUnavailable`` when it can't."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable("redis-server not found: apt-get install redis-server")
    with tempfile.TemporaryDirectory(prefix="fulmen-redis-") as tmp:
        if port is None:
            port = _free_port()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", tmp, "--daemonize", "no", "--loglevel", "warning"]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        server = RedisServer(port, process)
        try:
            deadline = time.monotonic() + 10
            while True:
                if process.poll() is not None:
                    stderr = process.stderr.read().decode() if process.stderr else ""
                    raise RedisUnavailable(f"redis-server exited with {process.returncode}: {stderr}")
                try:
                    if server.command("PING") == b"+PONG\r\n":
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RedisUnavailable("redis-server did not answer PING within 10 s")
                time.sleep(0.02)
            yield server
        finally:
            server.stop()
            if process.stderr is not None:
                process.stderr.close()


@contextlib.contextmanager
def start_or_skip(port: int | None = None) -> Iterator[RedisServer]:
    """``redis_server()``, but a missing server skips the test on a laptop and fails it under CI=true."""
    try:
        cm = redis_server(port)
        server = cm.__enter__()
    except RedisUnavailable as exc:
        if ci():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    with contextlib.ExitStack() as stack:
        stack.push(cm)
        yield server
