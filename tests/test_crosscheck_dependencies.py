"""Cross-check of ``Depends``: the app of ``tests/crosscheck_deps_apps.py`` built with FastAPI and fulmen.

The cases run in order against one app (the ``/log`` cases read the effects of the case before them, including
what ran after its response was sent), so both frameworks must agree on results, errors and order of effects.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

import fulmen
from tests.crosscheck_deps_apps import CASES_DEPENDENCIES, build_dependencies
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_dependencies, CASES_DEPENDENCIES)


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES_DEPENDENCIES]
    assert len(ids) == len(set(ids))


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    """Every case answers exactly as FastAPI does, in order, on every front door."""
    client = serve(build_dependencies(fulmen))
    assert_same_as_fastapi(client, CASES_DEPENDENCIES, fastapi_answers)
