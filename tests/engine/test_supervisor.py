"""The worker supervisor as production users of uvicorn and gunicorn know it, on real processes and signals.

--limit-max-requests (and its jitter), SIGHUP rolling restarts, SIGTTIN/SIGTTOU, the event-loop health check
and a worker that keeps dying at start. Every load here runs while workers are replaced: each response must be
a 200 from a worker, on fresh connections (the kernel's accept queue of a stopping worker) and on reused
keep-alive ones.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fulmen.engine.config import Config, ConfigError
from fulmen.engine.server import Server, create_socket, run_loop
from tests.engine.conftest import FULMEN_PATH, EngineThread, RawConn, ServerProcess, exchange
from tests.engine.sample_app import make_app

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the supervisor needs fork()")

APP = "tests.engine.sample_app:app"
PID_REQUEST = b"GET /pid HTTP/1.1\r\nHost: a\r\n\r\n"


def _wait(condition: Callable[[], object], what: str, server: ServerProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{server.output()}")
        time.sleep(0.02)


def _start(*args: str, workers: int = 2, env: dict[str, str] | None = None) -> ServerProcess:
    return ServerProcess(
        APP,
        "--port",
        "0",
        "--workers",
        str(workers),
        "--no-access-log",
        "--graceful-timeout",
        "3",
        *args,
        env=env,
        ready=r"Supervisor \[pid \d+\] starting \d+ workers on http://[^:]+:(\d+)",
    )


def _serving(server: ServerProcess) -> int:
    return sum("Fulmen running" in line for line in server.lines)


def _children(pid: int) -> set[int]:
    """Live (not zombie) child processes of ``pid``, from /proc: no psutil."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(entry))
    return found


class Load:
    """Client threads asking for ``/pid`` until stopped; every answer and every failure is recorded."""

    def __init__(self, port: int, fresh: int = 3, keep_alive: int = 1) -> None:
        self.port = port
        self.stop = threading.Event()
        self.pids: Counter[int] = Counter()
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._fresh, daemon=True) for _ in range(fresh)]
        self.threads += [threading.Thread(target=self._keep_alive, daemon=True) for _ in range(keep_alive)]

    def _record(self, status: int, body: bytes) -> None:
        with self._lock:
            if status == 200:
                self.pids[int(body)] += 1
            else:
                self.failures.append(f"status {status}: {body!r}")

    def _fresh(self) -> None:
        # A new connection per request: the kernel queues it on whichever worker's socket it hashes to.
        while not self.stop.is_set():
            try:
                r = exchange(self.port, PID_REQUEST)
            except OSError as exc:
                with self._lock:
                    self.failures.append(f"fresh connection: {exc!r}")
                continue
            self._record(r.status, r.body)

    def _keep_alive(self) -> None:
        # One connection reused until the server closes it (after a response with connection: close, or
        # idle for a second while its worker stops). No retry: a request sent as a worker closes the idle
        # connection must still be answered (docs/engine.md, Shutdown).
        conn: RawConn | None = None
        while not self.stop.is_set():
            if conn is None:
                conn = RawConn(self.port)
            try:
                r = conn.request("GET", "/pid")
            except (ConnectionError, OSError) as exc:
                conn.close()
                conn = None
                with self._lock:
                    self.failures.append(f"keep-alive connection: {exc!r}")
                continue
            self._record(r.status, r.body)
            if r.header("connection") == "close":
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def total(self) -> int:
        with self._lock:
            return sum(self.pids.values())

    def seen(self) -> set[int]:
        with self._lock:
            return set(self.pids)

    @contextmanager
    def running(self) -> Iterator[Load]:
        for thread in self.threads:
            thread.start()
        try:
            yield self
        finally:
            self.stop.set()
            for thread in self.threads:
                thread.join(10)


def _started_pids(server: ServerProcess) -> list[int]:
    return [
        int(m.group(1))
        for line in server.lines
        if (m := re.search(r"Started worker \d+ \[pid (\d+)\]", line))
    ]


def _stopped_pids(server: ServerProcess) -> list[int]:
    return [
        int(m.group(1))
        for line in server.lines
        if (m := re.search(r"Worker \d+ \[pid (\d+)\] stopped", line))
    ]


def _stop(server: ServerProcess) -> None:
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(20) == 0, server.output()


# -- --limit-max-requests ------------------------------------------------------------------------------------
def test_limit_max_requests_replaces_workers_and_every_request_is_answered() -> None:
    server = _start("--limit-max-requests", "40")
    try:
        port = server.wait_ready()
        _wait(lambda: _serving(server) >= 2, "two workers serving", server)
        first = set(_started_pids(server))
        with Load(port).running() as load:
            # Four replacements: each of the first two workers, and the first replacement of each again.
            _wait(lambda: len(_stopped_pids(server)) >= 4, "four workers replaced", server, timeout=40)
        assert load.failures == [], load.failures
        stopped = _stopped_pids(server)
        assert first <= set(stopped)
        for pid in stopped:
            # Each answered at least its limit (a few more while its replacement started), and exited.
            assert load.pids[pid] >= 40, (pid, load.pids)
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert len(load.seen()) >= 5  # the replacements served too
        # Once a replacement in progress is done: two workers again, none left behind.
        _wait(lambda: len(_children(server.proc.pid)) == 2, "two workers", server)
        _stop(server)
    finally:
        server.kill()


def test_limit_max_requests_with_one_worker_keeps_the_port_answering() -> None:
    """uvicorn's single process exits at the limit; here a supervisor replaces the worker with no gap."""
    server = _start("--limit-max-requests", "15", workers=1)
    try:
        port = server.wait_ready()
        _wait(lambda: _serving(server) >= 1, "the worker serving", server)
        with Load(port, fresh=2, keep_alive=1).running() as load:
            _wait(lambda: len(_stopped_pids(server)) >= 2, "two replacements", server)
        assert load.failures == [], load.failures
        assert len(load.seen()) >= 3
        _wait(lambda: len(_children(server.proc.pid)) == 1, "one worker", server)
        _stop(server)
    finally:
        server.kill()


def test_limit_max_requests_jitter_gives_each_worker_its_own_limit() -> None:
    server = _start("--limit-max-requests", "100", "--limit-max-requests-jitter", "100000", workers=3)
    try:
        server.wait_ready()
        _wait(lambda: sum("is replaced after" in line for line in server.lines) >= 3, "three limits", server)
        limits = [
            int(m.group(1))
            for line in server.lines
            if (m := re.search(r"is replaced after (\d+) requests", line))
        ]
        assert all(100 <= limit <= 100100 for limit in limits), limits
        # Forked workers share the parent's random state: drawn from it, the three would be equal.
        assert len(set(limits)) > 1, limits
        _stop(server)
    finally:
        server.kill()


# -- signals ---------------------------------------------------------------------------------------------
def test_sighup_replaces_every_worker_one_by_one_while_clients_get_200s() -> None:
    server = _start(workers=3)
    try:
        port = server.wait_ready()
        _wait(lambda: _serving(server) >= 3, "three workers serving", server)
        old = set(_started_pids(server))
        with Load(port).running() as load:
            _wait(lambda: load.total() >= 50, "traffic before the restart", server)
            start = len(server.lines)
            server.proc.send_signal(signal.SIGHUP)
            server.wait_for_line(r"Received SIGHUP: replacing the 3 workers one by one", start=start)
            server.wait_for_line(r"Rolling restart \(SIGHUP\) done", start=start, timeout=30)
            _wait(lambda: old <= set(_stopped_pids(server)), "the old workers to exit", server)
            before = load.total()
            _wait(lambda: load.total() >= before + 50, "traffic after the restart", server)
        assert load.failures == [], load.failures
        new = set(_started_pids(server)) - old
        assert len(new) == 3
        assert _children(server.proc.pid) == new
        late = Counter(int(exchange(port, PID_REQUEST).body) for _ in range(30))
        assert set(late) <= new
        _stop(server)
    finally:
        server.kill()


def test_sigttin_adds_a_worker_and_sigttou_removes_one_but_never_the_last() -> None:
    server = _start(workers=2)
    try:
        port = server.wait_ready()
        supervisor = server.proc.pid
        _wait(lambda: len(_children(supervisor)) == 2 and _serving(server) >= 2, "two workers", server)
        server.proc.send_signal(signal.SIGTTIN)
        server.wait_for_line(r"Received SIGTTIN: adding a worker \(now 3\)")
        _wait(lambda: len(_children(supervisor)) == 3 and _serving(server) >= 3, "a third worker", server)
        assert len({int(exchange(port, PID_REQUEST).body) for _ in range(60)}) == 3
        for now in (2, 1):
            server.proc.send_signal(signal.SIGTTOU)
            server.wait_for_line(rf"Received SIGTTOU: removing worker \d \(now {now}\)")
            _wait(lambda n=now: len(_children(supervisor)) == n, f"{now} workers", server)  # type: ignore[misc]
        server.proc.send_signal(signal.SIGTTOU)
        server.wait_for_line(r"Received SIGTTOU: already down to one worker; keeping it")
        time.sleep(0.3)  # the supervisor acts within 50 ms: the one worker must still be there
        assert len(_children(supervisor)) == 1
        assert exchange(port, PID_REQUEST).status == 200
        _stop(server)
    finally:
        server.kill()


# -- health check ----------------------------------------------------------------------------------------
def test_a_worker_whose_loop_is_blocked_is_killed_and_replaced() -> None:
    server = _start("--timeout-worker-healthcheck", "0.5", workers=2)
    try:
        port = server.wait_ready()
        _wait(lambda: _serving(server) >= 2, "two workers serving", server)
        first = set(_started_pids(server))
        with RawConn(port, timeout=15) as conn:
            conn.send(b"GET /block?d=30 HTTP/1.1\r\nHost: a\r\n\r\n")  # time.sleep(30) on the event loop
            match = server.wait_for_line(
                r"ERROR +Worker \d \[pid (\d+)\] did not answer the health check within 0.5 s", timeout=10
            )
            blocked = int(match.group(1))
            assert blocked in first
            assert conn.read_until_close(timeout=5) == b""  # the process is gone, with the request
        server.wait_for_line(rf"Worker \d \[pid {blocked}\] was killed by SIGKILL \(failed health check\)")
        _wait(lambda: _serving(server) >= 3, "the replacement serving", server)
        with pytest.raises(ProcessLookupError):
            os.kill(blocked, 0)
        answered = {int(exchange(port, PID_REQUEST).body) for _ in range(40)}
        assert blocked not in answered and len(answered) == 2
        _stop(server)
    finally:
        server.kill()


def test_a_slow_but_answering_worker_is_not_killed() -> None:
    server = _start("--timeout-worker-healthcheck", "1.5", workers=2)
    try:
        port = server.wait_ready()
        _wait(lambda: _serving(server) >= 2, "two workers serving", server)
        workers = _children(server.proc.pid)
        for _ in range(4):  # whichever worker it lands on, its loop is blocked for 0.5 s each time
            r = exchange(port, b"GET /block?d=0.5 HTTP/1.1\r\nHost: a\r\n\r\n")
            assert (r.status, r.body) == (200, b"unblocked")
        time.sleep(1.0)  # a few pings later
        assert _children(server.proc.pid) == workers
        assert "health check" not in server.output()
        _stop(server)
    finally:
        server.kill()


# -- workers that can't start --------------------------------------------------------------------------------
def test_a_worker_that_keeps_dying_at_start_stops_the_supervisor_with_a_clear_error() -> None:
    server = _start(workers=2, env={"SAMPLE_APP_DIE_AT_STARTUP": "7"})
    try:
        start = time.monotonic()
        assert server.proc.wait(30) == 3
        elapsed = time.monotonic() - start
        server.kill()  # joins the stderr reader
        out = server.output()
        assert re.search(
            r"Worker \d died before serving 5 times in a row \(last: exited with status 7\); stopping", out
        ), out
        assert "restarting in 0.2 s" in out and "restarting in 1.6 s" in out  # backed off, no hot loop
        assert len(_started_pids(server)) <= 2 * 5
        assert elapsed > 2.5  # 0.2 + 0.4 + 0.8 + 1.6 s of back-off at least
    finally:
        server.kill()


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            server = ServerProcess(APP, "--port", str(port), "--workers", workers)
            try:
                assert server.proc.wait(20) == 1
                server.kill()
                assert (
                    f"fulmen: error: can't listen on 127.0.0.1:{port}: Address already in use"
                    in server.output()
                )
                assert "Traceback" not in server.output()
            finally:
                server.kill()


# -- configuration ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"limit_max_requests": 0}, "limit_max_requests (--limit-max-requests) must be an integer >= 1"),
        ({"limit_max_requests": 2.5}, "limit_max_requests (--limit-max-requests) must be an integer >= 1"),
        (
            {"limit_max_requests": 10, "limit_max_requests_jitter": -1},
            "limit_max_requests_jitter (--limit-max-requests-jitter) must be an integer >= 0",
        ),
        ({"limit_max_requests_jitter": 5}, "limit_max_requests_jitter (--limit-max-requests-jitter) needs"),
        (
            {"timeout_worker_healthcheck": 0},
            "timeout_worker_healthcheck (--timeout-worker-healthcheck) must be",
        ),
        (
            {"timeout_worker_healthcheck": -2.0},
            "timeout_worker_healthcheck (--timeout-worker-healthcheck) must",
        ),
    ],
)
def test_bad_supervisor_settings_name_the_option(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config(**settings)  # type: ignore[arg-type]


def test_supervisor_settings_defaults_and_when_a_supervisor_runs() -> None:
    config = Config()
    assert (config.limit_max_requests, config.limit_max_requests_jitter) == (None, 0)
    assert config.timeout_worker_healthcheck == 30.0
    assert not config.supervised
    assert Config(workers=2).supervised
    assert Config(limit_max_requests=5).supervised
    assert Config(timeout_worker_healthcheck=None).timeout_worker_healthcheck is None


def test_cli_rejects_a_bad_limit_naming_the_option() -> None:
    server = ServerProcess(APP, "--port", "0", "--limit-max-requests-jitter", "3")
    try:
        assert server.proc.wait(20) == 2
        server.kill()
        assert (
            "--limit-max-requests-jitter) needs limit_max_requests (--limit-max-requests)" in server.output()
        )
    finally:
        server.kill()


def test_app_run_takes_the_supervisor_settings(tmp_path: Path) -> None:
    """``app.run(limit_max_requests=...)`` starts the same supervisor as the command line."""
    script = tmp_path / "serve.py"
    script.write_text(
        "import os\n"
        "from fulmen import FastAPI\n"
        "app = FastAPI()\n"
        "@app.get('/pid')\n"
        "def pid() -> int:\n"
        "    return os.getpid()\n"
        "app.run(port=0, limit_max_requests=5, timeout_worker_healthcheck=2.5, access_log=False)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(FULMEN_PATH), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        port = 0
        for line in proc.stderr:
            lines.append(line)
            match = re.search(r"Supervisor \[pid \d+\] starting 1 workers on http://127.0.0.1:(\d+)", line)
            if match:
                port = int(match.group(1))
            if "Worker [pid" in line and "is replaced after 5 requests" in line:
                break
        assert port, "".join(lines)
        pids = [int(exchange(port, PID_REQUEST).body) for _ in range(12)]  # fresh connections
        deadline = time.monotonic() + 15
        while len(set(pids)) < 2:
            assert time.monotonic() < deadline, pids
            pids.append(int(exchange(port, PID_REQUEST).body))
        assert pids[0] == pids[4]  # the first worker answered at least its 5
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_a_failed_startup_stops_the_supervisor_with_status_3_at_once() -> None:
    server = _start(workers=2, env={"SAMPLE_APP_FAIL_STARTUP": "1"})
    try:
        assert server.proc.wait(20) == 3
        server.kill()
        assert re.search(r"Worker \d: application startup failed; stopping", server.output()), server.output()
        assert len(_started_pids(server)) == 2  # not restarted: it would fail the same way
    finally:
        server.kill()


# -- the worker's side, in process ---------------------------------------------------------------------------
class WorkerThread:
    """A ``Server`` with a supervisor channel on a thread: the test holds the supervisor's end."""

    def __init__(self, **settings: object) -> None:
        self.config = Config(port=0, access_log=False, **settings)  # type: ignore[arg-type]
        self.supervisor, self.worker_end = socket.socketpair()
        self.supervisor.settimeout(5)
        self.server = Server(make_app(), self.config, channel=self.worker_end)
        self.sock = create_socket(self.config)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(
            target=lambda: run_loop(self.server.serve(self.sock, install_signals=False))
        )
        self.thread.start()

    def expect(self, message: bytes) -> None:
        assert self.supervisor.recv(1) == message

    def close(self) -> None:
        self.server.request_exit()
        self.thread.join(10)
        self.supervisor.close()
        self.worker_end.close()


def test_worker_says_ready_answers_pings_and_asks_to_retire_but_keeps_serving() -> None:
    worker = WorkerThread(limit_max_requests=3)
    try:
        worker.expect(b"R")  # serving
        worker.supervisor.send(b"p")
        worker.expect(b"P")
        for _ in range(3):
            assert exchange(worker.port, PID_REQUEST).status == 200
        worker.expect(b"M")  # the limit: please start my replacement
        # Until the supervisor stops it, it serves on (no gap before the replacement is ready).
        assert exchange(worker.port, PID_REQUEST).status == 200
        worker.supervisor.send(b"p")
        worker.expect(b"P")
        assert worker.thread.is_alive()
    finally:
        worker.close()


def test_worker_shuts_down_when_the_supervisor_is_gone() -> None:
    worker = WorkerThread()
    worker.expect(b"R")
    worker.supervisor.close()  # EOF on the worker's end
    worker.thread.join(10)
    assert not worker.thread.is_alive()
    worker.worker_end.close()
    with pytest.raises(OSError):
        RawConn(worker.port, timeout=1)


def test_without_a_supervisor_the_server_exits_at_its_limit_as_uvicorn() -> None:
    engine = EngineThread(make_app(), limit_max_requests=4)
    for _ in range(4):
        with RawConn(engine.port) as conn:
            assert conn.request("GET", "/fast").status == 200
    engine.thread.join(10)
    assert not engine.thread.is_alive()
    assert engine.result is True  # a normal, graceful stop


def test_connections_queued_while_the_loop_is_busy_are_answered_after_shutdown_begins() -> None:
    """They sit in the kernel's accept queue (or uvloop's) when shutdown starts: served, not reset or 503."""
    engine = EngineThread(make_app())
    busy = RawConn(engine.port)
    busy.send(b"GET /block?d=0.5 HTTP/1.1\r\nHost: a\r\n\r\n")  # the event loop sleeps 0.5 s
    time.sleep(0.1)
    queued = [RawConn(engine.port) for _ in range(20)]
    for i, conn in enumerate(queued):
        conn.send(f"GET /fast?tag={i} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    engine.server.request_exit()  # acted on once the loop wakes up, with all of them waiting
    try:
        for i, conn in enumerate(queued):
            r = conn.read_response()
            assert (r.status, r.body) == (200, f"fast {i}".encode())
            assert conn.is_closed(timeout=5)  # answered before or after shutdown began, then closed
        assert busy.read_response().status == 200
        engine.thread.join(10)
        assert not engine.thread.is_alive()
    finally:
        for conn in [busy, *queued]:
            conn.close()


def test_cli_options_reach_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    from fulmen.cli import _config_from_args, build_parser

    parser = build_parser()
    args = parser.parse_args(
        [
            "run",
            "m:app",
            "--limit-max-requests",
            "500",
            "--limit-max-requests-jitter",
            "50",
            "--timeout-worker-healthcheck",
            "7.5",
        ]
    )
    config = _config_from_args(args)
    assert (config.limit_max_requests, config.limit_max_requests_jitter) == (500, 50)
    assert config.timeout_worker_healthcheck == 7.5
    off = _config_from_args(parser.parse_args(["run", "m:app", "--timeout-worker-healthcheck", "0"]))
    assert off.timeout_worker_healthcheck is None
    default = _config_from_args(parser.parse_args(["run", "m:app"]))
    assert (default.limit_max_requests, default.timeout_worker_healthcheck) == (None, 30.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])
    assert "workers and their supervisor (uvicorn's names" in capsys.readouterr().out


def test_a_replacement_that_cannot_start_leaves_the_old_workers_serving(tmp_path: Path) -> None:
    """SIGHUP is abandoned and a limit replacement retried: the serving workers are never stopped first."""
    marker = tmp_path / "broken"
    server = _start("--limit-max-requests", "30", workers=2, env={"SAMPLE_APP_DIE_IF_FILE": str(marker)})
    try:
        port = server.wait_ready()
        _wait(lambda: _serving(server) >= 2, "two workers serving", server)
        old = _children(server.proc.pid)
        marker.touch()  # from now on, a new worker dies at start
        start = len(server.lines)
        server.proc.send_signal(signal.SIGHUP)
        server.wait_for_line(
            r"replacement \[pid \d+\] exited with status 5 before serving; \[pid \d+\] keeps", start=start
        )
        server.wait_for_line(r"Rolling restart \(SIGHUP\) abandoned", start=start)
        with Load(port, fresh=2, keep_alive=1).running() as load:
            # Past the limit: each worker asks for a replacement, which dies; it keeps serving meanwhile.
            _wait(lambda: load.total() >= 150, "requests past the limits", server)
            server.wait_for_line(r"reached its request limit; starting its replacement", start=start)
            assert load.seen() <= old, server.output()
            assert _children(server.proc.pid) >= old, server.output()
            marker.unlink()  # fixed: the next retry starts a replacement that serves
            _wait(lambda: set(_stopped_pids(server)) >= old, "both old workers replaced", server, timeout=30)
        assert load.failures == [], load.failures
        assert server.proc.poll() is None  # a failed replacement never stops the supervisor
        _stop(server)
    finally:
        server.kill()
