"""Cross-check: FastAPI's own objects inside a fulmen app, as libraries written for FastAPI hand them over.

Ecosystem libraries (fastapi-users, fastapi-pagination, fastapi-login ...) ``import fastapi`` themselves, so
the dependencies, security schemes, exceptions and annotations they give the user's app are FastAPI's even
when the app is fulmen's. Here the app is built with each framework but every marker, security scheme,
exception and annotated class comes from ``fastapi``: fulmen must answer, and document, exactly as FastAPI.
"""

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Annotated, Any

import fastapi
import fastapi.exceptions
import fastapi.params
import fastapi.responses
import fastapi.security
import httpx
import pytest
from pydantic import BaseModel

import fulmen
from fulmen.foreign_params import translate_marker
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]

oauth2 = fastapi.security.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read me", "items": "Items"})
bearer = fastapi.security.HTTPBearer(auto_error=False)
api_key = fastapi.security.APIKeyHeader(name="x-key", scheme_name="Key")
basic = fastapi.security.HTTPBasic()


class Item(BaseModel):
    name: str
    price: float = 1.0


def build_markers(fw: Any) -> Any:
    """Parameters declared with ``fastapi.Query/Path/Header/Cookie/Body/Form/File/Depends/Security``."""
    app = fw.FastAPI()

    def doubled(x: int = fastapi.Query(3, ge=0, description="a number")) -> int:
        return x * 2

    def paging(
        limit: Annotated[int, fastapi.Query(le=50, alias="page-size")] = 10,
        token: Annotated[str | None, fastapi.Cookie()] = None,
    ) -> dict[str, Any]:
        return {"limit": limit, "token": token}

    @app.get("/markers/{item_id}")
    async def markers(
        item_id: Annotated[int, fastapi.Path(gt=0, title="The id")],
        v: int = fastapi.Depends(doubled),
        page: Annotated[dict[str, Any] | None, fastapi.Depends(paging)] = None,
        user_agent: Annotated[str | None, fastapi.Header()] = None,
        x_tag: str | None = fastapi.Header(None, convert_underscores=False),
        q: Annotated[list[str] | None, fastapi.Query(max_length=3)] = None,
        copied: int = copy.deepcopy(fastapi.Query(1, description="deep-copied, as fastapi-filter does")),
    ) -> Any:
        return {"id": item_id, "v": v, "page": page, "ua": user_agent, "tag": x_tag, "q": q, "c": copied}

    @app.post("/bodies")
    def bodies(
        item: Annotated[Item, fastapi.Body(embed=True)],
        importance: Annotated[int, fastapi.Body(gt=0)] = 1,
    ) -> Any:
        return {"item": item, "importance": importance}

    @app.post("/forms")
    def forms(
        upload: fastapi.UploadFile,
        tasks: fastapi.BackgroundTasks,
        response: fastapi.Response,
        note: Annotated[str, fastapi.Form(min_length=2)] = "nn",
        more: Annotated[list[fastapi.UploadFile] | None, fastapi.File()] = None,
    ) -> Any:
        response.headers["x-note"] = note
        tasks.add_task(lambda: None)
        return {"file": upload.filename, "note": note, "more": [m.filename for m in more or []]}

    @app.get("/routedeps", dependencies=[fastapi.Depends(doubled)])
    def routedeps() -> Any:
        return "ok"

    return app


def build_security(fw: Any) -> Any:
    """``fastapi.security`` schemes as dependencies, ``fastapi.Security`` scopes and ``SecurityScopes``."""
    app = fw.FastAPI()

    def current_user(
        scopes: fastapi.security.SecurityScopes, token: Annotated[str, fastapi.Depends(oauth2)]
    ) -> Any:
        if token == "bad":
            raise fastapi.HTTPException(
                401, "Could not validate", headers={"WWW-Authenticate": f'Bearer scope="{scopes.scope_str}"'}
            )
        return {"token": token, "scopes": scopes.scopes}

    @app.get("/me")
    def me(user: Annotated[Any, fastapi.Security(current_user, scopes=["me"])]) -> Any:
        return user

    @app.get("/items", dependencies=[fastapi.Security(current_user, scopes=["items"])])
    def items() -> Any:
        return ["a"]

    @app.get("/bearer")
    def with_bearer(creds: Any = fastapi.Depends(bearer)) -> Any:
        return None if creds is None else creds.credentials

    @app.get("/key")
    def with_key(key: str = fastapi.Security(api_key)) -> Any:
        return key

    @app.get("/basic")
    def with_basic(creds: Annotated[fastapi.security.HTTPBasicCredentials, fastapi.Depends(basic)]) -> Any:
        return [creds.username, creds.password]

    return app


def build_errors(fw: Any) -> Any:
    """FastAPI's exceptions raised, and handlers registered for FastAPI's classes (as libraries do)."""
    app = fw.FastAPI()

    @app.exception_handler(fastapi.HTTPException)
    async def on_http(request: Any, exc: Any) -> Any:
        return fastapi.responses.JSONResponse({"caught": exc.detail}, status_code=exc.status_code)

    def guard(x: int = 0) -> None:
        if x < 0:
            raise fastapi.HTTPException(403, "negative")

    @app.get("/raise", dependencies=[fastapi.Depends(guard)])
    def raising(kind: str = "http") -> Any:
        if kind == "http":
            raise fastapi.HTTPException(418, "teapot", headers={"x-why": "tea"})
        if kind == "validation":
            raise fastapi.exceptions.RequestValidationError(
                [{"loc": ("query", "kind"), "msg": "not this one", "type": "value_error"}]
            )
        return kind

    @app.get("/own")
    def own() -> Any:
        raise fw.HTTPException(409, "the framework's own")  # a handler for FastAPI's class catches it too

    @app.get("/html", response_class=fastapi.responses.HTMLResponse)
    def html() -> Any:
        return "<b>hi</b>"

    return app


CASES_MARKERS: list[Case] = [
    ("markers-ok", "GET", "/markers/4?x=5&page-size=20&q=a&q=bb", {"headers": {"x_tag": "t"}}),
    ("markers-defaults", "GET", "/markers/1", {"headers": {"cookie": "token=c"}}),
    ("markers-invalid", "GET", "/markers/0?x=-1&page-size=99&q=abcd", {}),
    ("bodies-ok", "POST", "/bodies", {"json": {"item": {"name": "a"}, "importance": 3}}),
    ("bodies-invalid", "POST", "/bodies", {"json": {"item": {}, "importance": 0}}),
    ("forms-ok", "POST", "/forms", {"files": [("upload", ("a.txt", b"x")), ("more", ("b.txt", b"y"))]}),
    ("forms-invalid", "POST", "/forms", {"data": {"note": "n"}}),
    ("route-dependencies", "GET", "/routedeps?x=-2", {}),
    ("openapi", "GET", "/openapi.json", {}),
]
CASES_SECURITY: list[Case] = [
    ("me-none", "GET", "/me", {}),
    ("me-ok", "GET", "/me", {"headers": {"authorization": "Bearer tok"}}),
    ("me-bad", "GET", "/me", {"headers": {"authorization": "Bearer bad"}}),
    ("items", "GET", "/items", {"headers": {"authorization": "Bearer bad"}}),
    ("bearer-none", "GET", "/bearer", {}),
    ("bearer-ok", "GET", "/bearer", {"headers": {"authorization": "Bearer zz"}}),
    ("key-none", "GET", "/key", {}),
    ("key-ok", "GET", "/key", {"headers": {"x-key": "k"}}),
    ("basic-none", "GET", "/basic", {}),
    ("basic-ok", "GET", "/basic", {"auth": ("u", "p")}),
    ("openapi", "GET", "/openapi.json", {}),
]
CASES_ERRORS: list[Case] = [
    ("http", "GET", "/raise", {}),
    ("from-dependency", "GET", "/raise?x=-1", {}),
    ("validation", "GET", "/raise?kind=validation", {}),
    ("fine", "GET", "/raise?kind=fine", {}),
    ("own", "GET", "/own", {}),
    ("html", "GET", "/html", {}),
]
GROUPS: dict[str, tuple[Callable[[Any], Any], list[Case]]] = {
    "markers": (build_markers, CASES_MARKERS),
    "security": (build_security, CASES_SECURITY),
    "errors": (build_errors, CASES_ERRORS),
}


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, dict[str, Answer]]:
    return {name: fastapi_answers_for(build, cases) for name, (build, cases) in GROUPS.items()}


@pytest.mark.parametrize("group", list(GROUPS))
def test_fastapi_objects_as_in_fastapi(
    group: str, serve: Callable[..., httpx.Client], fastapi_answers: dict[str, dict[str, Answer]]
) -> None:
    build, cases = GROUPS[group]
    assert_same_as_fastapi(serve(build(fulmen)), cases, fastapi_answers[group])


def test_marker_translation_is_once_per_object() -> None:
    """One fulmen marker per FastAPI marker: identity checks and a shared ``max_concurrency`` hold."""
    marker = fastapi.Depends(lambda: 1, max_concurrency=2, use_cache=False)
    ours = translate_marker(marker)
    assert ours is translate_marker(marker)
    assert isinstance(ours, fulmen.params.Depends) and ours.max_concurrency == 2 and not ours.use_cache
    assert isinstance(translate_marker(fastapi.Security(lambda: 1, scopes=["a"])), fulmen.params.Security)
    query = translate_marker(fastapi.Query(max_length=3, pattern="^a", alias="z", deprecated=True))
    assert (type(query), query.max_length, query.pattern, query.alias, query.deprecated) == (
        fulmen.params.Query,
        3,
        "^a",
        "z",
        True,
    )
    assert translate_marker(3) == 3 and translate_marker(None) is None


def test_marker_subclass_from_a_library() -> None:
    """A library's subclass of FastAPI's marker (``class LibDepends(fastapi.params.Depends)``) is one too."""

    class LibraryDepends(fastapi.params.Depends):
        pass

    def dep(n: int = fastapi.Query(1)) -> int:
        return n + 1

    app = fulmen.FastAPI()

    @app.get("/")
    def read(value: int = LibraryDepends(dep)) -> Any:
        return value

    with TestClient(app) as client:
        assert client.get("/?n=4").json() == 5


def test_fulmen_depends_is_fastapi_depends_once_fastapi_is_imported() -> None:
    """A library builds a ``fastapi.APIRouter`` around a dependency of the user (fastapi-users'
    ``get_user_manager(user_db = Depends(get_user_db))``): FastAPI takes fulmen's ``Depends`` as its own."""

    class Database:  # not a pydantic type: taken for a body, FastAPI would refuse the route
        pass

    def get_db() -> Database:
        return Database()

    def get_manager(db: Database = fulmen.Depends(get_db)) -> str:
        return type(db).__name__

    def get_scoped(db: Annotated[Database, fulmen.Security(get_db, scopes=["a"])]) -> str:
        return type(db).__name__

    assert isinstance(fulmen.Depends(get_db), fastapi.params.Depends)
    assert isinstance(fulmen.Security(get_db), fastapi.params.Security)
    router = fastapi.APIRouter()

    @router.get("/manager")
    def manager(
        name: Annotated[str, fastapi.Depends(get_manager)], scoped: str = fastapi.Depends(get_scoped)
    ) -> Any:
        return [name, scoped]

    for fw in (fastapi, fulmen):
        app = fw.FastAPI()
        app.include_router(router)
        with TestClient(app) as client:
            assert client.get("/manager").json() == ["Database", "Database"]


def test_fastapi_exceptions_known_when_fastapi_is_imported_after_starlette() -> None:
    """Starlette's classes may be looked up first (an exception before any library imported FastAPI)."""
    code = (
        "import starlette.exceptions\n"
        "from fulmen.exceptions import HTTPException, RequestValidationError, handler_key\n"
        "assert handler_key(starlette.exceptions.HTTPException) is not starlette.exceptions.HTTPException\n"
        "import fastapi, fastapi.exceptions\n"
        "assert handler_key(fastapi.HTTPException) is HTTPException\n"
        "assert handler_key(fastapi.exceptions.RequestValidationError) is RequestValidationError\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
