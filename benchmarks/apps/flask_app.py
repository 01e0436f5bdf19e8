"""Benchmark app for WSGI: a Flask app answering E1, E2, E3 and E3p like the FastAPI apps do.

The same module runs on both WSGI servers of the benchmark:

- ``python flask_app.py PORT`` serves it on fulmen's engine (``--interface`` auto-detects WSGI; one worker,
  the WSGI adapter's default thread pool, access log off);
- ``gunicorn flask_app:app`` (started by ``run.py``: one gthread worker, see benchmarks/README.md).

E3 checks the body's fields by hand (Flask has no declared body model); E3p validates it with the same
pydantic model as the FastAPI app. E4 (a mounted sub-app with CORS and a yield dependency) has no Flask
equivalent here, so the Flask servers don't run it.
"""

from __future__ import annotations

import sys
from typing import Any

from flask import Flask, abort, jsonify, request
from pydantic import BaseModel, ValidationError

app = Flask(__name__)


class UserPydantic(BaseModel):
    name: str
    age: int


@app.get("/")
def root() -> Any:
    return jsonify(message="Hello, World!")


@app.get("/users/<int:id>")
def get_user(id: int) -> Any:
    return jsonify(id=id, name="user")


@app.post("/users")
def create_user() -> Any:
    data = request.get_json()
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("name"), str)
        or type(data.get("age")) is not int
    ):
        abort(422)
    return jsonify(name=data["name"], age=data["age"])


@app.post("/users-pydantic")
def create_user_pydantic() -> Any:
    try:
        user = UserPydantic.model_validate_json(request.get_data())
    except ValidationError:
        abort(422)
    return jsonify(user.model_dump())


if __name__ == "__main__":
    from fulmen.engine.server import run

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")
