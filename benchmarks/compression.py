"""Compression benchmark: req/s for a ~4 KB JSON answer, uncompressed and in each coding, and the ratios.

Every server runs alone on CPU 0 (``taskset``), ``wrk -t1 -c64`` on CPU 1; configurations run interleaved
over ``--rounds`` so a noisy moment hits them all. Prints Markdown tables (docs/compression.md quotes them).

    python benchmarks/compression.py                 # 2 rounds x 5 s per configuration
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


def wrk(port: int, path: str, accept: str | None, duration: float) -> float:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{duration:g}s"]
    if accept is not None:
        cmd += ["-H", f"Accept-Encoding: {accept}"]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True)
    if "Non-2xx" in out.stdout:  # socket timeouts are the machine's noise; wrong answers are not
        raise RuntimeError(out.stdout)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]


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
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[float]] = {name: [] for name, *_ in CONFIGS}
    for _ in range(args.rounds):
        for name, server, middleware, path, accept in CONFIGS:
            port = free_port()
            proc = start(server, middleware, port)
            try:
                wrk(port, path, accept, 1)  # warm-up
                results[name].append(wrk(port, path, accept, args.duration))
            finally:
                proc.terminate()
                proc.wait(10)
    base = max(results["fulmen engine, no middleware"])
    print("| configuration | req/s | vs fulmen engine, no middleware |")
    print("|---|---:|---:|")
    for name, *_ in CONFIGS:
        best = max(results[name])
        print(f"| {name} | {best:,.0f} | {best / base:.2f} |")
    print()
    print("| coding (level) | bytes | ratio |")
    print("|---|---:|---:|")
    for name, size, ratio in sizes():
        print(f"| {name} | {size} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
