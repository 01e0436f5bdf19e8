"""``app.frontend("/", directory="dist")``: serve a built single-page app behind the API (FastAPI 0.165).

A frontend answers only what no route, mount or trailing-slash redirect answered: files from the build
directory for GET and HEAD, ``index.html`` for a browser navigation to a client-side route, ``404.html`` for
a missing page. Several frontends may be declared; the longest matching path prefix answers. The router's
dependencies run before a file is served (to protect it behind a login, for instance).

Only the "no route matched" branch of ``Fulmen.handle`` looks at frontends, so routes never pay for them.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from collections.abc import Coroutine, Sequence
from typing import Any, Literal

from fulmen.background import BackgroundTasks
from fulmen.exceptions import HTTPException
from fulmen.params import Depends
from fulmen.plan import RequestHandler, add_route_dependencies, compile_plan, get_dependant
from fulmen.requests import Request
from fulmen.responses import RedirectResponse, Response
from fulmen.staticfiles import PathLike, StaticFiles

Fallback = Literal["auto", "index.html", "404.html"] | None
_FALLBACKS = ("auto", "index.html", "404.html", None)


def normalize_frontend_path(path: str) -> str:
    """``path`` without a trailing slash (``"/"`` stays); it must be non-empty and start with ``/``."""
    if not path:
        raise AssertionError("A frontend path cannot be empty; use '/' to serve the frontend at the root")
    if not path.startswith("/"):
        raise AssertionError(f"A frontend path must start with '/', got {path!r}")
    return path if path == "/" else path.rstrip("/")


def join_frontend_paths(prefix: str, path: str) -> str:
    """A router's or ``include_router``'s prefix before a frontend path (``"/"`` under ``/a`` is ``/a``)."""
    if not prefix:
        return path
    return prefix if path == "/" else prefix + path


def resolve_check_dir(directory: PathLike, check_dir: bool | Literal["auto"]) -> bool:
    """``check_dir="auto"``: check, unless ``FASTAPI_ENV=development``, where a missing directory only warns.

    In development the build may not exist yet (the frontend's dev server runs beside the API).
    """
    if check_dir != "auto":
        return check_dir
    if os.environ.get("FASTAPI_ENV") != "development":
        return True
    if not os.path.isdir(directory):
        warnings.warn(
            f"Frontend directory '{directory}' does not exist. "
            f"Resolved absolute path: '{os.path.realpath(os.fspath(directory))}'",
            stacklevel=3,  # the user's app.frontend(...) line
        )
    return False


def is_navigation_request(accept: str) -> bool:
    """Whether an ``Accept`` header asks for HTML (a browser navigation) rather than an asset or data.

    Only an explicit ``text/html`` or ``application/xhtml+xml`` with a non-zero quality counts: ``*/*``
    (what ``fetch`` and asset loads send) does not, so a missing ``app.js`` is a 404, not the app shell.
    """
    for item in accept.split(","):
        media_type, _, params = item.partition(";")
        if media_type.strip().lower() not in ("text/html", "application/xhtml+xml"):
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip().strip('"'))
                except ValueError:
                    pass  # an unreadable q counts as the default, 1
        if quality != 0:
            return True
    return False


class FrontendFiles(StaticFiles):
    """The build directory: StaticFiles' lookup and FileResponse (sendfile on the engine), frontend rules."""

    def __init__(self, *, directory: PathLike, fallback: Fallback, check_dir: bool) -> None:
        if check_dir and not os.path.isdir(directory):
            raise RuntimeError(
                f"Frontend directory '{directory}' does not exist. "
                f"Resolved absolute path: '{os.path.realpath(os.fspath(directory))}'"
            )
        super().__init__(directory=directory, html=True, check_dir=check_dir, follow_symlink=False)
        self.fallback = fallback
        if check_dir and fallback in ("index.html", "404.html"):
            assert fallback is not None
            self._fallback_file(fallback)

    def _lookup(self, path: str) -> tuple[str, os.stat_result | None]:
        # As StaticFiles.get_response: no permission is 401, a path no file system can hold is 404.
        try:
            return self.lookup_path(path)
        except PermissionError:
            raise HTTPException(status_code=401) from None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise HTTPException(status_code=404) from None
            raise
        except ValueError:
            raise HTTPException(status_code=404) from None

    def _resource(self, path: str) -> tuple[str, os.stat_result, bool] | None:
        """``(full path, stat, is a directory's index.html)`` of the file ``path`` names, or None."""
        full_path, stat_result = self._lookup(path)
        if stat_result is None:
            return None
        if stat.S_ISREG(stat_result.st_mode):
            return full_path, stat_result, False
        if stat.S_ISDIR(stat_result.st_mode):
            full_path, stat_result = self._lookup(os.path.join(path, "index.html"))
            if stat_result is not None and stat.S_ISREG(stat_result.st_mode):
                return full_path, stat_result, True
        return None

    def _file(self, name: str) -> tuple[str, os.stat_result] | None:
        full_path, stat_result = self.lookup_path(name)
        if stat_result is None or not stat.S_ISREG(stat_result.st_mode):
            return None
        return full_path, stat_result

    def _fallback_file(self, name: str) -> tuple[str, os.stat_result]:
        found = self._file(name)
        if found is None:
            raise RuntimeError(
                f"Frontend fallback file '{name}' does not exist in directory '{self.directory}'. "
                f"Resolved absolute directory: '{os.path.realpath(os.fspath(self.directory or '.'))}'"
            )
        return found

    def frontend_response(self, relative: str, request: Request) -> Response:
        """The answer for ``relative`` (the path below the frontend's prefix); HTTPException for 404/405."""
        if not self.config_checked:
            self.check_config()
            self.config_checked = True
        path = os.path.normpath(os.path.join(*relative.split("/")))
        if request.method not in ("GET", "HEAD"):
            # 405 where a file would answer a GET, else 404: a client-side route is no resource to post to.
            raise HTTPException(status_code=405 if self._resource(path) is not None else 404)
        found = self._resource(path)
        if found is not None:
            full_path, stat_result, is_index = found
            if is_index and not request.path.endswith("/"):
                # Directory URLs end with "/", so relative links in index.html resolve inside it.
                url = request.url
                return RedirectResponse(url=str(url.replace(path=url.path + "/")))
            return self.file_response(full_path, stat_result, request)
        fallback = self.fallback
        # "auto" uses whichever page the build has, 404.html first; an explicit choice must exist.
        page = self._fallback_file("404.html") if fallback == "404.html" else None
        if page is None and fallback == "auto":
            page = self._file("404.html")
        if page is not None:
            return self.file_response(page[0], page[1], request, status_code=404)
        if fallback in ("auto", "index.html") and is_navigation_request(request.headers.get("accept", "")):
            page = self._fallback_file("index.html") if fallback == "index.html" else self._file("index.html")
            if page is not None:
                return self.file_response(page[0], page[1], request)
        raise HTTPException(status_code=404)


class Frontend:
    """One ``frontend()`` declaration at its full path, with the dependencies that guard it."""

    __slots__ = ("dependencies", "files", "handler", "inline_sync", "path", "path_format")

    def __init__(
        self, path: str, files: FrontendFiles, dependencies: Sequence[Depends], *, inline_sync: bool
    ) -> None:
        self.path = path
        #: The route template FastAPI reports for a frontend (``/ui/{path}``), e.g. as telemetry's http.route.
        self.path_format = path.rstrip("/") + "/{path}"
        self.files = files
        self.dependencies = list(dependencies)
        self.inline_sync = inline_sync
        self.handler: RequestHandler = self._compile()

    def relative(self, path: str) -> str | None:
        """The part of ``path`` below this frontend's prefix (``""`` for the prefix itself), or None."""
        prefix = self.path
        if prefix == "/":
            return path.lstrip("/")
        if path == prefix:
            return ""
        if path.startswith(prefix) and path[len(prefix)] == "/":
            return path[len(prefix) + 1 :]
        return None

    def included(self, prefix: str, dependencies: Sequence[Depends]) -> Frontend:
        """As ``include_router`` places it: under ``prefix``, after the includer's dependencies."""
        return Frontend(
            join_frontend_paths(prefix, self.path),
            self.files,
            [*dependencies, *self.dependencies],
            inline_sync=self.inline_sync,
        )

    def answer(self, request: Request) -> Coroutine[Any, Any, Response]:
        """Answer a request under this frontend: GET and HEAD after the dependencies, others without them.

        As in FastAPI: another method only learns whether a file is there (405) or not (404).
        """
        if request.method in ("GET", "HEAD"):
            return self.handler(request)
        return self._refuse(request)

    async def _refuse(self, request: Request) -> Response:
        return self.files.frontend_response(self._target(request), request)

    def _target(self, request: Request) -> str:
        relative = self.relative(request.path)
        return relative if relative is not None else ""

    def _compile(self) -> RequestHandler:
        files = self.files
        target = self._target

        if not self.dependencies:

            async def serve_frontend(request: Request) -> Response:
                return files.frontend_response(target(request), request)

            endpoint: Any = serve_frontend
        else:

            async def serve_guarded_frontend(
                request: Request, response: Response, background_tasks: BackgroundTasks
            ) -> Response:
                # ``response`` and ``background_tasks`` are the ones the dependencies were given: their
                # headers, cookies and tasks go onto the file response (its status stays the file's).
                answer = files.frontend_response(target(request), request)
                answer.raw_headers.extend(kv for kv in response.raw_headers if kv[0] != b"content-length")
                if answer.background is None:
                    answer.background = background_tasks
                return answer

            endpoint = serve_guarded_frontend
        where = f"frontend {self.path!r}"
        dependant = get_dependant(endpoint, path="", path_param_names=set(), where=where)
        if self.dependencies:
            add_route_dependencies(dependant, self.dependencies)
        return compile_plan(
            dependant, response_class=Response, status_code=None, inline_sync=self.inline_sync
        )


def make_frontend(
    path: str,
    *,
    directory: PathLike,
    fallback: Fallback,
    check_dir: bool,
    dependencies: Sequence[Depends],
    inline_sync: bool,
) -> Frontend:
    """Validate a ``frontend()`` call and build it; configuration errors raise here, at start-up."""
    if fallback not in _FALLBACKS:
        raise AssertionError(f"fallback must be 'auto', 'index.html', '404.html', or None, got {fallback!r}")
    files = FrontendFiles(directory=directory, fallback=fallback, check_dir=check_dir)
    return Frontend(path, files, dependencies, inline_sync=inline_sync)


def match_frontend(frontends: Sequence[Frontend], path: str) -> Frontend | None:
    """The frontend with the longest prefix that contains ``path`` (the first declared among equals)."""
    best: Frontend | None = None
    best_length = -1
    for frontend in frontends:
        if frontend.relative(path) is None:
            continue
        length = 0 if frontend.path == "/" else len(frontend.path)
        if length > best_length:
            best, best_length = frontend, length
    return best
