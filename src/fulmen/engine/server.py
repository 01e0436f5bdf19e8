"""Listen, serve and shut down: the loop, the socket, lifespan, signals and the graceful drain.

``run(app, ...)`` is the blocking entry point (``app.run()`` and the CLI call it); ``Server`` is the
embeddable piece (tests start one on a thread). Shutdown order: stop accepting, close idle keep-alive
connections, let in-flight requests finish within ``graceful_timeout``, cancel what is left, run
``app.shutdown()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Coroutine
from typing import Any, cast

from fulmen.engine import protocol as _protocol
from fulmen.engine.config import Config, ConfigError, web_concurrency
from fulmen.engine.interface import resolve_interface
from fulmen.engine.protocol import App, HttpProtocol, ServerState, limited_protocol, timed_protocol

logger = logging.getLogger("fulmen.error")

#: Exit code of a server whose application failed to start (the supervisor stops instead of restarting).
STARTUP_FAILURE = 3


def compiled() -> bool:
    """True when ``fulmen.engine.protocol`` is the mypyc-compiled build (``FULMEN_COMPILE=1 pip install .``).

    False for the pure-Python package: the default install, and every editable install (docs/engine.md).
    """
    return _protocol.__file__.endswith((".so", ".pyd"))


#: Appended to the start-up line for the compiled engine; nothing for pure Python.
_ENGINE_BUILD = " engine: compiled (mypyc)" if compiled() else ""


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop loop where uvloop exists (not on Windows), else the stdlib loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows or uvloop missing
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """Run ``main`` on a fresh loop, then cancel leftover tasks and close the loop (like ``asyncio.run``)."""
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def configure_logging(config: Config) -> None:
    """Set the "fulmen" loggers' level; add a stderr handler unless logging is already configured.

    With ``log_config`` that file configures logging first (``fulmen.engine.startup_files``), and no
    handler is added.

    With ``access_log_format="json"`` the "fulmen.access" logger gets its own stderr handler writing one JSON
    object per line (unless it has a handler already), even when the rest of logging is configured.
    """
    level = config.log_level_number
    root = logging.getLogger()
    fulmen_logger = logging.getLogger("fulmen")
    if config.log_config is not None:
        from fulmen.engine.startup_files import apply_log_config

        apply_log_config(config.log_config)
    # A log config that sets the "fulmen" logger's level keeps it; otherwise --log-level applies.
    if config.log_config is None or fulmen_logger.level == logging.NOTSET:
        fulmen_logger.setLevel(level)
    if not root.handlers and not fulmen_logger.handlers and config.log_config is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)-9s %(message)s"))
        fulmen_logger.addHandler(handler)
    access = logging.getLogger("fulmen.access")
    if config.access_log_format == "json" and not access.handlers:
        from fulmen.engine.accesslog import JsonAccessFormatter

        json_handler = logging.StreamHandler(sys.stderr)
        json_handler.setFormatter(JsonAccessFormatter())
        access.addHandler(json_handler)
        access.propagate = False  # the line is written once, as JSON, not again by the text handler


class _NeedsPassword(Exception):
    pass


def _no_password() -> str:
    """The password callback when none was given: OpenSSL would otherwise prompt on the terminal."""
    raise _NeedsPassword


def _read_pem(path: str, flag: str, marker: bytes, what: str) -> None:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        raise ConfigError(f"{flag}: can't read {path!r}: {exc.strerror or exc}") from None
    if marker not in data:
        raise ConfigError(f"{flag}: {path!r} holds no PEM {what}")


def create_ssl_context(config: Config) -> ssl.SSLContext | None:
    """The server's TLS context from the ``ssl_*`` settings, or None without ``ssl_certfile``.

    TLS 1.2 or later, ALPN "http/1.1". A file that is missing or unreadable, a wrong password or a key that
    doesn't match the certificate raise ``ConfigError`` naming the option, before anything listens.
    """
    certfile = config.ssl_certfile
    if not certfile:
        return None
    keyfile = config.ssl_keyfile
    _read_pem(certfile, "--ssl-certfile", b"-----BEGIN CERTIFICATE-----", "certificate")
    if keyfile:
        _read_pem(keyfile, "--ssl-keyfile", b"PRIVATE KEY-----", "private key")
    key_flag = "--ssl-keyfile" if keyfile else "--ssl-certfile"
    password = config.ssl_keyfile_password
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certfile, keyfile, password if password is not None else _no_password)
    except _NeedsPassword:
        raise ConfigError(
            f"{key_flag}: the private key is encrypted; give its password with --ssl-keyfile-password"
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(
                f"{key_flag}: the private key does not match the certificate in --ssl-certfile"
            ) from None
        if password is not None:
            raise ConfigError(
                f"--ssl-keyfile-password: can't decrypt the private key in {key_flag} (wrong password?)"
            ) from None
        raise ConfigError(f"{key_flag}: can't load the private key: {exc}") from None
    cert_reqs = int(config.ssl_cert_reqs)
    if config.ssl_ca_certs:
        _read_pem(config.ssl_ca_certs, "--ssl-ca-certs", b"-----BEGIN CERTIFICATE-----", "certificate")
        try:
            context.load_verify_locations(config.ssl_ca_certs)
        except ssl.SSLError as exc:
            raise ConfigError(f"--ssl-ca-certs: can't load the CA certificates: {exc}") from None
    elif cert_reqs != ssl.CERT_NONE:
        raise ConfigError(
            "--ssl-cert-reqs optional/required needs --ssl-ca-certs (the CA that signs client certificates)"
        )
    context.verify_mode = ssl.VerifyMode(cert_reqs)
    if config.ssl_ciphers:
        try:
            context.set_ciphers(config.ssl_ciphers)
        except ssl.SSLError:
            raise ConfigError(f"--ssl-ciphers: no cipher matches {config.ssl_ciphers!r}") from None
    context.set_alpn_protocols(["http/1.1"])
    return context


def create_socket(config: Config, *, reuse_port: bool | None = None) -> socket.socket:
    """A bound, listening, non-blocking socket: ``config.uds``, ``config.fd``, else host/port (TCP)."""
    if config.uds is not None or config.fd is not None:
        from fulmen.engine.listen import bind_unix, inherited_socket

        return (
            inherited_socket(config.fd)
            if config.fd is not None
            else bind_unix(config.uds or "", config.backlog)
        )
    if reuse_port is None:
        reuse_port = config.reuse_port or config.workers > 1
    infos = socket.getaddrinfo(
        config.host or None, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, socktype, proto, _, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            if not hasattr(socket, "SO_REUSEPORT"):
                raise RuntimeError("SO_REUSEPORT is not available on this platform; use workers=1")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.listen(config.backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def served_app(
    app: Any, interface: str = "auto", *, threads: int | None = None, multiprocess: bool = False
) -> App:
    """What the connections call, decided once at start-up: the app itself, or an adapter around it.

    ``interface`` as ``Config.interface`` (see ``fulmen.engine.interface``). A fulmen app's middleware stack
    is built here; if it contains an ASGI-only middleware (or ``interface`` is "asgi"), the engine serves the
    app through ``ASGIAdapter`` (its ASGI stack), otherwise it calls ``app.handle`` with no translation. Any
    other ASGI 3 app goes through ``ASGIAdapter``, a WSGI app through ``WSGIAdapter`` (``threads`` workers,
    ``Config.threads``; the adapter's default when None; ``multiprocess`` is ``wsgi.multiprocess``).
    """
    kind = resolve_interface(app, interface)
    if kind == "wsgi":
        from fulmen.engine.wsgi_adapter import WSGIAdapter

        if threads is None:
            return cast(App, WSGIAdapter(app, multiprocess=multiprocess))
        return cast(App, WSGIAdapter(app, threads=threads, multiprocess=multiprocess))
    # The class's method: a wrapper set on the instance (OpenTelemetry's) runs on the app's first call.
    build = getattr(type(app), "build_middleware_stack", None)
    if build is not None:
        build(app)
    # An instrumented app (fulmen.telemetry) is served through its ASGI entry, where its spans are made.
    if (
        kind == "asgi"
        or getattr(app, "asgi_middleware_installed", False)
        or getattr(app, "telemetry_enabled", False)
    ):
        from fulmen.engine.asgi_adapter import ASGIAdapter

        return ASGIAdapter(app)
    return cast(App, app)


def _warn_route_limits_over_cap(app: Any, cap: int) -> None:
    """Routes whose ``max_body_size`` is over the server's: the server answers 413 before they are reached."""
    from fulmen.limits import limits_over

    over = limits_over(app, cap)
    if over:
        logger.warning(
            "%s: max_body_size is larger than the server's (%d bytes), which is checked first; "
            "raise it with --max-body-size or Config(max_body_size=...)",
            ", ".join(over),
            cap,
        )


def protocol_factory(app: App) -> type[HttpProtocol]:
    """The connection class for the served ``app``: one that streams request bodies if its class asks.

    Decided once per server, so a plain fulmen app's connections run exactly the buffered-body code.
    """
    if getattr(type(app), "streams_request_body", False):
        from fulmen.engine.streamed_body import StreamingBodyProtocol

        return StreamingBodyProtocol
    return HttpProtocol


#: Messages on a worker's channel to its supervisor (fulmen.engine.workers), one byte each.
CHANNEL_READY = b"R"  # worker -> supervisor: listening and serving
CHANNEL_PONG = b"P"  # worker -> supervisor: answers a ping (from the event loop, so a blocked loop can't)
CHANNEL_RETIRE = b"M"  # worker -> supervisor: limit_max_requests reached, please start my replacement
CHANNEL_PING = b"p"  # supervisor -> worker: health check

#: How often a server checks its request count against limit_max_requests (only when the limit is set).
_LIMIT_CHECK_INTERVAL = 0.1


class Server:
    """One engine instance: a listening socket and its connections on the current event loop."""

    def __init__(
        self,
        app: Any,
        config: Config | None = None,
        *,
        parent_pid: int | None = None,
        channel: socket.socket | None = None,
    ) -> None:
        self.app = app
        self.config = config or Config()
        #: "fulmen", "asgi" or "wsgi": checked here so a wrong choice fails before anything starts.
        self.interface = resolve_interface(app, self.config.interface)
        #: Built once per process (each worker builds its own); ConfigError here names a bad ssl_* setting.
        self.ssl_context = create_ssl_context(self.config)
        self.state: ServerState | None = None
        self.sockets: list[socket.socket] = []
        self.started = threading.Event()
        self._parent_pid = parent_pid
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit: asyncio.Event | None = None
        self._force_exit = False
        self._exit_requested = False
        self._tick_handle: asyncio.TimerHandle | None = None
        #: The worker's end of its supervisor channel (None when no supervisor runs this server).
        self._channel = channel
        #: Requests after which this server retires: the limit plus this process's own jitter (None: never).
        #: secrets, not random: forked workers share the parent's random state and would draw the same jitter.
        limit = self.config.limit_max_requests
        self.max_requests = (
            None if limit is None else limit + secrets.randbelow(self.config.limit_max_requests_jitter + 1)
        )
        self._limit_handle: asyncio.TimerHandle | None = None
        self._factory: Any = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        return int(self.sockets[0].getsockname()[1])

    def request_exit(self, force: bool = False) -> None:
        """Begin graceful shutdown (thread-safe); ``force`` skips the grace period."""
        self._exit_requested = True
        if force:
            self._force_exit = True
        loop, event = self._loop, self._exit
        if loop is not None and event is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def _handle_signal(self, sig: int) -> None:
        if sig == signal.SIGINT and self._exit_requested:
            logger.info("Second interrupt: closing connections now")
            self.request_exit(force=True)
            return
        if not self._exit_requested:
            logger.info("Received %s: shutting down gracefully", signal.Signals(sig).name)
        self.request_exit()

    def _tick(self) -> None:
        state = self.state
        loop = self._loop
        if state is None or loop is None:
            return
        state.refresh_date()
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            logger.warning("Supervisor process is gone; shutting down")
            self.request_exit()
        self._tick_handle = loop.call_later(1.0, self._tick)

    def _check_request_limit(self) -> None:
        """Retire once ``max_requests`` responses went out: ask the supervisor for a replacement, or exit.

        A timer, not a per-request check: the protocol already counts responses, so the hot path pays nothing
        (the server may answer a few requests past the limit, as uvicorn's 0.1 s tick does).
        """
        state, loop, limit = self.state, self._loop, self.max_requests
        if state is None or loop is None or limit is None or self._exit_requested:
            return
        if state.total_requests < limit:
            self._limit_handle = loop.call_later(_LIMIT_CHECK_INTERVAL, self._check_request_limit)
            return
        self._limit_handle = None
        if self._channel is not None:
            logger.info(
                "Worker [pid %d] reached its limit of %d requests; the supervisor replaces it",
                os.getpid(),
                limit,
            )
            self._send_to_supervisor(CHANNEL_RETIRE)  # it keeps serving until its replacement is ready
        else:
            logger.info("Maximum request limit of %d reached; shutting down", limit)
            self.request_exit()

    def _send_to_supervisor(self, message: bytes) -> None:
        channel = self._channel
        if channel is not None:
            with contextlib.suppress(OSError):  # the supervisor is gone: _on_channel sees the EOF
                channel.send(message)

    def _on_channel(self) -> None:
        """A message from the supervisor: answer a ping, or shut down when the supervisor is gone (EOF)."""
        channel, loop = self._channel, self._loop
        if channel is None or loop is None:
            return
        try:
            data = channel.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(channel.fileno())
            if not self._exit_requested:
                logger.warning("Supervisor process is gone; shutting down")
                self.request_exit()
            return
        if CHANNEL_PING in data:
            self._send_to_supervisor(CHANNEL_PONG)

    async def serve(self, sock: socket.socket | None = None, *, install_signals: bool | None = None) -> bool:
        """Start, serve until asked to stop, shut down. False if the application failed to start."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._exit = asyncio.Event()
        if self._exit_requested:
            self._exit.set()
        config = self.config
        try:
            served = served_app(
                self.app, self.interface, threads=config.threads, multiprocess=config.workers > 1
            )
            state = self.state = ServerState(served, config, loop)
            await served.startup()
        except Exception:
            logger.exception("Application startup failed")
            self.started.set()
            return False
        _warn_route_limits_over_cap(self.app, config.max_body_size)
        if install_signals is None:
            install_signals = threading.current_thread() is threading.main_thread()
        owns_socket = sock is None
        if sock is None:
            sock = create_socket(config)
        self.sockets = [sock]
        if config.uds is not None:
            state.unix_path = config.uds
        protocol = protocol_factory(state.app)
        if config.limit_concurrency is not None:
            protocol = limited_protocol(protocol)  # counts connections and running requests against the limit
        if state.access_log:
            protocol = timed_protocol(protocol)  # notes each request's start for the log's duration_ms
        self._factory = factory = lambda: protocol(state)
        # The compiled build's lane (fulmen.engine.lane) answers the simplest requests in C; None elsewhere.
        from fulmen.engine.lane import lane_factory

        lane = lane_factory(state, protocol)
        if lane is not None:
            self._factory = factory = lane
        build = _ENGINE_BUILD + (", lane" if lane is not None else "")
        # The loop gets a duplicate: closing it stops accepting, while our socket still holds the connections
        # the kernel queued for this process (_adopt_queued takes them before the socket closes).
        server = await loop.create_server(
            factory, sock=sock.dup(), backlog=config.backlog, ssl=self.ssl_context
        )
        self._tick_handle = loop.call_later(1.0, self._tick)
        signals_installed = install_signals and self._install_signals(loop)
        from fulmen.engine.listen import describe, remove_unix_socket

        logger.info(
            "Fulmen running on %s (press CTRL+C to quit) [pid %d]%s",
            describe(config, sock),
            os.getpid(),
            build,
        )
        self.started.set()
        channel = self._channel
        if channel is not None:
            channel.setblocking(False)
            loop.add_reader(channel.fileno(), self._on_channel)
            self._send_to_supervisor(CHANNEL_READY)
        if self.max_requests is not None:
            if channel is not None:
                logger.info("Worker [pid %d] is replaced after %d requests", os.getpid(), self.max_requests)
            self._limit_handle = loop.call_later(_LIMIT_CHECK_INTERVAL, self._check_request_limit)
        try:
            await self._exit.wait()
        finally:
            if self._limit_handle is not None:
                self._limit_handle.cancel()
            await self._shutdown(server, state)
            if owns_socket:
                remove_unix_socket(sock)  # a Unix socket file this server created (no-op otherwise)
            if signals_installed:
                self._remove_signals(loop)
            if self._tick_handle is not None:
                self._tick_handle.cancel()
            if channel is not None:
                with contextlib.suppress(OSError, ValueError):
                    loop.remove_reader(channel.fileno())
        return True

    async def _adopt_queued(self) -> None:
        """Accept the connections the kernel queued on our listening socket(s), then close them.

        Closing a listening socket resets the connections in its accept queue. With SO_REUSEPORT the other
        workers keep the port, but the connections hashed to this one would fail during a restart; served
        here, they get their response (with ``connection: close``) instead.
        """
        accepted: list[socket.socket] = []
        for sock in self.sockets:
            # PERF: no await between accepts and the close: the window in which the kernel can still queue a
            # connection here is the few microseconds of the last accept (net.ipv4.tcp_migrate_req closes it).
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = sock.accept()
                    accepted.append(conn)
            with contextlib.suppress(OSError):
                sock.close()
        if not accepted:
            return
        loop = asyncio.get_running_loop()
        adopting = []
        for conn in accepted:
            conn.setblocking(False)
            adopting.append(
                asyncio.ensure_future(loop.connect_accepted_socket(self._factory, conn, ssl=self.ssl_context))
            )
        # Plain TCP connections are adopted at once; a TLS handshake gets a second before shutdown goes on.
        _, late = await asyncio.wait(adopting, timeout=1.0)
        for task in adopting:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.debug("Could not adopt a queued connection: %s", task.exception())
        for task in late:
            task.cancel()

    async def _shutdown(self, server: asyncio.AbstractServer, state: ServerState) -> None:
        server.close()  # stop accepting
        # uvloop calls connection_made of the connections it accepted last from the ready queue: let those run
        # before the shutdown flag is set (they would be answered 503 otherwise).
        await asyncio.sleep(0)
        await self._adopt_queued()
        state.shutting_down = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.graceful_timeout
        for conn in list(state.connections):
            conn.shutdown()  # idle ones close now; busy ones close after their last response
        while state.connections and loop.time() < deadline and not self._force_exit:
            await asyncio.sleep(0.02)
        if state.connections:
            logger.warning("Grace period over: dropping %d connection(s)", len(state.connections))
            for conn in list(state.connections):
                conn.abort()
        pending = [t for t in state.background_tasks if not t.done()]
        if pending and not self._force_exit:
            _, pending_set = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
            pending = list(pending_set)
        for task in pending:
            task.cancel()
        await asyncio.sleep(0)  # let aborted transports call connection_lost
        try:
            await state.app.shutdown()
        except Exception:
            logger.exception("Application shutdown failed")
        logger.info("Server stopped")

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> bool:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._handle_signal, sig)
        except NotImplementedError:  # pragma: no cover - Windows
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda s, _f: loop.call_soon_threadsafe(self._handle_signal, s))
        return True

    def _remove_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except NotImplementedError:  # pragma: no cover - Windows
                signal.signal(sig, signal.SIG_DFL)


def serve(
    app: Any,
    config: Config,
    *,
    sock: socket.socket | None = None,
    parent_pid: int | None = None,
    channel: socket.socket | None = None,
) -> None:
    """Serve ``app`` in this process until SIGTERM/SIGINT; exits with status 3 if startup fails.

    ``channel`` is a worker's end of its supervisor's socket pair (fulmen.engine.workers).
    """
    server = Server(app, config, parent_pid=parent_pid, channel=channel)
    if not run_loop(server.serve(sock)):
        raise SystemExit(STARTUP_FAILURE)


def run(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int | None = None,
    **settings: Any,
) -> None:
    """Serve ``app`` (blocking): one process, or a supervisor with ``workers`` processes sharing the port.

    ``workers`` None: ``$WEB_CONCURRENCY``, else 1 (as uvicorn).
    """
    if workers is None:
        workers = web_concurrency()
    config = Config.from_options(host=host, port=port, workers=workers, **settings)
    if config.env_file is not None:
        from fulmen.engine.startup_files import load_env_file

        load_env_file(config.env_file)
    configure_logging(config)
    resolve_interface(app, config.interface)  # a wrong interface fails here, not in every worker
    create_ssl_context(config)  # likewise a bad ssl_* setting (each worker then builds its own context)
    if config.workers > 1 or (config.supervised and hasattr(os, "fork") and hasattr(socket, "SO_REUSEPORT")):
        # Also for one worker with limit_max_requests: its replacement starts before it stops, so the port
        # keeps answering (uvicorn's single process exits instead; without fork() this one does too).
        from fulmen.engine.workers import Supervisor

        code = Supervisor(app, config).run()
        if code:
            raise SystemExit(code)
        return
    serve(app, config)
