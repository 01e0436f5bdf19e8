"""Benchmark app for FastAPI, served by uvicorn (uvloop + httptools, one worker).

FastAPI can't take a msgspec Struct as a request body, so ``POST /users`` uses the
equivalent pydantic model here; ``POST /users-pydantic`` is the same endpoint again.
Run by the driver as ``uvicorn fastapi_app:app --app-dir benchmarks/apps ...``.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel


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
async def create_user(user: UserPydantic):
    # Stand-in for the msgspec Struct endpoint: FastAPI only validates pydantic models.
    return user


@app.post("/users-pydantic")
async def create_user_pydantic(user: UserPydantic):
    return user
