"""Run in a venv with only ``pip install .`` (no extras): the core works without Pydantic, httpx or FastAPI.

Serves a msgspec-typed app on fulmen's engine and checks a valid and an invalid request over a real socket.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
import time

import msgspec

from fulmen import FastAPI

for name in ("pydantic", "httpx", "fastapi"):
    assert importlib.util.find_spec(name) is None, f"{name} is installed: this check needs a core-only venv"


class Item(msgspec.Struct):
    name: str
    price: float


app = FastAPI()


@app.post("/items/{item_id}")
async def create(item_id: int, item: Item) -> dict[str, object]:
    return {"id": item_id, "name": item.name, "price": item.price}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(port: int, path: str, body: bytes) -> tuple[int, object]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        conn.sendall(head.encode() + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    return int(head_bytes.split(b" ", 2)[1]), json.loads(payload)


port = free_port()
threading.Thread(target=app.run, kwargs={"port": port, "access_log": False}, daemon=True).start()
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.05)
ok = post(port, "/items/3", b'{"name": "pen", "price": "1.5"}')
assert ok == (200, {"id": 3, "name": "pen", "price": 1.5}), ok
bad = post(port, "/items/x", b'{"name": 1}')
assert bad[0] == 422, bad
assert [e["type"] for e in bad[1]["detail"]] == ["int_parsing", "string_type", "missing"], bad  # type: ignore[index]
assert "pydantic" not in sys.modules
print("core-only smoke: 1 passed, 0 failed")
