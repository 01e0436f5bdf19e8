"""Fixtures for the compression middleware tests."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture
def stdlib_zstd_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """zstandard hidden, and the standard library's ``compression.zstd`` API present (Python 3.14+, or its
    backport ``backports.zstd`` from the dev extra standing in for it), so the stdlib zstd path runs."""
    import importlib

    from tests.conftest import ci

    module = None
    for name in ("compression.zstd", "backports.zstd"):
        try:
            module = importlib.import_module(name)
            break
        except ImportError:
            continue
    if module is None:
        message = "neither compression.zstd (Python 3.14+) nor backports.zstd (the dev extra) is importable"
        if ci():
            pytest.fail(message)
        pytest.skip(message)
    monkeypatch.setitem(sys.modules, "zstandard", None)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "compression.zstd", module)
