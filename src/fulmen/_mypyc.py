"""``mypyc_attr`` for the classes the optional compiled build turns native (docs/engine.md).

The type checker and mypyc see ``mypy_extensions.mypyc_attr``; at run time it is a local no-op, so the pure
Python package never imports ``mypy_extensions`` (not a dependency) and the compiled module never calls it
(mypyc reads the decorator at compile time and drops it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

_T = TypeVar("_T")

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr as mypyc_attr
else:

    def mypyc_attr(*attrs: str, **kwattrs: Any) -> Any:
        """No-op: returns the class unchanged."""
        return _unchanged


def _unchanged(cls: _T) -> _T:
    return cls
