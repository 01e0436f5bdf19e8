"""Cross-check of ``Depends``: the app of ``tests/crosscheck_deps_apps.py`` built with FastAPI and fulmen.

The cases run in order against one app (the ``/log`` cases read the effects of the case before them, including
what ran after its response was sent), so both frameworks must agree on results, errors and order of effects.
"""

from __future__ import annotations

from collections.abc import Callable

import fastapi
import httpx
import pytest

import fulmen
from fulmen.testclient import TestClient
from tests.crosscheck_deps_apps import CASES_DEPENDENCIES, build_dependencies
from tests.test_crosscheck_fastapi import Answer, _mismatch, _reraise_only_unanswered, ask


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    app = _reraise_only_unanswered(build_dependencies(fastapi))
    with TestClient(app, raise_server_exceptions=False) as client:
        return {case[0]: ask(client, case) for case in CASES_DEPENDENCIES}


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES_DEPENDENCIES]
    assert len(ids) == len(set(ids))


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    """Every case answers exactly as FastAPI does, in order, on every front door."""
    client = serve(build_dependencies(fulmen))
    failures = []
    for case in CASES_DEPENDENCIES:
        got = ask(client, case, drop_head=True)
        if got != fastapi_answers[case[0]]:
            failures.append(_mismatch(case, fastapi_answers[case[0]], got))
    assert not failures, f"{len(failures)} of {len(CASES_DEPENDENCIES)} cases differ:\n" + "\n".join(failures)
