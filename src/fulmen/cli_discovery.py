"""Find the app to serve the way ``fastapi dev`` / ``fastapi run`` do: from a file or package path, from an
``entrypoint`` in pyproject.toml, or from the usual file names, so FastAPI's documented commands work with
``fulmen`` in their place.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from pathlib import Path
from typing import Any

#: The files tried, in order, when no app is named (FastAPI CLI's list).
DEFAULT_FILES = ("main.py", "app.py", "api.py", "app/main.py", "app/app.py", "app/api.py")
#: Names looked at first in the module, before any other app object in it.
PREFERRED_NAMES = ("app", "api")


class DiscoveryError(Exception):
    """No app could be found where the command line (or pyproject.toml) pointed."""


@dataclasses.dataclass(frozen=True)
class Target:
    """The app to serve: ``import_string`` (``module:attribute``) imported with ``app_dir`` on sys.path."""

    import_string: str
    app_dir: str
    #: How it was found, for the start-up log line.
    source: str


def is_import_string(text: str) -> bool:
    """``module:attribute`` rather than a path (``main.py``, ``app/``, ``C:\\src\\main.py``)."""
    module, sep, attribute = text.partition(":")
    if not sep or not module or not attribute or os.path.exists(text):
        return False
    return all(part.isidentifier() for part in module.split(".")) and all(
        part.isidentifier() for part in attribute.split(".")
    )


def resolve_target(
    app: str | None, *, app_name: str | None = None, entrypoint: str | None = None, cwd: str = "."
) -> Target:
    """The app named by ``--entrypoint``, a path argument, pyproject.toml or the default files, in that order.

    A path is a Python file or a package directory; its import string is built from the package directories
    (those with ``__init__.py``) above it, and the directory above the top package goes on sys.path.
    """
    if entrypoint is not None:
        return _from_import_string(entrypoint, cwd, "--entrypoint")
    if app is None:
        configured = _pyproject_entrypoint(cwd)
        if configured is not None:
            return _from_import_string(configured[0], cwd, f"pyproject.toml [tool.{configured[1]}]")
        path = _default_path(cwd)
        source = f"{path.relative_to(Path(cwd).resolve())} (found by name)"
    else:
        path = Path(cwd, app)
        source = app
        if not path.exists():
            raise DiscoveryError(
                f"{app!r} is neither an existing path nor a 'module:attribute' import string"
            )
    module, app_dir = module_of_path(path)
    name = app_name if app_name is not None else find_app_name(module, app_dir)
    if app_name is not None:
        _check_app(module, app_dir, app_name)
    return Target(f"{module}:{name}", app_dir, source)


def module_of_path(path: Path) -> tuple[str, str]:
    """``(import name, directory to put on sys.path)`` for a ``.py`` file or a package directory."""
    path = path.resolve()
    if path.is_file() and path.name == "__init__.py":
        path = path.parent
    if path.is_file() and path.suffix != ".py":
        raise DiscoveryError(f"{path} is not a Python file")
    if path.is_dir() and not (path / "__init__.py").is_file():
        raise DiscoveryError(f"{path} is a directory without __init__.py: give the Python file to run")
    parts = [path.stem if path.is_file() else path.name]
    top = path.parent
    while (top / "__init__.py").is_file():
        parts.insert(0, top.name)
        top = top.parent
    return ".".join(parts), str(top)


def find_app_name(module_name: str, app_dir: str) -> str:
    """The attribute holding the app: ``app`` or ``api`` if it is one, else the first app in the module."""
    module = _import(module_name, app_dir)
    for name in PREFERRED_NAMES:
        if is_app(getattr(module, name, None)):
            return name
    for name in dir(module):
        if is_app(getattr(module, name)):
            return name
    raise DiscoveryError(
        f"no fulmen (or FastAPI) app found in module {module_name!r}: name it with --app NAME, "
        "or give module:attribute"
    )


def is_app(obj: Any) -> bool:
    """A fulmen app, or a FastAPI one (the engine serves it as ASGI) when FastAPI is loaded."""
    from fulmen.app import Fulmen

    if isinstance(obj, Fulmen):
        return True
    fastapi = sys.modules.get("fastapi")
    return fastapi is not None and isinstance(obj, getattr(fastapi, "FastAPI", ()))


def _check_app(module_name: str, app_dir: str, name: str) -> None:
    module = _import(module_name, app_dir)
    if not hasattr(module, name):
        raise DiscoveryError(f"module {module_name!r} has no attribute {name!r}")


def _import(module_name: str, app_dir: str) -> Any:
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            raise  # the module exists but something it imports does not: show the real traceback
        raise DiscoveryError(
            f"could not import {module_name!r} from {app_dir} (every package directory needs an __init__.py)"
        ) from None


def _from_import_string(text: str, cwd: str, source: str) -> Target:
    if not is_import_string(text):
        raise DiscoveryError(f"{source}: expected 'module:attribute' (for example main:app), got {text!r}")
    return Target(text, str(Path(cwd).resolve()), source)


def _default_path(cwd: str) -> Path:
    for name in DEFAULT_FILES:
        path = Path(cwd, name)
        if path.is_file():
            return path.resolve()
    raise DiscoveryError(
        f"no app given and none of {', '.join(DEFAULT_FILES)} exists in {Path(cwd).resolve()}: "
        "give a path, module:attribute, or an entrypoint in pyproject.toml"
    )


def _pyproject_entrypoint(cwd: str) -> tuple[str, str] | None:
    """``(entrypoint, table)`` from ``[tool.fulmen]`` or else ``[tool.fastapi]`` in ./pyproject.toml."""
    path = Path(cwd, "pyproject.toml")
    if not path.is_file():
        return None
    try:  # by name: mypy checks the 3.10 API, which has no tomllib
        tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    except ImportError:  # Python 3.10 without tomli (no extra dependency for this): not read
        return None
    with path.open("rb") as file:
        tool = tomllib.load(file).get("tool", {})
    for table in ("fulmen", "fastapi"):
        entrypoint = tool.get(table, {}).get("entrypoint")
        if entrypoint is not None:
            if not isinstance(entrypoint, str):
                raise DiscoveryError(f"pyproject.toml [tool.{table}] entrypoint must be a string")
            return entrypoint, table
    return None
