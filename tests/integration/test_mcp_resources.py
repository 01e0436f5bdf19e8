"""MCP resources and prompts as raw JSON-RPC through every front door (engine, ASGI, uvicorn).

Listings (and their fields per protocol version), reads of text, JSON and blob resources, URI templates and
their conversion, prompts and their messages, every error code, the capabilities, and the errors a wrong
declaration raises when decorated.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any

import httpx
import pytest
from pydantic import BaseModel

from fulmen import Depends, FastAPI, Query
from fulmen.integrations.mcp import AssistantMessage, MCPServer, Message, UserMessage
from tests.integration.mcp_apps import LOGO, library_app
from tests.integration.test_mcp_protocol import call, post

Serve = Callable[..., httpx.Client]


def result(client: httpx.Client, method: str, params: Any = None, version: str = "2025-11-25") -> Any:
    response = post(client, call(1, method, params), version=version)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "error" not in body, body
    return body["result"]


def error(client: httpx.Client, method: str, params: Any = None) -> dict[str, Any]:
    response = post(client, call(1, method, params), version="2025-11-25")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == 1 and "result" not in body, body
    return dict(body["error"])


def test_capabilities_only_for_what_is_served(serve: Serve) -> None:
    init = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    }
    client = serve(library_app()[0])
    assert result(client, "initialize", init)["capabilities"] == {
        "tools": {"listChanged": False},
        "resources": {"subscribe": False, "listChanged": False},
        "prompts": {"listChanged": False},
        "completions": {},  # the Shelf enum of a prompt and a template has values to offer
    }

    app = FastAPI()
    mcp = MCPServer(app)

    @mcp.prompt()
    def hello() -> str:
        return "Hello"

    mcp.mount()
    only_prompts = serve(app)
    assert result(only_prompts, "initialize", init)["capabilities"] == {
        "tools": {"listChanged": False},
        "prompts": {"listChanged": False},
    }
    # Not advertised, not served: the methods are unknown, as the spec has it.
    for method in ("resources/list", "resources/templates/list", "resources/read", "completion/complete"):
        assert error(only_prompts, method, {"uri": "config://app"}) == {
            "code": -32601,
            "message": f"Method not found: {method}",
        }
    assert result(only_prompts, "prompts/get", {"name": "hello"})["messages"] == [
        {"role": "user", "content": {"type": "text", "text": "Hello"}}
    ]


def test_list_resources_and_templates(serve: Serve) -> None:
    client = serve(library_app()[0])
    assert result(client, "resources/list") == {
        "resources": [
            {
                "uri": "config://app",
                "name": "config",
                "title": "App configuration",
                "description": "The library's settings.",
                "mimeType": "application/json",
            },
            {"uri": "text://motd", "name": "motd", "mimeType": "text/markdown"},
            {"uri": "files://logo.png", "name": "logo", "mimeType": "image/png"},
            {"uri": "broken://always", "name": "broken", "mimeType": "text/plain"},
        ]
    }
    assert result(client, "resources/templates/list") == {
        "resourceTemplates": [
            {
                "uriTemplate": "books://{book_id}",
                "name": "book",
                "description": "One book, as JSON.",
                "mimeType": "application/json",
            },
            {
                "uriTemplate": "shelves://{shelf}/books/{year}",
                "name": "shelf_books",
                "mimeType": "text/plain",
            },
            {
                "uriTemplate": "notes://{name}",
                "name": "note",
                "description": "A note, echoing its (percent-decoded) name and who asked.",
                "mimeType": "text/plain",
            },
        ]
    }
    # Titles arrived in 2025-06-18: a 2025-03-26 client gets none.
    old = result(client, "resources/list", version="2025-03-26")["resources"]
    assert old[0] == {
        "uri": "config://app",
        "name": "config",
        "description": "The library's settings.",
        "mimeType": "application/json",
    }
    assert (
        result(client, "resources/list", version="2025-11-25")["resources"][0]["title"] == "App configuration"
    )


def test_read_text_json_and_blob(serve: Serve) -> None:
    client = serve(library_app()[0])
    assert result(client, "resources/read", {"uri": "text://motd"}) == {
        "contents": [{"uri": "text://motd", "mimeType": "text/markdown", "text": "# Welcome\nQuiet, please."}]
    }
    config = result(client, "resources/read", {"uri": "config://app"})["contents"]
    assert config == [
        {
            "uri": "config://app",
            "mimeType": "application/json",
            "text": '{"opening":"09:00","shelves":["fiction","poetry"]}',
        }
    ]
    (logo,) = result(client, "resources/read", {"uri": "files://logo.png"})["contents"]
    assert logo["mimeType"] == "image/png" and "text" not in logo
    assert base64.b64decode(logo["blob"]) == LOGO


def test_read_templates(serve: Serve) -> None:
    client = serve(library_app()[0])
    book = result(client, "resources/read", {"uri": "books://1"})["contents"]
    # A pydantic model, encoded as a route's response would be.
    assert book == [
        {"uri": "books://1", "mimeType": "application/json", "text": '{"title":"Dune","year":1965}'}
    ]
    shelf = result(client, "resources/read", {"uri": "shelves://poetry/books/1815"})["contents"]
    assert shelf[0]["text"] == "poetry books of 1815"
    # Values are percent-decoded: an encoded "/" is part of the value, not a separator.
    note = result(client, "resources/read", {"uri": "notes://a%2Fb%20c"})["contents"]
    assert note == [{"uri": "notes://a%2Fb%20c", "mimeType": "text/plain", "text": "a/b c for anyone"}]
    # The function's Request parameter is the MCP request (its headers included).
    response = post(client, call(2, "resources/read", {"uri": "notes://x"}), authorization="Bearer t0ken")
    assert response.json()["result"]["contents"][0]["text"] == "x for Bearer t0ken"


def test_read_errors(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    client = serve(library_app()[0])
    for uri in ("nope://thing", "books://", "books://1/more", "shelves://poetry/books", "config://app/"):
        assert error(client, "resources/read", {"uri": uri}) == {
            "code": -32002,
            "message": "Resource not found",
            "data": {"uri": uri},
        }, uri
    bad_int = error(client, "resources/read", {"uri": "books://abc"})
    assert bad_int == {
        "code": -32602,
        "message": "Invalid params: resource 'books://abc' (template 'books://{book_id}'): 'book_id': "
        "Input should be a valid integer, unable to parse string as an integer",
        "data": {
            "uri": "books://abc",
            "errors": [
                {
                    "type": "int_parsing",
                    "loc": ["uri", "book_id"],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "input": "abc",
                }
            ],
        },
    }
    too_small = error(client, "resources/read", {"uri": "books://0"})
    assert too_small["code"] == -32602
    assert too_small["data"]["errors"][0]["type"] == "greater_than_equal"
    assert too_small["data"]["errors"][0]["ctx"] == {"ge": 1}
    bad_enum = error(client, "resources/read", {"uri": "shelves://drama/books/x"})
    assert bad_enum["code"] == -32602
    assert [e["loc"] for e in bad_enum["data"]["errors"]] == [["uri", "shelf"], ["uri", "year"]]
    # HTTPException(404) in the function: the spec's "Resource not found", with the detail.
    assert error(client, "resources/read", {"uri": "books://9"}) == {
        "code": -32002,
        "message": "Resource not found: No book 9",
        "data": {"uri": "books://9"},
    }
    with caplog.at_level(logging.ERROR, logger="fulmen.mcp"):
        assert error(client, "resources/read", {"uri": "broken://always"}) == {
            "code": -32603,
            "message": "Internal error",
        }
    # Every front door runs in this process (the engine and uvicorn in threads): the traceback is logged.
    assert any("the shelf fell over" in (r.exc_text or "") for r in caplog.records)
    for params in ({}, {"uri": 5}, {"uri": None}):
        assert error(client, "resources/read", params) == {
            "code": -32602,
            "message": "Invalid params: uri (a string) is required",
        }
    # One page: no cursor is ever issued, so one sent is invalid; a null cursor is the first page.
    for method, key in (("resources/list", "resources"), ("resources/templates/list", "resourceTemplates")):
        assert error(client, method, {"cursor": "page-2"}) == {
            "code": -32602,
            "message": "Invalid params: unknown cursor (this server lists everything in one page)",
        }
        assert set(result(client, method, {"cursor": None})) == {key}
    assert error(client, "resources/subscribe", {"uri": "config://app"})["code"] == -32601
    # After all that the server still answers.
    assert result(client, "resources/read", {"uri": "books://2"})["contents"][0]["text"] == (
        '{"title":"Emma","year":1815}'
    )


def test_prompts(serve: Serve) -> None:
    client = serve(library_app()[0])
    assert result(client, "prompts/list") == {
        "prompts": [
            {
                "name": "summarize",
                "title": "Summarize a book",
                "description": "Ask for a summary of a book.",
                "arguments": [
                    {"name": "book_id", "description": "The book's id", "required": True},
                    {"name": "words", "required": False},
                ],
            },
            {
                "name": "recommend",
                "description": "Start a conversation about books.",
                "arguments": [{"name": "shelf", "required": True}, {"name": "mood", "required": False}],
            },
            {"name": "wrong_return"},
        ]
    }
    assert "title" not in result(client, "prompts/list", version="2025-03-26")["prompts"][0]
    assert result(client, "prompts/get", {"name": "summarize", "arguments": {"book_id": "1"}}) == {
        "description": "Ask for a summary of a book.",
        "messages": [{"role": "user", "content": {"type": "text", "text": "Summarize Dune in 50 words."}}],
    }
    got = result(
        client, "prompts/get", {"name": "recommend", "arguments": {"shelf": "poetry", "mood": "calm"}}
    )
    assert got == {
        "description": "Start a conversation about books.",
        "messages": [
            {"role": "user", "content": {"type": "text", "text": "Recommend poetry; mood: calm."}},
            {"role": "assistant", "content": {"type": "text", "text": "Which author did you like last?"}},
            {"role": "user", "content": {"type": "text", "text": "Le Guin."}},
            {"role": "user", "content": {"type": "text", "text": "Something short."}},
        ],
    }
    words = result(client, "prompts/get", {"name": "summarize", "arguments": {"book_id": "2", "words": "9"}})
    assert words["messages"][0]["content"]["text"] == "Summarize Emma in 9 words."


def test_prompt_errors(serve: Serve) -> None:
    client = serve(library_app()[0])
    assert error(client, "prompts/get", {"name": "summarize"}) == {
        "code": -32602,
        "message": "Invalid params: Missing required argument 'book_id' for prompt 'summarize'",
        "data": {
            "errors": [
                {"type": "missing", "loc": ["arguments", "book_id"], "msg": "Field required", "input": None}
            ]
        },
    }
    invalid = error(client, "prompts/get", {"name": "recommend", "arguments": {"shelf": "drama"}})
    assert invalid["code"] == -32602
    assert invalid["message"].startswith(
        "Invalid params: Invalid arguments for prompt 'recommend': 'shelf': "
    )
    assert invalid["data"]["errors"][0]["type"] == "enum"
    assert error(
        client, "prompts/get", {"name": "summarize", "arguments": {"book_id": "1", "tone": "x"}}
    ) == {
        "code": -32602,
        "message": "Invalid params: prompt 'summarize' has no argument 'tone'",
    }
    assert error(client, "prompts/get", {"name": "nope"}) == {
        "code": -32602,
        "message": "Unknown prompt: nope",
    }
    for params in ({}, {"name": 3}, {"name": "summarize", "arguments": ["1"]}):
        assert error(client, "prompts/get", params)["code"] == -32602, params
    # The function's own HTTPException(4xx): the arguments were refused.
    assert error(client, "prompts/get", {"name": "summarize", "arguments": {"book_id": "7"}}) == {
        "code": -32602,
        "message": "Invalid params: No book 7",
    }
    assert error(client, "prompts/get", {"name": "wrong_return"}) == {
        "code": -32603,
        "message": "Internal error",
    }
    assert error(client, "prompts/list", {"cursor": "x"})["code"] == -32602


def test_batch_of_resources_and_prompts(serve: Serve) -> None:
    client = serve(library_app()[0])
    batch = [
        call(1, "resources/read", {"uri": "text://motd"}),
        call(2, "prompts/get", {"name": "summarize", "arguments": {"book_id": "1", "words": "5"}}),
        call(3, "resources/read", {"uri": "gone://"}),
    ]
    replies = post(client, batch, version="2025-03-26").json()
    assert [r["id"] for r in replies] == [1, 2, 3]
    assert replies[0]["result"]["contents"][0]["text"].startswith("# Welcome")
    assert replies[1]["result"]["messages"][0]["content"]["text"] == "Summarize Dune in 5 words."
    assert replies[2]["error"]["code"] == -32002


class Profile(BaseModel):
    name: str


def current() -> str:
    return "me"


def test_declaration_errors() -> None:
    mcp = MCPServer(FastAPI())

    def declare(uri: str, func: Callable[..., Any], **options: Any) -> str:
        with pytest.raises((ValueError, TypeError)) as raised:
            mcp.resource(uri, **options)(func)
        return str(raised.value)

    def user(user_id: int) -> str:
        return ""

    def nothing() -> str:
        return ""

    assert declare("users://{id}", user) == (
        "MCP resource 'users://{id}' (function 'test_declaration_errors.<locals>.user'): "
        "template variable 'id' is not a parameter of the function"
    )
    assert "parameter(s) 'user_id' are not variables of the URI (a static URI takes no arguments)" in declare(
        "users://all", user
    )
    assert "parameter(s) 'user_id' are not variables of the URI template" in declare(
        "orgs://{org}", lambda org, user_id: ""
    )
    assert "the URI needs a scheme" in declare("just-a-name", nothing)
    assert "adjacent" in declare("users://{user_id}{other}", user)
    assert "is not a level-1 template variable" in declare("users://{+user_id}", user)
    assert "is not a level-1 template variable" in declare("users://{?user_id}", user)
    assert "unbalanced braces" in declare("users://{user_id}}", user)
    assert "unbalanced braces" in declare("users://{user_id", user)
    assert "appears twice" in declare("users://{user_id}/{user_id}", user)

    def listed(ids: list[int]) -> str:
        return ""

    def modelled(profile: Profile) -> str:
        return ""

    def depends(user: Annotated[str, Depends(current)]) -> str:
        return ""

    def query(q: str = Query("x")) -> str:
        return ""

    def star(*ids: str) -> str:
        return ""

    assert "parameter 'ids' is list[int], which a string can't carry" in declare("ids://{ids}", listed)
    assert "parameter 'profile' is" in declare("profiles://{profile}", modelled)
    assert "no Depends" in declare("users://{user}", depends)
    assert "no Depends" in declare("search://{q}", query)
    assert "*args and **kwargs" in declare("ids://{ids}", star)

    mcp.resource("users://{user_id}")(user)
    assert "the URI is declared already, by function" in declare("users://{user_id}", user)
    assert "template 'users://{user_id}' (function" in declare("users://{id}", lambda id: "")
    mcp.resource("static://one")(nothing)
    assert "the URI is declared already" in declare("static://one", nothing)
    with pytest.raises(TypeError, match=r"@mcp.resource needs the resource's URI"):
        mcp.resource(nothing)  # type: ignore[arg-type]

    @mcp.prompt()
    def ask(topic: str) -> str:
        return topic

    with pytest.raises(ValueError, match=r"MCP prompt 'ask' \(function .*\): the name is taken already"):
        mcp.prompt(name="ask")(nothing)
    with pytest.raises(TypeError, match=r"@mcp.prompt\(\) with parentheses"):
        mcp.prompt(nothing)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"@mcp.tool\(\) with parentheses"):
        mcp.tool(nothing)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"MCP prompt 'listed' .*parameter 'ids'"):
        mcp.prompt()(listed)

    with pytest.raises(ValueError, match="'user' or 'assistant'"):
        Message("hi", role="system")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="content is a str or a content block"):
        UserMessage(42)  # type: ignore[arg-type]
    assert AssistantMessage("ok") == Message("ok", role="assistant")
    assert json.dumps(UserMessage({"type": "text", "text": "x"}).to_json()) == (
        '{"role": "user", "content": {"type": "text", "text": "x"}}'
    )


def test_mime_type_of_what_is_returned(serve: Serve) -> None:
    app = FastAPI()
    mcp = MCPServer(app)

    @mcp.resource("maybe://{kind}")
    def maybe(kind: str) -> str | bytes | None:
        return {"text": "t", "bytes": b"b"}.get(kind)

    @mcp.resource("typed://csv", mime_type="text/csv")
    def csv() -> str:
        return "a,b\n1,2\n"

    mcp.mount()
    client = serve(app)
    # Listed without a MIME type (the annotation promises several), each read labelled by its value.
    assert result(client, "resources/templates/list")["resourceTemplates"] == [
        {"uriTemplate": "maybe://{kind}", "name": "maybe"}
    ]
    assert result(client, "resources/list")["resources"] == [
        {"uri": "typed://csv", "name": "csv", "mimeType": "text/csv"}
    ]
    assert result(client, "resources/read", {"uri": "maybe://text"})["contents"] == [
        {"uri": "maybe://text", "mimeType": "text/plain", "text": "t"}
    ]
    assert result(client, "resources/read", {"uri": "maybe://bytes"})["contents"] == [
        {"uri": "maybe://bytes", "mimeType": "application/octet-stream", "blob": "Yg=="}
    ]
    assert result(client, "resources/read", {"uri": "maybe://none"})["contents"] == [
        {"uri": "maybe://none", "mimeType": "application/json", "text": "null"}
    ]
    assert result(client, "resources/read", {"uri": "typed://csv"})["contents"] == [
        {"uri": "typed://csv", "mimeType": "text/csv", "text": "a,b\n1,2\n"}
    ]


def complete(client: httpx.Client, ref: dict[str, Any], name: str, value: Any) -> Any:
    return result(client, "completion/complete", {"ref": ref, "argument": {"name": name, "value": value}})


def test_completions_of_enum_literal_and_bool_arguments(serve: Serve) -> None:
    client = serve(library_app()[0])
    recommend = {"type": "ref/prompt", "name": "recommend"}
    assert complete(client, recommend, "shelf", "po") == {
        "completion": {"values": ["poetry"], "total": 1, "hasMore": False}
    }
    assert complete(client, recommend, "shelf", "F")["completion"]["values"] == ["fiction"]  # any case
    assert complete(client, recommend, "shelf", "")["completion"]["values"] == ["fiction", "poetry"]
    assert complete(client, recommend, "shelf", "x")["completion"] == {
        "values": [],
        "total": 0,
        "hasMore": False,
    }
    # A free-text argument has nothing to offer.
    assert complete(client, recommend, "mood", "ca")["completion"] == {
        "values": [],
        "total": 0,
        "hasMore": False,
    }
    template = {"type": "ref/resource", "uri": "shelves://{shelf}/books/{year}"}
    assert complete(client, template, "shelf", "fic")["completion"]["values"] == ["fiction"]
    assert complete(client, template, "year", "19")["completion"]["values"] == []

    # Context arguments (already chosen ones) are accepted and don't change a fixed set of values.
    with_context = {
        "ref": template,
        "argument": {"name": "shelf", "value": "p"},
        "context": {"arguments": {"year": "1999"}},
    }
    assert result(client, "completion/complete", with_context)["completion"]["values"] == ["poetry"]

    for params, message in [
        (
            {"ref": {"type": "ref/prompt", "name": "nope"}, "argument": {"name": "a", "value": ""}},
            "no prompt 'nope'",
        ),
        (
            {"ref": {"type": "ref/resource", "uri": "books://1"}, "argument": {"name": "a", "value": ""}},
            "no resource template 'books://1'",
        ),
        (
            {"ref": recommend, "argument": {"name": "genre", "value": ""}},
            "prompt 'recommend' has no argument 'genre'",
        ),
        ({"ref": {"type": "ref/tool", "name": "x"}, "argument": {"name": "a", "value": ""}}, "ref must be"),
        (
            {"ref": {"type": "ref/prompt", "name": ["x"]}, "argument": {"name": "a", "value": ""}},
            "ref must be",
        ),
        ({"ref": recommend}, "ref and argument (objects) are required"),
        ({"ref": recommend, "argument": {"name": "shelf", "value": 3}}, "a name and a value (strings)"),
    ]:
        refused = error(client, "completion/complete", params)
        assert refused["code"] == -32602 and message in refused["message"], (params, refused)


#: 150 values: more than the 100 a completion may hold.
Code = Enum("Code", {f"c{i}": f"code-{i:03}" for i in range(150)})  # type: ignore[misc]


def test_completions_stop_at_a_hundred(serve: Serve) -> None:
    app = FastAPI()
    mcp = MCPServer(app)

    @mcp.prompt()
    def explain(code: Code, verbose: bool = False) -> str:
        return f"Explain {code.value}{' at length' if verbose else ''}."

    mcp.mount()
    client = serve(app)
    ref = {"type": "ref/prompt", "name": "explain"}
    many = complete(client, ref, "code", "code-")["completion"]
    assert many["values"] == [f"code-{i:03}" for i in range(100)]
    assert many["total"] == 150 and many["hasMore"] is True
    assert complete(client, ref, "code", "code-14")["completion"]["values"] == [
        f"code-14{i}" for i in range(10)
    ]
    assert complete(client, ref, "verbose", "")["completion"]["values"] == ["true", "false"]
    got = result(
        client, "prompts/get", {"name": "explain", "arguments": {"code": "code-007", "verbose": "true"}}
    )
    assert got["messages"][0]["content"]["text"] == "Explain code-007 at length."


def test_template_matching_is_one_pass(serve: Serve) -> None:
    app = FastAPI()
    mcp = MCPServer(app)

    @mcp.resource("range://{low}-{high}-{step}.txt")
    def span(low: str, high: str, step: str) -> str:
        return f"{low}|{high}|{step}"

    @mcp.resource("files://{name}.json")
    def named(name: str) -> str:
        return name

    mcp.mount()
    client = serve(app)

    def read(uri: str) -> Any:
        return post(client, call(1, "resources/read", {"uri": uri})).json()

    # A variable ends at the first occurrence of the literal after it; the suffix is anchored at the end.
    assert read("range://1-2-3.txt")["result"]["contents"][0]["text"] == "1|2|3"
    assert read("range://1-2-3-4.txt")["result"]["contents"][0]["text"] == "1|2|3-4"
    assert read("range://a.txt-b-c.txt")["result"]["contents"][0]["text"] == "a.txt|b|c"
    assert read("files://a.json.json")["result"]["contents"][0]["text"] == "a.json"
    for uri in (
        "range://1-2.txt",
        "range://--.txt",
        "range://1-2-.txt",
        "range://1/2-3-4.txt",
        "files://.json",
    ):
        assert read(uri)["error"]["code"] == -32002, uri
    # A long URI that a backtracking regular expression would take cubic time (hours) to reject: answered.
    hostile = "range://" + "-" * 200_000 + "/"
    assert read(hostile)["error"] == {
        "code": -32002,
        "message": "Resource not found",
        "data": {"uri": hostile},
    }


def test_union_annotations_name_the_argument(serve: Serve) -> None:
    app = FastAPI()
    mcp = MCPServer(app)

    @mcp.resource("things://{key}")
    def thing(key: int | uuid.UUID) -> str:
        return f"{type(key).__name__}:{key}"

    @mcp.prompt()
    def lookup(key: int | uuid.UUID) -> str:
        return f"Look up {key!r}"

    mcp.mount()
    client = serve(app)
    assert result(client, "resources/read", {"uri": "things://7"})["contents"][0]["text"] == "int:7"
    some = "12345678-1234-5678-1234-567812345678"
    assert (
        result(client, "resources/read", {"uri": f"things://{some}"})["contents"][0]["text"] == f"UUID:{some}"
    )
    refused = error(client, "resources/read", {"uri": "things://x"})
    assert refused["message"] == (
        "Invalid params: resource 'things://x' (template 'things://{key}'): 'key': Input should be a valid "
        "integer, unable to parse string as an integer; 'key': Input should be a valid UUID, invalid "
        "character: found `x` at 0"
    )
    assert [e["loc"] for e in refused["data"]["errors"]] == [["uri", "key", "int"], ["uri", "key", "uuid"]]
    prompt = error(client, "prompts/get", {"name": "lookup", "arguments": {"key": "x"}})
    assert prompt["message"].startswith("Invalid params: Invalid arguments for prompt 'lookup': 'key': ")
