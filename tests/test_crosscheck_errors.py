"""Cross-check of error handling: custom exception handlers, status-code handlers, the default handlers
reused from ``exception_handlers``, ``RequestValidationError.errors()``/``.body``, 500/``Exception`` handlers.
"""

from collections.abc import Callable
from typing import Any

import httpx
import pydantic
import pytest

import fulmen
import fulmen.exception_handlers
import fulmen.responses
from tests.test_crosscheck_fastapi import Answer, assert_same_as_fastapi, fastapi_answers_for

Case = tuple[str, str, str, dict[str, Any]]


class UnicornError(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


class Item(pydantic.BaseModel):
    title: str
    size: int


def build_errors(fw: Any) -> Any:
    handlers = fw.exception_handlers
    JSONResponse, PlainTextResponse = fw.responses.JSONResponse, fw.responses.PlainTextResponse
    HTTPException, RequestValidationError = fw.HTTPException, fw.exceptions.RequestValidationError

    app = fw.FastAPI()

    @app.exception_handler(UnicornError)
    async def unicorn_handler(request: Any, exc: UnicornError) -> Any:
        return JSONResponse(status_code=418, content={"message": f"Oops! {exc.name} did something."})

    @app.exception_handler(RequestValidationError)
    async def validation_handler(request: Any, exc: Any) -> Any:
        if request.url.path.startswith("/plain-errors"):
            return PlainTextResponse(str(len(exc.errors())) + " errors", status_code=400)
        if request.url.path.startswith("/items"):
            return JSONResponse(
                status_code=422,
                content={"detail": fw.encoders.jsonable_encoder(exc.errors()), "body": exc.body},
            )
        return await handlers.request_validation_exception_handler(request, exc)

    @app.exception_handler(HTTPException)
    async def http_handler(request: Any, exc: Any) -> Any:
        if exc.status_code == 409:
            return PlainTextResponse(f"conflict: {exc.detail}", status_code=409, headers=exc.headers)
        return await handlers.http_exception_handler(request, exc)

    @app.exception_handler(404)
    async def not_found(request: Any, exc: Any) -> Any:
        return JSONResponse({"missing": request.url.path}, status_code=404)

    @app.exception_handler(500)
    async def server_error(request: Any, exc: Exception) -> Any:
        return JSONResponse({"crashed": type(exc).__name__}, status_code=500)

    @app.get("/unicorns/{name}")
    async def read_unicorn(name: str) -> Any:
        if name == "yolo":
            raise UnicornError(name=name)
        return {"unicorn_name": name}

    @app.get("/plain-errors/{n}")
    async def plain_errors(n: int, q: int) -> Any:
        return n

    @app.post("/items/")
    async def create_item(item: Item) -> Any:
        return item

    @app.get("/other/{n}")
    async def other(n: int) -> Any:
        return n

    @app.get("/conflict")
    async def conflict() -> Any:
        raise HTTPException(409, detail="taken", headers={"x-why": "duplicate"})

    @app.get("/gone")
    async def gone() -> Any:
        raise HTTPException(404, detail="gone")

    @app.get("/teapot")
    async def teapot() -> Any:
        raise HTTPException(418, detail={"nested": ["detail", 1]}, headers={"x-tea": "earl grey"})

    @app.get("/crash")
    async def crash() -> Any:
        raise KeyError("boom")

    @app.get("/explicit-500")
    async def explicit_500() -> Any:
        raise HTTPException(500, detail="explicit")

    @app.get("/no-content-error")
    async def no_content() -> Any:
        raise HTTPException(304)

    return app


_JSON = {"content-type": "application/json"}
CASES_ERRORS: list[Case] = [
    ("custom-exception", "GET", "/unicorns/yolo", {}),
    ("custom-exception-ok", "GET", "/unicorns/ok", {}),
    ("validation-plain", "GET", "/plain-errors/x", {}),
    ("validation-body", "POST", "/items/", {"json": {"title": "towel", "size": "XL"}}),
    (
        "validation-json-invalid",
        "POST",
        "/items/",
        {"content": b"{", "headers": {"content-type": "application/json"}},
    ),
    ("validation-default", "GET", "/other/x", {}),
    ("http-custom", "GET", "/conflict", {}),
    ("http-404-handler", "GET", "/gone", {}),
    ("route-404-handler", "GET", "/nowhere", {}),
    ("http-default-headers", "GET", "/teapot", {}),
    ("405-default", "POST", "/teapot", {}),
    ("unhandled-500-handler", "GET", "/crash", {}),
    ("http-500-not-the-500-handler", "GET", "/explicit-500", {}),
    ("http-304", "GET", "/no-content-error", {}),
]


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, Answer]:
    return fastapi_answers_for(build_errors, CASES_ERRORS)


def test_same_answers(serve: Callable[..., httpx.Client], fastapi_answers: dict[str, Answer]) -> None:
    """Every error case answers as FastAPI does, on every front door."""
    client = serve(build_errors(fulmen))
    assert_same_as_fastapi(client, CASES_ERRORS, fastapi_answers)


# -- Starlette's HTTPException: the base class of HTTPException, raised by the router -----------------------
# FastAPI's tutorial "Override the HTTPException error handler" registers its handler for
# ``starlette.exceptions.HTTPException``: it answers the router's 404/405 and every ``HTTPException`` (a
# subclass). A handler for ``HTTPException`` itself doesn't see the router's errors. The apps below are the
# FastAPI code with only ``fastapi`` swapped for ``fulmen``; Starlette's class is used as is.


def build_starlette_handler(fw: Any) -> Any:
    from starlette.exceptions import HTTPException as StarletteHTTPException

    PlainTextResponse = fw.responses.PlainTextResponse
    app = fw.FastAPI()

    @app.exception_handler(StarletteHTTPException)
    async def http_exception_handler(request: Any, exc: Any) -> Any:
        if isinstance(exc, fw.HTTPException):
            kind = "HTTPException"  # fulmen's own class is not Starlette's (docs/errors.md)
        else:
            # Custom 404 pages check the class they registered: the router's 404/405 and the 400 for an
            # unparsable body are Starlette's.
            kind = "starlette's" if isinstance(exc, StarletteHTTPException) else "base class"
        return PlainTextResponse(
            f"{kind} {exc.status_code}: {exc.detail}",
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> Any:
        if item_id == 3:
            raise fw.HTTPException(status_code=418, detail="Nope! I don't like 3.")
        return {"item_id": item_id}

    @app.get("/starlette")
    async def raise_starlette() -> Any:
        raise StarletteHTTPException(403, "forbidden here", headers={"x-why": "policy"})

    @app.post("/form")
    async def form(name: str = fw.Form()) -> Any:
        return name

    return app


def build_fastapi_handler(fw: Any) -> Any:
    """A handler for ``HTTPException`` only: the router's 404/405 keep the default answer."""
    from starlette.exceptions import HTTPException as StarletteHTTPException

    JSONResponse = fw.responses.JSONResponse
    app = fw.FastAPI()

    @app.exception_handler(fw.HTTPException)
    async def only_http_exception(request: Any, exc: Any) -> Any:
        return JSONResponse({"custom": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(403)
    async def forbidden(request: Any, exc: Any) -> Any:
        return JSONResponse({"forbidden": exc.detail}, status_code=403)

    @app.get("/raise/{code}")
    async def raise_code(code: int) -> Any:
        raise fw.HTTPException(code, detail=f"raised {code}")

    @app.get("/starlette/{code}")
    async def raise_starlette(code: int) -> Any:
        raise StarletteHTTPException(code, detail=f"starlette {code}")

    return app


CASES_STARLETTE_HANDLER: list[Case] = [
    ("route-http-exception", "GET", "/items/3", {}),
    ("route-ok", "GET", "/items/1", {}),
    ("route-validation-untouched", "GET", "/items/x", {}),
    ("router-404", "GET", "/nowhere", {}),
    ("router-405", "POST", "/items/3", {}),
    ("starlette-raised", "GET", "/starlette", {}),
    (
        "body-parse-400",
        "POST",
        "/form",
        {"content": b"x", "headers": {"content-type": "multipart/form-data"}},
    ),
]
CASES_FASTAPI_HANDLER: list[Case] = [
    ("raised-caught", "GET", "/raise/409", {}),
    ("raised-status-handler", "GET", "/raise/403", {}),
    ("starlette-raised-default", "GET", "/starlette/409", {}),
    ("starlette-raised-status-handler", "GET", "/starlette/403", {}),
    ("router-404-default", "GET", "/nowhere", {}),
    ("router-405-default", "DELETE", "/raise/1", {}),
]


@pytest.mark.parametrize(
    ("build", "cases"),
    [(build_starlette_handler, CASES_STARLETTE_HANDLER), (build_fastapi_handler, CASES_FASTAPI_HANDLER)],
    ids=["starlette-handler", "fastapi-handler"],
)
def test_starlette_http_exception_as_in_fastapi(
    serve: Callable[..., httpx.Client], build: Callable[[Any], Any], cases: list[Case]
) -> None:
    """Handlers for Starlette's HTTPException and for HTTPException see what they see in FastAPI."""
    expected = fastapi_answers_for(build, cases)
    assert_same_as_fastapi(serve(build(fulmen)), cases, expected)


def test_base_http_exception_without_starlette() -> None:
    """``fulmen.exceptions.BaseHTTPException`` is Starlette's class for code that doesn't import Starlette."""
    from fulmen.exceptions import BaseHTTPException
    from fulmen.testclient import TestClient

    assert issubclass(fulmen.HTTPException, BaseHTTPException)
    app = fulmen.FastAPI()

    @app.exception_handler(BaseHTTPException)
    async def any_http_error(request: Any, exc: BaseHTTPException) -> Any:
        return fulmen.responses.PlainTextResponse(f"{type(exc).__name__}", status_code=exc.status_code)

    @app.get("/raise")
    async def raise_() -> Any:
        raise fulmen.HTTPException(400)

    client = TestClient(app)
    assert (client.get("/raise").status_code, client.get("/raise").text) == (400, "HTTPException")
    # Starlette is loaded in this process: the router's 404 is then also Starlette's class (named as it).
    assert (client.get("/none").status_code, client.get("/none").text) == (404, "HTTPException")
    assert isinstance(client.app, fulmen.FastAPI)
