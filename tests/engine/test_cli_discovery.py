"""FastAPI CLI's command forms on ``fulmen``: ``fulmen dev [path]`` and ``fulmen run [path]`` find the app
from a file or package path, pyproject.toml's entrypoint or the usual file names, as FastAPI CLI does."""

from __future__ import annotations

import itertools
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fulmen.cli import build_parser
from fulmen.cli_discovery import DiscoveryError, is_import_string, module_of_path, resolve_target
from tests.engine.conftest import ServerProcess, exchange

_names = itertools.count()

APP = """
import os
from fulmen import FastAPI
{name} = FastAPI()

@{name}.get("/")
async def root():
    return {{"module": __name__, "env": os.environ.get("FASTAPI_ENV")}}
"""


@pytest.fixture
def isolated() -> Iterator[None]:
    """Discovery imports the modules it finds: undo that (sys.modules and sys.path) after each test."""
    modules, path = set(sys.modules), list(sys.path)
    yield
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path


def _package(tmp_path: Path) -> str:
    """A unique top-level package name (tests import what they write)."""
    return f"discpkg{next(_names)}"


def test_module_of_path_walks_up_the_packages(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    (tmp_path / pkg / "api").mkdir(parents=True)
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "api" / "__init__.py").write_text("")
    (tmp_path / pkg / "api" / "main.py").write_text("")
    (tmp_path / "loose.py").write_text("")
    assert module_of_path(tmp_path / pkg / "api" / "main.py") == (f"{pkg}.api.main", str(tmp_path))
    assert module_of_path(tmp_path / pkg / "api") == (f"{pkg}.api", str(tmp_path))
    assert module_of_path(tmp_path / pkg / "api" / "__init__.py") == (f"{pkg}.api", str(tmp_path))
    assert module_of_path(tmp_path / "loose.py") == ("loose", str(tmp_path))
    (tmp_path / "plain").mkdir()
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(DiscoveryError, match=r"without __init__\.py"):
        module_of_path(tmp_path / "plain")
    with pytest.raises(DiscoveryError, match="not a Python file"):
        module_of_path(tmp_path / "notes.txt")


@pytest.mark.parametrize(
    ("names", "found"),
    [
        (["app", "api", "other"], "app"),
        (["api", "other"], "api"),
        (["zeta", "beta"], "beta"),  # no preferred name: the first app in dir() order, as FastAPI CLI
    ],
)
def test_the_app_is_found_by_name_or_by_type(
    tmp_path: Path, isolated: None, names: list[str], found: str
) -> None:
    module = f"discmod{next(_names)}"
    (tmp_path / f"{module}.py").write_text(
        "app = 'not an app'\n" + "".join(APP.format(name=n) for n in names)
    )
    target = resolve_target(f"{module}.py", cwd=str(tmp_path))
    assert (target.import_string, target.app_dir) == (f"{module}:{found}", str(tmp_path))


def test_a_fastapi_app_is_found_too(tmp_path: Path, isolated: None) -> None:
    module = f"discmod{next(_names)}"
    (tmp_path / f"{module}.py").write_text("import fastapi\nservice = fastapi.FastAPI()\n")
    assert resolve_target(f"{module}.py", cwd=str(tmp_path)).import_string == f"{module}:service"


def test_errors_say_what_to_do(tmp_path: Path, isolated: None) -> None:
    module = f"discmod{next(_names)}"
    (tmp_path / f"{module}.py").write_text("x = 1\n")
    with pytest.raises(DiscoveryError, match="--app NAME"):
        resolve_target(f"{module}.py", cwd=str(tmp_path))
    with pytest.raises(DiscoveryError, match="has no attribute 'web'"):
        resolve_target(f"{module}.py", app_name="web", cwd=str(tmp_path))
    assert resolve_target(f"{module}.py", app_name="x", cwd=str(tmp_path)).import_string == f"{module}:x"
    with pytest.raises(DiscoveryError, match="neither an existing path"):
        resolve_target("missing.py", cwd=str(tmp_path))
    with pytest.raises(DiscoveryError, match=r"main\.py, app\.py, api\.py"):
        resolve_target(None, cwd=str(tmp_path))
    with pytest.raises(DiscoveryError, match="expected 'module:attribute'"):
        resolve_target(None, entrypoint="main.py", cwd=str(tmp_path))


def test_default_files_in_fastapi_cli_order(tmp_path: Path, isolated: None) -> None:
    pkg = _package(tmp_path)
    root = tmp_path / pkg
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "main.py").write_text(APP.format(name="app"))
    (root / "api.py").write_text(APP.format(name="app"))
    assert resolve_target(None, cwd=str(root)).import_string == "api:app"  # api.py comes before app/main.py
    (root / "api.py").unlink()
    sys.modules.pop("app", None)
    assert resolve_target(None, cwd=str(root)).import_string == "app.main:app"


def test_pyproject_entrypoint_fulmen_then_fastapi(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("")
    (tmp_path / "pyproject.toml").write_text('[tool.fastapi]\nentrypoint = "service.web:api"\n')
    target = resolve_target(None, cwd=str(tmp_path))
    assert (target.import_string, target.source) == ("service.web:api", "pyproject.toml [tool.fastapi]")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.fastapi]\nentrypoint = "service.web:api"\n[tool.fulmen]\nentrypoint = "other:app"\n'
    )
    assert resolve_target(None, cwd=str(tmp_path)).import_string == "other:app"
    assert resolve_target(None, entrypoint="cli:app", cwd=str(tmp_path)).import_string == "cli:app"


def test_import_string_or_path() -> None:
    assert is_import_string("main:app") and is_import_string("pkg.mod:factory.app")
    assert not is_import_string("main.py") and not is_import_string("app/") and not is_import_string("main")
    assert not is_import_string("C:\\src\\main.py")


def test_dev_and_run_defaults() -> None:
    parser = build_parser()
    dev = parser.parse_args(["dev"])
    run = parser.parse_args(["run", "main:app"])
    assert (dev.app, dev.reload, dev.host) == (None, True, None)
    assert (run.app, run.reload, run.host) == ("main:app", False, None)  # the host is settled by the form
    assert parser.parse_args(["dev", "main.py", "--no-reload", "--app", "api"]).reload is False
    assert parser.parse_args(["run", "--reload-dir", "a", "--reload-dir", "b"]).reload_dirs == ["a", "b"]


def test_fulmen_run_without_an_app_serves_main_py_on_all_interfaces(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(APP.format(name="app"))
    server = ServerProcess("--port", "0", "--no-access-log", cwd=tmp_path, command="run")
    try:
        port = server.wait_ready()
        assert "running on http://0.0.0.0:" in server.output()  # as `fastapi run` (a container's CMD)
        assert exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body == b'{"module":"main","env":null}'
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(10) == 0
    finally:
        server.kill()


def test_fulmen_dev_path_reloads_on_localhost_in_development(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "main.py").write_text(APP.format(name="api"))
    server = ServerProcess(f"{pkg}/main.py", "--port", "0", cwd=tmp_path, command="dev")
    try:
        port = server.wait_ready()
        output = server.output()
        assert "Reloader" in output and "running on http://127.0.0.1:" in output
        body = exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body
        assert body == b'{"module":"%s.main","env":"development"}' % pkg.encode()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0
    finally:
        server.kill()
