"""Rate limiter benchmark: req/s of E1 with and without a limiter, fulmen vs FastAPI's usual limiters.

    python benchmarks/ratelimit.py                      # 2 interleaved rounds x 5 s per variant
    python benchmarks/ratelimit.py --duration 3 --rounds 1 --only fulmen
    python benchmarks/ratelimit.py --in-process           # fulmen's app.handle timed in-process

Each server runs alone on CPU 0 (``taskset -c 0``), ``wrk -t1 -c64`` on CPU 1; a throwaway ``redis-server``
(no persistence) shares CPU 1 with wrk. The limit is so high that nothing is refused: what is measured is
the cost of checking. Each variant is measured right after the same framework without a limiter, and the
ratio of each pair is reported (median over the rounds): on a shared machine, load drifts between rounds.
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

FULMEN = [
    "none",
    "mw-memory",
    "dep-memory",
    "dep-response",
    "mw+dep-memory",
    "other-route",
    "mw-redis",
    "dep-redis",
]
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


def in_process(redis_url: str, rounds: int) -> None:
    """Time ``app.handle`` itself (no sockets, no HTTP parsing), 64 requests in flight, best of ``rounds``:
    the limiter's own cost per request, steadier than wrk's numbers on a shared machine."""
    import asyncio

    sys.path[:0] = [str(SRC), str(APPS)]
    import uvloop
    from ratelimit_fulmen import build

    from fulmen.requests import Request

    async def run(variant: str) -> float:
        app = build(variant, redis_url)
        async with app.router.lifespan_context(app):

            async def one() -> None:
                request = Request("GET", b"/", b"", [(b"host", b"x")], client=("10.0.0.1", 5000))
                response = await app.handle(request)
                assert response.status_code == 200, response.body

            for _ in range(20):
                await asyncio.gather(*(one() for _ in range(64)))
            best = float("inf")
            for _ in range(rounds):
                start = time.perf_counter()
                for _ in range(40):
                    await asyncio.gather(*(one() for _ in range(64)))
                best = min(best, (time.perf_counter() - start) / (40 * 64))
            return best * 1e6

    print("| limiter | µs per request (best of rounds) | added by the limiter |")
    print("|---|---:|---:|")
    base = None
    for variant in FULMEN:
        us = uvloop.run(run(variant))
        base = us if base is None else base
        print(f"| {variant} | {us:.1f} | {us - base:+.1f} |")


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
    parser.add_argument("--in-process", action="store_true", help="time fulmen's app.handle, no wrk")
    args = parser.parse_args()
    if args.in_process:
        with redis_server(args.wrk_cpu) as redis_url:
            in_process(redis_url, max(args.rounds, 5))
        return
    plan = [("fulmen", v) for v in FULMEN if v != "none"] + [("fastapi", v) for v in FASTAPI if v != "none"]
    if args.only:
        plan = [p for p in plan if p[0] == args.only]
    # Paired runs: each variant right after its framework without a limiter, so the ratio compares two
    # measurements a few seconds apart (a shared machine's load drifts more than that over a whole round).
    rps: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}

    def measure(framework: str, variant: str, redis_url: str) -> float | None:
        try:
            with server(framework, variant, redis_url, args) as port:
                wrk(port, 1, args)  # warm-up
                value, bad = wrk(port, args.duration, args)
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            print(f"{framework}/{variant}: skipped ({exc})", file=sys.stderr)
            return None
        if bad:
            print(f"{framework}/{variant}: {bad} non-2xx responses", file=sys.stderr)
        rps.setdefault((framework, variant), []).append(value)
        return value

    with redis_server(args.wrk_cpu) as redis_url:
        for _ in range(args.rounds):
            for framework, variant in plan:
                base = measure(framework, "none", redis_url)
                value = measure(framework, variant, redis_url)
                if base and value:
                    ratios.setdefault((framework, variant), []).append(value / base)
    print(f"| server | limiter | req/s (median) | vs same server without (median of {args.rounds} pairs) |")
    print("|---|---|---:|---:|")
    for framework in ("fulmen", "fastapi"):
        if (framework, "none") in rps:
            print(f"| {framework} | none | {statistics.median(rps[(framework, 'none')]):,.0f} | 1.00 |")
        for (fw, variant), values in ratios.items():
            if fw == framework:
                median_rps = statistics.median(rps[(fw, variant)])
                print(f"| {fw} | {variant} | {median_rps:,.0f} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
