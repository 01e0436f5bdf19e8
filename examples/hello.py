"""FastAPI's first example with one import changed, served by fulmen's own engine.

Run: python examples/hello.py   (then open http://127.0.0.1:8000/items/5?q=somequery)
"""

from __future__ import annotations

import msgspec

from fulmen import FastAPI

app = FastAPI()


class Item(msgspec.Struct):
    name: str
    price: float
    is_offer: bool | None = None


@app.get("/")
async def read_root() -> dict[str, str]:
    return {"Hello": "World"}


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    return {"item_id": item_id, "q": q}


@app.put("/items/{item_id}")
async def update_item(item_id: int, item: Item) -> dict[str, object]:
    return {"item_name": item.name, "item_id": item_id}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
