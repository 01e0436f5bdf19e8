"""Cross-check: a ``fastapi.APIRouter`` (as fastapi-users' or strawberry's) included in a fulmen app.

Libraries build their routers with FastAPI's ``APIRouter`` and the user includes them with
``app.include_router(router, prefix=..., tags=...)``. fulmen registers every route again with the same
attributes, so the routes are served and documented (``/openapi.json``) exactly as FastAPI would; what it
can't serve is a start-up error, never a silently missing route.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import fastapi
import fastapi.responses
import fastapi.routing
import httpx
import pytest
from pydantic import BaseModel

import fulmen
from fulmen.exceptions import FastAPIError
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]
events: list[str] = []


class User(BaseModel):
    id: int
    email: str


class Database:
    def __init__(self, name: str) -> None:
        self.name = name


class UserCreate(BaseModel):
    email: str
    password: str


def library_router(get_manager: Callable[..., Any]) -> fastapi.APIRouter:
    """What a library's ``get_users_router(...)`` returns: FastAPI's router and markers, around a dependency
    the user wrote (fastapi-users' ``get_user_manager``) with the user's framework's ``Depends``."""
    router = fastapi.APIRouter(prefix="/users", tags=["users"], responses={418: {"description": "Tea"}})

    def current(authorization: Annotated[str | None, fastapi.Header()] = None) -> str:
        if authorization != "Bearer ok":
            raise fastapi.HTTPException(401, "Unauthorized", headers={"WWW-Authenticate": "Bearer"})
        return "me"

    @router.get("/me", response_model=User, name="users:current_user")
    def me(user: str = fastapi.Depends(current)) -> Any:
        return {"id": 1, "email": f"{user}@x.org", "password": "never shown"}

    @router.post(
        "/",
        response_model=User,
        status_code=201,
        name="users:register",
        responses={400: {"description": "Already exists"}},
        summary="Register a user",
        operation_id="register",
    )
    async def register(
        user: UserCreate, request: fastapi.Request, manager: Any = fastapi.Depends(get_manager)
    ) -> Any:
        if user.email in manager["taken"]:
            raise fastapi.HTTPException(400, "REGISTER_USER_ALREADY_EXISTS")
        return {"id": 2, "email": user.email}

    @router.get("/{user_id}", dependencies=[fastapi.Depends(current)], deprecated=True)
    def get_user(user_id: int) -> User:
        return User(id=user_id, email="u@x.org")

    @router.get("/hidden/page", include_in_schema=False, response_class=fastapi.responses.HTMLResponse)
    def hidden() -> str:
        return "<p>hidden</p>"

    @router.websocket("/ws")
    async def ws(websocket: fastapi.WebSocket, q: str = "none") -> None:
        await websocket.accept()
        await websocket.send_json({"q": q})
        await websocket.close()

    events_router = fastapi.APIRouter()  # OpenAPI callbacks, declared on FastAPI's router as its docs show

    @events_router.post("{$callback_url}/users/{$request.body.email}", response_model=User)
    def user_created(body: User) -> None:
        pass

    @router.post("/subscriptions", callbacks=events_router.routes, status_code=202)
    def subscribe(callback_url: str) -> Any:
        return {"to": callback_url}

    def plain(request: Any) -> Any:
        return fastapi.responses.PlainTextResponse(f"plain {request.url.path}")

    router.add_route("/plain/route", plain, methods=["GET"])

    admin = fastapi.APIRouter(prefix="/admin", tags=["admin"], dependencies=[fastapi.Depends(current)])

    @admin.get("/stats")
    def stats(n: int = fastapi.Query(1, le=5)) -> Any:
        return {"n": n}

    router.include_router(admin, responses={403: {"description": "Forbidden"}})

    @router.on_event("startup")
    def started() -> None:
        events.append("startup")

    return router


def build(fw: Any) -> Any:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        events.append("app")
        yield

    def get_db(x_db: Annotated[str, fw.Header()] = "main") -> Database:
        return Database(x_db)

    # Not a pydantic type: FastAPI, building the library's router, must see a dependency here, not a body.
    def get_manager(db: Database = fw.Depends(get_db)) -> dict[str, Any]:
        return {"db": db.name, "taken": {"taken@x.org"}}

    app = fw.FastAPI(lifespan=lifespan)
    with pytest.warns(DeprecationWarning):
        router = library_router(get_manager)  # on_event is deprecated in FastAPI
    app.include_router(router, prefix="/v1", tags=["v1"])
    return app


CASES: list[Case] = [
    ("me", "GET", "/v1/users/me", {"headers": {"authorization": "Bearer ok"}}),
    ("me-unauthorized", "GET", "/v1/users/me", {}),
    ("register", "POST", "/v1/users/", {"json": {"email": "a@x.org", "password": "p"}}),
    ("register-taken", "POST", "/v1/users/", {"json": {"email": "taken@x.org", "password": "p"}}),
    ("register-invalid", "POST", "/v1/users/", {"json": {"email": "a@x.org"}}),
    ("user", "GET", "/v1/users/7", {"headers": {"authorization": "Bearer ok"}}),
    ("user-invalid", "GET", "/v1/users/x", {"headers": {"authorization": "Bearer ok"}}),
    ("hidden", "GET", "/v1/users/hidden/page", {}),
    ("plain", "GET", "/v1/users/plain/route", {}),
    ("nested", "GET", "/v1/users/admin/stats?n=2", {"headers": {"authorization": "Bearer ok"}}),
    ("nested-invalid", "GET", "/v1/users/admin/stats?n=9", {"headers": {"authorization": "Bearer ok"}}),
    ("nested-unauthorized", "GET", "/v1/users/admin/stats", {}),
    ("subscribe", "POST", "/v1/users/subscriptions?callback_url=http://x", {}),
    ("openapi", "GET", "/openapi.json", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    events.clear()
    answers = fastapi_answers_for(build, CASES)
    assert events == ["app", "startup"]
    return answers


def test_fastapi_router_as_in_fastapi(
    serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]
) -> None:
    assert_same_as_fastapi(serve(build(fulmen)), CASES, fastapi_answers)


def test_fastapi_router_websocket_and_lifespan() -> None:
    events.clear()
    app = build(fulmen)
    with TestClient(app) as client:
        assert events == ["app", "startup"]  # the router's startup handler runs inside the app's lifespan
        with client.websocket_connect("/v1/users/ws?q=hi") as ws:
            assert ws.receive_json() == {"q": "hi"}
    assert app.url_path_for("users:current_user") == "/v1/users/me"


def test_custom_route_class_is_a_startup_error() -> None:
    """A FastAPI route class that redefines how it handles requests can't run on fulmen: say so."""

    class TimedRoute(fastapi.routing.APIRoute):
        def get_route_handler(self) -> Callable[..., Any]:
            return super().get_route_handler()

    router = fastapi.APIRouter(route_class=TimedRoute)

    @router.get("/timed")
    def timed() -> Any:
        return 1

    app = fulmen.FastAPI()
    with pytest.raises(FastAPIError, match=r"TimedRoute '/timed'.*get_route_handler"):
        app.include_router(router)


def test_not_a_router_is_a_startup_error() -> None:
    with pytest.raises(FastAPIError, match=r"include_router\(\) takes an APIRouter"):
        fulmen.FastAPI().include_router(object())  # type: ignore[arg-type]


def test_empty_paths_take_the_prefix() -> None:
    """strawberry's GraphQLRouter declares its HTTP and WebSocket routes at ``""``; the prefix is the path."""
    router = fastapi.APIRouter()

    @router.api_route("", methods=["GET", "POST"])
    async def http(request: fastapi.Request) -> Any:
        return {"method": request.method}

    @router.websocket("")
    async def ws(websocket: fastapi.WebSocket) -> None:
        await websocket.accept(subprotocol="graphql-transport-ws")
        await websocket.send_text("ack")
        await websocket.close()

    app = fulmen.FastAPI()
    app.include_router(router, prefix="/graphql")
    with TestClient(app) as client:
        assert client.post("/graphql").json() == {"method": "POST"}
        with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as websocket:
            assert websocket.receive_text() == "ack"
    with pytest.raises(FastAPIError, match="Prefix and path cannot be both empty"):
        fulmen.FastAPI().include_router(router)


def test_empty_websocket_path_on_a_fulmen_router() -> None:
    router = fulmen.APIRouter()

    @router.websocket("")
    async def ws(websocket: fulmen.WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.close()

    app = fulmen.FastAPI()
    app.include_router(router, prefix="/ws")
    with TestClient(app) as client, client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "hi"
