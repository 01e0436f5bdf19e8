"""Helpers for comparing OpenAPI documents: build with FastAPI and with fulmen, show the first difference."""

import json
import warnings
from collections.abc import Callable
from typing import Any

import fastapi
import fastapi.openapi.models
import fastapi.responses
import fastapi.security
import fastapi.sse

import fulmen
import fulmen.exceptions
import fulmen.openapi.models
import fulmen.openapi.utils
import fulmen.responses
import fulmen.security
import fulmen.sse

#: The document-generation warnings ("Duplicate Operation ID ...") each side gave last.
WARNINGS: dict[str, list[str]] = {"fastapi": [], "fulmen": []}


def _duplicates(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if str(w.message).startswith("Duplicate Operation ID")]


def fastapi_document(build: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """FastAPI's document for the app (its deprecation warnings are FastAPI's business, not the test's)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = build(fastapi, *args).openapi()
    WARNINGS["fastapi"] = _duplicates(caught)
    return doc  # type: ignore[no-any-return]


def fulmen_document(build: Callable[..., Any], *args: Any, plain: bool = False) -> dict[str, Any]:
    """fulmen's document; ``plain`` generates it with the pydantic-free schema backend.

    Warnings stay errors, except the duplicate operation id warnings FastAPI gives for the same app and
    the deprecation warnings FastAPI gives when such an app is built (``example=``; checked to be FastAPI's
    by test_documents.test_deprecated_arguments_warn_as_in_fastapi).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fulmen.exceptions.FastAPIDeprecationWarning)
        app = build(fulmen, *args)
    before = fulmen.openapi.utils._FORCE_PLAIN
    fulmen.openapi.utils._FORCE_PLAIN = plain
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            doc = app.openapi()
    finally:
        fulmen.openapi.utils._FORCE_PLAIN = before
    WARNINGS["fulmen"] = _duplicates(caught)
    unexpected = [w for w in caught if str(w.message) not in WARNINGS["fastapi"]]
    if unexpected:
        raise AssertionError(f"unexpected warnings: {[str(w.message) for w in unexpected]}")
    return doc  # type: ignore[no-any-return]


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    """Where two JSON values first differ (key order included), or None when they are identical."""
    if type(a) is not type(b):
        return f"{path}: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return f"{path}: keys {list(a)} != {list(b)}"
        for key in a:
            found = first_difference(a[key], b[key], f"{path}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def assert_same(expected: dict[str, Any], actual: dict[str, Any]) -> None:
    """The documents serialise to the same JSON text (``json.dumps`` keeps key order), and generating
    them gave the same duplicate operation id warnings."""
    if json.dumps(expected) != json.dumps(actual):
        raise AssertionError("documents differ: " + str(first_difference(expected, actual)))
    assert WARNINGS["fulmen"] == WARNINGS["fastapi"]
