"""Multi-process serving: a supervisor forks N workers that each listen on the same port (SO_REUSEPORT).

The supervisor holds a bound (not listening) SO_REUSEPORT socket so the port stays reserved across worker
restarts and ``port=0`` resolves once. It restarts a worker that dies unexpectedly (with a back-off when one
keeps dying at start-up), forwards SIGTERM/SIGINT as SIGTERM for a graceful shutdown, and exits 0. A worker
whose application fails to start makes the whole supervisor stop with that worker's exit status (3).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass

from fulmen.engine.config import Config
from fulmen.engine.protocol import App
from fulmen.engine.server import STARTUP_FAILURE, create_socket, serve

logger = logging.getLogger("fulmen.error")

_POLL_INTERVAL = 0.05
_QUICK_DEATH = 1.0  # a worker dying sooner than this after its start is restarted with a back-off
_MAX_BACKOFF = 10.0


@dataclass
class _Worker:
    index: int
    pid: int = 0
    started: float = 0.0
    backoff: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Fork ``config.workers`` worker processes serving ``app`` on one port, and keep them running."""

    def __init__(self, app: App, config: Config) -> None:
        if sys.platform == "win32" or not hasattr(os, "fork") or not hasattr(socket, "SO_REUSEPORT"):
            raise RuntimeError("workers > 1 needs fork() and SO_REUSEPORT (Linux, macOS, BSD); use workers=1")
        self.app = app
        self.config = config
        self._workers: list[_Worker] = []
        self._stop_signal: int | None = None
        self._exit_code = 0
        self._reserved: socket.socket | None = None
        #: With ``uds`` or ``fd``: the one listening socket the workers inherit (a path or a descriptor can't
        #: be bound once per worker as a SO_REUSEPORT port can).
        self._shared: socket.socket | None = None

    def _reserve_port(self) -> Config:
        if self.config.uds is not None or self.config.fd is not None:
            self._shared = create_socket(self.config)
            return self.config
        # Bind without listening: keeps the port ours between worker restarts, receives no connections.
        probe = create_socket(self.config, reuse_port=True)
        host, port = probe.getsockname()[:2]
        family = probe.family
        probe.close()
        reserved = socket.socket(family, socket.SOCK_STREAM)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind((host, port))
        self._reserved = reserved
        return self.config.replace(port=port, reuse_port=True)

    def _on_signal(self, sig: int, _frame: object) -> None:
        if self._stop_signal is None:
            self._stop_signal = sig

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit status (0, or 3 if the application cannot start)."""
        worker_config = self._reserve_port()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        if self._shared is not None:
            from fulmen.engine.listen import describe

            where = describe(self.config, self._shared)
        else:
            scheme = "https" if self.config.is_ssl else "http"
            where = f"{scheme}://{worker_config.host}:{worker_config.port}"
        logger.info("Supervisor [pid %d] starting %d workers on %s", os.getpid(), self.config.workers, where)
        try:
            self._workers = [_Worker(i) for i in range(self.config.workers)]
            for worker in self._workers:
                self._spawn(worker, worker_config)
            while self._stop_signal is None:
                self._reap(worker_config)
                time.sleep(_POLL_INTERVAL)
            if self._stop_signal is not None:
                logger.info(
                    "Supervisor received %s: stopping workers", signal.Signals(self._stop_signal).name
                )
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._reserved is not None:
                self._reserved.close()
            if self._shared is not None:
                from fulmen.engine.listen import remove_unix_socket

                remove_unix_socket(self._shared)  # the --uds file this supervisor created
                self._shared.close()
        logger.info("Supervisor stopped")
        return self._exit_code

    def _spawn(self, worker: _Worker, config: Config) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured by the subprocess tests
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                # How many workers share the machine: sizes per-worker pools (fulmen.integrations.offload).
                os.environ["FULMEN_WORKERS"] = str(config.workers)
                if self._reserved is not None:
                    self._reserved.close()
                sock = self._shared or create_socket(config, reuse_port=True)
                serve(self.app, config, sock=sock, parent_pid=parent)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                logger.exception("Worker crashed")
            finally:
                for handler in logging.getLogger("fulmen").handlers + logging.getLogger().handlers:
                    handler.flush()
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        worker.pid = pid
        worker.started = time.monotonic()
        worker.restart_at = 0.0
        logger.info("Started worker %d [pid %d]", worker.index, pid)

    def _reap(self, config: Config) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for worker in self._workers:
                if worker.pid == pid:
                    self._on_worker_exit(worker, status)
        now = time.monotonic()
        for worker in self._workers:
            if worker.pid == 0 and self._stop_signal is None and now >= worker.restart_at:
                self._spawn(worker, config)

    def _on_worker_exit(self, worker: _Worker, status: int) -> None:
        worker.pid = 0
        if os.WIFSIGNALED(status):
            how = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            code = os.WEXITSTATUS(status)
            how = f"exited with status {code}"
            if code == STARTUP_FAILURE:
                logger.error("Worker %d: application startup failed; stopping", worker.index)
                self._exit_code = STARTUP_FAILURE
                self._stop_signal = signal.SIGTERM
                return
        now = time.monotonic()
        if now - worker.started < _QUICK_DEATH:
            worker.backoff = min(_MAX_BACKOFF, max(0.5, worker.backoff * 2))
        else:
            worker.backoff = 0.0
        worker.restart_at = now + worker.backoff
        logger.warning("Worker %d %s; restarting", worker.index, how)

    def _stop_all(self) -> None:
        alive = [w for w in self._workers if w.pid]
        for worker in alive:
            try:
                os.kill(worker.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.config.graceful_timeout + 5.0
        while any(w.pid for w in self._workers):
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if time.monotonic() > deadline:
                    for worker in self._workers:
                        if worker.pid:
                            logger.warning("Worker %d did not stop in time; killing it", worker.index)
                            try:
                                os.kill(worker.pid, signal.SIGKILL)
                            except ProcessLookupError:
                                pass
                    deadline = float("inf")
                time.sleep(_POLL_INTERVAL)
                continue
            for worker in self._workers:
                if worker.pid == pid:
                    worker.pid = 0
