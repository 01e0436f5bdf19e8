"""CPU offload benchmark: latency of light requests while CPU-bound requests run, threads vs processes.

``python benchmarks/offload.py [--duration 5] [--rounds 2]`` serves ``apps/offload_app.py`` in each mode and
runs wrk against ``/light`` (64 connections, pinned to CPU 1) while a second wrk keeps ``/heavy`` busy
(4 connections). The server is not pinned: the point of the pool is to use the other core. Modes run
interleaved, ``--rounds`` times, so the noise of a shared machine hits them alike; the table shows medians.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
MODES = ("plain", "pool-idle", "thread", "offload")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def wrk(url: str, connections: int, duration: int) -> subprocess.Popen[str]:
    pin = ["taskset", "-c", "1"] if shutil.which("taskset") else []
    cmd = [*pin, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse(output: str) -> dict[str, float]:
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        result[f"p{pct}"] = _ms(*found.groups()) if found else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["non2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def run_mode(mode: str, duration: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "apps" / "offload_app.py"), str(port), mode],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, server)
        base = f"http://127.0.0.1:{port}"
        heavy = wrk(f"{base}/heavy", 4, duration) if mode in ("thread", "offload") else None
        light = wrk(f"{base}/light", 64, duration)
        result = {f"light_{k}": v for k, v in parse(light.communicate()[0]).items()}
        if heavy is not None:
            result.update({f"heavy_{k}": v for k, v in parse(heavy.communicate()[0]).items()})
        return result
    finally:
        server.terminate()
        server.wait(30)


def burn_ms(rounds: int) -> float:
    start = time.perf_counter()
    value = b"fulmen"
    for _ in range(rounds):
        value = hashlib.sha256(value).digest()
    return (time.perf_counter() - start) * 1000


def noop(value: int) -> int:
    return value


async def _overhead(calls: int) -> dict[str, float]:
    """Microseconds per sequential call of a no-op: fulmen's pool, the thread pool, ProcessPoolExecutor."""
    import asyncio
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from fulmen.concurrency import run_in_threadpool
    from fulmen.integrations.offload import OffloadPool

    loop = asyncio.get_running_loop()
    result: dict[str, float] = {}
    async with OffloadPool(1) as pool:
        await pool.run(noop, 0)
        start = time.perf_counter()
        for i in range(calls):
            await pool.run(noop, i)
        result["OffloadPool.run"] = (time.perf_counter() - start) / calls * 1e6
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as executor:
        await loop.run_in_executor(executor, noop, 0)
        start = time.perf_counter()
        for i in range(calls):
            await loop.run_in_executor(executor, noop, i)
        result["ProcessPoolExecutor"] = (time.perf_counter() - start) / calls * 1e6
    start = time.perf_counter()
    for i in range(calls):
        await run_in_threadpool(noop, i)
    result["run_in_threadpool"] = (time.perf_counter() - start) / calls * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--overhead-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.overhead_only:
        import asyncio

        for name, micros in asyncio.run(_overhead(2000)).items():
            print(f"no-op round trip, {name}: {micros:.0f} us")
        return
    # In a child with the checkout's src/ on PYTHONPATH, which worker processes inherit (sys.path edits
    # made at run time lose to an editable install of another checkout in the fork server).
    subprocess.run([sys.executable, __file__, "--overhead-only"], env=_env(), check=True)
    rounds = int(os.environ.get("OFFLOAD_ROUNDS", "4000"))
    cost = statistics.median(burn_ms(rounds) for _ in range(20))
    print(
        f"/heavy: {rounds} chained SHA-256 = {cost:.1f} ms of CPU here; cpus: {len(os.sched_getaffinity(0))}"
    )
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            runs[mode].append(run_mode(mode, args.duration))
    keys = ["light_rps", "light_p50", "light_p99", "heavy_rps", "heavy_non2xx"]
    print(f"| mode | {' | '.join(keys)} |")
    print(f"|---|{'---|' * len(keys)}")
    for mode in MODES:
        cells = []
        for key in keys:
            values = [r[key] for r in runs[mode] if key in r]
            cells.append(f"{statistics.median(values):.1f}" if values else "-")
        print(f"| {mode} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
