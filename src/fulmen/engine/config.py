"""Engine settings: where to listen, how many workers, and every limit with its default.

One frozen-by-convention dataclass read once at start-up; the protocol copies the values it needs into
attributes so the hot path never looks them up here (DESIGN.md §3.1).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_LOG_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}


_CERT_REQS = {"none": 0, "optional": 1, "required": 2, "0": 0, "1": 1, "2": 2}


class ConfigError(ValueError):
    """A setting has a value the engine cannot use."""


#: uvicorn's keyword spellings accepted by ``Config.from_options`` (``app.run(timeout_keep_alive=5)``).
ALIASES = {"timeout_keep_alive": "keep_alive_timeout", "timeout_graceful_shutdown": "graceful_timeout"}

# RFC 9110 5.1 field-name (token) and 5.5 field-value (visible characters, spaces and tabs inside).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*|")


def parse_header(header: str | tuple[str, str]) -> tuple[str, str]:
    """One ``headers`` entry as (name, value): a ``"Name: value"`` string (``--header``) or a pair.

    Raises ``ConfigError`` naming ``--header`` for a name that isn't a token or a value with CR, LF or other
    control characters (they would split the response head).
    """
    if isinstance(header, str):
        name, sep, value = header.partition(":")
        if not sep:
            raise ConfigError(f"--header: expected NAME:VALUE, got {header!r}")
    else:
        name, value = header
    name, value = name.strip(), value.strip()
    if not _TOKEN.fullmatch(name):
        raise ConfigError(f"--header: {name!r} is not a valid header name")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ConfigError(f"--header: the value of {name!r} is not latin-1 text") from None
    if not _FIELD_VALUE.fullmatch(value):
        raise ConfigError(f"--header: the value of {name!r} holds a control character (CR, LF, ...)")
    return name, value


def web_concurrency(default: int = 1) -> int:
    """``$WEB_CONCURRENCY`` as a number of workers (uvicorn's default for ``--workers``), else ``default``."""
    text = os.environ.get("WEB_CONCURRENCY", "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"WEB_CONCURRENCY must be a whole number of workers, got {text!r}") from None
    if value < 1:
        raise ConfigError(f"WEB_CONCURRENCY must be at least 1, got {value}")
    return value


@dataclass
class Config:
    """All engine settings; see docs/engine.md for the table of defaults and what each limit answers."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: Worker processes; more than one starts a supervisor that forks them onto one port (SO_REUSEPORT).
    workers: int = 1
    #: ``listen()`` backlog: connections the kernel queues before the server accepts them.
    backlog: int = 2048
    #: Set SO_REUSEPORT on the listening socket (always on when ``workers > 1``).
    reuse_port: bool = False
    log_level: str = "info"
    #: One "fulmen.access" log line per request; when off, the hot path skips the logging call entirely.
    access_log: bool = True
    #: Access log lines as "text" (uvicorn-like) or "json" (one object per line; see docs/engine.md, Logging).
    access_log_format: str = "text"
    #: ASGI-style root path handed to every request (an app mounted under a proxy prefix).
    root_path: str = ""
    #: How the engine calls the app: "fulmen", "asgi" (ASGI 3), "wsgi" (PEP 3333), or "auto" to detect it.
    interface: str = "auto"
    #: Worker threads per process running a WSGI app (``interface`` "wsgi"); other apps don't use it.
    threads: int = 10

    # -- limits ---------------------------------------------------------------------------------------------
    #: Longest request target (URL) accepted; longer gets 414.
    max_url_length: int = 8192
    #: Total bytes of header names and values in one request; more gets 431.
    max_header_bytes: int = 65536
    #: Number of header lines in one request; more gets 431.
    max_header_count: int = 100
    #: Largest request body (Content-Length up front, or chunked as it streams); larger gets 413.
    max_body_size: int = 16 * 1024 * 1024
    #: Seconds from a request's first byte until its headers are complete; slower gets 408 and a close.
    headers_timeout: float = 10.0
    #: Seconds an idle keep-alive (or freshly opened) connection may wait for a request; then closed silently.
    keep_alive_timeout: float = 5.0
    #: Seconds a request body may go without new bytes; then 408 and a close.
    body_timeout: float = 30.0
    #: Open connections per worker; a connection beyond this gets 503 and is closed at once.
    max_connections: int = 10000
    #: Requests per connection parsed ahead of their responses (pipelining); reading pauses beyond it.
    max_pipelined_requests: int = 32
    #: Seconds in-flight requests get to finish after SIGTERM/SIGINT before they are cancelled.
    graceful_timeout: float = 30.0

    # -- the supervisor and its workers (uvicorn's names; fulmen.engine.workers) ---------------------------
    #: A worker is replaced after this many requests (None: never); set with ``workers == 1`` it starts a
    #: supervisor too, so the port keeps answering while the worker is replaced.
    limit_max_requests: int | None = None
    #: Each worker's limit is ``limit_max_requests`` plus a random 0..this, so workers don't retire together.
    limit_max_requests_jitter: int = 0
    #: Seconds a worker's event loop may take to answer the supervisor's ping before it is killed and
    #: replaced (None: no health check). Only under a supervisor (``workers > 1`` or ``limit_max_requests``).
    timeout_worker_healthcheck: float | None = 30.0

    # -- WebSockets (fulmen.engine.websocket; defaults as uvicorn's) ----------------------------------------
    #: Largest incoming WebSocket message in bytes (all fragments together); larger closes with 1009.
    ws_max_size: int = 16 * 1024 * 1024
    #: Received messages buffered for an endpoint that isn't reading; beyond it the socket stops reading.
    ws_max_queue: int = 32
    #: Seconds between keepalive pings on an idle-or-not WebSocket; None or 0 sends none.
    ws_ping_interval: float | None = 20.0
    #: Seconds to wait for the pong; without it the connection closes with 1011. None waits forever.
    ws_ping_timeout: float | None = 20.0
    #: Seconds to wait for the client's close frame (and TCP close) after the server sent its own.
    ws_close_timeout: float = 10.0
    #: Negotiate permessage-deflate compression (RFC 7692) when the client offers it.
    ws_per_message_deflate: bool = True

    # -- TLS (uvicorn's names; the SSLContext is built at start-up by fulmen.engine.server) ------------------
    #: PEM private key; TLS is on when ``ssl_certfile`` is set.
    ssl_keyfile: str | None = None
    #: PEM certificate chain (may hold the key too).
    ssl_certfile: str | None = None
    #: Password of an encrypted ``ssl_keyfile``.
    ssl_keyfile_password: str | None = None
    #: CA certificates (PEM) that client certificates must chain to.
    ssl_ca_certs: str | None = None
    #: Client certificates: ``ssl.CERT_NONE`` (0), ``CERT_OPTIONAL`` (1), ``CERT_REQUIRED`` (2), or by name.
    ssl_cert_reqs: int | str = 0
    #: OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's); None keeps Python's secure default.
    ssl_ciphers: str | None = None

    # -- proxy headers (fulmen.engine.proxy) ---------------------------------------------------------------
    #: Believe X-Forwarded-For/Proto/Host and Forwarded from peers in ``forwarded_allow_ips``.
    proxy_headers: bool = True
    #: Trusted proxies: comma list of IPs, CIDR networks or "*"; None: $FORWARDED_ALLOW_IPS, else "127.0.0.1".
    forwarded_allow_ips: str | list[str] | None = None

    # -- deployment (uvicorn's names; docs/engine.md, "Deployment options") ---------------------------------
    #: Listen on this Unix domain socket instead of host:port (a stale socket file there is replaced).
    uds: str | None = None
    #: Serve on this inherited file descriptor: a bound, listening stream socket (systemd, a parent process).
    fd: int | None = None
    #: Environment variables loaded from this dotenv file before the app is imported (python-dotenv).
    env_file: str | None = None
    #: Logging configuration: a .json or .yaml/.yml dictConfig file, or any other file for fileConfig.
    log_config: str | None = None
    #: Connections + requests in flight per worker beyond which a new request gets 503; None: no limit.
    limit_concurrency: int | None = None
    #: Extra response headers on every response the engine writes: "Name: value" strings or (name, value).
    headers: Sequence[str | tuple[str, str]] = ()
    #: Send ``server: fulmen`` on every response (off by default: see docs/engine.md).
    server_header: bool = False
    #: Send the ``date`` header on every response (RFC 9110 asks an origin server with a clock to).
    date_header: bool = True

    def __post_init__(self) -> None:
        self._check_tls_proxy_and_log()
        self._check_supervisor()
        self._check_deployment()
        if self.interface not in ("auto", "fulmen", "asgi", "wsgi"):
            raise ConfigError(f"interface must be auto, fulmen, asgi or wsgi, got {self.interface!r}")
        if self.workers < 1:
            raise ConfigError(f"workers must be at least 1, got {self.workers}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be between 0 and 65535, got {self.port}")
        if self.log_level.lower() not in _LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}")
        for name in (
            "backlog",
            "max_url_length",
            "max_header_bytes",
            "max_header_count",
            "max_connections",
            "max_pipelined_requests",
            "threads",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.max_body_size < 0:
            raise ConfigError(f"max_body_size must be >= 0, got {self.max_body_size}")
        if self.ws_max_size < 1 or self.ws_max_queue < 1:
            raise ConfigError("ws_max_size and ws_max_queue must be positive integers")
        for name in ("ws_ping_interval", "ws_ping_timeout"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 seconds or None, got {getattr(self, name)}")
        for name in (
            "headers_timeout",
            "keep_alive_timeout",
            "body_timeout",
            "graceful_timeout",
            "ws_close_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {getattr(self, name)}")

    def _check_supervisor(self) -> None:
        limit, jitter = self.limit_max_requests, self.limit_max_requests_jitter
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ConfigError(
                f"limit_max_requests (--limit-max-requests) must be an integer >= 1, got {limit!r}"
            )
        if isinstance(jitter, bool) or not isinstance(jitter, int) or jitter < 0:
            raise ConfigError(
                "limit_max_requests_jitter (--limit-max-requests-jitter) must be an integer >= 0, "
                f"got {jitter!r}"
            )
        if jitter and limit is None:
            raise ConfigError(
                "limit_max_requests_jitter (--limit-max-requests-jitter) needs limit_max_requests "
                "(--limit-max-requests)"
            )
        timeout = self.timeout_worker_healthcheck
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
        ):
            raise ConfigError(
                "timeout_worker_healthcheck (--timeout-worker-healthcheck) must be a positive number of "
                f"seconds, or None (0 on the command line) to turn it off, got {timeout!r}"
            )

    @property
    def supervised(self) -> bool:
        """True when ``run`` starts a supervisor: several workers, or a worker replaced after N requests."""
        return self.workers > 1 or self.limit_max_requests is not None

    def _check_deployment(self) -> None:
        if self.uds is not None and self.fd is not None:
            raise ConfigError("uds (--uds) and fd (--fd) are exclusive: give one place to listen")
        if self.uds is not None and not self.uds:
            raise ConfigError("uds (--uds) must be a file path, got ''")
        if self.fd is not None and (isinstance(self.fd, bool) or not isinstance(self.fd, int) or self.fd < 0):
            raise ConfigError(f"fd (--fd) must be a file descriptor number (0 or more), got {self.fd!r}")
        if self.limit_concurrency is not None and self.limit_concurrency < 1:
            raise ConfigError(
                f"limit_concurrency (--limit-concurrency) must be at least 1, got {self.limit_concurrency}"
            )
        if isinstance(self.headers, str):
            raise ConfigError("headers must be a list of 'Name: value' strings or (name, value) pairs")
        for header in self.headers:
            parse_header(header)
        for name, flag in (("env_file", "--env-file"), ("log_config", "--log-config")):
            path = getattr(self, name)
            if path is not None and not os.path.isfile(path):
                raise ConfigError(f"{name} ({flag}): no such file: {path!r}")

    def _check_tls_proxy_and_log(self) -> None:
        if self.access_log_format not in ("text", "json"):
            raise ConfigError(f"access_log_format must be text or json, got {self.access_log_format!r}")
        reqs = self.ssl_cert_reqs
        if isinstance(reqs, str):
            named = _CERT_REQS.get(reqs.strip().lower())
            if named is None:
                raise ConfigError(f"ssl_cert_reqs must be none, optional or required (0, 1, 2), got {reqs!r}")
            self.ssl_cert_reqs = named
        elif reqs not in (0, 1, 2):
            raise ConfigError(f"ssl_cert_reqs must be 0 (none), 1 (optional) or 2 (required), got {reqs!r}")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise ConfigError("ssl_keyfile (--ssl-keyfile) needs ssl_certfile (--ssl-certfile) too")
        if self.forwarded_allow_ips is None:
            self.forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
        if self.proxy_headers:
            from fulmen.engine.proxy import TrustedProxies

            TrustedProxies(self.forwarded_allow_ips)  # raises ConfigError naming a bad entry

    @property
    def is_ssl(self) -> bool:
        """True when the server speaks TLS (``ssl_certfile`` is set)."""
        return bool(self.ssl_certfile)

    @property
    def log_level_number(self) -> int:
        """The ``logging`` level number of ``log_level``."""
        return _LOG_LEVELS[self.log_level.lower()]

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_options(cls, **options: Any) -> Config:
        """Build a Config from keyword options, naming any unknown one in the error."""
        for alias, name in ALIASES.items():
            if alias in options:
                if name in options:
                    raise ConfigError(f"{alias} and {name} are the same setting: give one of them")
                options[name] = options.pop(alias)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(
                f"unknown engine setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**options)
