"""Compression benchmark: req/s for a ~4 KB JSON answer, uncompressed and in each coding, and the ratios.

Every server runs alone on CPU 0 (``taskset``), ``wrk -t1 -c64`` on CPU 1; configurations run interleaved
over ``--rounds`` so a noisy moment hits them all. Besides req/s, the server's CPU time per request (from
/proc) is reported: on a shared machine it moves far less than req/s. Prints Markdown tables
(docs/compression.md quotes them).

    python benchmarks/compression.py                 # 3 rounds x 5 s per configuration
    python benchmarks/compression.py --duration 2 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

HERE = Path(__file__).parent
APPS = HERE / "apps"
SRC = HERE.parent / "src"

# (name, server, middleware, path, Accept-Encoding)
CONFIGS = [
    ("fulmen engine, no middleware", "engine", "none", "/json", None),
    ("fulmen engine + Compression, identity", "engine", "compression", "/json", "identity"),
    ("fulmen engine + Compression, gzip", "engine", "compression", "/json", "gzip"),
    ("fulmen engine + Compression, br", "engine", "compression", "/json", "br"),
    ("fulmen engine + Compression, zstd", "engine", "compression", "/json", "zstd"),
    ("fulmen engine + GZip, gzip", "engine", "gzip", "/json", "gzip"),
    ("fulmen engine, no middleware, small", "engine", "none", "/small", "gzip, br, zstd"),
    ("fulmen engine + Compression, small", "engine", "compression", "/small", "gzip, br, zstd"),
    ("fulmen uvicorn + Compression, gzip", "uvicorn:fulmen_compression", "compression", "/json", "gzip"),
    ("fulmen uvicorn + GZip, gzip", "uvicorn:fulmen_gzip", "gzip", "/json", "gzip"),
    ("FastAPI uvicorn, no middleware", "uvicorn:fastapi_none", "none", "/json", None),
    ("FastAPI uvicorn + GZip, gzip", "uvicorn:fastapi_gzip", "gzip", "/json", "gzip"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(server: str, middleware: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{APPS}"}
    if server == "engine":
        cmd = [sys.executable, str(APPS / "compression_apps.py"), "fulmen-engine", middleware, str(port)]
    else:
        target = server.partition(":")[2]
        cmd = [sys.executable, "-m", "uvicorn", f"compression_apps:{target}", "--port", str(port)]
        cmd += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(
        ["taskset", "-c", "0", *cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/small", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{server} did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port: int, path: str, accept: str | None, duration: float, pid: int) -> tuple[float, float]:
    """(requests per second, server CPU microseconds per request) for one wrk run."""
    cmd = ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{duration:g}s"]
    if accept is not None:
        cmd += ["-H", f"Accept-Encoding: {accept}"]
    before = cpu_seconds(pid)
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True)
    used = cpu_seconds(pid) - before
    if "Non-2xx" in out.stdout:  # socket timeouts are the machine's noise; wrong answers are not
        raise RuntimeError(out.stdout)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out.stdout).group(1))  # type: ignore[union-attr]
    return rate, used / count * 1e6


def sizes() -> list[tuple[str, int, float]]:
    """Compressed size and ratio of the JSON answer per coding at the middleware's default levels."""
    sys.path[:0] = [str(SRC), str(APPS)]
    import brotli
    import zstandard
    from compression_apps import PAYLOAD

    body = json.dumps(PAYLOAD, separators=(",", ":")).encode()
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    rows = [
        ("identity", len(body)),
        ("gzip (6)", len(gz.compress(body) + gz.flush())),
        ("br (4)", len(brotli.compress(body, quality=4))),
        ("zstd (3)", len(zstandard.ZstdCompressor(level=3).compress(body))),
    ]
    return [(name, size, len(body) / size) for name, size in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {name: [] for name, *_ in CONFIGS}
    for _ in range(args.rounds):
        for name, server, middleware, path, accept in CONFIGS:
            port = free_port()
            proc = start(server, middleware, port)
            try:
                wrk(port, path, accept, 1, proc.pid)  # warm-up
                results[name].append(wrk(port, path, accept, args.duration, proc.pid))
            finally:
                proc.terminate()
                proc.wait(10)

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    # CPU time per request is what the server spent, whatever else the machine was doing; req/s is the
    # best round (the least disturbed), also shown as a ratio.
    base_rate = max(r for r, _ in results["fulmen engine, no middleware"])
    base_cpu = median([c for _, c in results["fulmen engine, no middleware"]])
    print("| configuration | req/s (best) | ratio | server CPU µs/request (median) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, *_ in CONFIGS:
        rate = max(r for r, _ in results[name])
        cpu = median([c for _, c in results[name]])
        print(f"| {name} | {rate:,.0f} | {rate / base_rate:.2f} | {cpu:.0f} | {cpu / base_cpu:.2f} |")
    print()
    print("| coding (level) | bytes | ratio |")
    print("|---|---:|---:|")
    for name, size, ratio in sizes():
        print(f"| {name} | {size} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
