"""Cross-check: ``status`` as FastAPI's (Starlette's module): the same constants for ``import *``, and the
retired names (``HTTP_422_UNPROCESSABLE_ENTITY``...) still give their code, with Starlette's deprecation
warning.
"""

import warnings
from types import ModuleType
from typing import Any

import fastapi
import pytest

import fulmen

RETIRED = [
    "HTTP_413_REQUEST_ENTITY_TOO_LARGE",
    "HTTP_414_REQUEST_URI_TOO_LONG",
    "HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE",
    "HTTP_422_UNPROCESSABLE_ENTITY",
]


def _read(module: ModuleType, name: str) -> tuple[Any, ...]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(module, name)
    return value, [(type(w.message).__name__, str(w.message), w.filename) for w in caught]


@pytest.mark.parametrize("name", RETIRED)
def test_retired_names_warn_as_in_fastapi(name: str) -> None:
    assert _read(fulmen.status, name) == _read(fastapi.status, name)


def test_star_import_names_as_in_fastapi() -> None:
    assert sorted(fulmen.status.__all__) == sorted(fastapi.status.__all__)
    for name in fastapi.status.__all__:
        assert getattr(fulmen.status, name) == getattr(fastapi.status, name), name


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="HTTP_999_NOPE"):
        fulmen.status.HTTP_999_NOPE  # noqa: B018
