"""Starlette's ``Request`` API beyond the basics, cross-checked against FastAPI where it runs in-process:
``json()`` errors, ``session``/``auth``/``user`` from ASGI middleware, ``is_disconnected()``.
"""

import json
from collections.abc import Callable
from typing import Any

import fastapi
import httpx
import pytest

import fulmen
from fulmen.testclient import TestClient


def _json_app(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.post("/json")
    async def decode(request: fw.Request) -> Any:
        try:
            return {"value": await request.json()}
        except json.JSONDecodeError as exc:
            return {"error": "JSONDecodeError", "msg": exc.msg, "pos": exc.pos}
        except ValueError as exc:  # UnicodeDecodeError for a body that is not valid UTF-8
            return {"error": type(exc).__name__}

    return app


BODIES = [
    b'{"a": [1, 2.5, "\xc3\xa9"]}',
    b"{nope",
    b"",
    b'\xef\xbb\xbf{"bom": 1}',
    '{"utf16": 1}'.encode("utf-16"),
    b'{"a":"\xe9"}',
    b"[NaN, Infinity]",
    b"[1] x",
    b"123456789012345678901234567890",
]


@pytest.mark.parametrize("body", BODIES)
def test_request_json_behaves_as_starlette(serve: Callable[..., httpx.Client], body: bytes) -> None:
    with TestClient(_json_app(fastapi)) as client:
        expected = client.post("/json", content=body)
    got = serve(_json_app(fulmen)).post("/json", content=body)
    assert got.status_code == expected.status_code == 200
    assert got.json() == expected.json()
