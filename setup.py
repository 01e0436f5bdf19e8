"""Only for the optional compiled engine: with ``FULMEN_COMPILE=1`` a wheel build compiles
the modules in COMPILED with mypyc and those in CYTHON with Cython. Everything else about the package is in
pyproject.toml; without the variable this adds nothing (the pure-Python package). See
build_backend/fulmen_build.py and docs/engine.md.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The build backend reads FULMEN_COMPILE the same way; one reading for both (pyproject.toml backend-path).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "build_backend"))
from fulmen_build import compile_requested

#: The modules compiled with mypyc. route_table, plan, requests, dependencies and validation compile too and
#: cut CPU instructions further, but made no endpoint faster over sockets and E4 slower (more machine code,
#: more instruction-cache misses): docs/engine.md, "Compiled engine (optional)".
COMPILED = ["src/fulmen/engine/protocol.py"]
#: Written for Cython rather than compiled from Python: the lane (docs/engine.md, "The lane").
CYTHON = ["src/fulmen/engine/_lane.pyx"]
#: Where a compiled build keeps its C sources and build tree, apart from build/lib: a later pure build must
#: never pick up a stale .so from there.
BUILD_BASE = os.path.join("build", "fulmen-mypyc")
#: setup.py commands that build the wheel's contents (not metadata, sdist or editable hooks).
BUILD_COMMANDS = {"bdist_wheel", "build", "build_ext", "install"}

HINT = (
    "FULMEN_COMPILE=1 asked for the mypyc-compiled engine and it could not be built{}. "
    "It needs a C compiler and the Python headers (Debian: apt-get install build-essential python3-dev). "
    "Unset FULMEN_COMPILE for the pure-Python build."
)


class _build_ext(build_ext):
    """build_ext that turns a compiler failure into a clear message instead of a silent pure build."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            raise SystemExit(HINT.format(f" ({type(exc).__name__}: {exc})")) from exc


def _compiled_build() -> dict[str, Any]:
    if not compile_requested() or not BUILD_COMMANDS.intersection(sys.argv[1:]):
        return {}
    # A clean tree every time: a module compiled by an earlier build (and since dropped from COMPILED, or
    # grouped differently) must not ride along into this wheel.
    shutil.rmtree(BUILD_BASE, ignore_errors=True)
    try:
        from mypyc.build import mypycify
    except ImportError as exc:
        raise SystemExit(HINT.format(": mypyc is not installed (it comes with mypy)")) from exc
    try:
        # The other fulmen modules and the third-party packages are only read for their types; in an
        # isolated build environment the optional ones (pydantic, jinja2, ...) are missing: Any is enough.
        ext_modules = mypycify(
            ["--ignore-missing-imports", "--follow-imports=silent", *COMPILED],
            opt_level="3",
            target_dir=os.path.join(BUILD_BASE, "c"),
        )
    except SystemExit as exc:
        raise SystemExit(HINT.format(f": mypyc failed: {exc.code}")) from exc
    try:
        from Cython.Build import cythonize
    except ImportError as exc:
        raise SystemExit(HINT.format(": Cython is not installed")) from exc
    ext_modules += cythonize(CYTHON, build_dir=os.path.join(BUILD_BASE, "cython"), quiet=True)
    return {
        "ext_modules": ext_modules,
        "cmdclass": {"build_ext": _build_ext},
        "options": {"build": {"build_base": BUILD_BASE}},
    }


setup(**_compiled_build())
