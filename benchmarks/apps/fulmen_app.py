"""Benchmark app for fulmen: FastAPI-style code where only the import differs.

Run as a script: ``python fulmen_app.py PORT`` serves it on fulmen's own engine
(one worker, access log off) on 127.0.0.1.
"""

from __future__ import annotations

import sys

import msgspec
from pydantic import BaseModel

from fulmen import FastAPI


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


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    app.run(host="127.0.0.1", port=port, access_log=False)
