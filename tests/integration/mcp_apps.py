"""The apps the MCP tests serve: a small shop (models, errors, auth, tags, tool functions) and a library
(resources and prompts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel

from fulmen import Depends, FastAPI, Form, Header, HTTPException, Path, Request
from fulmen.integrations.mcp import AssistantMessage, MCPServer, UserMessage
from fulmen.responses import PlainTextResponse, StreamingResponse
from fulmen.security import HTTPAuthorizationCredentials, HTTPBearer


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


bearer = HTTPBearer()


def current_user(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> str:
    if credentials.credentials != "s3cret":
        raise HTTPException(status_code=401, detail="Bad token")
    return "alice"


def unit() -> str:
    return "EUR"


def shop_app(**mcp_options: Any) -> tuple[FastAPI, MCPServer]:
    """The shop and its MCP server, mounted at /mcp."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {"greeting": "hello from the lifespan"}

    app = FastAPI(title="Shop", version="1.2.3", lifespan=lifespan)
    items: dict[int, Item] = {1: Item(name="hammer", price=9.5, tags=["tools"])}

    @app.get("/items/{item_id}", tags=["items"], response_model=Item)
    def read_item(item_id: int, q: str | None = None) -> Any:
        """Read one item by its id."""
        if item_id not in items:
            raise HTTPException(status_code=404, detail="Item not found")
        return items[item_id]

    @app.post("/items", tags=["items"], operation_id="create_item", summary="Create an item")
    def create_item(item: Item) -> Item:
        items[len(items) + 1] = item
        return item

    @app.get("/items", tags=["items"], operation_id="list_items")
    def list_items(limit: int = 10) -> list[Item]:
        return list(items.values())[:limit]

    @app.get("/me", tags=["auth"], operation_id="whoami")
    def whoami(user: Annotated[str, Depends(current_user)]) -> dict[str, str]:
        return {"user": user}

    @app.get("/echo-header", tags=["misc"], operation_id="echo_header")
    def echo_header(x_token: Annotated[str, Header()]) -> dict[str, str]:
        return {"x_token": x_token}

    @app.get("/state", tags=["misc"], operation_id="lifespan_state")
    def lifespan_state(request: Request) -> dict[str, str]:
        return {"greeting": request.state.greeting}

    @app.get("/boom", tags=["misc"], operation_id="boom")
    def boom() -> dict[str, str]:
        raise RuntimeError("boom")

    @app.get("/text", tags=["misc"], operation_id="plain_text", response_class=PlainTextResponse)
    def plain_text() -> str:
        return "just text"

    @app.get("/stream", tags=["misc"], operation_id="stream")
    def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"one ", b"two ", b"three"):
                yield part

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.post("/login", tags=["misc"], operation_id="login")
    def login(username: Annotated[str, Form()]) -> dict[str, str]:
        return {"username": username}

    @app.get("/hidden", include_in_schema=False)
    def hidden() -> dict[str, str]:
        return {"hidden": "yes"}

    mcp = MCPServer(app, name="shop-mcp", instructions="Use the tools to manage the shop.", **mcp_options)

    @mcp.tool()
    def add(a: int, b: int = 2) -> int:
        """Add two integers."""
        return a + b

    @mcp.tool(name="price_in", title="Price in a currency")
    async def price_in(item: Item, currency: Annotated[str, Depends(unit)]) -> dict[str, Any]:
        return {"name": item.name, "price": item.price, "currency": currency}

    mcp.mount()
    return app, mcp


class Book(BaseModel):
    title: str
    year: int


class Shelf(str, Enum):
    fiction = "fiction"
    poetry = "poetry"


def library_app(**mcp_options: Any) -> tuple[FastAPI, MCPServer]:
    """A library with resources (static, templated: text, blob, JSON) and prompts, its MCP server at /mcp."""
    app = FastAPI(title="Library", version="2.0.0")
    books = {1: Book(title="Dune", year=1965), 2: Book(title="Emma", year=1815)}

    @app.get("/books/{book_id}", operation_id="get_book")
    def get_book(book_id: int) -> Book:
        return books[book_id]

    mcp = MCPServer(app, name="library-mcp", **mcp_options)

    @mcp.resource("config://app", title="App configuration")
    def config() -> dict[str, Any]:
        """The library's settings."""
        return {"opening": "09:00", "shelves": [s.value for s in Shelf]}

    @mcp.resource("text://motd", mime_type="text/markdown")
    async def motd() -> str:
        return "# Welcome\nQuiet, please."

    @mcp.resource("files://logo.png", name="logo", mime_type="image/png")
    def logo() -> bytes:
        return LOGO

    @mcp.resource("books://{book_id}", description="One book, as JSON.")
    async def book(book_id: Annotated[int, Path(ge=1)]) -> Book:
        if book_id not in books:
            raise HTTPException(status_code=404, detail=f"No book {book_id}")
        return books[book_id]

    @mcp.resource("shelves://{shelf}/books/{year}")
    def shelf_books(shelf: Shelf, year: int) -> str:
        return f"{shelf.value} books of {year}"

    @mcp.resource("notes://{name}")
    def note(name: str, request: Request) -> str:
        """A note, echoing its (percent-decoded) name and who asked."""
        return f"{name} for {request.headers.get('authorization', 'anyone')}"

    @mcp.resource("broken://always")
    def broken() -> str:
        raise RuntimeError("the shelf fell over")

    @mcp.prompt(title="Summarize a book")
    def summarize(book_id: Annotated[int, Path(description="The book's id")], words: int = 50) -> str:
        """Ask for a summary of a book."""
        if book_id not in books:
            raise HTTPException(status_code=404, detail=f"No book {book_id}")
        return f"Summarize {books[book_id].title} in {words} words."

    @mcp.prompt(name="recommend", description="Start a conversation about books.")
    async def recommend_books(shelf: Shelf, mood: str | None = None) -> list[Any]:
        return [
            f"Recommend {shelf.value}; mood: {mood or 'any'}.",
            AssistantMessage("Which author did you like last?"),
            {"role": "user", "content": "Le Guin."},
            UserMessage({"type": "text", "text": "Something short."}),
        ]

    @mcp.prompt()
    def wrong_return() -> int:
        return 42

    mcp.mount()
    return app, mcp


#: A PNG's first bytes and some that aren't UTF-8: a blob must come back exactly.
LOGO = b"\x89PNG\r\n\x1a\n\x00\xff\xfe"
