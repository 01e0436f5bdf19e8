"""Multi-process serving: a supervisor forks N workers that each listen on the same port (SO_REUSEPORT).

The supervisor makes each worker's listening socket and keeps it, so a replacement accepts from the same
queue, and holds a bound (not listening) SO_REUSEPORT socket so the port stays reserved and ``port=0``
resolves once. Each worker has a socket pair to the supervisor (its *channel*): it
says when it is serving, answers health-check pings from its event loop, and asks to be replaced when it
reaches ``limit_max_requests``. The supervisor:

- restarts a worker that dies, with a back-off when it dies at start; one that never gets to serve five
  times in a row stops the supervisor (status 3), as does a failed ``app.startup()`` before any worker served;
- replaces a worker without a gap: the replacement starts, and the old worker gets SIGTERM (a graceful
  drain) once the new one serves: after ``limit_max_requests``, and for every worker in turn on SIGHUP;
- adds a worker on SIGTTIN and removes one on SIGTTOU (never the last one), as uvicorn's supervisor;
- kills (SIGKILL) and replaces a worker whose event loop doesn't answer a ping within
  ``timeout_worker_healthcheck`` seconds;
- forwards SIGTERM/SIGINT as SIGTERM for a graceful shutdown, and exits 0.
"""

from __future__ import annotations

import collections
import logging
import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import NoReturn

from fulmen.engine.config import Config
from fulmen.engine.protocol import App
from fulmen.engine.server import (
    CHANNEL_PING,
    CHANNEL_PONG,
    CHANNEL_READY,
    CHANNEL_RETIRE,
    STARTUP_FAILURE,
    create_socket,
    serve,
)

logger = logging.getLogger("fulmen.error")

_POLL_INTERVAL = 0.05
_QUICK_DEATH = 1.0  # a worker dying sooner than this after its start is restarted with a back-off
_MAX_BACKOFF = 10.0
#: Deaths before serving, in a row, after which the supervisor gives up (a worker that can't start).
MAX_START_FAILURES = 5
#: Seconds between two health-check pings of one worker (or half the timeout, when that is shorter).
_PING_INTERVAL = 1.0
#: The signals the supervisor handles; a worker ignores the ones it has no use for (see _child).
_CONTROL_SIGNALS = (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU) if hasattr(signal, "SIGTTIN") else ()


@dataclass(eq=False)
class _Process:
    """One forked worker process and the supervisor's end of its channel."""

    slot: int
    pid: int
    channel: socket.socket
    started: float
    ready: bool = False
    #: When the unanswered ping went out (0.0: none pending), and when the next one is due.
    ping_sent: float = 0.0
    next_ping: float = 0.0
    #: SIGKILLed by the health check (its death is reported as such).
    hung: bool = False
    #: When it was sent SIGTERM to drain and exit (0.0 while it serves).
    stopping: float = 0.0


@dataclass(eq=False)
class _Slot:
    """A place for one worker: the process serving in it, and the one starting to replace it."""

    index: int
    current: _Process | None = None
    successor: _Process | None = None
    #: The current process is to be replaced (limit_max_requests, SIGHUP): a successor starts first.
    replace: bool = False
    restart_at: float = 0.0
    backoff: float = 0.0
    #: The slot's listening socket, made by the supervisor and inherited by each process in the slot: a
    #: replacement accepts from the same queue, so no connection queued for the old process is reset.
    sock: socket.socket | None = None
    #: Processes in this slot that died before serving, in a row.
    failures: int = 0
    last_failure: str = ""


@dataclass
class _Rolling:
    """A SIGHUP rolling restart: the slots still to replace, one at a time."""

    pending: collections.deque[int] = field(default_factory=collections.deque)
    slot: _Slot | None = None
    active: bool = False


class Supervisor:
    """Fork ``config.workers`` worker processes serving ``app`` on one port, and keep them running."""

    def __init__(self, app: App, config: Config) -> None:
        if sys.platform == "win32" or not hasattr(os, "fork") or not hasattr(socket, "SO_REUSEPORT"):
            raise RuntimeError("workers > 1 needs fork() and SO_REUSEPORT (Linux, macOS, BSD); use workers=1")
        self.app = app
        self.config = config
        self._slots: list[_Slot] = []
        #: Workers sent SIGTERM (replaced or removed), draining until they exit.
        self._retired: list[_Process] = []
        self._signals: list[int] = []
        self._stop_signal: int | None = None
        self._exit_code = 0
        self._reserved: socket.socket | None = None
        self._served = False  # some worker has been serving (a startup failure after that is retried)
        self._rolling = _Rolling()
        self._worker_config = config
        timeout = config.timeout_worker_healthcheck
        self._ping_interval = _PING_INTERVAL if timeout is None else min(_PING_INTERVAL, timeout / 2)
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
        # Only noted here; the loop acts on it (a handler may interrupt the supervisor anywhere).
        if sig in (signal.SIGTERM, signal.SIGINT):
            if self._stop_signal is None:
                self._stop_signal = sig
        else:
            self._signals.append(sig)

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit status (0, or 3 if the workers cannot start)."""
        self._worker_config = worker_config = self._reserve_port()
        handled = (signal.SIGTERM, signal.SIGINT, *_CONTROL_SIGNALS)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        if self._shared is not None:
            from fulmen.engine.listen import describe

            where = describe(self.config, self._shared)
        else:
            scheme = "https" if self.config.is_ssl else "http"
            where = f"{scheme}://{worker_config.host}:{worker_config.port}"
        logger.info("Supervisor [pid %d] starting %d workers on %s", os.getpid(), self.config.workers, where)
        try:
            self._slots = [_Slot(i) for i in range(self.config.workers)]
            while self._stop_signal is None:
                self._step()
            if self._exit_code == 0:
                logger.info(
                    "Supervisor received %s: stopping workers", signal.Signals(self._stop_signal).name
                )
            self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._reserved is not None:
                self._reserved.close()
            for process in self._processes():
                process.channel.close()
            if self._shared is not None:
                from fulmen.engine.listen import remove_unix_socket

                remove_unix_socket(self._shared)  # the --uds file this supervisor created
                self._shared.close()
        logger.info("Supervisor stopped")
        return self._exit_code

    # -- the loop --------------------------------------------------------------------------------------------
    def _step(self) -> None:
        """One turn: signals, messages from workers, exits, health checks, then start what is missing."""
        while self._signals:
            self._handle_signal(self._signals.pop(0))
        self._read_channels(_POLL_INTERVAL)
        self._reap()
        if self._stop_signal is not None:
            return
        now = time.monotonic()
        self._check_health(now)
        self._advance_rolling()
        for slot in self._slots:
            wanted = slot.current is None or (slot.replace and slot.successor is None)
            if wanted and now >= slot.restart_at and self._stop_signal is None:
                process = self._spawn(slot)
                if process is None:
                    return
                if slot.current is None:
                    slot.current = process
                else:
                    slot.successor = process
        timeout = self.config.graceful_timeout + 5.0
        for process in self._retired:
            if process.stopping and now - process.stopping > timeout:
                logger.warning(
                    "Worker %d [pid %d] did not stop in time; killing it", process.slot, process.pid
                )
                self._kill(process, signal.SIGKILL)
                process.stopping = 0.0

    def _processes(self) -> list[_Process]:
        live = [p for s in self._slots for p in (s.current, s.successor) if p is not None]
        return live + self._retired

    def _spawn(self, slot: _Slot) -> _Process | None:
        if slot.sock is None:
            try:
                # With uds/fd every worker serves the supervisor's one socket; else each its own port socket.
                slot.sock = self._shared or create_socket(self._worker_config, reuse_port=True)
            except OSError as exc:
                config = self._worker_config
                logger.error(
                    "Worker %d: can't listen on %s:%d: %s; stopping",
                    slot.index,
                    config.host,
                    config.port,
                    exc,
                )
                self._stop(1)
                return None
        parent = os.getpid()
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured by the subprocess tests
            ours.close()
            self._child(theirs, parent, slot.sock)
        theirs.close()
        ours.setblocking(False)
        now = time.monotonic()
        process = _Process(slot.index, pid, ours, now)
        logger.info("Started worker %d [pid %d]", slot.index, pid)
        return process

    def _child(
        self, channel: socket.socket, parent: int, sock: socket.socket
    ) -> NoReturn:  # pragma: no cover - in the child
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            for sig in _CONTROL_SIGNALS:
                # Meant for the supervisor (a terminal's hang-up reaches the whole process group too).
                signal.signal(sig, signal.SIG_IGN)
            for process in self._processes():
                # Only the supervisor may hold a worker's channel: its EOF tells the worker it is gone.
                process.channel.close()
            # How many workers share the machine: sizes per-worker pools (fulmen.integrations.offload).
            os.environ["FULMEN_WORKERS"] = str(len(self._slots))
            if self._reserved is not None:
                self._reserved.close()
            for slot in self._slots:
                # Another slot's socket held here would outlive that slot (SIGTTOU) with connections queued.
                if slot.sock is not None and slot.sock is not sock:
                    slot.sock.close()
            config = self._worker_config
            serve(self.app, config, sock=sock, parent_pid=parent, channel=channel)
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

    def _find(self, pid: int) -> tuple[_Slot | None, _Process | None]:
        for slot in self._slots:
            for process in (slot.current, slot.successor):
                if process is not None and process.pid == pid:
                    return slot, process
        for process in self._retired:
            if process.pid == pid:
                return None, process
        return None, None

    def _kill(self, process: _Process, sig: int) -> None:
        try:
            os.kill(process.pid, sig)
        except ProcessLookupError:
            pass

    # -- messages from the workers ---------------------------------------------------------------------------
    def _read_channels(self, timeout: float) -> None:
        serving = [p for s in self._slots for p in (s.current, s.successor) if p is not None]
        if not serving:
            time.sleep(timeout)
            return
        try:
            readable, _, _ = select.select([p.channel for p in serving], [], [], timeout)
        except (OSError, ValueError):
            return
        ready = set(readable)
        for process in serving:
            if process.channel not in ready:
                continue
            try:
                data = process.channel.recv(64)
            except OSError:
                continue
            if CHANNEL_READY in data:
                self._on_ready(process)
            if CHANNEL_PONG in data:
                process.ping_sent = 0.0
                process.next_ping = time.monotonic() + self._ping_interval
            if CHANNEL_RETIRE in data:
                self._on_retire(process)
            # b"" is EOF: the worker is exiting; _reap reports it.

    def _on_ready(self, process: _Process) -> None:
        process.ready = True
        process.next_ping = time.monotonic() + self._ping_interval
        self._served = True
        slot = self._slots[process.slot] if process.slot < len(self._slots) else None
        if slot is None:
            return
        slot.failures = 0
        if process is slot.successor:
            old = slot.current
            slot.current, slot.successor, slot.replace = process, None, False
            if old is not None:
                logger.info(
                    "Worker %d [pid %d] is serving; stopping [pid %d] gracefully",
                    slot.index,
                    process.pid,
                    old.pid,
                )
                self._retire(old)
            if self._rolling.slot is slot:
                self._rolling.slot = None

    def _on_retire(self, process: _Process) -> None:
        slot = self._slots[process.slot] if process.slot < len(self._slots) else None
        if slot is None or process is not slot.current or slot.replace:
            return
        logger.info(
            "Worker %d [pid %d] reached its request limit; starting its replacement", slot.index, process.pid
        )
        slot.replace = True

    def _retire(self, process: _Process) -> None:
        process.stopping = time.monotonic()
        self._retired.append(process)
        self._kill(process, signal.SIGTERM)

    # -- exits ---------------------------------------------------------------------------------------------
    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot, process = self._find(pid)
            if process is None:
                continue
            process.channel.close()
            if slot is None:
                self._retired.remove(process)
                logger.info("Worker %d [pid %d] stopped", process.slot, pid)
                continue
            self._on_worker_exit(slot, process, status)

    def _on_worker_exit(self, slot: _Slot, process: _Process, status: int) -> None:
        if os.WIFSIGNALED(status):
            how = f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
            if process.hung:
                how += " (failed health check)"
            code = -1
        else:
            code = os.WEXITSTATUS(status)
            how = f"exited with status {code}"
        if code == STARTUP_FAILURE and not self._served:
            # Nothing has served yet: the application can't start, and would fail the same way again.
            logger.error("Worker %d: application startup failed; stopping", slot.index)
            self._stop(STARTUP_FAILURE)
            return
        now = time.monotonic()
        if process is slot.successor:
            slot.successor = None
            logger.error(
                "Worker %d's replacement [pid %d] %s before serving; [pid %d] keeps serving",
                slot.index,
                process.pid,
                how,
                slot.current.pid if slot.current is not None else 0,
            )
            if self._rolling.slot is slot:
                logger.error("Rolling restart (SIGHUP) abandoned; the workers not replaced yet keep serving")
                self._rolling = _Rolling()
                slot.replace = False
            else:  # limit_max_requests: try again after a back-off
                slot.backoff = min(_MAX_BACKOFF, max(0.5, slot.backoff * 2))
                slot.restart_at = now + slot.backoff
            return
        slot.current = None
        if self._rolling.slot is slot and slot.successor is None:
            self._rolling.slot = None  # the process started in its place is new anyway
        if slot.successor is None:
            slot.replace = False  # likewise for a replacement asked for (limit_max_requests) but not started
        if slot.successor is not None:
            # Its replacement is already starting: it takes the place (no second process is started).
            slot.current, slot.successor, slot.replace = slot.successor, None, False
            if self._rolling.slot is slot:
                self._rolling.slot = None
            logger.warning("Worker %d [pid %d] %s; its replacement takes over", slot.index, process.pid, how)
            return
        if not process.ready:
            slot.failures += 1
            slot.last_failure = how
            if slot.failures >= MAX_START_FAILURES:
                logger.error(
                    "Worker %d died before serving %d times in a row (last: %s); stopping. "
                    "See the errors above: the application or its environment keeps it from starting",
                    slot.index,
                    slot.failures,
                    how,
                )
                self._stop(STARTUP_FAILURE)
                return
        if not process.ready:
            # 0.2, 0.4, 0.8, 1.6 s: the fifth failure comes about 3 s after the first, not in a hot loop.
            slot.backoff = min(_MAX_BACKOFF, max(0.2, slot.backoff * 2))
        elif now - process.started < _QUICK_DEATH:
            slot.backoff = min(_MAX_BACKOFF, max(0.5, slot.backoff * 2))
        else:
            slot.backoff = 0.0
        slot.restart_at = now + slot.backoff
        if slot.backoff >= 1.0:
            # Connections hashed to this socket would wait out the back-off: let the other workers have them.
            self._release_socket(slot)
        later = f" in {slot.backoff:.1f} s" if slot.backoff else ""
        logger.warning("Worker %d [pid %d] %s; restarting%s", slot.index, process.pid, how, later)

    def _stop(self, code: int) -> None:
        self._exit_code = code
        if self._stop_signal is None:
            self._stop_signal = signal.SIGTERM

    # -- health checks -------------------------------------------------------------------------------------
    def _check_health(self, now: float) -> None:
        timeout = self.config.timeout_worker_healthcheck
        if timeout is None:
            return
        for slot in self._slots:
            for process in (slot.current, slot.successor):
                if process is None or not process.ready or process.hung:
                    continue
                if process.ping_sent:
                    if now - process.ping_sent > timeout:
                        logger.error(
                            "Worker %d [pid %d] did not answer the health check within %g s "
                            "(is its event loop blocked?); killing it",
                            slot.index,
                            process.pid,
                            timeout,
                        )
                        process.hung = True
                        self._kill(process, signal.SIGKILL)
                elif now >= process.next_ping:
                    try:
                        process.channel.send(CHANNEL_PING)
                    except OSError:
                        continue  # it is exiting: _reap reports it
                    process.ping_sent = now

    # -- SIGHUP, SIGTTIN, SIGTTOU ----------------------------------------------------------------------------
    def _handle_signal(self, sig: int) -> None:
        if sig == signal.SIGHUP:
            logger.info("Received SIGHUP: replacing the %d workers one by one", len(self._slots))
            self._rolling = _Rolling(collections.deque(s.index for s in self._slots), active=True)
        elif sig == signal.SIGTTIN:
            self._slots.append(_Slot(len(self._slots)))
            logger.info("Received SIGTTIN: adding a worker (now %d)", len(self._slots))
        elif sig == signal.SIGTTOU:
            if len(self._slots) <= 1:
                logger.info("Received SIGTTOU: already down to one worker; keeping it")
                return
            slot = self._slots.pop()
            logger.info("Received SIGTTOU: removing worker %d (now %d)", slot.index, len(self._slots))
            self._release_socket(slot)  # first: the worker's own copy is then the last, drained as it stops
            for process in (slot.current, slot.successor):
                if process is not None:
                    self._retire(process)
            if self._rolling.slot is slot:
                self._rolling.slot = None

    def _advance_rolling(self) -> None:
        rolling = self._rolling
        if not rolling.active or rolling.slot is not None:
            return
        while rolling.slot is None and rolling.pending:
            index = rolling.pending.popleft()
            if index < len(self._slots) and self._slots[index].current is not None:
                rolling.slot = self._slots[index]
                rolling.slot.replace = True
        if rolling.slot is None:
            rolling.active = False
            logger.info("Rolling restart (SIGHUP) done")

    # -- stopping ------------------------------------------------------------------------------------------
    def _release_socket(self, slot: _Slot) -> None:
        """Close a slot's port socket; the shared uds/fd socket stays open until the supervisor stops."""
        if slot.sock is not None and slot.sock is not self._shared:
            slot.sock.close()
        slot.sock = None

    def _stop_all(self) -> None:
        for slot in self._slots:
            self._release_socket(
                slot
            )  # the workers' copies are the last ones: each drains its queue as it stops
        for process in self._processes():
            if not process.stopping:
                process.stopping = time.monotonic()
                self._kill(process, signal.SIGTERM)
        deadline = time.monotonic() + self.config.graceful_timeout + 5.0
        alive = {p.pid for p in self._processes()}
        while alive:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if time.monotonic() > deadline:
                    for process in self._processes():
                        if process.pid in alive:
                            logger.warning(
                                "Worker %d [pid %d] did not stop in time; killing it",
                                process.slot,
                                process.pid,
                            )
                            self._kill(process, signal.SIGKILL)
                    deadline = float("inf")
                time.sleep(_POLL_INTERVAL)
                continue
            alive.discard(pid)
