"""``fastapi.types``: the type names FastAPI's signatures use, for code that annotates with them."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, TypeVar, Union

from fulmen.response_model import IncEx

__all__ = ["DecoratedCallable", "IncEx", "UnionType"]

#: What a route decorator (``@app.get(...)``) takes and gives back unchanged.
DecoratedCallable = TypeVar("DecoratedCallable", bound=Callable[..., Any])
#: ``X | Y`` at run time (``types.UnionType``; ``typing.Union`` before Python 3.10).
UnionType = getattr(types, "UnionType", Union)
