"""Rate limiter benchmark: req/s of E1 with and without a limiter, fulmen vs FastAPI's usual limiters.

    python benchmarks/ratelimit.py                      # 2 interleaved rounds x 5 s per variant
    python benchmarks/ratelimit.py --duration 3 --rounds 1 --only fulmen

Each server runs alone on CPU 0 (``taskset -c 0``), ``wrk -t1 -c64`` on CPU 1; a throwaway ``redis-server``
(no persistence) shares CPU 1 with wrk. The limit is so high that nothing is refused: what is measured is
the cost of checking. Ratios are against the same framework without a limiter, measured in the same run.
The FastAPI peers need slowapi and fastapi-limiter 0.1.x, which fulmen doesn't depend on:
``pip install --target /tmp/rl-peers --no-deps slowapi limits deprecated wrapt "fastapi-limiter==0.1.6"``
and ``--peers-path /tmp/rl-peers``. Linux only (taskset).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
SRC = HERE.parent / "src"

FULMEN = ["none", "mw-memory", "dep-memory", "other-route", "mw-redis", "dep-redis"]
FASTAPI = ["none", "slowapi-memory", "slowapi-redis", "fastapi-limiter"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(port: int, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not answer within 15 s")


@contextlib.contextmanager
def redis_server(cpu: str) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: apt-get install redis-server")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fulmen-bench-redis-") as tmp:
        args = ["taskset", "-c", cpu, binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", tmp, "--loglevel", "warning"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


@contextlib.contextmanager
def server(framework: str, variant: str, redis_url: str, args: argparse.Namespace) -> Iterator[int]:
    port = free_port()
    script = APPS / ("ratelimit_fulmen.py" if framework == "fulmen" else "ratelimit_fastapi.py")
    env = dict(os.environ)
    paths = [str(SRC), str(APPS)] + ([args.peers_path] if args.peers_path else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    cmd = ["taskset", "-c", args.server_cpu, sys.executable, str(script), variant, str(port), redis_url]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        wait_http(port, proc)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wrk(port: int, seconds: int, args: argparse.Namespace) -> tuple[float, int]:
    """req/s, and non-2xx responses (which must be 0: nothing is refused)."""
    cmd = ["taskset", "-c", args.wrk_cpu, "wrk", "-t1", f"-c{args.connections}", f"-d{seconds}s"]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out.stdout)
    if rps is None:
        raise RuntimeError(out.stdout + out.stderr)
    return float(rps.group(1)), int(bad.group(1)) if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--wrk-cpu", default="1")
    parser.add_argument("--peers-path", default=None, help="where slowapi and fastapi-limiter are installed")
    parser.add_argument("--only", choices=["fulmen", "fastapi"], default=None)
    args = parser.parse_args()
    plan = [("fulmen", v) for v in FULMEN] + [("fastapi", v) for v in FASTAPI]
    if args.only:
        plan = [p for p in plan if p[0] == args.only]
    results: dict[tuple[str, str], list[float]] = {p: [] for p in plan}
    with redis_server(args.wrk_cpu) as redis_url:
        for _ in range(args.rounds):
            for framework, variant in plan:
                try:
                    with server(framework, variant, redis_url, args) as port:
                        wrk(port, 1, args)  # warm-up
                        rps, bad = wrk(port, args.duration, args)
                except (RuntimeError, subprocess.CalledProcessError) as exc:
                    print(f"{framework}/{variant}: skipped ({exc})", file=sys.stderr)
                    continue
                if bad:
                    print(f"{framework}/{variant}: {bad} non-2xx responses", file=sys.stderr)
                results[(framework, variant)].append(rps)
    print(
        f"| server | limiter | req/s (median of {args.rounds}) | vs same server without | vs fulmen without |"
    )
    print("|---|---|---:|---:|---:|")
    base_fulmen = statistics.median(results.get(("fulmen", "none")) or [float("nan")])
    for (framework, variant), values in results.items():
        if not values:
            continue
        rps = statistics.median(values)
        own = statistics.median(results.get((framework, "none")) or [float("nan")])
        print(f"| {framework} | {variant} | {rps:,.0f} | {rps / own:.2f} | {rps / base_fulmen:.2f} |")


if __name__ == "__main__":
    main()
