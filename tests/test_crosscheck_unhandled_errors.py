"""Cross-check: an unhandled exception under an ASGI server is answered with the 500 (or the ``Exception``
handler's response) and then raised on to the server, as from Starlette's ServerErrorMiddleware: async tests
over ``httpx.ASGITransport`` see the error, and the server logs it. fulmen's engine answers and logs it."""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import fastapi
import httpx
import pytest

import fulmen
from fulmen.responses import JSONResponse
from tests.crosscheck_apps import PassThrough


class Boom(Exception):
    pass


def build(fw: Any, *, handler: bool = False, asgi_middleware: bool = False) -> Any:
    app = fw.FastAPI()
    if asgi_middleware:
        app.add_middleware(PassThrough)
    if handler:

        @app.exception_handler(Exception)
        async def on_error(request: Any, exc: Exception) -> Any:
            return JSONResponse({"error": type(exc).__name__}, status_code=500)

    @app.get("/boom")
    async def boom() -> None:
        raise Boom("kaboom")

    @app.get("/fine")
    async def fine() -> dict[str, bool]:
        return {"ok": True}

    return app


VARIANTS = [
    pytest.param({}, id="plain"),
    pytest.param({"handler": True}, id="exception-handler"),
    pytest.param({"asgi_middleware": True}, id="asgi-middleware"),
    pytest.param({"handler": True, "asgi_middleware": True}, id="both"),
]


async def _over_transport(app: Any, raise_app_exceptions: bool) -> tuple[Any, ...]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        try:
            r = await client.get("/boom")
        except Boom as exc:
            raised: tuple[Any, ...] = ("raised", str(exc))
        else:
            raised = ("answered", r.status_code, r.text)
        after = await client.get("/fine")  # the app lives on
        return (*raised, after.status_code)


@pytest.mark.parametrize("options", VARIANTS)
@pytest.mark.parametrize("raise_app_exceptions", [True, False])
def test_asgi_transport_sees_the_error_as_with_fastapi(
    options: dict[str, bool], raise_app_exceptions: bool
) -> None:
    theirs = asyncio.run(_over_transport(build(fastapi, **options), raise_app_exceptions))
    ours = asyncio.run(_over_transport(build(fulmen, **options), raise_app_exceptions))
    assert ours == theirs
    assert ours[0] == ("raised" if raise_app_exceptions else "answered")


class _Records(logging.Handler):
    """Collects the records logged with a ``Boom`` attached (uvicorn's loggers don't propagate to caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.booms: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and isinstance(record.exc_info[1], Boom):
            self.booms.append(f"{record.name}: {record.getMessage()}")


@pytest.mark.parametrize("options", VARIANTS)
def test_every_front_door_answers_and_logs_once(
    options: dict[str, bool], serve: Callable[..., httpx.Client], front_door: str
) -> None:
    client = serve(build(fulmen, **options))
    records = _Records()
    loggers = [logging.getLogger(name) for name in ("fulmen", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(records)
    try:
        # uvicorn closes the connection after an error the app raised (FastAPI's too): don't reuse it.
        r = client.get("/boom", headers={"connection": "close"})
        expected = '{"error":"Boom"}' if options.get("handler") else "Internal Server Error"
        assert (r.status_code, r.text) == (500, expected)
        assert client.get("/fine").json() == {"ok": True}
        if front_door == "asgi":
            return  # the TestClient (raise_server_exceptions=False here) keeps the answer, drops the error
        # uvicorn logs what the app raised on to it, after the response went out; the engine logs it
        # itself: once either way.
        deadline = time.monotonic() + 5
        while not records.booms and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        assert len(records.booms) == 1, records.booms
    finally:
        for logger in loggers:
            logger.removeHandler(records)
