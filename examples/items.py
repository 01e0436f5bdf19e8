"""A small inventory API in FastAPI style: path, query and header parameters, JSON bodies with Pydantic and
msgspec models, ``response_model`` and a documented 404. The schemathesis test runs against it.

Run: python examples/items.py   (then open http://127.0.0.1:8000/docs, which works offline)
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import msgspec
from pydantic import BaseModel, Field

from fulmen import FastAPI, Header, HTTPException, Path, Query

app = FastAPI(title="Items", version="1.0.0", description="An in-memory inventory.")


class Category(str, Enum):
    tools = "tools"
    food = "food"
    toys = "toys"


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    price: float = Field(gt=0, le=1_000_000)
    category: Category = Category.tools
    tags: list[str] = Field(default_factory=list, max_length=10)
    description: str | None = None


class Item(ItemIn):
    id: int


class ItemSummary(BaseModel):
    id: int
    name: str
    price: float


class Message(BaseModel):
    detail: str


class Review(msgspec.Struct):
    """A review, as a msgspec Struct body."""

    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    text: str = ""


class ReviewOut(msgspec.Struct):
    item_id: int
    rating: int
    text: str
    reviews: int


_items: dict[int, Item] = {
    1: Item(id=1, name="Hammer", price=9.5, category=Category.tools, tags=["steel"]),
    2: Item(id=2, name="Apple", price=0.4, category=Category.food),
}
_reviews: dict[int, list[Review]] = {}
_MAX_ITEMS = 1000
NOT_FOUND = {404: {"model": Message, "description": "No such item"}}


def _get(item_id: int) -> Item:
    item = _items.get(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="Item not found")
    return item


@app.get("/items", response_model=list[ItemSummary], tags=["items"])
async def list_items(
    category: Category | None = None,
    q: Annotated[str | None, Query(max_length=50)] = None,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> list[Item]:
    """List the items, optionally filtered by category and a name substring."""
    found = [
        item
        for item in _items.values()
        if (category is None or item.category == category) and (q is None or q.lower() in item.name.lower())
    ]
    return found[skip : skip + limit]


@app.post("/items", response_model=Item, status_code=201, tags=["items"])
async def create_item(item: ItemIn) -> Item:
    """Add an item (the store keeps the newest 1000)."""
    new_id = max(_items, default=0) + 1
    _items[new_id] = stored = Item(id=new_id, **item.model_dump())
    if len(_items) > _MAX_ITEMS:
        del _items[min(_items)]
    return stored


@app.get("/items/{item_id}", response_model=Item, responses=NOT_FOUND, tags=["items"])
async def read_item(item_id: Annotated[int, Path(ge=1)]) -> Item:
    return _get(item_id)


@app.put(
    "/items/{item_id}",
    response_model=Item,
    responses={**NOT_FOUND, 412: {"model": Message, "description": "If-Match failed"}},
    tags=["items"],
)
async def replace_item(
    item_id: Annotated[int, Path(ge=1)],
    item: ItemIn,
    if_match: Annotated[str | None, Header(max_length=100)] = None,
) -> Item:
    """Replace an item; ``If-Match`` (its name) must match when given, else 412."""
    current = _get(item_id)
    if if_match is not None and if_match != current.name:
        raise HTTPException(status_code=412, detail="If-Match does not match")
    _items[item_id] = updated = Item(id=item_id, **item.model_dump())
    return updated


@app.delete("/items/{item_id}", status_code=204, responses=NOT_FOUND, tags=["items"])
async def delete_item(item_id: Annotated[int, Path(ge=1)]) -> None:
    _get(item_id)
    del _items[item_id]


@app.post("/items/{item_id}/reviews", status_code=201, responses=NOT_FOUND, tags=["reviews"])
async def add_review(
    item_id: Annotated[int, Path(ge=1)],
    review: Review,
    x_user: Annotated[str, Header(min_length=1, max_length=30)],
) -> ReviewOut:
    """Review an item (the ``X-User`` header names the reviewer)."""
    _get(item_id)
    reviews = _reviews.setdefault(item_id, [])
    reviews.append(review)
    del reviews[:-100]
    return ReviewOut(item_id=item_id, rating=review.rating, text=review.text, reviews=len(reviews))


@app.get("/health", tags=["meta"])
async def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
