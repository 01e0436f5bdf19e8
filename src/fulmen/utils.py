"""``fastapi.utils``: the small helpers integrations import from it (``generate_unique_id`` above all).

Each is fulmen's own implementation, kept where fulmen uses it and given FastAPI's import path here.
"""

from __future__ import annotations

import re
from typing import TypeVar

from fulmen.openapi.utils import deep_dict_update
from fulmen.response_model import DefaultPlaceholder, is_body_allowed_for_status_code
from fulmen.routing import _generate_unique_id as generate_unique_id

__all__ = [
    "deep_dict_update",
    "generate_unique_id",
    "get_path_param_names",
    "get_value_or_default",
    "is_body_allowed_for_status_code",
]

_T = TypeVar("_T")
_BRACED = re.compile(r"{(.*?)}")


def get_path_param_names(path: str) -> set[str]:
    """What stands between braces in a path template, convertor included (``{p:path}`` gives ``"p:path"``),
    as FastAPI's helper returns it."""
    return set(_BRACED.findall(path))


def get_value_or_default(
    first_item: _T | DefaultPlaceholder, *extra_items: _T | DefaultPlaceholder
) -> _T | DefaultPlaceholder:
    """The first item that isn't a ``Default(...)`` placeholder, else the first item (the highest-priority
    placeholder): how a route's, a router's and an app's settings are merged."""
    for item in (first_item, *extra_items):
        if not isinstance(item, DefaultPlaceholder):
            return item
    return first_item
