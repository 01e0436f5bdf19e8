"""fulmen's PEP 517 build backend: setuptools, plus an opt-in mypyc build of the hot-path modules.

``pip install .`` and ``pip install -e .`` are plain setuptools builds of the pure-Python package.
``FULMEN_COMPILE=1 pip install .`` (or ``pip wheel .``) also asks for mypy (the version the test suite is
run with) and compiles the modules listed in ``setup.py`` (COMPILED) with mypyc. An editable install with
``FULMEN_COMPILE=1`` is refused: the ``.so`` files would sit next to the ``.py`` files and keep
running the old code after every edit. See docs/engine.md, "Compiled engine (optional)".
"""

from __future__ import annotations

import os
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # the rest of the PEP 517/660 hooks, unchanged
    build_sdist as build_sdist,
)
from setuptools.build_meta import (
    get_requires_for_build_sdist as get_requires_for_build_sdist,
)
from setuptools.build_meta import (
    prepare_metadata_for_build_wheel as prepare_metadata_for_build_wheel,
)

#: The mypy (and so mypyc) that compiles the engine: the version CI type-checks and tests the build with.
MYPY = "mypy==2.4.1"
#: The Cython that compiles the lane (fulmen/engine/_lane.pyx).
CYTHON = "cython>=3.1,<4"

ConfigSettings = dict[str, Any] | None


def compile_requested() -> bool:
    """True for ``FULMEN_COMPILE=1``; unset, empty or ``0`` is the pure-Python build; other values fail."""
    value = os.environ.get("FULMEN_COMPILE", "").strip()
    if value not in ("", "0", "1"):
        raise SystemExit(f"FULMEN_COMPILE must be 1 (compile the engine with mypyc) or 0, not {value!r}")
    return value == "1"


def _refuse_editable() -> None:
    if compile_requested():
        raise SystemExit(
            "FULMEN_COMPILE=1 can't be used with an editable install (pip install -e): the compiled "
            "modules would shadow their .py files in src/ and keep running the old code after every edit. "
            "Use `FULMEN_COMPILE=1 pip install .` (not editable), or drop FULMEN_COMPILE for "
            "`pip install -e .`."
        )


def get_requires_for_build_wheel(config_settings: ConfigSettings = None) -> list[str]:
    """setuptools' requirements, plus mypy and Cython when the engine is to be compiled."""
    requires = list(_setuptools.get_requires_for_build_wheel(config_settings))
    if compile_requested():
        requires += [MYPY, CYTHON]
    return requires


def build_wheel(
    wheel_directory: str, config_settings: ConfigSettings = None, metadata_directory: str | None = None
) -> str:
    """A wheel; with ``FULMEN_COMPILE=1`` it carries the compiled modules (setup.py)."""
    compile_requested()  # a bad value fails before anything is built
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def get_requires_for_build_editable(config_settings: ConfigSettings = None) -> list[str]:
    _refuse_editable()
    return list(_setuptools.get_requires_for_build_editable(config_settings))


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: ConfigSettings = None
) -> str:
    _refuse_editable()
    return _setuptools.prepare_metadata_for_build_editable(metadata_directory, config_settings)


def build_editable(
    wheel_directory: str, config_settings: ConfigSettings = None, metadata_directory: str | None = None
) -> str:
    _refuse_editable()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
