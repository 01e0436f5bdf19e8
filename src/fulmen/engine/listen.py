"""Where the engine listens besides host:port: a Unix domain socket (``uds``) or an inherited one (``fd``).

Both follow uvicorn's ``--uds``/``--fd``. A Unix socket file is created with mode 0o666 (as uvicorn), a stale
one left by a dead server is replaced, and the process that created it removes it when it stops.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
import weakref

from fulmen.engine.config import Config, ConfigError

#: Listening Unix sockets this process created: path and the file's inode, so it removes only its own file.
_CREATED: weakref.WeakKeyDictionary[socket.socket, tuple[str, int]] = weakref.WeakKeyDictionary()


def _is_listening(path: str) -> bool:
    """True when a server accepts connections on the Unix socket file ``path``."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return False  # nobody listens: a dead server's leftover
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK)  # alive but its backlog is full
    finally:
        probe.close()
    return True


def bind_unix(path: str, backlog: int) -> socket.socket:
    """A listening, non-blocking Unix stream socket at ``path``, file mode 0o666.

    A socket file nobody listens on is replaced; anything else at ``path`` (a regular file, a directory, a
    live server's socket) raises ``ConfigError`` naming ``--uds`` instead of being deleted.
    """
    try:
        existing = os.lstat(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(f"--uds: can't use {path!r}: {exc.strerror or exc}") from None
    else:
        if not stat.S_ISSOCK(existing.st_mode):
            raise ConfigError(f"--uds: {path!r} exists and is not a socket; not replacing it")
        if _is_listening(path):
            raise ConfigError(f"--uds: a server is already listening on {path!r}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        # uvicorn's mode: any local user may connect (a proxy running as another user); restrict it with
        # the directory's permissions.
        os.chmod(path, 0o666)
        sock.listen(backlog)
        sock.setblocking(False)
        _CREATED[sock] = (path, os.stat(path).st_ino)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--uds: can't listen on {path!r}: {exc.strerror or exc}") from None
    return sock


def inherited_socket(fd: int) -> socket.socket:
    """The listening stream socket open on file descriptor ``fd``, made non-blocking.

    Raises ``ConfigError`` naming ``--fd`` when ``fd`` is not open, not a socket, not a stream socket or not
    listening (leaving the descriptor open).
    """
    try:
        sock = socket.socket(fileno=fd)  # family and type are read from the descriptor
    except OSError as exc:
        what = "not an open file descriptor" if exc.errno == errno.EBADF else "not a socket"
        raise ConfigError(f"--fd {fd}: {what}") from None
    problem = None
    if sock.type != socket.SOCK_STREAM:
        problem = "is not a stream (TCP or Unix stream) socket"
    elif not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        problem = "is not listening (bind and listen() before passing it)"
    if problem is not None:
        sock.detach()  # not ours to close
        raise ConfigError(f"--fd {fd}: the socket {problem}")
    sock.setblocking(False)
    return sock


def remove_unix_socket(sock: socket.socket) -> None:
    """Remove the socket file of ``sock`` if this process created it and it is still that file."""
    created = _CREATED.pop(sock, None)
    if created is None:
        return
    path, inode = created
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == inode:
            os.unlink(path)


def describe(config: Config, sock: socket.socket) -> str:
    """Where ``sock`` listens, for the start-up line: ``http://host:port``, a Unix socket or an fd."""
    scheme = "https" if config.is_ssl else "http"
    name = sock.getsockname()
    if sock.family == getattr(socket, "AF_UNIX", None):
        where = f"unix socket {name or config.uds}"
        return where if config.fd is None else f"socket fd {config.fd} ({where})"
    host, port = name[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    url = f"{scheme}://{shown}:{port}"
    return url if config.fd is None else f"socket fd {config.fd} ({url})"
