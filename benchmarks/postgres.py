"""PostgreSQL benchmark: one ``SELECT`` by primary key per request, fulmen's integration vs FastAPI + asyncpg.

Starts a throwaway PostgreSQL (tests/integration/postgres_server.py) unless ``--dsn`` is given, fills a
1000-row table, then measures each server alone with wrk. The app server is pinned to CPU 0; wrk and
PostgreSQL share CPU 1, the same for every server, so the ratios compare the frameworks' work.

    python benchmarks/postgres.py                 # 2 rounds x 5 s
    python benchmarks/postgres.py --duration 3 --rounds 1

Servers: fulmen on its engine, fulmen under uvicorn (ASGI), FastAPI under uvicorn (uvloop + httptools).
Endpoints: /users/{id} through the connection dependency, /pool/users/{id} straight on the pool, and / (no
database; it must not get slower because the app has a pool).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APPS = HERE / "apps"
sys.path.insert(0, str(REPO))

UVICORN = ["-m", "uvicorn", "--app-dir", str(APPS), "--host", "127.0.0.1", "--workers", "1"]
UVICORN += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
SERVERS = {
    "fulmen": lambda port: [sys.executable, str(APPS / "pg_fulmen.py"), str(port)],
    "fulmen-uvicorn": lambda port: [sys.executable, *UVICORN, "--port", str(port), "pg_fulmen:app"],
    "fastapi-uvicorn": lambda port: [sys.executable, *UVICORN, "--port", str(port), "pg_fastapi:app"],
    # run.py's fulmen app, which has no pool: its / is the same handler, the reference for "no slower".
    "fulmen-no-pool": lambda port: [sys.executable, str(APPS / "fulmen_app.py"), str(port)],
}
NO_POOL = "fulmen-no-pool"
BASELINE = "fastapi-uvicorn"
ENDPOINTS = {
    "/users/{id} (Depends)": ("/users/7", {"id": 7, "name": "user-7"}),
    "/pool/users/{id}": ("/pool/users/7", {"id": 7, "name": "user-7"}),
    "/ (no database)": ("/", {"message": "Hello, World!"}),
}


@contextlib.contextmanager
def database(dsn: str | None) -> Iterator[str]:
    if dsn is not None:
        yield dsn
        return
    from tests.integration.postgres_server import postgres_server

    with postgres_server() as server:
        pid = (Path(server.socket_dir).parent / "data" / "postmaster.pid").read_text().split()[0]
        if shutil.which("taskset"):  # PostgreSQL's backends are forked later: they inherit CPU 1
            subprocess.run(["taskset", "-a", "-p", "-c", "1", pid], capture_output=True, check=False)
        yield server.dsn


def fill(dsn: str) -> None:
    import asyncpg

    async def main() -> None:
        conn = await asyncpg.connect(dsn)
        await conn.execute("DROP TABLE IF EXISTS bench_users")
        await conn.execute("CREATE TABLE bench_users (id int PRIMARY KEY, name text NOT NULL)")
        await conn.copy_records_to_table("bench_users", records=[(i, f"user-{i}") for i in range(1000)])
        await conn.close()

    asyncio.run(main())


def endpoints(server: str) -> dict[str, tuple[str, object]]:
    return {k: v for k, v in ENDPOINTS.items() if server != NO_POOL or k == "/ (no database)"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(name: str, dsn: str, pin: bool) -> Iterator[tuple[int, int]]:
    port = free_port()
    env = {**os.environ, "BENCH_PG_DSN": dsn, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(APPS)])}
    argv = (["taskset", "-c", "0"] if pin else []) + SERVERS[name](port)
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start") from None
                time.sleep(0.1)
        for path, expected in endpoints(name).values():  # a fast wrong answer must fail the run
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                got = json.loads(response.read())
            if got != expected:
                raise RuntimeError(f"{name} {path}: expected {expected}, got {got}")
        yield proc.pid, port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, path: str, duration: int, connections: int, pin: bool) -> tuple[float, int]:
    """(requests per second, requests completed) for one wrk run."""
    argv = ["taskset", "-c", "1"] if pin else []
    argv += ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk saw errors on {path}:\n{out}")
    rate, count = re.search(r"Requests/sec:\s+([\d.]+)", out), re.search(r"(\d+) requests in", out)
    if rate is None or count is None:
        raise RuntimeError(f"no request counts in wrk's output:\n{out}")
    return float(rate.group(1)), int(count.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="use this PostgreSQL instead of starting one (its table is replaced)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    pin = not args.no_pin and shutil.which("taskset") is not None
    best: dict[tuple[str, str], float] = {}
    # Server CPU per request: steadier than req/s on a shared machine (other load slows us but is not billed).
    cpu: dict[tuple[str, str], float] = {}
    with database(args.dsn) as dsn:
        fill(dsn)
        for _ in range(args.rounds):  # interleaved rounds: drift on a noisy machine hits every server alike
            for name in SERVERS:
                with running(name, dsn, pin) as (pid, port):
                    for label, (path, _expected) in endpoints(name).items():
                        before = cpu_seconds(pid)
                        rps, count = wrk(port, path, args.duration, args.connections, pin)
                        per_request = (cpu_seconds(pid) - before) / count * 1e6
                        best[name, label] = max(best.get((name, label), 0.0), rps)
                        cpu[name, label] = min(cpu.get((name, label), float("inf")), per_request)
    setup = f"wrk -t1 -c{args.connections} -d{args.duration}s, best of {args.rounds}"
    table(f"req/s ({setup}), ratio to {BASELINE}", best, lambda v, base: f"{v:>9,.0f} ({v / base:.2f}x)")
    table(
        f"server CPU microseconds per request ({setup}), ratio {BASELINE}/server (higher = less CPU)",
        cpu,
        lambda v, base: f"{v:>9,.0f} ({base / v:.2f}x)",
    )


def table(title: str, values: dict[tuple[str, str], float], cell: Callable[[float, float], str]) -> None:
    print(f"\n{title}")
    print(f"| {'endpoint':<24} | " + " | ".join(f"{name:>18}" for name in SERVERS) + " |")
    print(f"|{'-' * 26}|" + "|".join("-" * 20 for _ in SERVERS) + "|")
    for label in ENDPOINTS:
        cells = []
        for name in SERVERS:
            value = values.get((name, label))
            cells.append("-" if value is None else cell(value, values[BASELINE, label]))
        print(f"| {label:<24} | " + " | ".join(f"{c:>18}" for c in cells) + " |")


if __name__ == "__main__":
    main()
