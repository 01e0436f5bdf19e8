"""Declarations fulmen can't serve fail at start-up, naming the route and the parameter."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from starlette.requests import Request as StarletteRequest

import fulmen
from fulmen import Body, FastAPI, FastAPIError, Path, Query


class NotAModel:
    def __init__(self, x: int) -> None:
        self.x = x


def test_unknown_annotation_names_route_and_parameter() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError) as info:

        @app.post("/things")
        async def create(thing: NotAModel) -> None:
            return None

    message = str(info.value)
    assert "'/things'" in message and "'thing'" in message


def test_path_marker_without_placeholder() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match=r"'item_id'.*no \{item_id\}"):

        @app.get("/items")
        async def read(item_id: Annotated[int, Path()]) -> None:
            return None


def test_path_parameter_declared_as_query() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match="is a path parameter"):

        @app.get("/items/{item_id}")
        async def read(item_id: Annotated[int, Query()]) -> None:
            return None


def test_structured_query_parameter_rejected() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match="Query parameter 'q' must be one of the supported types"):

        @app.get("/items")
        async def read(q: Annotated[dict[str, int], Query()]) -> None:
            return None


def test_two_markers() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match="use only one"):

        @app.get("/items")
        async def read(q: Annotated[int, Query()] = Query(3)) -> None:
            return None


def test_path_default_is_rejected() -> None:
    with pytest.raises(AssertionError):
        Path(3)


def test_body_marker_ok() -> None:
    app = FastAPI()

    @app.post("/items")
    async def create(n: Annotated[int, Body(embed=True)]) -> int:
        return n

    assert app.routes[-1].dependant.body_params[0].name == "n"


def test_undeclared_path_parameter_is_a_start_up_error() -> None:
    app = FastAPI()
    with pytest.raises(FastAPIError, match="path parameter 'item_id' is not a parameter of"):

        @app.get("/items/{item_id}")
        def read(itemid: int) -> Any:  # a typo: nothing could ever receive {item_id}
            return itemid


def test_path_parameter_read_from_the_request_as_in_fastapi() -> None:
    """FastAPI code may leave a path parameter out of the signature and read ``request.path_params``
    (in the endpoint or a dependency): served, and documented as FastAPI documents it (without it)."""
    import fastapi

    from fulmen.testclient import TestClient

    answers = []
    for fw in (fastapi, fulmen):
        app = fw.FastAPI()

        def tenant(request: StarletteRequest) -> str:  # Starlette's class: both frameworks take it
            return str(request.path_params["tenant"])

        @app.get("/items/{item_id}")
        def read(request: StarletteRequest) -> Any:
            return request.path_params

        @app.get("/tenants/{tenant}/items", dependencies=[fw.Depends(tenant)])
        def items() -> Any:
            return []

        client = TestClient(app)
        answers.append(
            (
                client.get("/items/3").json(),
                client.get("/tenants/acme/items").status_code,
                client.get("/openapi.json").json()["paths"],
            )
        )
    assert answers[1] == answers[0]
    assert answers[0][0] == {"item_id": "3"}


def test_mount_path_with_a_parameter_is_a_start_up_error() -> None:
    """Starlette mounts "/tenants/{tenant}" with a parameter; fulmen refuses it rather than never matching."""
    app = FastAPI()
    with pytest.raises(FastAPIError, match="has a path parameter"):
        app.mount("/tenants/{tenant}", FastAPI())
