"""Serve a directory of files: ``app.mount("/static", StaticFiles(directory="static"), name="static")``.

Behaves as Starlette's ``StaticFiles``: ``FileResponse`` for files (ranges, etag, last-modified), 304 for
``If-None-Match``/``If-Modified-Since``, html mode (``index.html`` for directories, ``404.html``), no escape
from the directory. It is an ASGI app (``await static(scope, receive, send)``) and also has a native
``handle(request)``, which ``app.mount`` calls without any ASGI translation.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import stat
from email.utils import parsedate
from typing import Any, Union

from fulmen.datastructures import Headers
from fulmen.exceptions import BaseHTTPException, http_error
from fulmen.requests import Request
from fulmen.responses import FileResponse, RedirectResponse, Response

PathLike = Union[str, "os.PathLike[str]"]


class NotModifiedResponse(Response):
    """A 304 carrying only the headers a 304 may repeat (RFC 9110 §15.4.5)."""

    NOT_MODIFIED_HEADERS = ("cache-control", "content-location", "date", "etag", "expires", "vary")
    __slots__ = ()

    def __init__(self, headers: Headers) -> None:
        keep = self.NOT_MODIFIED_HEADERS
        super().__init__(status_code=304, headers={k: v for k, v in headers.items() if k in keep})


class StaticFiles:
    """Files under ``directory`` (and/or packages' ``statics`` folders), answered for GET and HEAD."""

    def __init__(
        self,
        *,
        directory: PathLike | None = None,
        packages: list[str | tuple[str, str]] | None = None,
        html: bool = False,
        check_dir: bool = True,
        follow_symlink: bool = False,
    ) -> None:
        self.directory = directory
        self.packages = packages
        self.all_directories = self.get_directories(directory, packages)
        self.html = html
        self.config_checked = False
        self.follow_symlink = follow_symlink
        if check_dir and directory is not None and not os.path.isdir(directory):
            raise RuntimeError(f"Directory '{directory}' does not exist")

    def get_directories(
        self, directory: PathLike | None = None, packages: list[str | tuple[str, str]] | None = None
    ) -> list[PathLike]:
        """The directories to serve from: ``directory``, then each package's statics folder."""
        directories: list[PathLike] = [] if directory is None else [directory]
        for package in packages or []:
            name, statics = package if isinstance(package, tuple) else (package, "statics")
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                raise RuntimeError(f"Package {name!r} could not be found.")
            folder = os.path.normpath(os.path.join(spec.origin, "..", statics))
            if not os.path.isdir(folder):
                raise RuntimeError(f"Directory {statics!r} in package {name!r} could not be found.")
            directories.append(folder)
        return directories

    # -- front doors -----------------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI entry point (standalone under any ASGI server, or mounted in a Starlette app)."""
        kind = scope["type"]
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1000, "reason": ""})
            return
        if kind == "lifespan":  # served standalone: nothing to start or stop
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            raise RuntimeError(f"StaticFiles does not handle ASGI scope type {kind!r}")
        from fulmen.asgi import request_from_scope, send_response

        request = request_from_scope(scope)
        response = await self.handle(request)
        await send_response(response, request, receive, send)

    async def handle(self, request: Request) -> Response:
        """Answer ``request`` natively; ``request.path`` is the path below the mount point.

        HTTP errors (404, 405 ...) go through the app's exception handlers when the request belongs to one
        (as FastAPI's do for a mounted StaticFiles), else FastAPI's default ``{"detail": ...}`` body.
        """
        try:
            if not self.config_checked:
                self.check_config()
                self.config_checked = True
            return await self.get_response(self.get_path(request), request)
        except BaseHTTPException as exc:
            handle_exception = getattr(request.app, "handle_exception", None)
            if handle_exception is not None:
                response: Response = await handle_exception(request, exc)
                return response
            from fulmen.app import http_exception_handler

            return await http_exception_handler(request, exc)

    # -- lookup ----------------------------------------------------------------------------------------------
    def get_path(self, request: Request) -> str:
        """The file path asked for, with OS separators and ``.``/``..`` segments resolved."""
        return os.path.normpath(os.path.join(*request.path.split("/")))

    async def get_response(self, path: str, request: Request) -> Response:
        """The response for ``path``; raises ``BaseHTTPException`` (404, 405, 401) otherwise."""
        if request.method not in ("GET", "HEAD"):
            raise http_error(405, headers={"Allow": "GET, HEAD"})
        # The lookups run on the loop: stat/realpath are metadata calls, cheaper than a thread hop locally.
        try:
            full_path, stat_result = self.lookup_path(path)
        except PermissionError:
            raise http_error(401) from None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:  # too long to be a file of ours
                raise http_error(404) from None
            raise
        except ValueError:  # NUL bytes and other characters no path can hold
            raise http_error(404) from None
        if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
            return self.file_response(full_path, stat_result, request)
        if stat_result is not None and stat.S_ISDIR(stat_result.st_mode) and self.html:
            full_path, stat_result = self.lookup_path(os.path.join(path, "index.html"))
            if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
                if not request.path.endswith("/"):
                    # Directory URLs end with "/", so relative links in index.html resolve inside it.
                    url = request.url
                    return RedirectResponse(url=str(url.replace(path=url.path + "/")))
                return self.file_response(full_path, stat_result, request)
        if self.html:
            full_path, stat_result = self.lookup_path("404.html")
            if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
                return FileResponse(full_path, stat_result=stat_result, status_code=404)
        raise http_error(404)

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        """``(full path, stat)`` of ``path`` in the first directory that has it, never outside them."""
        if path.startswith(("/", "\\")):
            return "", None
        for directory in self.all_directories:
            joined = os.path.join(directory, path)
            if self.follow_symlink:
                full_path, root = os.path.abspath(joined), os.path.abspath(directory)
            else:
                full_path, root = os.path.realpath(joined), os.path.realpath(directory)
            if os.path.commonpath([full_path, root]) != str(root):
                continue  # "..", or a symlink pointing out of the directory
            try:
                return full_path, os.stat(full_path)
            except (FileNotFoundError, NotADirectoryError):
                continue
        return "", None

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, request: Request, status_code: int = 200
    ) -> Response:
        """A ``FileResponse``, or a 304 when the client's copy is current."""
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result)
        if self.is_not_modified(response.headers, request.headers):
            return NotModifiedResponse(response.headers)
        return response

    def check_config(self) -> None:
        """Fail loudly, once, if ``directory`` is missing or not a directory (rather than answering 404s)."""
        if self.directory is None:
            return
        try:
            result = os.stat(self.directory)
        except FileNotFoundError:
            raise RuntimeError(f"StaticFiles directory '{self.directory}' does not exist.") from None
        if not (stat.S_ISDIR(result.st_mode) or stat.S_ISLNK(result.st_mode)):
            raise RuntimeError(f"StaticFiles path '{self.directory}' is not a directory.")

    def is_not_modified(self, response_headers: Headers, request_headers: Headers) -> bool:
        """Whether ``If-None-Match`` / ``If-Modified-Since`` say the client's copy is current."""
        if_none_match = request_headers.get("if-none-match")
        if if_none_match:
            if if_none_match.strip() == "*":
                return True
            etag = response_headers["etag"]
            return etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        since = request_headers.get("if-modified-since")
        modified = response_headers.get("last-modified")
        if since is None or modified is None:
            return False
        since_time, modified_time = parsedate(since), parsedate(modified)
        return since_time is not None and modified_time is not None and since_time >= modified_time
