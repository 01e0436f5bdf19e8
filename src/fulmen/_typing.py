"""Type-inspection helpers that behave the same on every supported Python.

On Python 3.10, a parameterised builtin such as ``list[int]`` passes ``isinstance(tp, type)`` (3.11 fixed
that), and ``issubclass(list[int], X)`` then raises ``TypeError``; annotations must be tested with
``is_class`` instead. Its ``get_type_hints`` also wraps a hint in ``Optional`` when the default is ``None``.
"""

from __future__ import annotations

import sys
import types
import typing
from typing import Any, TypeGuard

__all__ = ["function_type_hints", "is_class"]


def is_class(tp: Any) -> TypeGuard[type[Any]]:
    """Whether ``tp`` is a real class, not a ``list[int]``-style alias: ``issubclass(tp, ...)`` is safe."""
    return isinstance(tp, type) and not isinstance(tp, types.GenericAlias)


def function_type_hints(fn: Any) -> dict[str, Any]:
    """``typing.get_type_hints(fn, include_extras=True)`` without Python 3.10's implicit ``Optional``.

    Before 3.11, a parameter whose default is ``None`` had its hint wrapped in ``Optional[...]``, which hides
    ``Annotated[...]`` metadata (``Form(alias=...)``, ``Query(...)``) inside a ``Union``; a copy of the
    function without its defaults resolves the hints as written.
    """
    if sys.version_info < (3, 11):
        func = getattr(fn, "__func__", fn)
        if isinstance(func, types.FunctionType) and (func.__defaults__ or func.__kwdefaults__):
            bare = types.FunctionType(func.__code__, func.__globals__, func.__name__, None, func.__closure__)
            bare.__annotations__ = func.__annotations__
            bare.__qualname__ = func.__qualname__
            bare.__module__ = func.__module__
            if hasattr(func, "__wrapped__"):
                bare.__wrapped__ = func.__wrapped__  # type: ignore[attr-defined]
            fn = bare
    return typing.get_type_hints(fn, include_extras=True)
