"""Benchmark app for Litestar, the msgspec-based peer closest to FastAPI, served by granian (ASGI).

Litestar's own idioms, the same answers as the fulmen app: E3 validates a msgspec Struct and E3p a pydantic
model (``data`` is Litestar's body parameter); POST handlers answer 200, not Litestar's default 201. E4 is a
mounted sub-application with its own CORS config, an async generator dependency, a header parameter and a
query parameter. Run by the driver as ``granian --interface asgi --working-dir benchmarks/apps
litestar_app:app``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

import msgspec
from litestar import Litestar, asgi, get, post
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.params import Parameter
from pydantic import BaseModel


class User(msgspec.Struct):
    name: str
    age: int


class UserPydantic(BaseModel):
    name: str
    age: int


@get("/")
async def root() -> dict[str, str]:
    return {"message": "Hello, World!"}


@get("/users/{id:int}")
async def get_user(id: int) -> dict[str, Any]:
    return {"id": id, "name": "user"}


@post("/users", status_code=200)
async def create_user(data: User) -> User:
    return data


@post("/users-pydantic", status_code=200)
async def create_user_pydantic(data: UserPydantic) -> UserPydantic:
    return data


async def get_session() -> AsyncGenerator[dict[str, bool], None]:
    session = {"open": True}
    try:
        yield session
    finally:
        session["open"] = False


@get("/items", dependencies={"session": Provide(get_session)})
async def read_items(
    q: str, x_token: Annotated[str, Parameter(header="x-token")], session: dict[str, bool]
) -> dict[str, Any]:
    return {"q": q, "token": x_token, "session": session["open"]}


# E4's CORS config belongs to the sub-application only, so E1-E3 don't pay for it (as in the fulmen app).
e4 = Litestar([read_items], cors_config=CORSConfig(allow_origins=["*"]), openapi_config=None)


@asgi("/e4", is_mount=True, copy_scope=False)
async def e4_mount(scope: Any, receive: Any, send: Any) -> None:
    await e4(scope, receive, send)


app = Litestar([root, get_user, create_user, create_user_pydantic, e4_mount], openapi_config=None)
