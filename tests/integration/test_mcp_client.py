"""fulmen's MCP server against the official MCP SDK client, over real sockets: the engine and uvicorn.

The client negotiates as it would with any server (``mode="auto"`` probes the 2026 era, then falls back to
the initialize handshake), lists the tools and calls them, lists and reads resources, lists and gets
prompts; ``mode="legacy"`` pins the handshake.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import warnings
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _start_engine, _UvicornThread, ci
from tests.integration.mcp_apps import LOGO, library_app, shop_app

try:
    from mcp.client import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client
    from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
    from mcp.types import (
        BlobResourceContents,
        PromptReference,
        ResourceTemplateReference,
        TextResourceContents,
    )
except ImportError:
    if ci():  # the SDK is in the dev extra: on CI its absence is a failure, not a skip
        raise
    pytest.skip("these tests need the MCP SDK's client: pip install -e '.[dev]'", allow_module_level=True)

SOCKET_DOORS = ["engine", "uvicorn"]


@pytest.fixture(params=SOCKET_DOORS)
def serve_socket(request: pytest.FixtureRequest) -> Iterator[Callable[[Any], str]]:
    """Factory: ``url = serve_socket(app)`` serves ``app`` on a real socket; the base URL comes back."""
    stops: list[Callable[[], None]] = []

    def start(app: Any) -> str:
        if request.param == "uvicorn":
            server = _UvicornThread(app)
            stops.append(server.stop)
            return f"http://127.0.0.1:{server.port}"
        port, stop = _start_engine(app)
        stops.append(stop)
        return f"http://127.0.0.1:{port}"

    yield start
    for stop in reversed(stops):
        stop()


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_initialize_list_and_call(serve_socket: Callable[[Any], str]) -> None:
    app, _ = shop_app()
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        async with Client(url) as client:
            session = client.session
            assert session.protocol_version == "2025-11-25"
            init = session.initialize_result
            assert init is not None
            assert init.server_info.name == "shop-mcp"
            assert init.server_info.version == "1.2.3"
            assert init.instructions == "Use the tools to manage the shop."

            listed = await client.list_tools()
            tools = {t.name: t for t in listed.tools}
            # A tool per operation with a JSON body or none (not the form route, nor the hidden one).
            assert set(tools) == {
                "read_item_items__item_id__get",
                "create_item",
                "list_items",
                "whoami",
                "echo_header",
                "lifespan_state",
                "boom",
                "plain_text",
                "stream",
                "add",
                "price_in",
            }
            read = tools["read_item_items__item_id__get"]
            assert read.description == "Read Item\n\nRead one item by its id."
            assert read.input_schema["required"] == ["item_id"]
            assert read.input_schema["properties"]["item_id"]["type"] == "integer"
            assert read.output_schema is not None and read.output_schema["type"] == "object"
            assert set(read.output_schema["properties"]) == {"name", "price", "tags"}
            create = tools["create_item"]
            assert create.title == "Create an item"
            assert set(create.input_schema["properties"]) == {"name", "price", "tags"}
            assert create.input_schema["required"] == ["name", "price"]
            assert tools["add"].description == "Add two integers."
            assert tools["price_in"].title == "Price in a currency"
            assert set(tools["price_in"].input_schema["properties"]) == {"item"}  # the dependency is not one

            found = await client.call_tool("read_item_items__item_id__get", {"item_id": 1})
            assert not found.is_error
            assert found.structured_content == {"name": "hammer", "price": 9.5, "tags": ["tools"]}
            assert found.content[0].text == '{"name":"hammer","price":9.5,"tags":["tools"]}'  # type: ignore[union-attr]

            created = await client.call_tool("create_item", {"name": "saw", "price": 12})
            assert created.structured_content == {"name": "saw", "price": 12.0, "tags": []}
            listing = await client.call_tool("list_items", {"limit": 5})
            assert listing.structured_content == {
                "result": [
                    {"name": "hammer", "price": 9.5, "tags": ["tools"]},
                    {"name": "saw", "price": 12.0, "tags": []},
                ]
            }

            added = await client.call_tool("add", {"a": 40})
            assert added.structured_content == {"result": 42}
            priced = await client.call_tool("price_in", {"item": {"name": "saw", "price": 3}})
            assert priced.structured_content == {"name": "saw", "price": 3.0, "currency": "EUR"}

    run(scenario())


def test_errors_come_back_as_error_results(serve_socket: Callable[[Any], str]) -> None:
    app, _ = shop_app()
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        async with Client(url) as client:
            missing = await client.call_tool("read_item_items__item_id__get", {"item_id": 99})
            assert missing.is_error
            assert missing.content[0].text == '{"detail":"Item not found"}'  # type: ignore[union-attr]

            invalid = await client.call_tool("read_item_items__item_id__get", {"item_id": "abc"})
            assert invalid.is_error
            assert '"type":"int_parsing"' in invalid.content[0].text  # type: ignore[union-attr]
            assert '"loc":["path","item_id"]' in invalid.content[0].text  # type: ignore[union-attr]

            bad_body = await client.call_tool("add", {"a": "many"})
            assert bad_body.is_error
            assert '"loc":["body","a"]' in bad_body.content[0].text  # type: ignore[union-attr]

            no_body = await client.call_tool("create_item", {"name": "x"})
            assert no_body.is_error
            assert '"type":"missing"' in no_body.content[0].text  # type: ignore[union-attr]

            extra = await client.call_tool("add", {"a": 1, "c": 2})
            assert extra.is_error
            assert extra.content[0].text == "Unexpected argument 'c' for tool 'add'"  # type: ignore[union-attr]

            no_path = await client.call_tool("read_item_items__item_id__get", {})
            assert no_path.is_error
            assert "Missing required argument 'item_id'" in no_path.content[0].text  # type: ignore[union-attr]

            crashed = await client.call_tool("boom", {})
            assert crashed.is_error
            assert crashed.content[0].text == "Internal Server Error"  # type: ignore[union-attr]

            with pytest.raises(MCPError) as unknown:
                await client.call_tool("no_such_tool", {})
            assert unknown.value.error.code == -32602

            # The server is still fine after all that.
            assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}

    run(scenario())


def test_auth_header_is_forwarded(serve_socket: Callable[[Any], str]) -> None:
    app, _ = shop_app()
    url = serve_socket(app) + "/mcp"

    async def call_whoami(token: str | None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        http = create_mcp_http_client(headers=headers)
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            return await client.call_tool("whoami", {})

    async def scenario() -> None:
        ok = await call_whoami("s3cret")
        assert not ok.is_error and ok.structured_content == {"user": "alice"}
        wrong = await call_whoami("nope")
        assert wrong.is_error and wrong.content[0].text == '{"detail":"Bad token"}'
        anonymous = await call_whoami(None)
        assert anonymous.is_error and anonymous.content[0].text == '{"detail":"Not authenticated"}'

    run(scenario())


def test_auth_header_not_forwarded_when_not_configured(serve_socket: Callable[[Any], str]) -> None:
    app, _ = shop_app(forward_headers=())
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        http = create_mcp_http_client(headers={"Authorization": "Bearer s3cret"})
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool("whoami", {})
            assert result.is_error and result.content[0].text == '{"detail":"Not authenticated"}'

    run(scenario())


def test_header_and_lifespan_and_non_json_routes(serve_socket: Callable[[Any], str]) -> None:
    app, _ = shop_app()
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        async with Client(url) as client:
            echoed = await client.call_tool("echo_header", {"x-token": "abc"})
            assert echoed.structured_content == {"x_token": "abc"}
            state = await client.call_tool("lifespan_state", {})
            assert state.structured_content == {"greeting": "hello from the lifespan"}
            text = await client.call_tool("plain_text", {})
            assert not text.is_error and text.content[0].text == "just text"  # type: ignore[union-attr]
            streamed = await client.call_tool("stream", {})
            assert not streamed.is_error and streamed.content[0].text == "one two three"  # type: ignore[union-attr]

    run(scenario())


def test_legacy_handshake_and_ping(serve_socket: Callable[[Any], str]) -> None:
    app, _ = shop_app()
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        async with Client(url, mode="legacy") as client:
            assert client.session.protocol_version == "2025-11-25"
            with warnings.catch_warnings():
                # The SDK deprecates ping (gone in its 2026 era); it is part of every version served here.
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.send_ping()
            assert (await client.call_tool("add", {"a": 2, "b": 3})).structured_content == {"result": 5}

    run(scenario())


def test_sessions_with_the_sdk_client(serve_socket: Callable[[Any], str]) -> None:
    app, mcp = shop_app(stateless=False)
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        async with Client(url) as client:
            assert len(mcp._sessions) == 1  # the client got a session id and sends it back
            assert (await client.call_tool("add", {"a": 1})).structured_content == {"result": 3}
            assert len((await client.list_tools()).tools) == 11
        assert mcp._sessions == {}  # the client's DELETE on close ended it

    run(scenario())


def test_include_and_exclude(serve_socket: Callable[[Any], str]) -> None:
    app, _ = shop_app(include_tags=["items"])
    url = serve_socket(app) + "/mcp"

    async def names(target: str) -> set[str]:
        async with Client(target) as client:
            return {t.name for t in (await client.list_tools()).tools}

    assert run(names(url)) == {
        "read_item_items__item_id__get",
        "create_item",
        "list_items",
        "add",
        "price_in",
    }
    app, _ = shop_app(exclude_operations=["boom", "stream"], exclude_tags=None)
    url = serve_socket(app) + "/mcp"
    assert {"boom", "stream"}.isdisjoint(run(names(url)))


def test_resources_with_the_sdk_client(serve_socket: Callable[[Any], str]) -> None:
    app, _ = library_app()
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        async with Client(url) as client:
            init = client.session.initialize_result
            assert init is not None
            assert init.capabilities.resources is not None and init.capabilities.prompts is not None

            listed = {str(r.uri): r for r in (await client.list_resources()).resources}
            assert set(listed) == {"config://app", "text://motd", "files://logo.png", "broken://always"}
            assert listed["config://app"].title == "App configuration"
            assert listed["config://app"].mime_type == "application/json"
            assert listed["files://logo.png"].name == "logo"
            templates = {
                t.uri_template: t for t in (await client.list_resource_templates()).resource_templates
            }
            assert set(templates) == {"books://{book_id}", "shelves://{shelf}/books/{year}", "notes://{name}"}
            assert templates["books://{book_id}"].description == "One book, as JSON."

            (text,) = (await client.read_resource("text://motd")).contents
            assert isinstance(text, TextResourceContents)
            assert text.text == "# Welcome\nQuiet, please." and text.mime_type == "text/markdown"
            (config,) = (await client.read_resource("config://app")).contents
            assert isinstance(config, TextResourceContents) and config.mime_type == "application/json"
            assert json.loads(config.text) == {"opening": "09:00", "shelves": ["fiction", "poetry"]}
            (blob,) = (await client.read_resource("files://logo.png")).contents
            assert isinstance(blob, BlobResourceContents) and blob.mime_type == "image/png"
            assert base64.b64decode(blob.blob) == LOGO
            (book,) = (await client.read_resource("books://2")).contents
            assert isinstance(book, TextResourceContents)
            assert json.loads(book.text) == {"title": "Emma", "year": 1815}
            (shelf,) = (await client.read_resource("shelves://fiction/books/1965")).contents
            assert isinstance(shelf, TextResourceContents) and shelf.text == "fiction books of 1965"

            with pytest.raises(MCPError) as unknown:
                await client.read_resource("nope://thing")
            assert unknown.value.error.code == -32002
            assert unknown.value.error.data == {"uri": "nope://thing"}
            with pytest.raises(MCPError) as invalid:
                await client.read_resource("books://abc")
            assert invalid.value.error.code == -32602
            assert "'book_id': Input should be a valid integer" in invalid.value.error.message
            with pytest.raises(MCPError) as missing_book:
                await client.read_resource("books://9")
            assert missing_book.value.error.code == -32002
            assert missing_book.value.error.message == "Resource not found: No book 9"
            with pytest.raises(MCPError) as crashed:
                await client.read_resource("broken://always")
            assert crashed.value.error.code == -32603
            # Still serving after the errors.
            (again,) = (await client.read_resource("books://1")).contents
            assert isinstance(again, TextResourceContents) and json.loads(again.text)["title"] == "Dune"

    run(scenario())


def test_prompts_with_the_sdk_client(serve_socket: Callable[[Any], str]) -> None:
    app, _ = library_app()
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        async with Client(url) as client:
            prompts = {p.name: p for p in (await client.list_prompts()).prompts}
            assert set(prompts) == {"summarize", "recommend", "wrong_return"}
            summarize = prompts["summarize"]
            assert summarize.title == "Summarize a book"
            assert summarize.description == "Ask for a summary of a book."
            assert summarize.arguments is not None
            assert [(a.name, a.required, a.description) for a in summarize.arguments] == [
                ("book_id", True, "The book's id"),
                ("words", False, None),
            ]

            got = await client.get_prompt("summarize", {"book_id": "1", "words": "20"})
            assert got.description == "Ask for a summary of a book."
            assert [(m.role, m.content.text) for m in got.messages] == [  # type: ignore[union-attr]
                ("user", "Summarize Dune in 20 words.")
            ]
            conversation = await client.get_prompt("recommend", {"shelf": "fiction"})
            assert [(m.role, m.content.text) for m in conversation.messages] == [  # type: ignore[union-attr]
                ("user", "Recommend fiction; mood: any."),
                ("assistant", "Which author did you like last?"),
                ("user", "Le Guin."),
                ("user", "Something short."),
            ]

            for name, arguments, message in [
                ("summarize", {}, "Missing required argument 'book_id' for prompt 'summarize'"),
                ("summarize", {"book_id": "x"}, "'book_id': Input should be a valid integer"),
                ("summarize", {"book_id": "1", "tone": "dry"}, "prompt 'summarize' has no argument 'tone'"),
                ("nope", {}, "Unknown prompt: nope"),
            ]:
                with pytest.raises(MCPError) as refused:
                    await client.get_prompt(name, arguments)
                assert refused.value.error.code == -32602
                assert message in refused.value.error.message
            with pytest.raises(MCPError) as crashed:
                await client.get_prompt("wrong_return")
            assert crashed.value.error.code == -32603

    run(scenario())


def test_completions_with_the_sdk_client(serve_socket: Callable[[Any], str]) -> None:
    app, _ = library_app()
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        async with Client(url) as client:
            init = client.session.initialize_result
            assert init is not None and init.capabilities.completions is not None
            prompt = PromptReference(type="ref/prompt", name="recommend")
            done = await client.complete(prompt, {"name": "shelf", "value": "fi"})
            assert done.completion.values == ["fiction"]
            assert done.completion.total == 1 and done.completion.has_more is False
            template = ResourceTemplateReference(type="ref/resource", uri="shelves://{shelf}/books/{year}")
            both = await client.complete(template, {"name": "shelf", "value": ""}, {"year": "1999"})
            assert both.completion.values == ["fiction", "poetry"]
            with pytest.raises(MCPError) as unknown:
                await client.complete(
                    PromptReference(type="ref/prompt", name="nope"), {"name": "x", "value": ""}
                )
            assert unknown.value.error.code == -32602

    run(scenario())


def test_resources_under_sessions_and_the_legacy_handshake(serve_socket: Callable[[Any], str]) -> None:
    app, _ = library_app(stateless=False)
    url = serve_socket(app) + "/mcp"

    async def scenario() -> None:
        async with Client(url, mode="legacy") as client:
            (text,) = (await client.read_resource("notes://a%20b")).contents
            assert isinstance(text, TextResourceContents) and text.text == "a b for anyone"
            got = await client.get_prompt("summarize", {"book_id": "2"})
            assert got.messages[0].content.text == "Summarize Emma in 50 words."  # type: ignore[union-attr]

    run(scenario())


def test_the_example_app(serve_socket: Callable[[Any], str]) -> None:
    """examples/mcp_server.py: its tools, resource and prompt, as its docstring uses them."""
    path = Path(__file__).resolve().parents[2] / "examples" / "mcp_server.py"
    spec = importlib.util.spec_from_file_location("mcp_server_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    url = serve_socket(example.app) + "/mcp"

    async def scenario() -> None:
        async with Client(url) as client:
            assert {t.name for t in (await client.list_tools()).tools} == {
                "get_item",
                "add_item",
                "total_quantity",
            }
            (item,) = (await client.read_resource("items://1")).contents
            assert isinstance(item, TextResourceContents) and item.mime_type == "application/json"
            assert json.loads(item.text) == {"name": "hammer", "quantity": 3}
            with pytest.raises(MCPError) as missing:
                await client.read_resource("items://99")
            assert missing.value.error.code == -32002
            prompt = await client.get_prompt("restock", {"item_id": "1", "target": "5"})
            assert prompt.messages[0].content.text == "We have 3 of hammer; plan how to reach 5."  # type: ignore[union-attr]

    run(scenario())
