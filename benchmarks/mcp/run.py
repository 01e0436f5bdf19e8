"""MCP benchmarks: what the MCP server costs, and how it compares with the official SDK's server.

``python benchmarks/mcp/run.py [--duration 5] [--rounds 1]``: each server pinned to CPU 0, wrk (1 thread,
64 connections) to CPU 1; prints req/s per case and the ratios. Needs wrk, taskset, uvicorn and the mcp SDK.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
PY = sys.executable
UVICORN = [
    PY,
    "-m",
    "uvicorn",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
]


def rpc(method: str, params: dict[str, object] | None = None) -> str:
    message: dict[str, object] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message)


CALL_ADD = rpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
CALL_ROUTE = rpc("tools/call", {"name": "hello_hello_get", "arguments": {}})
LIST = rpc("tools/list")
READ_STATIC = rpc("resources/read", {"uri": "config://app"})
READ_TEMPLATE = rpc("resources/read", {"uri": "users://42/profile"})

# (case, server command, path, JSON-RPC body or None for a GET)
CASES: list[tuple[str, list[str], str, str | None]] = [
    ("GET /hello, engine, no MCP", [PY, "fulmen_mcp_app.py", "{port}", "--no-mcp"], "/hello", None),
    ("GET /hello, engine, MCP mounted", [PY, "fulmen_mcp_app.py", "{port}"], "/hello", None),
    ("tools/call add, fulmen engine", [PY, "fulmen_mcp_app.py", "{port}"], "/mcp", CALL_ADD),
    ("tools/call route, fulmen engine", [PY, "fulmen_mcp_app.py", "{port}"], "/mcp", CALL_ROUTE),
    ("tools/list, fulmen engine", [PY, "fulmen_mcp_app.py", "{port}"], "/mcp", LIST),
    (
        "tools/call add, fulmen on uvicorn",
        [*UVICORN, "--port", "{port}", "fulmen_mcp_app:app"],
        "/mcp",
        CALL_ADD,
    ),
    ("tools/call add, SDK on uvicorn", [*UVICORN, "--port", "{port}", "sdk_mcp_app:app"], "/mcp", CALL_ADD),
    ("tools/list, SDK on uvicorn", [*UVICORN, "--port", "{port}", "sdk_mcp_app:app"], "/mcp", LIST),
    ("resources/read def, fulmen engine", [PY, "fulmen_mcp_app.py", "{port}"], "/mcp", READ_STATIC),
    ("resources/read template, fulmen engine", [PY, "fulmen_mcp_app.py", "{port}"], "/mcp", READ_TEMPLATE),
    (
        "resources/read def, fulmen on uvicorn",
        [*UVICORN, "--port", "{port}", "fulmen_mcp_app:app"],
        "/mcp",
        READ_STATIC,
    ),
    (
        "resources/read def, SDK on uvicorn",
        [*UVICORN, "--port", "{port}", "sdk_mcp_app:app"],
        "/mcp",
        READ_STATIC,
    ),
    (
        "resources/read template, SDK on uvicorn",
        [*UVICORN, "--port", "{port}", "sdk_mcp_app:app"],
        "/mcp",
        READ_TEMPLATE,
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nothing-here", timeout=1)
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
            continue
        return
    raise RuntimeError("server did not start")


def measure(command: list[str], path: str, body: str | None, duration: int) -> float:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}:{HERE}"}
    cmd = ["taskset", "-c", "0", *[c.replace("{port}", str(port)) for c in command]]
    proc = subprocess.Popen(cmd, cwd=HERE, env=env, start_new_session=True)
    try:
        wait_up(port, proc)
        wrk = ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{duration}s", f"http://127.0.0.1:{port}{path}"]
        if body is not None:
            wrk[5:5] = ["-s", str(HERE / "post.lua")]
        out = subprocess.run(
            wrk, env={**os.environ, "BODY": body or ""}, capture_output=True, text=True
        ).stdout
        if "Non-2xx" in out:
            raise RuntimeError(f"errors from the server:\n{out}")
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if found is None:
            raise RuntimeError(out)
        return float(found.group(1))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--only", help="run only the cases whose name contains this text (e.g. resources/read)"
    )
    args = parser.parse_args()
    cases = [case for case in CASES if args.only is None or args.only in case[0]]
    results: dict[str, list[float]] = {name: [] for name, *_ in cases}
    for round_ in range(args.rounds):
        # Every other round backwards: on a busy machine the case run first is often the faster one.
        for name, command, path, body in cases if round_ % 2 == 0 else reversed(cases):
            results[name].append(measure(command, path, body, args.duration))
    best = {name: max(values) for name, values in results.items()}
    print(f"| case | req/s (best of {args.rounds}) |\n|---|---:|")
    for name, value in best.items():
        print(f"| {name} | {value:,.0f} |")
    print("\n| ratio | value |\n|---|---:|")
    ratios = [
        ("GET /hello: MCP mounted / not", "GET /hello, engine, MCP mounted", "GET /hello, engine, no MCP"),
        (
            "tools/call add: fulmen engine / SDK (uvicorn)",
            "tools/call add, fulmen engine",
            "tools/call add, SDK on uvicorn",
        ),
        (
            "tools/call add: fulmen on uvicorn / SDK",
            "tools/call add, fulmen on uvicorn",
            "tools/call add, SDK on uvicorn",
        ),
        (
            "tools/list: fulmen engine / SDK (uvicorn)",
            "tools/list, fulmen engine",
            "tools/list, SDK on uvicorn",
        ),
        (
            "route as a tool / the route over HTTP",
            "tools/call route, fulmen engine",
            "GET /hello, engine, MCP mounted",
        ),
    ]
    ratios += [
        (
            "resources/read def: fulmen engine / SDK (uvicorn)",
            "resources/read def, fulmen engine",
            "resources/read def, SDK on uvicorn",
        ),
        (
            "resources/read def: fulmen on uvicorn / SDK",
            "resources/read def, fulmen on uvicorn",
            "resources/read def, SDK on uvicorn",
        ),
        (
            "resources/read template: fulmen engine / SDK (uvicorn)",
            "resources/read template, fulmen engine",
            "resources/read template, SDK on uvicorn",
        ),
    ]
    for label, top, bottom in ratios:
        if top in best and bottom in best:
            print(f"| {label} | {best[top] / best[bottom]:.2f} |")


if __name__ == "__main__":
    main()
