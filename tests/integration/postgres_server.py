"""A throwaway PostgreSQL server for the integration tests: initdb into a temp dir, pg_ctl start, stop.

The binaries are Debian's (``/usr/lib/postgresql/<version>/bin``) or any ``initdb``/``pg_ctl`` on ``PATH``.
PostgreSQL refuses to run as root, so as root the data directory is handed to the ``postgres`` user and the
commands run through ``runuser``. Authentication is ``trust`` for local and 127.0.0.1 connections only.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ci

SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The server can't be started here (no binaries, no non-root user, or it failed to start)."""


@dataclass(frozen=True)
class PostgresServer:
    """A running server: where it listens and how to reach it."""

    host: str
    port: int
    user: str
    database: str
    socket_dir: str

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``, newest Debian version first, then ``PATH``."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("pg_ctl") is not None:
        return Path(initdb).parent
    raise PostgresUnavailable("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")


def _version(path: str) -> int:
    part = Path(path).parent.name
    return int(part) if part.isdigit() else 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _runner() -> list[str]:
    """The command prefix that runs PostgreSQL's tools as a non-root user."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PostgresUnavailable("running as root without runuser: can't run PostgreSQL as a non-root user")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root and no 'postgres' user exists to run PostgreSQL") from None
    return [runuser, "-u", "postgres", "--"]


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a server in a new temp dir; stop it and delete the dir on exit, also when start-up fails."""
    bin_dir = find_bin_dir()
    run_as = _runner()
    # Not pytest's tmp_path: its parents are 0700 root, which the postgres user can't enter.
    root = Path(tempfile.mkdtemp(prefix="fulmen-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if run_as:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    started = False
    try:
        _run(
            [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
             "--no-sync"],
            "initdb",
        )  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off -c max_connections=100"
        started = True  # from here on a half-started server must be stopped
        _run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
             "-t", "60", "start"],
            "pg_ctl start",
            log=root / "log",
        )  # fmt: skip
        yield PostgresServer("127.0.0.1", port, SUPERUSER, "postgres", str(sockets))
    finally:
        if started:
            subprocess.run(
                [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        server_log = log.read_text(errors="replace") if log is not None and log.exists() else ""
        output = f"{done.stderr}{done.stdout}{server_log}"
        raise PostgresUnavailable(f"{what} failed ({done.returncode}): {output}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session; skips locally and fails on CI when it can't start."""
    try:
        cm = postgres_server()
        server = cm.__enter__()
    except PostgresUnavailable as exc:
        if ci():
            pytest.fail(f"PostgreSQL is required on CI: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield server
    finally:
        cm.__exit__(None, None, None)
