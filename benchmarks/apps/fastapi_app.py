"""Benchmark app for FastAPI, served by uvicorn (uvloop + httptools, one worker).

FastAPI can't take a msgspec Struct as a request body, so ``POST /users`` uses the
equivalent pydantic model here; ``POST /users-pydantic`` is the same endpoint again.
Run by the driver as ``uvicorn fastapi_app:app --app-dir benchmarks/apps ...``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Header
from fastapi.middleware.cors import CORSMiddleware
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
