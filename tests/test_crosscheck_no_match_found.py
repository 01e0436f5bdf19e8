"""Cross-check: an unknown route name in ``url_path_for``/``url_for`` raises Starlette's ``NoMatchFound``
(with its message), which FastAPI code catches by that name; it is ``fulmen.routing.NoMatchFound`` too."""

import subprocess
import sys
from typing import Any

import fastapi
import pytest
import starlette.routing

import fulmen
import fulmen.routing
from fulmen.testclient import TestClient


def build(fw: Any) -> Any:
    app = fw.FastAPI()

    @app.get("/items/{item_id}", name="item")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/link")
    async def link(request: fw.Request, name: str) -> dict[str, str]:
        try:
            return {"url": str(request.url_for(name, item_id=1))}
        except starlette.routing.NoMatchFound as exc:
            return {"error": str(exc)}

    return app


@pytest.mark.parametrize(
    ("name", "params"),
    [("nope", {}), ("item", {}), ("item", {"item_id": 1, "extra": 2}), ("nope", {"a": 1, "b": 2})],
)
def test_url_path_for_raises_starlettes_no_match_found(name: str, params: dict[str, Any]) -> None:
    errors = []
    for fw in (fastapi, fulmen):
        with pytest.raises(starlette.routing.NoMatchFound) as info:
            build(fw).url_path_for(name, **params)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_request_url_for_error_caught_as_in_fastapi() -> None:
    answers = [TestClient(build(fw)).get("/link", params={"name": "nope"}).json() for fw in (fastapi, fulmen)]
    assert answers[0] == answers[1] == {"error": 'No route exists for name "nope" and params "item_id".'}
    assert TestClient(build(fulmen)).get("/link", params={"name": "item"}).json() == {
        "url": "http://testserver/items/1"
    }


def test_without_starlette_it_is_fulmens_own() -> None:
    code = (
        "import sys, fulmen, fulmen.routing\n"
        "app = fulmen.FastAPI()\n"
        "try:\n"
        "    app.url_path_for('nope')\n"
        "except fulmen.routing.NoMatchFound as exc:\n"
        "    print(type(exc) is fulmen.routing.NoMatchFound, 'starlette' in sys.modules, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == 'True False No route exists for name "nope" and params "".\n'
    assert issubclass(fulmen.routing.NoMatchFound, fulmen.exceptions.FastAPIError)  # what it raised before
