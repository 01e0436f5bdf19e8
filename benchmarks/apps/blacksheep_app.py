"""Benchmark app for BlackSheep, a Cython-accelerated ASGI framework, served by granian (ASGI).

E3 binds a dataclass (BlackSheep's own model binding) and E3p a pydantic model; both answer the same JSON as
the other apps. BlackSheep has no request-scoped dependency with clean-up after the response (what E4
measures), so this app has no E4. Run by the driver as ``granian --interface asgi --working-dir
benchmarks/apps blacksheep_app:app``.
"""

from __future__ import annotations

from dataclasses import dataclass

from blacksheep import Application, FromJSON, Response, get, json, post
from pydantic import BaseModel


@dataclass
class User:
    name: str
    age: int


class UserPydantic(BaseModel):
    name: str
    age: int


app = Application()


@get("/")
async def root() -> Response:
    return json({"message": "Hello, World!"})


@get("/users/{id}")
async def get_user(id: int) -> Response:
    return json({"id": id, "name": "user"})


@post("/users")
async def create_user(user: FromJSON[User]) -> Response:
    value = user.value
    return json({"name": value.name, "age": value.age})


@post("/users-pydantic")
async def create_user_pydantic(user: FromJSON[UserPydantic]) -> Response:
    return json(user.value.model_dump())
