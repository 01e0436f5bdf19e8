"""Benchmark driver: fulmen vs FastAPI, the fastest peers and a raw uvloop+httptools ceiling, as ratios.

Each server runs alone, pinned to one CPU, with ``wrk`` pinned to another. Every server's answer
to every endpoint is checked with a real HTTP request before anything is measured, so a fast wrong
answer fails the run. Rounds are interleaved (all servers x all endpoints, then again) so slow drift
on a noisy machine hits every server alike.

    python benchmarks/run.py                      # full run: 2 rounds x 8 s
    python benchmarks/run.py --duration 3 --rounds 1 --json out.json

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APPS = HERE / "apps"
REPO = HERE.parent
HOST = "127.0.0.1"  # only loopback traffic, ever

E1_BODY = b'{"message":"Hello, World!"}'
JSON_HEADERS = (("Content-Type", "application/json"),)
JSON_RESPONSE = (("content-type", "application/json"),)


# --------------------------------------------------------------------------------------------
# Endpoints: add a spec here and every server gets checked and measured on it.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One request shape to measure, and the answer every (non-ceiling) server must give."""

    name: str  # short id used in flags, tables and JSON: "E1"
    title: str  # what it exercises, for the table heading
    method: str
    path: str  # path plus query string, as sent
    expected_json: Any  # the decoded JSON body a correct server returns (status 200)
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()  # request headers beyond Host
    expected_headers: tuple[tuple[str, str], ...] = JSON_RESPONSE  # (lower-case name, exact value)
    target: float | None = None  # minimum fulmen/ceiling req/s ratio from the issue; None = no target


ENDPOINTS: list[Endpoint] = [
    Endpoint("E1", "GET / -> static JSON", "GET", "/", {"message": "Hello, World!"}, target=0.85),
    Endpoint(
        "E2",
        "GET /users/{id} -> int path param",
        "GET",
        "/users/42",
        {"id": 42, "name": "user"},
        target=0.80,
    ),
    Endpoint(
        "E3",
        "POST /users -> msgspec Struct body (pydantic on FastAPI)",
        "POST",
        "/users",
        {"name": "Ada", "age": 36},
        body=b'{"name":"Ada","age":36}',
        headers=JSON_HEADERS,
        target=0.70,
    ),
    Endpoint(
        "E3p",
        "POST /users-pydantic -> pydantic model body",
        "POST",
        "/users-pydantic",
        {"name": "Ada", "age": 36},
        body=b'{"name":"Ada","age":36}',
        headers=JSON_HEADERS,
        target=0.50,
    ),
    Endpoint(
        "E4",
        "GET /e4/items?q= -> yield dependency + header + query, CORS middleware (mounted sub-app)",
        "GET",
        "/e4/items?q=abc",
        {"q": "abc", "token": "t", "session": True},
        headers=(("Origin", "http://example.com"), ("X-Token", "t")),
        expected_headers=(*JSON_RESPONSE, ("access-control-allow-origin", "*")),
        target=0.50,
    ),
]


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """How to start one server on a port; ``fixed_body`` marks the ceiling (same bytes for all)."""

    name: str
    argv: Callable[[int], list[str]]
    fixed_body: bytes | None = None
    endpoints: tuple[str, ...] | None = None  # ids of the endpoints its app has; None: all of them
    #: Called once before the first round: the directory to put first on PYTHONPATH instead of the
    #: checkout's src/ (raises StartupError if it can't be made).
    prepare: Callable[[], Path] | None = None
    #: Another framework on its own server doing the endpoint's whole work (for "fulmen / fastest peer").
    peer: bool = False


#: Endpoints the Flask app answers (E4's mounted CORS sub-app has no Flask twin), and the WSGI thread pool
#: size of both Flask servers (fulmen's WSGIAdapter default).
FLASK_ENDPOINTS = ("E1", "E2", "E3", "E3p")
FLASK_THREADS = 10
#: BlackSheep has no request-scoped dependency with clean-up after the response, so its app has no E4.
BLACKSHEEP_ENDPOINTS = ("E1", "E2", "E3", "E3p")


def granian(interface: str, target: str) -> Callable[[int], list[str]]:
    """argv for one granian worker (one Rust runtime thread, uvloop, no access log) serving ``target``."""
    return lambda port: [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        interface,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--runtime-threads",
        "1",
        "--loop",
        "uvloop",
        "--no-ws",
        "--no-access-log",
        "--log-level",
        "warning",
        "--working-dir",
        str(APPS),
        target,
    ]


BUILD_DIR = HERE / ".build"  # git-ignored


def _build_key() -> str:
    """Hash of everything a compiled build is made from: the package's Python sources and the build files."""
    digest = hashlib.sha256(sys.implementation.cache_tag.encode())
    files = sorted((REPO / "src" / "fulmen").rglob("*.py")) + sorted((REPO / "src" / "fulmen").rglob("*.pyx"))
    files += [REPO / "setup.py", REPO / "pyproject.toml", *sorted((REPO / "build_backend").glob("*.py"))]
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def compiled_fulmen() -> Path:
    """The checkout built with ``FULMEN_COMPILE=1 pip wheel`` and unpacked under benchmarks/.build/.

    Rebuilt (about a minute) only when a source or build file changed; the directory holds the whole
    ``fulmen`` package, so nothing of the checkout's src/ is mixed in.
    """
    key = _build_key()
    target = BUILD_DIR / f"fulmen-compiled-{key}"
    if not (target / "fulmen").is_dir():
        print(f"building the compiled engine (FULMEN_COMPILE=1 pip wheel) into {target} ...", flush=True)
        BUILD_DIR.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="fulmen-wheel-") as tmp:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp, str(REPO)],
                env={**os.environ, "FULMEN_COMPILE": "1"},
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
                raise StartupError(f"FULMEN_COMPILE=1 pip wheel failed:\n{tail}")
            if _build_key() != key:
                raise StartupError("the sources changed while the compiled engine was built; run again")
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            with zipfile.ZipFile(next(Path(tmp).glob("fulmen-*.whl"))) as wheel:
                wheel.extractall(partial)
            partial.rename(target)
        for old in BUILD_DIR.glob("fulmen-compiled-*"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
    check = subprocess.run(
        [sys.executable, "-c", "import sys, fulmen.engine as e; sys.exit(0 if e.compiled() else 1)"],
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=str(APPS),
    )
    if check.returncode != 0:
        raise StartupError(f"{target}: fulmen.engine.compiled() is not True")
    return target


SERVERS: list[Server] = [
    Server("fulmen", lambda port: [sys.executable, str(APPS / "fulmen_app.py"), str(port)]),
    # The same app on the mypyc-compiled engine (FULMEN_COMPILE=1; docs/engine.md), built once per source.
    Server(
        "fulmen-compiled",
        lambda port: [sys.executable, str(APPS / "fulmen_app.py"), str(port)],
        prepare=compiled_fulmen,
    ),
    Server(
        "fastapi",
        lambda port: [
            sys.executable,
            "-m",
            "uvicorn",
            "fastapi_app:app",
            "--app-dir",
            str(APPS),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        peer=True,
    ),
    # The same FastAPI app on granian, the Rust server: what a FastAPI user gets from the other fast server.
    Server("fastapi-granian", granian("asgi", "fastapi_app:app"), peer=True),
    # The fastest peers we found on PyPI (benchmarks/requirements-peers.txt), each on granian.
    Server("litestar", granian("asgi", "litestar_app:app"), peer=True),
    Server("blacksheep", granian("asgi", "blacksheep_app:app"), endpoints=BLACKSHEEP_ENDPOINTS, peer=True),
    # The ceiling's fixed response from an RSGI handler on granian: the most any Python app gets there.
    Server("granian-floor", granian("rsgi", "granian_floor:app"), fixed_body=E1_BODY),
    # The same FastAPI app on fulmen's engine (ASGI adapter, streamed request bodies) instead of uvicorn.
    Server(
        "fastapi-fulmen",
        lambda port: [
            sys.executable,
            "-m",
            "fulmen",
            "run",
            "fastapi_app:app",
            "--app-dir",
            str(APPS),
            "--interface",
            "asgi",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
    ),
    Server("ceiling", lambda port: [sys.executable, str(APPS / "ceiling.py"), str(port)], fixed_body=E1_BODY),
    # The ceiling plus the least a Python framework does per request (dict route, async handler, msgspec).
    Server(
        "handler-floor",
        lambda port: [sys.executable, str(APPS / "handler_floor.py"), str(port)],
        fixed_body=E1_BODY,
    ),
    # WSGI: the same Flask app on fulmen's engine (WSGI adapter) and on gunicorn (one gthread worker).
    Server(
        "flask-fulmen",
        lambda port: [sys.executable, str(APPS / "flask_app.py"), str(port)],
        endpoints=FLASK_ENDPOINTS,
    ),
    Server(
        "flask-gunicorn",
        lambda port: [
            sys.executable,
            "-m",
            "gunicorn",
            "flask_app:app",
            "--bind",
            f"{HOST}:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            str(FLASK_THREADS),
            "--log-level",
            "warning",
        ],
        endpoints=FLASK_ENDPOINTS,
        peer=True,
    ),
]


class StartupError(Exception):
    """The server process died or never accepted connections."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def pin(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


class ServerProcess:
    """A running server in its own process group, so it and any children die together."""

    live: list[ServerProcess] = []  # everything started and not yet reaped, for the exit path

    def __init__(
        self, server: Server, port: int, cpu: int | None, log_path: Path, path: Path | None = None
    ) -> None:
        self.server = server
        self.port = port
        self.log_path = log_path
        if port_accepts(port):
            raise StartupError(f"port {port} is already in use; refusing to measure someone else's server")
        env = dict(os.environ)
        src = path or REPO / "src"
        if src.is_dir():  # a checkout's src/ (or the server's own build) wins over any installed fulmen
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*pin(cpu), *server.argv(port)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(APPS),
            start_new_session=True,  # own process group: killed as a unit
        )
        ServerProcess.live.append(self)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartupError(f"exited with status {self.proc.returncode}\n{self.log_tail()}")
            if port_accepts(self.port):
                return
            time.sleep(0.05)
        raise StartupError(f"did not accept connections within {timeout:.0f} s\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        tail = text.splitlines()[-lines:]
        return "\n".join("    | " + line for line in tail)

    def group_pids(self) -> list[int]:
        """PIDs in the server's process group (the server and e.g. uvicorn's children)."""
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # Fields after the ")" that closes comm: state ppid pgrp ...
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 2 and int(fields[2]) == self.proc.pid:
                pids.append(int(entry))
        return pids or [self.proc.pid]

    def rss_kib(self) -> int:
        total = 0
        for pid in self.group_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self, grace: float = 5.0) -> None:
        if self.proc.returncode is None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Children may outlive the leader for a moment; make sure the whole group is gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while port_accepts(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._log.close()
        if self in ServerProcess.live:
            ServerProcess.live.remove(self)


LIVE_WRK: list[subprocess.Popen[bytes]] = []


def cleanup() -> None:
    """Kill every process this driver started; safe to call more than once."""
    for proc in list(LIVE_WRK):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(timeout=5)
        LIVE_WRK.remove(proc)
    for server in list(ServerProcess.live):
        with contextlib.suppress(Exception):
            server.stop(grace=2.0)


# --------------------------------------------------------------------------------------------
# Correctness check
# --------------------------------------------------------------------------------------------


def check_endpoint(server: Server, port: int, endpoint: Endpoint) -> list[str]:
    """Send the endpoint's request twice on one keep-alive connection; return what was wrong."""
    problems: list[str] = []
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        for attempt in (1, 2):
            conn.request(endpoint.method, endpoint.path, body=endpoint.body, headers=dict(endpoint.headers))
            resp = conn.getresponse()
            raw = resp.read()
            where = f"{endpoint.method} {endpoint.path} (request {attempt})"
            if resp.status != 200:
                problems.append(f"{where}: status {resp.status}, body {raw[:200]!r}")
                break
            if server.fixed_body is not None:
                if raw != server.fixed_body:
                    problems.append(f"{where}: body {raw[:200]!r}, expected {server.fixed_body!r}")
                continue
            try:
                got = json.loads(raw)
            except ValueError:
                problems.append(f"{where}: body is not JSON: {raw[:200]!r}")
                break
            if got != endpoint.expected_json:
                problems.append(f"{where}: body {got!r}, expected {endpoint.expected_json!r}")
            for name, value in endpoint.expected_headers:
                actual = resp.getheader(name)
                if actual != value:
                    problems.append(f"{where}: header {name}: {actual!r}, expected {value!r}")
            if problems:
                break
    except (OSError, http.client.HTTPException) as exc:
        problems.append(f"{endpoint.method} {endpoint.path}: {type(exc).__name__}: {exc}")
    finally:
        conn.close()
    return problems


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------

RESULT_MARK = "FULMEN_BENCH_RESULT "

LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"p50_us":%.1f,"p99_us":%.1f,'
    .. '"mean_us":%.1f,"max_us":%.1f,"connect":%.0f,"read":%.0f,"write":%.0f,'
    .. '"status":%.0f,"timeout":%.0f}\\n',
    "RESULT_MARK", summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_string(data: bytes) -> str:
    """A Lua string literal holding exactly these bytes."""
    out = []
    for byte in data:
        ch = chr(byte)
        if ch in '"\\' or not (32 <= byte < 127):
            out.append(f"\\{byte:03d}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


#: With --pipeline N, each connection sends N copies of the endpoint's request back to back and waits for the
#: N responses (wrk counts each response); the server must answer them in order.
LUA_PIPELINE = """
init = function(args)
  local batch = {}
  for i = 1, PIPELINE do batch[i] = wrk.format() end
  pipelined = table.concat(batch)
end
request = function() return pipelined end
"""


def write_lua(endpoint: Endpoint, directory: Path, pipeline: int = 1) -> Path:
    lines = [f"wrk.method = {lua_string(endpoint.method.encode())}"]
    if endpoint.body is not None:
        lines.append(f"wrk.body = {lua_string(endpoint.body)}")
    for name, value in endpoint.headers:
        lines.append(f"wrk.headers[{lua_string(name.encode())}] = {lua_string(value.encode())}")
    if pipeline > 1:
        lines.append(LUA_PIPELINE.replace("PIPELINE", str(pipeline)))
    lines.append(LUA_DONE.replace("RESULT_MARK", RESULT_MARK))
    path = directory / f"{endpoint.name}.lua"
    path.write_text("\n".join(lines))
    return path


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    socket_errors: int
    status_errors: int
    raw: dict[str, float]


def run_wrk(
    args: argparse.Namespace, port: int, endpoint: Endpoint, script: Path, duration: int
) -> WrkResult:
    argv = [
        *pin(args.wrk_cpu),
        args.wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(script),
        f"http://{HOST}:{port}{endpoint.path}",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    LIVE_WRK.append(proc)
    try:
        out, _ = proc.communicate(timeout=duration + 30)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        LIVE_WRK.remove(proc)
    text = out.decode(errors="replace")
    for line in text.splitlines():
        if line.startswith(RESULT_MARK):
            raw = json.loads(line[len(RESULT_MARK) :])
            break
    else:
        raise RuntimeError(f"wrk exited {proc.returncode} without a result:\n{text}")
    seconds = raw["duration_us"] / 1e6
    return WrkResult(
        rps=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        requests=int(raw["requests"]),
        socket_errors=int(raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]),
        status_errors=int(raw["status"]),
        raw=raw,
    )


# --------------------------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------------------------


def machine_info(args: argparse.Namespace) -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str] = {}
    dists = ("fulmen", "fastapi", "starlette", "uvicorn", "pydantic", "msgspec", "httptools", "uvloop")
    for dist in (*dists, "flask", "gunicorn", "granian", "litestar", "blacksheep"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "source checkout" if dist == "fulmen" and (REPO / "src/fulmen").is_dir() else "-"
    wrk_version = "-"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run([args.wrk, "-v"], capture_output=True, text=True, timeout=5)
        wrk_version = (head.stdout or head.stderr).splitlines()[0].split(" Copyright")[0]
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": versions,
        "wrk": wrk_version,
        "server_cpu": args.server_cpu,
        "wrk_cpu": args.wrk_cpu,
    }


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


@dataclass
class Cell:
    """Everything measured for one (server, endpoint)."""

    rounds: list[WrkResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # failed check or non-2xx under load

    def best(self) -> WrkResult | None:
        return max(self.rounds, key=lambda r: r.rps) if self.rounds and not self.problems else None


@dataclass
class ServerState:
    skipped: str | None = None  # why the server could not be started
    path: Path | None = None  # from Server.prepare: first on the server's PYTHONPATH
    rss_kib: int = 0  # max over rounds, measured after each round's last endpoint


def measure_server(
    args: argparse.Namespace,
    server: Server,
    endpoints: Sequence[Endpoint],
    scripts: dict[str, Path],
    cells: dict[tuple[str, str], Cell],
    state: ServerState,
    round_no: int,
    workdir: Path,
) -> None:
    port = free_port()
    print(f"  [{server.name}] starting on {HOST}:{port} ...", flush=True)
    try:
        proc = ServerProcess(
            server, port, args.server_cpu, workdir / f"{server.name}-r{round_no}.log", state.path
        )
    except (OSError, StartupError) as exc:
        state.skipped = f"could not start: {exc}"
        print(f"  [{server.name}] SKIPPED: {state.skipped}", flush=True)
        return
    try:
        try:
            proc.wait_ready(args.startup_timeout)
        except StartupError as exc:
            state.skipped = f"start-up failed: {exc}"
            print(f"  [{server.name}] SKIPPED, {state.skipped}", flush=True)
            return
        live = []
        for endpoint in endpoints:
            if server.endpoints is not None and endpoint.name not in server.endpoints:
                continue  # its app doesn't have this endpoint
            cell = cells[(server.name, endpoint.name)]
            problems = check_endpoint(server, port, endpoint)
            if problems:
                cell.problems.extend(problems)
                for problem in problems:
                    print(f"  [{server.name}] WRONG ANSWER {endpoint.name}: {problem}", flush=True)
            elif not cell.problems:
                live.append(endpoint)
        if not live:
            return
        if args.warmup > 0:
            run_wrk(args, port, live[0], scripts[live[0].name], args.warmup)
        for endpoint in live:
            cell = cells[(server.name, endpoint.name)]
            result = run_wrk(args, port, endpoint, scripts[endpoint.name], args.duration)
            note = ""
            if result.status_errors:
                cell.problems.append(f"{result.status_errors} non-2xx/3xx responses under load")
                note = f"  << {result.status_errors} non-2xx/3xx responses"
            if result.socket_errors:
                note += f"  ({result.socket_errors} socket errors)"
            cell.rounds.append(result)
            print(
                f"  [{server.name}] {endpoint.name:4} {result.rps:>10,.0f} req/s"
                f"  p99 {result.p99_ms:6.2f} ms{note}",
                flush=True,
            )
            if proc.proc.poll() is not None:
                cell.problems.append(f"server exited during the run\n{proc.log_tail()}")
                print(f"  [{server.name}] DIED during {endpoint.name}\n{proc.log_tail()}", flush=True)
                return
        state.rss_kib = max(state.rss_kib, proc.rss_kib())
    finally:
        proc.stop()


def fmt_ratio(num: WrkResult | None, den: WrkResult | None) -> str:
    if num is None or den is None or den.rps == 0:
        return "-"
    return f"{num.rps / den.rps:.2f}"


def build_report(
    args: argparse.Namespace,
    machine: dict[str, Any],
    servers: Sequence[Server],
    endpoints: Sequence[Endpoint],
    cells: dict[tuple[str, str], Cell],
    states: dict[str, ServerState],
) -> tuple[str, dict[str, Any]]:
    agg = "best" if args.aggregate == "best" else "mean"
    out: list[str] = []
    pk = machine["packages"]
    out.append("## Machine\n")
    out.append(f"- CPU: {machine['cpu']} ({machine['cpus']} logical CPUs), kernel {machine['kernel']}")
    out.append(f"- Python: {machine['python']}")
    out.append("- Packages: " + ", ".join(f"{k} {v}" for k, v in pk.items()))
    out.append(f"- Load: {machine['wrk']}, servers on CPU {args.server_cpu}, wrk on CPU {args.wrk_cpu}")
    out.append(
        f"- Run: wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
        + (f"{args.pipeline} requests pipelined per connection, " if args.pipeline > 1 else "")
        + f"{args.rounds} interleaved round(s), {args.warmup} s warm-up per server; "
        f"req/s is the **{agg}** of rounds, p99 from the fastest round; "
        f"load average at start {', '.join(f'{x:.2f}' for x in machine['loadavg_at_start'])}"
    )
    ceiling_rps = [r.rps for (name, _), c in cells.items() if name == "ceiling" for r in c.rounds]
    if len(ceiling_rps) > 1:
        # The ceiling does identical work on every endpoint, so its spread is the machine's noise.
        lo, hi = min(ceiling_rps), max(ceiling_rps)
        out.append(
            f"- Noise: the ceiling ranged {lo:,.0f}-{hi:,.0f} req/s over {len(ceiling_rps)} runs "
            f"({(hi - lo) / hi:.0%} spread); load average at end "
            f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
    out.append("")

    def summarise(cell: Cell) -> WrkResult | None:
        best = cell.best()
        if best is None or agg == "best":
            return best
        mean_rps = sum(r.rps for r in cell.rounds) / len(cell.rounds)
        return WrkResult(mean_rps, best.p50_ms, best.p99_ms, best.requests, 0, 0, best.raw)

    results: dict[str, Any] = {"machine": machine, "config": vars(args).copy(), "endpoints": {}}
    targets: list[tuple[Endpoint, float | None, bool | None]] = []
    for endpoint in endpoints:
        rows = {s.name: summarise(cells[(s.name, endpoint.name)]) for s in servers}
        base_fastapi, base_ceiling, fulmen = rows.get("fastapi"), rows.get("ceiling"), rows.get("fulmen")
        ratio = fulmen.rps / base_ceiling.rps if fulmen and base_ceiling and base_ceiling.rps else None
        # The targets are for one request at a time per connection: a pipelined run isn't judged.
        judged = endpoint.target if args.pipeline == 1 else None
        verdict = None if ratio is None or judged is None else ratio >= judged
        targets.append((endpoint, ratio, verdict))
        target_txt = f" — target fulmen/ceiling >= {endpoint.target:.2f}" if endpoint.target else ""
        out.append(f"### {endpoint.name}: {endpoint.title}{target_txt}\n")
        out.append(
            f"| server | req/s ({agg} of {args.rounds}) | rounds | p99 | RSS | vs FastAPI | vs ceiling |"
        )
        out.append("|---|--:|--:|--:|--:|--:|--:|")
        ep_json: dict[str, Any] = {"title": endpoint.title, "target": endpoint.target, "servers": {}}
        for server in servers:
            cell, row, state = cells[(server.name, endpoint.name)], rows[server.name], states[server.name]
            rss = f"{state.rss_kib / 1024:.1f} MiB" if state.rss_kib else "-"
            if row is None:
                why = "WRONG ANSWER" if cell.problems else ("skipped" if state.skipped else "not run")
                if server.endpoints is not None and endpoint.name not in server.endpoints:
                    why = "n/a"
                out.append(f"| {server.name} | {why} | - | - | {rss} | - | - |")
            else:
                vs_ceiling = fmt_ratio(row, base_ceiling)
                if server.name == "fulmen" and verdict is not None:
                    vs_ceiling += " PASS" if verdict else " FAIL"
                spread = " / ".join(f"{r.rps:,.0f}" for r in cell.rounds)
                out.append(
                    f"| {server.name} | {row.rps:,.0f} | {spread} | {row.p99_ms:.2f} ms | {rss} | "
                    f"{fmt_ratio(row, base_fastapi)} | {vs_ceiling} |"
                )
            ep_json["servers"][server.name] = {
                "req_per_s": row.rps if row else None,
                "p99_ms": row.p99_ms if row else None,
                "rss_kib": state.rss_kib or None,
                "vs_fastapi": row.rps / base_fastapi.rps
                if row and base_fastapi and base_fastapi.rps
                else None,
                "vs_ceiling": row.rps / base_ceiling.rps
                if row and base_ceiling and base_ceiling.rps
                else None,
                "rounds": [r.raw for r in cell.rounds],
                "problems": cell.problems,
                "skipped": state.skipped,
            }
        ep_json["fulmen_vs_ceiling"] = ratio
        peers = [(r.rps, s.name) for s in servers if s.peer and (r := rows[s.name]) is not None]
        if fulmen and peers:
            best_rps, best_name = max(peers)
            ep_json["fastest_peer"] = best_name
            ep_json["fulmen_vs_fastest_peer"] = fulmen.rps / best_rps
            out.append(f"\nfulmen / fastest peer ({best_name}): **{fulmen.rps / best_rps:.2f}**")
        flask_fulmen, flask_gunicorn = rows.get("flask-fulmen"), rows.get("flask-gunicorn")
        if flask_fulmen and flask_gunicorn and flask_gunicorn.rps:
            ep_json["flask_fulmen_vs_gunicorn"] = flask_fulmen.rps / flask_gunicorn.rps
            out.append(f"\nflask-fulmen / flask-gunicorn: **{flask_fulmen.rps / flask_gunicorn.rps:.2f}**")
        compiled = rows.get("fulmen-compiled")
        if compiled and fulmen and fulmen.rps:
            ep_json["compiled_vs_fulmen"] = compiled.rps / fulmen.rps
            out.append(f"\nfulmen-compiled / fulmen: **{compiled.rps / fulmen.rps:.2f}**")
        ep_json["target_met"] = verdict
        results["endpoints"][endpoint.name] = ep_json
        out.append("")

    out.append("### Targets (fulmen / ceiling req/s)\n")
    out.append("| endpoint | ratio | target | result |")
    out.append("|---|--:|--:|---|")
    for endpoint, ratio, verdict in targets:
        if endpoint.target is None:
            continue
        if args.pipeline > 1:
            result = "not judged (pipelined run)"
        elif verdict is None:
            result = "n/a (not measured)"
        else:
            result = "PASS" if verdict else "FAIL"
        ratio_txt = f"{ratio:.2f}" if ratio is not None else "-"
        out.append(f"| {endpoint.name} | {ratio_txt} | >= {endpoint.target:.2f} | {result} |")
    out.append("")

    problems = [
        f"- {s.name} {e.name}: {p}"
        for s in servers
        for e in endpoints
        for p in cells[(s.name, e.name)].problems
    ]
    problems += [f"- {name}: {st.skipped}" for name, st in states.items() if st.skipped]
    if problems:
        out.append("### Problems\n")
        out.extend(line.split("\n")[0] for line in problems)
        out.append("")
    return "\n".join(out), results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    cpus = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="benchmarks/run.py")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk measurement (default 8)")
    parser.add_argument("--connections", "-c", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--threads", "-t", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument(
        "--pipeline",
        type=int,
        default=1,
        help="requests each connection sends back to back before reading the answers (default 1: none)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="seconds of warm-up per server start (default 1)"
    )
    parser.add_argument(
        "--aggregate", choices=("best", "mean"), default="best", help="how rounds combine (default best)"
    )
    parser.add_argument(
        "--servers", default=",".join(s.name for s in SERVERS), help="comma list (default: all)"
    )
    parser.add_argument(
        "--endpoints", default=",".join(e.name for e in ENDPOINTS), help="comma list (default: all)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--server-cpu", type=int, default=0 if cpus > 1 else None, help="CPU for servers")
    parser.add_argument("--wrk-cpu", type=int, default=1 if cpus > 1 else None, help="CPU for wrk")
    parser.add_argument("--no-pin", action="store_true", help="don't pin with taskset")
    parser.add_argument("--startup-timeout", type=float, default=20.0, help="seconds to wait for a server")
    parser.add_argument("--wrk", default="wrk", help="wrk binary (default: wrk on PATH)")
    args = parser.parse_args(argv)
    if args.pipeline < 1:
        parser.error("--pipeline must be at least 1")
    if args.no_pin or shutil.which("taskset") is None:
        if not args.no_pin:
            print("warning: taskset not found; running unpinned", file=sys.stderr)
        args.server_cpu = args.wrk_cpu = None
    return args


def pick(names: str, known: Sequence[Any], what: str) -> list[Any]:
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    by_name = {k.name: k for k in known}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(by_name)})")
    return [by_name[n] for n in wanted]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which(args.wrk) is None:
        print(
            f"error: {args.wrk!r} not found. Install it, e.g. `apt-get install -y wrk` (Debian/Ubuntu) "
            "or `brew install wrk` (macOS).",
            file=sys.stderr,
        )
        return 2
    servers = pick(args.servers, SERVERS, "servers")
    endpoints = pick(args.endpoints, ENDPOINTS, "endpoints")

    atexit.register(cleanup)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)

    machine = machine_info(args)
    cells = {(s.name, e.name): Cell() for s in servers for e in endpoints}
    states = {s.name: ServerState() for s in servers}
    for server in servers:
        if server.prepare is not None:
            try:
                states[server.name].path = server.prepare()
            except (OSError, StartupError) as exc:
                states[server.name].skipped = f"could not be prepared: {exc}"
                print(f"  [{server.name}] SKIPPED: {states[server.name].skipped}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="fulmen-bench-") as tmp:
            workdir = Path(tmp)
            scripts = {e.name: write_lua(e, workdir, args.pipeline) for e in endpoints}
            for round_no in range(1, args.rounds + 1):
                print(f"round {round_no}/{args.rounds}", flush=True)
                for server in servers:
                    if states[server.name].skipped:
                        continue
                    measure_server(
                        args, server, endpoints, scripts, cells, states[server.name], round_no, workdir
                    )
    except KeyboardInterrupt:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not abort the clean-up
        print("\ninterrupted; stopping servers", file=sys.stderr)
        cleanup()
        return 130
    finally:
        cleanup()

    report, results = build_report(args, machine, servers, endpoints, cells, states)
    print()
    print(report)
    if args.json:
        results["config"]["json"] = str(args.json)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"results written to {args.json}")
    failed = any(c.problems for c in cells.values()) or any(s.skipped for s in states.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
