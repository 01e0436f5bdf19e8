"""Graceful shutdown (SIGTERM on a real process), lifespan, and multi-worker supervision."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.engine.conftest import EngineThread, RawConn, ServerProcess, exchange
from tests.engine.sample_app import make_app

APP = "tests.engine.sample_app:app"


def test_sigterm_lets_in_flight_request_finish_then_exits_0(tmp_path: Path) -> None:
    marker = tmp_path / "shutdown.txt"
    server = ServerProcess(
        APP, "--port", "0", "--graceful-timeout", "5", env={"SAMPLE_APP_SHUTDOWN_MARKER": str(marker)}
    )
    try:
        port = server.wait_ready()
        idle = RawConn(port)
        assert idle.request("GET", "/fast").status == 200  # an idle keep-alive connection
        busy = RawConn(port)
        busy.send(b"GET /slow?d=0.8&tag=inflight HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.2)
        server.proc.send_signal(signal.SIGTERM)
        assert idle.is_closed(timeout=2)  # idle connections are closed right away
        r = busy.read_response()
        assert (r.status, r.body) == (200, b"slow inflight")
        assert r.header("connection") == "close"
        assert server.proc.wait(10) == 0
        assert marker.read_text() == "shutdown ran"
        with pytest.raises(OSError):
            RawConn(port, timeout=1)
        idle.close()
        busy.close()
    finally:
        server.kill()


def test_grace_period_expiry_drops_the_request_and_still_exits_0() -> None:
    server = ServerProcess(APP, "--port", "0", "--graceful-timeout", "0.3")
    try:
        port = server.wait_ready()
        with RawConn(port) as conn:
            conn.send(b"GET /slow?d=30 HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(0.2)
            start = time.monotonic()
            server.proc.send_signal(signal.SIGINT)
            assert conn.read_until_close(timeout=5) == b""
            assert server.proc.wait(10) == 0
            assert time.monotonic() - start < 3
    finally:
        server.kill()


def test_startup_failure_exits_3() -> None:
    server = ServerProcess(APP, "--port", "0", env={"SAMPLE_APP_FAIL_STARTUP": "1"})
    try:
        assert server.proc.wait(15) == 3
        time.sleep(0.1)
        assert "startup failed" in server.output().lower()
    finally:
        server.kill()


def test_in_process_lifespan_and_shutdown_with_request_in_flight() -> None:
    app = make_app()
    engine = EngineThread(app)
    assert app.started
    with RawConn(engine.port) as conn:
        conn.send(b"GET /slow?d=0.3&tag=x HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.05)
        stopper = threading.Thread(target=engine.stop)
        stopper.start()
        r = conn.read_response()
        assert (r.body, r.header("connection")) == (b"slow x", "close")
        stopper.join(10)
    assert app.stopped


def _pids_seen(port: int, attempts: int) -> set[int]:
    pids = set()
    for _ in range(attempts):
        r = exchange(port, b"GET /pid HTTP/1.1\r\nHost: a\r\n\r\n")
        assert r.status == 200
        pids.add(int(r.body))
    return pids


@pytest.mark.skipif(not hasattr(os, "fork"), reason="workers need fork()")
def test_workers_share_the_port_and_a_killed_worker_is_restarted() -> None:
    server = ServerProcess(
        APP,
        "--port",
        "0",
        "--workers",
        "2",
        "--graceful-timeout",
        "2",
        ready=r"starting 2 workers on http://[^:]+:(\d+)",
    )
    try:
        port = server.wait_ready()
        started = server.wait_for_line(r"Started worker 1 \[pid (\d+)\]")
        worker0 = int(server.wait_for_line(r"Started worker 0 \[pid (\d+)\]").group(1))
        worker1 = int(started.group(1))
        deadline = time.monotonic() + 10
        while sum("Fulmen running" in line for line in server.lines) < 2:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.02)
        seen = _pids_seen(port, 40)
        assert seen <= {worker0, worker1}
        assert len(seen) == 2, "SO_REUSEPORT should spread new connections over both workers"

        os.kill(worker0, signal.SIGKILL)
        server.wait_for_line(r"Worker 0 \[pid \d+\] was killed by SIGKILL; restarting")
        _pids_seen(port, 10)  # requests keep succeeding while worker 0 restarts
        deadline = time.monotonic() + 10
        while True:
            starts = [line for line in server.lines if "Started worker 0" in line]
            if len(starts) >= 2:
                new0 = int(starts[-1].split("[pid ")[1].split("]")[0])
                break
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.02)
        assert new0 != worker0
        deadline = time.monotonic() + 10
        while new0 not in _pids_seen(port, 10):
            assert time.monotonic() < deadline, "the restarted worker never served a request"

        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0
        for pid in (worker1, new0):
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        server.kill()
