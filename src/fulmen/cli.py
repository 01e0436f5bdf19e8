"""The ``fulmen`` command: ``fulmen run module:app [--host] [--port] [--workers N] [--interface] ...``, and
FastAPI CLI's forms: ``fulmen dev [main.py]`` (reload, localhost) and ``fulmen run [main.py]``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from fulmen.cli_discovery import DiscoveryError, is_import_string, resolve_target
from fulmen.engine.config import Config, ConfigError, web_concurrency

logger = logging.getLogger("fulmen.error")


class AppLoadError(Exception):
    """The ``module:attribute`` given on the command line does not name an application the engine serves."""


def load_app(target: str, *, factory: bool = False, app_dir: str = ".", interface: str = "auto") -> Any:
    """Import ``module:attribute`` (attribute may be dotted); call it first when ``factory`` is set.

    The object must fit ``interface`` (fulmen, asgi, wsgi, or auto-detected: ``resolve_interface``).
    """
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise AppLoadError(f"expected the app as 'module:attribute' (for example main:app), got {target!r}")
    if app_dir:
        path = os.path.abspath(app_dir)
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            raise  # the module exists but something it imports does not: show the real traceback
        raise AppLoadError(f"could not import module {module_name!r} (searched from {os.getcwd()})") from None
    obj: Any = module
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AppLoadError(f"module {module_name!r} has no attribute {attr_path!r}") from None
    if factory:
        if not callable(obj):
            raise AppLoadError(f"--factory was given but {target!r} is not callable")
        obj = obj()
    from fulmen.engine.interface import InterfaceError, resolve_interface

    try:
        resolve_interface(obj, interface)
    except InterfaceError as exc:
        zero_args = callable(obj) and not factory and _takes_no_arguments(obj)
        hint = " (did you mean --factory?)" if zero_args else ""
        raise AppLoadError(f"{target!r}: {exc}{hint}") from None
    return obj


def _takes_no_arguments(obj: Any) -> bool:
    import inspect

    try:
        return not inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for ``fulmen``."""
    parser = argparse.ArgumentParser(
        prog="fulmen", description="fulmen: serve a fulmen, ASGI or WSGI application."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="serve an app: `fulmen run main:app` (as uvicorn) or `fulmen run [main.py]` (as fastapi run)",
    )
    _add_options(run, dev=False)
    dev = commands.add_parser(
        "dev", help="serve for development, as `fastapi dev`: reload on, 127.0.0.1, e.g. `fulmen dev main.py`"
    )
    _add_options(dev, dev=True)
    return parser


def _add_options(run: argparse.ArgumentParser, *, dev: bool) -> None:
    defaults = Config()
    run.add_argument(
        "app",
        nargs="?",
        default=None,
        help="module:attribute (main:app), or a Python file or package path (main.py, app/); when left out, "
        "pyproject.toml's [tool.fulmen] or [tool.fastapi] entrypoint, else main.py, app.py, api.py, "
        "app/main.py, app/app.py or app/api.py",
    )
    run.add_argument(
        "--app", dest="app_name", default=None, help="the app's attribute name in a path's module"
    )
    run.add_argument("--entrypoint", default=None, help="the app as module:attribute (FastAPI CLI's option)")
    run.add_argument(
        "--host",
        default=None,
        help="interface to bind (default 127.0.0.1; `fulmen run` with a path or no app, as `fastapi run`: "
        "0.0.0.0)"
        if not dev
        else "interface to bind (default 127.0.0.1)",
    )
    run.add_argument("--port", type=int, default=None, help=f"port to bind (default {defaults.port})")
    run.add_argument(
        "--workers", type=int, default=None, help="worker processes (default $WEB_CONCURRENCY, else 1)"
    )
    run.add_argument(
        "--reload",
        action=argparse.BooleanOptionalAction,
        default=dev,
        help="restart when a .py file changes (default %(default)s)",
    )
    run.add_argument(
        "--reload-dir",
        action="append",
        dest="reload_dirs",
        default=None,
        help="a directory to watch instead of the cwd (repeatable)",
    )
    run.add_argument("--factory", action="store_true", help="treat module:attribute as an app factory")
    run.add_argument("--app-dir", default=".", help="directory added to sys.path first (default: cwd)")
    run.add_argument(
        "--interface",
        default=defaults.interface,
        choices=["auto", "fulmen", "asgi", "wsgi"],
        help="how to call the app: a fulmen app, ASGI 3, WSGI, or auto-detect (default %(default)s)",
    )
    run.add_argument(
        "--threads", type=int, default=defaults.threads, help="WSGI worker threads per process (%(default)s)"
    )
    run.add_argument(
        "--log-level",
        default=defaults.log_level,
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="log level (default %(default)s)",
    )
    run.add_argument("--no-access-log", action="store_true", help="turn off the per-request access log")
    run.add_argument("--root-path", default="", help="root path of the app behind a proxy prefix")
    run.add_argument("--backlog", type=int, default=defaults.backlog, help="listen backlog (%(default)s)")
    run.add_argument(
        "--max-connections", type=int, default=defaults.max_connections, help="per worker (%(default)s)"
    )
    run.add_argument(
        "--keep-alive-timeout",
        "--timeout-keep-alive",  # uvicorn's spelling
        type=float,
        default=defaults.keep_alive_timeout,
        help="seconds (%(default)s)",
    )
    run.add_argument(
        "--graceful-timeout",
        "--timeout-graceful-shutdown",  # uvicorn's spelling
        type=float,
        default=defaults.graceful_timeout,
        help="seconds (%(default)s)",
    )
    run.add_argument("--max-body-size", type=int, default=defaults.max_body_size, help="bytes (%(default)s)")
    ws = run.add_argument_group("WebSockets (uvicorn's names)")
    ws.add_argument("--ws-max-size", type=int, default=defaults.ws_max_size, help="bytes (%(default)s)")
    ws.add_argument("--ws-max-queue", type=int, default=defaults.ws_max_queue, help="messages (%(default)s)")
    ws.add_argument(
        "--ws-ping-interval", type=_optional_seconds, default=defaults.ws_ping_interval, help="0 = off"
    )
    ws.add_argument(
        "--ws-ping-timeout", type=_optional_seconds, default=defaults.ws_ping_timeout, help="0 = off"
    )
    ws.add_argument(
        "--ws-per-message-deflate",
        type=_boolean,
        default=defaults.ws_per_message_deflate,
        help="true/false (%(default)s)",
    )
    _add_supervisor_options(run, defaults)
    tls = run.add_argument_group("TLS (uvicorn's names)")
    tls.add_argument("--ssl-keyfile", default=None, help="PEM private key file")
    tls.add_argument("--ssl-certfile", default=None, help="PEM certificate (chain) file; turns TLS on")
    tls.add_argument("--ssl-keyfile-password", default=None, help="password of an encrypted key file")
    tls.add_argument("--ssl-ca-certs", default=None, help="CA certificates (PEM) for client certificates")
    tls.add_argument(
        "--ssl-cert-reqs",
        default="none",
        help="client certificates: none (0), optional (1) or required (2); default none",
    )
    tls.add_argument("--ssl-ciphers", default=None, help="OpenSSL cipher list (default: Python's)")
    proxy = run.add_argument_group("proxy headers and logging")
    proxy.add_argument(
        "--proxy-headers",
        action=argparse.BooleanOptionalAction,
        default=defaults.proxy_headers,
        help="use X-Forwarded-For/Proto/Host and Forwarded from trusted proxies (default on)",
    )
    proxy.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="trusted proxies: comma list of IPs, CIDR networks or '*' "
        "(default $FORWARDED_ALLOW_IPS or 127.0.0.1)",
    )
    proxy.add_argument(
        "--access-log-format",
        default=defaults.access_log_format,
        choices=["text", "json"],
        help="access log lines as text or one JSON object per line (default %(default)s)",
    )
    _add_deployment_options(run.add_argument_group("deployment (uvicorn's names)"))


def _add_deployment_options(group: argparse._ArgumentGroup) -> None:
    """``--uds``, ``--fd``, ``--env-file``, ``--log-config``, ``--limit-concurrency``, the header options."""
    group.add_argument("--uds", default=None, help="listen on this Unix domain socket instead of host:port")
    group.add_argument(
        "--fd", type=int, default=None, help="serve on this inherited, listening socket file descriptor"
    )
    group.add_argument(
        "--env-file", default=None, help="load environment variables from this .env file (python-dotenv)"
    )
    group.add_argument(
        "--log-config",
        default=None,
        help="logging configuration file: .json/.yaml/.yml (dictConfig) or other (fileConfig)",
    )
    group.add_argument(
        "--limit-concurrency",
        type=int,
        default=None,
        help="connections + running requests per worker beyond which a request gets 503 (default none)",
    )
    group.add_argument(
        "--header",
        action="append",
        dest="headers",
        default=None,
        metavar="NAME:VALUE",
        help="a header for every response (repeatable)",
    )
    group.add_argument(
        "--server-header",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="send 'server: fulmen' (default off)",
    )
    group.add_argument(
        "--date-header",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send the 'date' header (default on)",
    )


def _add_supervisor_options(run: argparse.ArgumentParser, defaults: Config) -> None:
    group = run.add_argument_group(
        "workers and their supervisor (uvicorn's names; see docs/engine.md, Workers)"
    )
    group.add_argument(
        "--limit-max-requests",
        type=int,
        default=None,
        metavar="N",
        help="replace a worker after N requests (a fresh one starts first; with --workers 1 too)",
    )
    group.add_argument(
        "--limit-max-requests-jitter",
        type=int,
        default=0,
        metavar="J",
        help="add a random 0..J to each worker's limit so they don't all restart at once (default 0)",
    )
    group.add_argument(
        "--timeout-worker-healthcheck",
        type=_optional_seconds,
        default=defaults.timeout_worker_healthcheck,
        metavar="S",
        help="kill and replace a worker whose event loop doesn't answer the supervisor's ping within S "
        "seconds; 0 = off (default %(default)s)",
    )


def _optional_seconds(text: str) -> float | None:
    value = float(text)
    return None if value == 0 else value


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _default_workers(args: argparse.Namespace) -> int:
    """``$WEB_CONCURRENCY`` (as uvicorn), except for a reloading server, which runs one (as uvicorn's)."""
    return 1 if args.reload else web_concurrency()


def _config_from_args(args: argparse.Namespace) -> Config:
    return Config(
        host=args.host,
        port=Config.port if args.port is None else args.port,
        workers=_default_workers(args) if args.workers is None else args.workers,
        limit_max_requests=args.limit_max_requests,
        limit_max_requests_jitter=args.limit_max_requests_jitter,
        timeout_worker_healthcheck=args.timeout_worker_healthcheck,
        log_level=args.log_level,
        access_log=not args.no_access_log,
        root_path=args.root_path,
        interface=args.interface,
        threads=args.threads,
        backlog=args.backlog,
        max_connections=args.max_connections,
        keep_alive_timeout=args.keep_alive_timeout,
        graceful_timeout=args.graceful_timeout,
        max_body_size=args.max_body_size,
        ws_max_size=args.ws_max_size,
        ws_max_queue=args.ws_max_queue,
        ws_ping_interval=args.ws_ping_interval,
        ws_ping_timeout=args.ws_ping_timeout,
        ws_per_message_deflate=args.ws_per_message_deflate,
        ssl_keyfile=args.ssl_keyfile,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile_password=args.ssl_keyfile_password,
        ssl_ca_certs=args.ssl_ca_certs,
        ssl_cert_reqs=args.ssl_cert_reqs,
        ssl_ciphers=args.ssl_ciphers,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        access_log_format=args.access_log_format,
        uds=args.uds,
        fd=args.fd,
        env_file=args.env_file,
        log_config=args.log_config,
        limit_concurrency=args.limit_concurrency,
        headers=args.headers or (),
        server_header=args.server_header,
        date_header=args.date_header,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fulmen`` console script and ``python -m fulmen``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    dev = args.command == "dev"
    if dev:
        os.environ.setdefault("FASTAPI_ENV", "development")  # as `fastapi dev` (frontend checks read it)
    if args.uds is not None or args.fd is not None:
        given = [flag for flag, value in (("--host", args.host), ("--port", args.port)) if value is not None]
        if given or (args.uds is not None and args.fd is not None):
            given += ["--uds"] if args.uds is not None else []
            given += ["--fd"] if args.fd is not None else []
            parser.error(
                f"{' and '.join(given)} can't be combined: --uds, --fd and --host/--port are exclusive"
            )
    if args.host is None:
        # `fulmen run main:app` binds localhost as uvicorn does; `fulmen run [main.py]` all interfaces, as
        # `fastapi run` (a container's CMD); `fulmen dev` localhost.
        uvicorn_form = args.app is not None and is_import_string(args.app)
        args.host = "127.0.0.1" if dev or uvicorn_form else "0.0.0.0"
    try:
        if args.env_file is not None:
            # Before anything else reads the environment (WEB_CONCURRENCY, the app's import), as uvicorn.
            from fulmen.engine.startup_files import load_env_file

            load_env_file(args.env_file)
        config = _config_from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
    from fulmen.engine.server import configure_logging

    try:
        configure_logging(config)  # --log-config: before anything is logged, inherited by every worker
    except ConfigError as exc:
        parser.error(str(exc))
    if args.reload:
        if config.workers > 1:
            parser.error("--reload and --workers > 1 cannot be combined")
        child_argv = [a for a in argv if a not in ("--reload", "--no-reload")] + ["--no-reload"]
        return run_with_reload(child_argv, config, args.reload_dirs or [os.getcwd()])
    try:
        if args.app is not None and args.entrypoint is None and is_import_string(args.app):
            target, app_dir = args.app, args.app_dir
        else:
            found = resolve_target(args.app, app_name=args.app_name, entrypoint=args.entrypoint)
            target, app_dir = found.import_string, found.app_dir
            logger.info("Serving %s (from %s, imported from %s)", target, found.source, app_dir)
        app = load_app(target, factory=args.factory, app_dir=app_dir, interface=config.interface)
    except (AppLoadError, DiscoveryError) as exc:
        print(f"fulmen: error: {exc}", file=sys.stderr)
        return 1
    from fulmen.engine.server import run

    try:
        settings = {f: getattr(config, f) for f in config.__dataclass_fields__}
        settings["env_file"] = None  # loaded above, before the app was imported
        run(app, **settings)
    except ConfigError as exc:  # found at start-up: an ssl_* file that can't be used
        print(f"fulmen: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the address can't be bound (in use, privileged port): nothing was started
        where = f"{config.host}:{config.port}"
        print(f"fulmen: error: can't listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


# -- --reload ------------------------------------------------------------------------------------------------
_SKIP_DIRS = {"__pycache__", "node_modules", "venv", "site-packages"}


def _python_mtimes(root: str) -> dict[str, float]:
    mtimes: dict[str, float] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS]
        for name in filenames:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                try:
                    mtimes[path] = os.stat(path).st_mtime
                except OSError:
                    pass
    return mtimes


def _all_mtimes(roots: Sequence[str]) -> dict[str, float]:
    mtimes: dict[str, float] = {}
    for root in roots:
        mtimes.update(_python_mtimes(root))
    return mtimes


def _poll_changes(roots: Sequence[str], stop: threading.Event) -> Iterator[set[str]]:
    """Fallback watcher: compare .py mtimes every 0.5 s."""
    before = _all_mtimes(roots)
    while not stop.wait(0.5):
        after = _all_mtimes(roots)
        if after != before:
            changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
            before = after
            yield changed


def _watch_changes(roots: Sequence[str], stop: threading.Event) -> Iterator[set[str]]:
    try:
        import watchfiles
    except ImportError:
        yield from _poll_changes(roots, stop)
        return
    for changes in watchfiles.watch(
        *roots, watch_filter=watchfiles.PythonFilter(), stop_event=stop, raise_interrupt=False
    ):
        yield {path for _, path in changes}


def run_with_reload(child_argv: list[str], config: Config, roots: Sequence[str] = (".",)) -> int:
    """Run the server in a child process and restart it whenever a .py file under ``roots`` changes."""
    stop = threading.Event()

    def on_signal(_sig: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    command = [sys.executable, "-m", "fulmen", *child_argv]
    roots = [os.path.abspath(root) for root in roots]
    cwd = os.getcwd()

    def start() -> subprocess.Popen[bytes]:
        # --fd: each new server process inherits the listening socket (Popen closes other descriptors).
        return subprocess.Popen(command, pass_fds=() if config.fd is None else (config.fd,))

    def halt(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(config.graceful_timeout + 5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    logger.info("Reloader [pid %d] watching %s for .py changes", os.getpid(), ", ".join(roots))
    child = start()
    try:
        for changed in _watch_changes(roots, stop):
            if stop.is_set():
                break
            shown = ", ".join(sorted(os.path.relpath(p, cwd) for p in changed)[:3])
            logger.warning("Detected change in %s; reloading", shown)
            halt(child)
            time.sleep(0.05)
            child = start()
    finally:
        halt(child)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
