"""A small API whose routes are also MCP tools, with a resource and a prompt, served by fulmen's own engine.

Run: python examples/mcp_server.py   (the MCP endpoint is http://127.0.0.1:8000/mcp)
Try it with the MCP SDK's client (pip install mcp):

    import asyncio
    from mcp.client import Client

    async def main():
        async with Client("http://127.0.0.1:8000/mcp") as client:
            print([t.name for t in (await client.list_tools()).tools])
            print(await client.call_tool("get_item", {"item_id": 1}))
            print(await client.read_resource("items://1"))
            print(await client.get_prompt("restock", {"item_id": "1"}))

    asyncio.run(main())
"""

from __future__ import annotations

import msgspec

from fulmen import FastAPI, HTTPException
from fulmen.integrations.mcp import MCPServer

app = FastAPI(title="Inventory", version="1.0.0")


class Item(msgspec.Struct):
    name: str
    quantity: int


ITEMS = {1: Item(name="hammer", quantity=3)}


@app.get("/items/{item_id}", operation_id="get_item", tags=["items"])
async def get_item(item_id: int) -> Item:
    """Read one item of the inventory."""
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail="Item not found")
    return ITEMS[item_id]


@app.post("/items", operation_id="add_item", tags=["items"])
async def add_item(item: Item) -> dict[str, int]:
    """Add an item; returns its new id."""
    item_id = max(ITEMS) + 1
    ITEMS[item_id] = item
    return {"id": item_id}


@app.get("/health", operation_id="health", tags=["ops"])
async def health() -> dict[str, str]:
    return {"status": "ok"}


mcp = MCPServer(app, name="inventory", exclude_tags=["ops"])


@mcp.tool()
def total_quantity() -> int:
    """How many things the inventory holds in all."""
    return sum(item.quantity for item in ITEMS.values())


@mcp.resource("items://{item_id}", mime_type="application/json")
async def item_resource(item_id: int) -> Item:
    """One item of the inventory, as JSON."""
    return await get_item(item_id)  # a 404 HTTPException is the spec's "Resource not found"


@mcp.prompt(title="Plan a restock")
def restock(item_id: int, target: int = 10) -> str:
    """Ask the model to plan restocking an item."""
    item = ITEMS.get(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail=f"No item {item_id}")
    return f"We have {item.quantity} of {item.name}; plan how to reach {target}."


mcp.mount()  # POST/GET/DELETE /mcp

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
