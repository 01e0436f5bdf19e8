"""WebSocket benchmark: echo messages per second, small text frames, fulmen's engine vs uvicorn + websockets.

The same echo endpoint (``apps/ws_fulmen.py``, ``apps/ws_fastapi.py``: only the import differs) runs on
fulmen's engine and on uvicorn (``--ws websockets-sansio``, uvicorn's default with the ``websockets``
package, and ``--ws websockets``, its older implementation). Each server runs alone, pinned to one CPU; the
load generator (this file, ``_client`` mode, on uvloop) is pinned to another. It opens ``--connections``
sockets, keeps ``--window`` masked text frames in flight on each, and counts the echoes it gets back, after
checking that every server echoes a frame byte for byte. Rounds are interleaved so drift hits all servers
alike; the best round counts.

    python benchmarks/ws.py                                   # 2 rounds x 5 s
    python benchmarks/ws.py --duration 3 --rounds 1 --json ws.json
    python benchmarks/ws.py --connections 1 --window 1        # strict ping-pong: latency bound

Needs taskset (util-linux) for pinning, uvicorn, websockets and fastapi (the dev extras). Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run as http_bench  # noqa: E402 - the HTTP driver's process handling, reused

HOST = http_bench.HOST
PAYLOAD = b"Hello, WebSocket!"  # 17 bytes of text: one small frame each way


def _uvicorn(impl: str) -> http_bench.Server:
    return http_bench.Server(
        f"uvicorn-{impl}",
        lambda port: [
            sys.executable,
            "-m",
            "uvicorn",
            "ws_fastapi:app",
            "--app-dir",
            str(http_bench.APPS),
            "--host",
            HOST,
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            impl,
            "--ws-ping-interval",
            "3600",  # no keepalive pings during a run (0 makes the older implementation ping nonstop)
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    )


SERVERS: list[http_bench.Server] = [
    http_bench.Server(
        "fulmen", lambda port: [sys.executable, str(http_bench.APPS / "ws_fulmen.py"), str(port)]
    ),
    _uvicorn("websockets-sansio"),
    _uvicorn("websockets"),
]


# --------------------------------------------------------------------------------------------
# Load generator (runs in its own process, pinned)
# --------------------------------------------------------------------------------------------


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _handshake_request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        b"GET /echo HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (HOST.encode(), port, key)
    )


class EchoLoad(asyncio.Protocol):
    """One connection: handshake, then keep ``window`` frames in flight, counting echoed text frames."""

    def __init__(self, port: int, window: int, done: asyncio.Future[None]) -> None:
        self.port = port
        self.window = window
        self.frame = _masked_text_frame(PAYLOAD)
        self.expected = bytes([0x81, len(PAYLOAD)]) + PAYLOAD
        self.done = done
        self.buffer = b""
        self.open = False
        self.count = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.write(_handshake_request(self.port))  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        if not self.open:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = buffer
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.done.set_exception(RuntimeError(f"handshake refused: {head[:80]!r}"))
                return
            self.open = True
            buffer = rest
            assert self.transport is not None
            self.transport.write(self.frame * self.window)
        echoed = 0
        pos = 0
        end = len(buffer)
        expected = self.expected
        size = len(expected)
        while end - pos >= 2:
            length = buffer[pos + 1] & 0x7F
            if length >= 126:
                self.done.set_exception(RuntimeError("unexpected long frame from the server"))
                return
            if end - pos < 2 + length:
                break
            if buffer[pos] == 0x81:
                if buffer[pos : pos + size] != expected:
                    self.done.set_exception(RuntimeError(f"wrong echo: {buffer[pos : pos + size]!r}"))
                    return
                echoed += 1
            pos += 2 + length
        self.buffer = buffer[pos:]
        if echoed:
            self.count += echoed
            assert self.transport is not None
            self.transport.write(self.frame * echoed)


async def _client(port: int, duration: float, warmup: float, connections: int, window: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    clients = []
    for _ in range(connections):
        _, proto = await loop.create_connection(lambda: EchoLoad(port, window, done), HOST, port)
        clients.append(proto)

    async def window_of(seconds: float) -> int:
        start = sum(c.count for c in clients)
        try:
            await asyncio.wait_for(asyncio.shield(done), seconds)
        except asyncio.TimeoutError:
            pass
        if done.done():
            done.result()  # raises the failure
        return sum(c.count for c in clients) - start

    await window_of(warmup)
    started = time.perf_counter()
    messages = await window_of(duration)
    elapsed = time.perf_counter() - started
    for c in clients:
        if c.transport is not None:
            c.transport.close()
    return {"messages": messages, "seconds": elapsed, "msgs_per_s": messages / elapsed}


def client_main(argv: Sequence[str]) -> None:
    port, duration, warmup, connections, window = (
        int(argv[0]),
        float(argv[1]),
        float(argv[2]),
        int(argv[3]),
        int(argv[4]),
    )
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    print(json.dumps(runner(_client(port, duration, warmup, connections, window))))


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def check_echo(port: int) -> str | None:
    """One real handshake and one echo with a blocking socket; None when the server is correct."""
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(_handshake_request(port))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return "connection closed during the handshake"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            return f"handshake answered {head[:60]!r}"
        sock.sendall(_masked_text_frame(PAYLOAD))
        expected = bytes([0x81, len(PAYLOAD)]) + PAYLOAD
        while len(data) < len(expected):
            data += sock.recv(4096)
        if data[: len(expected)] != expected:
            return f"echo was {data[: len(expected)]!r}"
        sock.sendall(bytes([0x88, 0x82]) + b"\0\0\0\0" + struct.pack("!H", 1000))
    return None


def measure(server: http_bench.Server, args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    port = http_bench.free_port()
    proc = http_bench.ServerProcess(server, port, args.server_cpu, logdir / f"{server.name}.log")
    try:
        proc.wait_ready(20)
        problem = check_echo(port)
        if problem:
            raise http_bench.StartupError(f"wrong answer: {problem}")
        out = subprocess.run(
            [
                *http_bench.pin(args.client_cpu),
                sys.executable,
                __file__,
                "_client",
                str(port),
                str(args.duration),
                str(args.warmup),
                str(args.connections),
                str(args.window),
            ],
            capture_output=True,
            text=True,
            timeout=args.duration + args.warmup + 60,
        )
        if out.returncode != 0:
            raise http_bench.StartupError(f"load generator failed:\n{out.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        result["rss_kib"] = proc.rss_kib()
        return result
    finally:
        proc.stop()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per round")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--window", type=int, default=16, help="frames in flight per connection")
    parser.add_argument("--servers", default=",".join(s.name for s in SERVERS))
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--client-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.no_pin or shutil.which("taskset") is None:
        if not args.no_pin:
            print("warning: taskset not found; running unpinned", file=sys.stderr)
        args.server_cpu = args.client_cpu = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    servers = [s for s in SERVERS if s.name in args.servers.split(",")]
    results: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    with tempfile.TemporaryDirectory(prefix="fulmen-ws-bench-") as tmp:
        try:
            for round_no in range(args.rounds):
                for server in servers:
                    try:
                        result = measure(server, args, Path(tmp))
                    except http_bench.StartupError as exc:
                        print(f"{server.name}: skipped: {exc}", file=sys.stderr)
                        continue
                    results[server.name].append(result)
                    print(
                        f"round {round_no + 1} {server.name:<26} {result['msgs_per_s']:>11,.0f} msg/s",
                        file=sys.stderr,
                    )
        finally:
            http_bench.cleanup()
    best = {name: max(rs, key=lambda r: r["msgs_per_s"]) for name, rs in results.items() if rs}
    base = best.get("uvicorn-websockets-sansio")
    print()
    print(
        f"WebSocket echo, {len(PAYLOAD)}-byte text frames, {args.connections} connections x "
        f"{args.window} in flight, best of {args.rounds} x {args.duration:g} s"
    )
    print(f"{'server':<28}{'msg/s':>12}{'vs uvicorn':>12}{'RSS MiB':>10}")
    for name, result in best.items():
        ratio = f"{result['msgs_per_s'] / base['msgs_per_s']:.2f}x" if base else "-"
        print(f"{name:<28}{result['msgs_per_s']:>12,.0f}{ratio:>12}{result['rss_kib'] / 1024:>10.1f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                    "settings": {k: str(v) for k, v in vars(args).items()},
                    "results": results,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_client":
        client_main(sys.argv[2:])
    else:
        sys.exit(main())
