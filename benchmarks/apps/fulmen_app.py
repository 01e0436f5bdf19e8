"""Benchmark app for fulmen: FastAPI-style code where only the import differs.

Run as a script: ``python fulmen_app.py PORT`` serves it on fulmen's own engine
(one worker, access log off) on 127.0.0.1.
"""

from __future__ import annotations

import sys
from typing import Annotated

import msgspec
from pydantic import BaseModel

from fulmen import Depends, FastAPI, Header
from fulmen.middleware.cors import CORSMiddleware


class User(msgspec.Struct):
    name: str
    age: int


class UserPydantic(BaseModel):
    name: str
    age: int


app = FastAPI()


@app.get("/")
async def root():
    return {"message": "Hello, World!"}


@app.get("/users/{id}")
async def get_user(id: int):
    return {"id": id, "name": "user"}


@app.post("/users")
async def create_user(user: User):
    return user


@app.post("/users-pydantic")
async def create_user_pydantic(user: UserPydantic):
    return user


# E4: a sub-application with CORSMiddleware, mounted so E1-E3 above do not pay for the middleware; its route
# has an async ``yield`` dependency, a header parameter and a query parameter.
e4 = FastAPI()
e4.add_middleware(CORSMiddleware, allow_origins=["*"])


async def get_session():
    session = {"open": True}
    try:
        yield session
    finally:
        session["open"] = False


@e4.get("/items")
async def read_items(
    q: str, x_token: Annotated[str, Header()], session: Annotated[dict, Depends(get_session)]
):
    return {"q": q, "token": x_token, "session": session["open"]}


app.mount("/e4", e4)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    app.run(host="127.0.0.1", port=port, access_log=False)
