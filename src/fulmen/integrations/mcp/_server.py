"""``MCPServer``: the app's routes (and ``@mcp.tool()`` functions) as Model Context Protocol tools, with
``@mcp.resource()`` resources and ``@mcp.prompt()`` prompts.

Speaks MCP's Streamable HTTP transport on one endpoint: POST carries JSON-RPC messages and is answered with
JSON (never an SSE stream: every call finishes with one response), GET is 405 (no server-initiated stream),
DELETE ends a session. Sessions are optional: stateless by default, so any worker can answer any request.
"""

from __future__ import annotations

import inspect
import logging
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import msgspec

from fulmen.integrations.mcp._call import CallResult, call_asgi
from fulmen.integrations.mcp._catalog import Catalog
from fulmen.integrations.mcp._prompts import Prompt
from fulmen.integrations.mcp._protocol import (
    BATCH_VERSIONS,
    DEFAULT_VERSION,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LATEST_VERSION,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    STRUCTURED_VERSIONS,
    SUPPORTED_VERSIONS,
    RPCError,
    error_message,
    name_and_arguments,
    result_message,
)
from fulmen.integrations.mcp._resources import Resource
from fulmen.integrations.mcp._tools import MissingArgument, Tool, tools_from_openapi
from fulmen.requests import Request
from fulmen.responses import Response

logger = logging.getLogger("fulmen.mcp")

F = TypeVar("F", bound=Callable[..., Any])

_JSON = "application/json"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_SESSION = b"mcp-session-id"
_VERSION = b"mcp-protocol-version"


class _Context:
    """What one POST knows: its request, the protocol version it speaks and its session (if any)."""

    __slots__ = ("request", "session", "version")

    def __init__(self, request: Request, version: str, session: str | None) -> None:
        self.request = request
        self.version = version
        self.session = session


class MCPServer:
    """Serve an app's operations as MCP tools over Streamable HTTP (fastapi-mcp's ``FastApiMCP``, for fulmen).

    Tools are read from the app's OpenAPI document (one per operation, named by its operationId) and called
    in-process through the app, so they get the same validation, dependencies, middleware and errors.
    Resources and prompts are functions declared with ``resource()`` and ``prompt()`` (FastMCP's decorators).
    """

    def __init__(
        self,
        app: Any,
        *,
        name: str | None = None,
        version: str | None = None,
        instructions: str | None = None,
        path: str = "/mcp",
        include_operations: Sequence[str] | None = None,
        exclude_operations: Sequence[str] | None = None,
        include_tags: Sequence[str] | None = None,
        exclude_tags: Sequence[str] | None = None,
        forward_headers: Iterable[str] = ("authorization",),
        stateless: bool = True,
        allowed_origins: Sequence[str] | None = None,
        max_sessions: int = 10_000,
    ) -> None:
        if include_operations is not None and exclude_operations is not None:
            raise ValueError("Give include_operations or exclude_operations, not both")
        if include_tags is not None and exclude_tags is not None:
            raise ValueError("Give include_tags or exclude_tags, not both")
        if not path.startswith("/"):
            raise ValueError(f"The MCP path must start with '/', got {path!r}")
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {max_sessions}")
        for label, names in (
            ("include_operations", include_operations),
            ("exclude_operations", exclude_operations),
            ("include_tags", include_tags),
            ("exclude_tags", exclude_tags),
            ("allowed_origins", allowed_origins),
        ):
            if isinstance(names, str):
                raise TypeError(f"{label} must be a list of strings, not the string {names!r}")
        self.app = app
        self.name = name or getattr(app, "title", None) or "fulmen"
        self.version = version or getattr(app, "version", None) or "0.1.0"
        self.instructions = instructions
        self.path = path
        self.include_operations = None if include_operations is None else list(include_operations)
        self.exclude_operations = None if exclude_operations is None else list(exclude_operations)
        self.include_tags = None if include_tags is None else list(include_tags)
        self.exclude_tags = None if exclude_tags is None else list(exclude_tags)
        self.forward_headers = tuple(h.lower().encode("latin-1") for h in forward_headers)
        self.stateless = stateless
        self.allowed_origins = None if allowed_origins is None else list(allowed_origins)
        self.max_sessions = max_sessions
        # Session id -> negotiated protocol version, oldest first (the oldest goes when max_sessions is hit).
        self._sessions: OrderedDict[str, str] = OrderedDict()
        self._tools: dict[str, Tool] | None = None
        # The OpenAPI documents (the app's, the functions') the tools were read from.
        self._documents: tuple[Any, Any] = (None, None)
        # PERF: tools/list answers from these (keyed by the tool set they describe) instead of describing
        # every tool on every call.
        self._listed: dict[bool, tuple[dict[str, Tool] | None, list[dict[str, Any]]]] = {}
        self._function_app: Any = None
        self._function_texts: dict[str, tuple[str | None, str | None]] = {}
        # The resources, templates and prompts, and the methods serving them.
        self._catalog = Catalog()
        self._mounted = False

    # -- declaring -----------------------------------------------------------------------------------------
    def tool(
        self, name: str | None = None, *, title: str | None = None, description: str | None = None
    ) -> Callable[[F], F]:
        """Decorator: expose a function as a tool; its typed parameters are the tool's arguments.

        Arguments are validated as a route's JSON body fields would be (422-style errors come back as an error
        result); ``Depends``, ``Header``, ``Request`` and the other route parameters work as in a route.
        """
        if name is not None and not isinstance(name, str):
            # A bare ``@mcp.tool`` would otherwise replace the function with this decorator, silently.
            raise TypeError("Use @mcp.tool() with parentheses (name, title and description are optional)")

        def decorator(func: F) -> F:
            self._add_function(func, name or func.__name__, title, description)
            return func

        return decorator

    def _add_function(
        self, func: Callable[..., Any], name: str, title: str | None, description: str | None
    ) -> None:
        from fulmen.integrations.mcp._functions import endpoint_for

        if self._function_app is None:
            from fulmen.app import Fulmen

            self._function_app = Fulmen(openapi_url=None, docs_url=None, redoc_url=None)
            # The functions' dependencies take the app's overrides (tests override them there).
            self._function_app.dependency_overrides = getattr(self.app, "dependency_overrides", {})
        endpoint, response_model = endpoint_for(func)
        if description is None:
            description = inspect.getdoc(func)
        self._function_texts[name] = (title, description)
        index = len(self._function_app.routes)
        self._function_app.add_api_route(
            f"/tools/{index}",
            endpoint,
            methods=["POST"],
            operation_id=name,
            summary=title,
            description=description,
            response_model=response_model,
        )

    def resource(
        self,
        uri: str,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
    ) -> Callable[[F], F]:
        """Decorator: serve what a function returns as the resource at ``uri`` (FastMCP's ``@mcp.resource``).

        ``str`` is text, ``bytes`` a base64 blob, anything else JSON. A URI with ``{variables}`` (an RFC 6570
        level-1 template, ``users://{user_id}/profile``) passes them as the function's parameters, converted
        by annotation as route path parameters. Raises ``ValueError``/``TypeError`` when declared wrongly.
        """
        if not isinstance(uri, str):
            raise TypeError(
                "@mcp.resource needs the resource's URI: @mcp.resource('config://app'), "
                f"not {type(uri).__name__}"
            )

        def decorator(func: F) -> F:
            self._catalog.add_resource(Resource(uri, func, name, title, description, mime_type))
            return func

        return decorator

    def prompt(
        self, name: str | None = None, *, title: str | None = None, description: str | None = None
    ) -> Callable[[F], F]:
        """Decorator: a prompt whose arguments are the function's parameters (FastMCP's ``@mcp.prompt()``).

        Parameters without a default are required arguments. The function returns a ``str`` (one user
        message), a ``Message`` (``UserMessage``/``AssistantMessage``), or a list of them.
        """
        if name is not None and not isinstance(name, str):
            raise TypeError("Use @mcp.prompt() with parentheses (name, title and description are optional)")

        def decorator(func: F) -> F:
            self._catalog.add_prompt(Prompt(func, name or func.__name__, title, description))
            return func

        return decorator

    # -- mounting ------------------------------------------------------------------------------------------
    def mount(self, path: str | None = None) -> None:
        """Serve the MCP endpoint at ``path`` (default: the constructor's ``path``, "/mcp") on the app."""
        if path is not None:
            if not path.startswith("/"):
                raise ValueError(f"The MCP path must start with '/', got {path!r}")
            self.path = path
        if self._mounted:
            raise RuntimeError(f"This MCPServer is mounted already (at {self.path!r})")
        self._mounted = True
        self.app.add_api_route(
            self.path, self.handle, methods=["GET", "POST", "DELETE"], include_in_schema=False
        )
        self.app.add_event_handler("startup", self.tools)

    def mount_http(self, router: Any = None, mount_path: str = "/mcp") -> None:
        """fastapi-mcp's spelling: ``mount_http()`` serves at "/mcp" on the app (or on ``router``)."""
        if router is None:
            self.mount(mount_path)
            return
        self.path = mount_path
        router.include_router(self.router)

    @property
    def router(self) -> Any:
        """An APIRouter with the MCP endpoint at ``path``, for ``app.include_router(mcp.router)``."""
        from fulmen.app import APIRouter

        router = APIRouter()
        router.add_api_route(
            self.path, self.handle, methods=["GET", "POST", "DELETE"], include_in_schema=False
        )
        router.add_event_handler("startup", self.tools)
        return router

    # -- tools ---------------------------------------------------------------------------------------------
    def tools(self) -> list[Tool]:
        """The tools served, built from the app's OpenAPI document (at start-up when mounted), and again
        when that document changes (routes added later).

        Raises ``ValueError`` when include/exclude options name operations or tags that don't exist.
        """
        # PERF: openapi() returns its cached document until routes change; comparing identities is all
        # a call pays when nothing changed.
        documents = (self.app.openapi(), None if self._function_app is None else self._function_app.openapi())
        if (
            self._tools is None
            or documents[0] is not self._documents[0]
            or documents[1] is not self._documents[1]
        ):
            self._tools = self._build_tools(documents[0], documents[1])
            self._documents = documents
        return list(self._tools.values())

    def refresh(self) -> None:
        """Forget the tools: they are read again on next use (after changing an operation in place)."""
        self._tools = None

    def _listing(self, structured: bool) -> list[dict[str, Any]]:
        """The ``tools/list`` result's tools, described once per tool set and protocol generation."""
        tools = self.tools()
        listed = self._listed.get(structured)
        if listed is None or listed[0] is not self._tools:
            listed = self._listed[structured] = (self._tools, [t.describe(structured) for t in tools])
        return listed[1]

    def _build_tools(
        self, document: Mapping[str, Any], functions: Mapping[str, Any] | None
    ) -> dict[str, Tool]:
        found: list[Tool] = []
        operations: set[str] = set()
        tags: set[str] = set()
        for tool, operation_id, reason in tools_from_openapi(document):
            operations.add(operation_id)
            if tool is None:
                logger.info("MCP: operation %r is not a tool: %s", operation_id, reason)
                continue
            tags.update(tool.tags)
            tool.target = self.app
            found.append(tool)
        for label, names, known in (
            ("include_operations", self.include_operations, operations),
            ("exclude_operations", self.exclude_operations, operations),
            ("include_tags", self.include_tags, tags),
            ("exclude_tags", self.exclude_tags, tags),
        ):
            unknown = sorted(set(names or ()) - known)
            if unknown:
                raise ValueError(
                    f"MCPServer({label}=...) names what the app doesn't have: {', '.join(unknown)}"
                )
        selected = [t for t in found if self._selected(t)]
        if functions is not None:
            for tool, _, _ in tools_from_openapi(functions):
                assert tool is not None  # functions only have JSON bodies
                tool.target = self._function_app
                tool.read_only = False
                # A function's own words only (the route's summary is generated from its name).
                tool.title, tool.description = self._function_texts[tool.name]
                selected.append(tool)
        tools: dict[str, Tool] = {}
        for tool in selected:
            if tool.name in tools:
                raise ValueError(
                    f"Two MCP tools are named {tool.name!r}; give one another name (operation_id)"
                )
            tools[tool.name] = tool
        return tools

    def _selected(self, tool: Tool) -> bool:
        # As fastapi-mcp: operations first, then tags; include lists keep, exclude lists drop.
        if self.include_operations is not None and tool.name not in self.include_operations:
            return False
        if self.exclude_operations is not None and tool.name in self.exclude_operations:
            return False
        if self.include_tags is not None and not set(tool.tags) & set(self.include_tags):
            return False
        return not (self.exclude_tags is not None and set(tool.tags) & set(self.exclude_tags))

    # -- HTTP ----------------------------------------------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        """Answer one HTTP request to the MCP endpoint (POST messages, GET, DELETE)."""
        origin = request.headers.get("origin")
        if origin is not None and not self._origin_allowed(origin):
            return _error_response(403, INVALID_REQUEST, f"Forbidden: origin {origin!r} is not allowed")
        if request.method == "POST":
            return await self._post(request)
        if request.method == "DELETE":
            return self._delete(request)
        # GET: no server-initiated stream (every response comes back on its POST); the spec allows 405.
        return _error_response(405, INVALID_REQUEST, "Method Not Allowed", headers={"Allow": "POST, DELETE"})

    def _origin_allowed(self, origin: str) -> bool:
        """The spec's DNS-rebinding defence: loopback origins by default, else ``allowed_origins``."""
        allowed = self.allowed_origins
        if allowed is None:
            try:
                host = urlsplit(origin).hostname
            except ValueError:
                return False
            return host in _LOOPBACK
        return "*" in allowed or origin.rstrip("/") in (o.rstrip("/") for o in allowed)

    def _delete(self, request: Request) -> Response:
        if self.stateless:
            return _error_response(405, INVALID_REQUEST, "Method Not Allowed: this server keeps no sessions")
        session = request.headers.get("mcp-session-id")
        if session is None:
            return _error_response(400, INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required")
        if self._sessions.pop(session, None) is None:
            return _error_response(404, INVALID_REQUEST, "Session not found")
        return Response(status_code=204)

    async def _post(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() != _JSON:
            return _error_response(
                415, INVALID_REQUEST, "Unsupported Media Type: Content-Type must be application/json"
            )
        accept = request.headers.get("accept")
        if accept is not None and not _accepts_json(accept):
            return _error_response(
                406, INVALID_REQUEST, "Not Acceptable: the client must accept application/json"
            )
        try:
            payload = msgspec.json.decode(await request.body())
        except msgspec.DecodeError as exc:
            return _error_response(400, PARSE_ERROR, f"Parse error: {exc}")
        messages = payload if isinstance(payload, list) else [payload]
        batch = isinstance(payload, list)
        if batch and not payload:
            return _error_response(400, INVALID_REQUEST, "Invalid Request: empty batch")
        initialize = any(isinstance(m, dict) and m.get("method") == "initialize" for m in messages)
        if initialize and batch:
            return _error_response(
                400, INVALID_REQUEST, "Invalid Request: initialize must not be part of a batch"
            )
        header_version = request.headers.get("mcp-protocol-version")
        if header_version is not None and header_version not in SUPPORTED_VERSIONS and not initialize:
            return _error_response(
                400,
                INVALID_REQUEST,
                f"Bad Request: unsupported protocol version {header_version!r}",
                data={"supported": list(SUPPORTED_VERSIONS)},
            )
        session: str | None = None
        version = header_version or DEFAULT_VERSION
        if not self.stateless and not initialize:
            session = request.headers.get("mcp-session-id")
            if session is None:
                return _error_response(400, INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required")
            known = self._sessions.get(session)
            if known is None:
                return _error_response(404, INVALID_REQUEST, "Session not found")
            version = header_version or known
        if batch and version not in BATCH_VERSIONS:
            return _error_response(
                400, INVALID_REQUEST, f"Invalid Request: protocol {version} has no JSON-RPC batches"
            )
        context = _Context(request, version, session)
        replies: list[dict[str, Any]] = []
        for message in messages:
            reply = await self._dispatch(message, context)
            if reply is not None:
                replies.append(reply)
        headers = {"Mcp-Session-Id": context.session} if initialize and context.session else None
        if not replies:  # only notifications and responses: accepted, nothing to say
            return Response(status_code=202, headers=headers)
        body = msgspec.json.encode(replies if batch else replies[0])
        return Response(body, media_type=_JSON, headers=headers)

    # -- JSON-RPC ------------------------------------------------------------------------------------------
    async def _dispatch(self, message: Any, context: _Context) -> dict[str, Any] | None:
        """Answer one JSON-RPC message: a response for a request, None for a notification or a response."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return error_message(
                _id_of(message), INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message"
            )
        method = message.get("method")
        if method is None:
            if "id" in message and ("result" in message or "error" in message):
                return None  # a response from the client: this server sends no requests, so nothing waits
            return error_message(_id_of(message), INVALID_REQUEST, "Invalid Request: no method")
        if "id" not in message:
            return None  # a notification (initialized, cancelled, ...): nothing to answer
        id_ = message["id"]
        if isinstance(id_, bool) or not isinstance(id_, (str, int)):
            return error_message(None, INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
        if not isinstance(method, str):
            return error_message(id_, INVALID_REQUEST, "Invalid Request: method must be a string")
        params = message.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return error_message(id_, INVALID_PARAMS, "Invalid params: params must be an object")
        try:
            if method == "initialize":
                result = self._initialize(params, context)
            elif method == "ping":
                result = {}
            elif method == "tools/list":
                result = {"tools": self._listing(context.version in STRUCTURED_VERSIONS)}
            elif method == "tools/call":
                result = await self._call_tool(params, context)
            elif self._catalog.serves(method):
                structured = context.version in STRUCTURED_VERSIONS
                result = await self._catalog.answer(method, params, context.request, structured)
            else:
                raise RPCError(METHOD_NOT_FOUND, f"Method not found: {method}")
        except RPCError as exc:
            return error_message(id_, exc.code, exc.message, exc.data)
        except Exception:
            logger.exception("MCP: %s failed", method)
            return error_message(id_, INTERNAL_ERROR, "Internal error")
        return result_message(id_, result)

    def _initialize(self, params: Mapping[str, Any], context: _Context) -> dict[str, Any]:
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise RPCError(INVALID_PARAMS, "Invalid params: protocolVersion (a string) is required")
        # The client's version when we speak it, else our newest: the client decides whether it can go on.
        version = requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION
        context.version = version
        if not self.stateless:
            session = secrets.token_urlsafe(24)
            self._sessions[session] = version
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            context.session = session
        # A capability only for what is served: clients then don't ask for resources or prompts in vain.
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}, **self._catalog.capabilities()},
            "serverInfo": {"name": self.name, "version": self.version},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    async def _call_tool(self, params: Mapping[str, Any], context: _Context) -> dict[str, Any]:
        name, arguments = name_and_arguments(params)
        tool = self.tools() and (self._tools or {}).get(name)
        if not tool:
            raise RPCError(INVALID_PARAMS, f"Unknown tool: {name}")
        try:
            path, query, headers, body = tool.build_request(arguments)
        except KeyError as exc:
            return _tool_error(f"Unexpected argument {exc.args[0]!r} for tool {name!r}")
        except MissingArgument as exc:
            return _tool_error(f"Missing required argument {exc.args[0]!r} for tool {name!r}")
        except (TypeError, ValueError, msgspec.EncodeError) as exc:
            return _tool_error(f"Arguments of tool {name!r} can't be sent: {exc}")
        result = await call_asgi(
            tool.target, self._scope(context.request, tool, path, query, headers, body), body
        )
        return _tool_result(tool, result, context.version in STRUCTURED_VERSIONS)

    def _scope(
        self,
        request: Request,
        tool: Tool,
        path: str,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> dict[str, Any]:
        """The ASGI scope of the in-process call: the MCP request's host and client, the tool's request."""
        raw = request.raw_headers
        sent = [(b"host", v) for k, v in raw if k == b"host"][:1]
        forwarded = {name for name, _ in headers}
        sent.extend((k, v) for k, v in raw if k in self.forward_headers and k not in forwarded)
        sent.extend(headers)
        if body:
            sent.append((b"content-type", b"application/json"))
            sent.append((b"content-length", str(len(body)).encode("ascii")))
        client = request.client
        server = request.server
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": tool.method,
            "scheme": request.scheme,
            # As an HTTP server gives them: the path decoded, the raw path as sent (a "/" in a parameter's
            # value then splits the path, as it does for any HTTP client of a FastAPI app).
            "path": unquote(path),
            "raw_path": path.encode("ascii"),
            "query_string": query,
            "root_path": "",
            "headers": sent,
            "client": (client[0], client[1]) if client else None,
            "server": (server[0], server[1]) if server else None,
        }
        lifespan_state = getattr(self.app, "lifespan_state", None)
        if lifespan_state:
            scope["state"] = dict(lifespan_state)  # a copy per request, as an ASGI server gives
        return scope


def _id_of(message: Any) -> Any:
    if isinstance(message, dict):
        id_ = message.get("id")
        if isinstance(id_, (str, int)) and not isinstance(id_, bool):
            return id_
    return None


def _accepts_json(accept: str) -> bool:
    for item in accept.split(","):
        media = item.partition(";")[0].strip().lower()
        if media in (_JSON, "application/*", "*/*"):
            return True
    return False


def _error_response(
    status: int, code: int, message: str, *, data: Any = None, headers: Mapping[str, str] | None = None
) -> Response:
    """An HTTP error carrying a JSON-RPC error without an id (the request was refused before dispatch)."""
    body = msgspec.json.encode(error_message(None, code, message, data))
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


def _tool_error(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


def _tool_result(tool: Tool, result: CallResult, structured: bool) -> dict[str, Any]:
    """A ``tools/call`` result for the route's response: its body as text, JSON also as structured content."""
    text = result.body.decode("utf-8", errors="replace")
    out: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if result.status >= 400:
        out["isError"] = (
            True  # the HTTP error's body (FastAPI's {"detail": ...}) tells the model what went wrong
        )
        return out
    if not structured:
        return out
    content_type = (result.header(b"content-type") or b"").split(b";")[0].strip().lower()
    if content_type != b"application/json" and not content_type.endswith(b"+json"):
        return out
    try:
        data = msgspec.json.decode(result.body)
    except msgspec.DecodeError:
        return out
    if tool.wrap_output:
        out["structuredContent"] = {"result": data}
    elif isinstance(data, dict):
        out["structuredContent"] = data
    return out
