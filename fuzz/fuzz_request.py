"""Fuzz the engine's request path: bytes -> a real ``HttpProtocol`` on a fake transport -> checked output.

Run it (needs ``pip install atheris``; CI runs it for 60 s on Python 3.11)::

    cp -r fuzz/corpus /tmp/corpus  # libFuzzer adds what it finds to the first corpus directory
    python fuzz/fuzz_request.py /tmp/corpus -dict=fuzz/http.dict \
        -max_total_time=60 -rss_limit_mb=2048 -timeout=10

Without atheris, ``one_input(data)`` is a plain function: tests/engine/test_fuzz_request.py runs it over the
seed corpus and over hypothesis-generated inputs, so every test run exercises the harness.

Input format (so the fuzzer also chooses how the bytes are cut into reads and how the client behaves):
byte 0 holds flags -- bits 0-2: number of cuts ``n``; bit 3: half-close (EOF) after the data; bit 4: a tiny
transport buffer, so writes hit pause_writing/resume_writing; bit 5: fire the connection's timer at the end
(a header/body/keep-alive timeout); bit 6: parse reads in 32-byte slices (``protocol._FEED_SLICE``), so a
full pipeline leaves a backlog. The next ``n`` bytes place the cuts (scaled to the payload's length);
the rest is the payload the client sends. ``python fuzz/fuzz_request.py --write-seeds`` rewrites the corpus.

After each input these must hold (else ``Violation``): no exception reached the event loop or the log at
ERROR; the output parses (httptools' response parser) as a sequence of HTTP/1.1 responses; one final
response per request the app was handed, plus at most one engine error response, which comes last, says
``connection: close`` and is followed by the connection closing; nothing is written after a response that
closes the connection, after ``write_eof`` or after ``close``; reading is never left paused once the
handlers are done and the client has read everything; no 500 (the app never fails on purpose).
"""

# No ``from __future__ import annotations``: the routes below are defined inside a function (so fulmen is
# imported only after atheris started instrumenting), and their annotations must be real objects.
import asyncio
import itertools
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
#: Statuses the engine itself answers for a request it could not take (framing, limits, timeouts), and
#: those of a WebSocket handshake that websockets refuses before the app sees it (405, 426).
ENGINE_ERRORS = frozenset({400, 405, 408, 413, 414, 426, 431, 501, 505})
#: Limits small enough for the fuzzer to reach (see fulmen.engine.config for the real defaults).
SETTINGS: dict[str, Any] = {
    "max_url_length": 256,
    "max_header_bytes": 1024,
    "max_header_count": 16,
    "max_body_size": 2048,
    "max_pipelined_requests": 4,
    "access_log": False,
}


class Violation(AssertionError):
    """An invariant of the request path does not hold for this input."""


# -- the application under test ----------------------------------------------------------------------------
def build_app() -> Any:
    """A small fulmen app with path, query, header, cookie, body, model and streaming routes."""
    from dataclasses import dataclass as model

    from fulmen import Cookie, FastAPI, Header, Request, RequestValidationError, Response
    from fulmen.responses import JSONResponse, StreamingResponse

    app = FastAPI(openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Not the default handler: like FastAPI's, it answers 500 for a non-UTF-8 body sent to a model route
        # without a JSON content type (jsonable_encoder decodes the bytes input); that is the core's, not
        # the engine's, and it would stop every fuzzing run in its first seconds.
        return JSONResponse({"errors": len(exc.errors())}, status_code=422)

    @model
    class Item:
        name: str
        price: float
        tags: list[str] | None = None

    @app.get("/")
    async def index() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None, limit: int = 10) -> dict[str, Any]:
        return {"item_id": item_id, "q": q, "limit": limit}

    @app.post("/items")
    async def create_item(item: Item) -> Item:
        return item

    @app.get("/headers")
    async def headers(
        x_token: str | None = Header(None), user_agent: str | None = Header(None)
    ) -> dict[str, Any]:
        return {"x_token": x_token, "user_agent": user_agent}

    @app.get("/cookies")
    async def cookies(session: str | None = Cookie(None)) -> dict[str, Any]:
        return {"session": session}

    @app.api_route("/raw", methods=["POST", "PUT", "PATCH", "DELETE"])
    async def raw(request: Request) -> Response:
        body = await request.body()
        return Response(body, media_type="application/octet-stream")

    @app.get("/suspend")
    async def suspend() -> dict[str, int]:
        await asyncio.sleep(0)  # a handler that really becomes a task
        await asyncio.sleep(0)
        return {"n": 2}

    @app.get("/stream")
    async def stream(n: int = 3) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(min(n, 20)):
                await asyncio.sleep(0)
                yield b"chunk %d\n" % i

        return StreamingResponse(chunks(), media_type="text/plain")

    return app


class RecordingApp:
    """Wraps the served app and records the method of every request the engine hands it, in order."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.methods: list[str] = []

    def handle(self, request: Any) -> Any:
        self.methods.append(request.method)
        return self.inner.handle(request)

    async def startup(self) -> None:
        await self.inner.startup()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if attr is None or name not in ("handle_websocket", "websocket_asgi"):
            return attr

        def websocket(*args: Any) -> Any:  # a WebSocket handshake is a request the app was handed, too
            self.methods.append("WEBSOCKET")
            return attr(*args)

        return websocket


# -- a transport without a socket ----------------------------------------------------------------------------
class FakeTransport:
    """What uvloop's TCP transport offers the protocol, recording the output instead of sending it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, high_water: int) -> None:
        self.loop = loop
        self.protocol: Any = None
        self.out = bytearray()
        self.buffered = 0
        self.high_water = high_water
        self.write_paused = False
        self.reading = True
        self.closed = False
        self.eof_written = False
        #: Whether the server closed (or half-closed) the connection before the client went away.
        self.server_ended = False
        self.problems: list[str] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes) -> None:
        if self.eof_written:
            self.problems.append("write() after write_eof()")
        if self.closed:
            self.problems.append("write() after close()")
            return
        self.out += data
        self.buffered += len(data)
        if self.buffered > self.high_water and not self.write_paused:
            self.write_paused = True
            self.protocol.pause_writing()

    def writelines(self, chunks: list[bytes]) -> None:
        self.write(b"".join(chunks))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def client_reads(self) -> None:
        """The peer read everything: the buffer is empty, so writing may resume."""
        self.buffered = 0
        if self.write_paused and not self.closed:
            self.write_paused = False
            self.protocol.resume_writing()


# -- the harness ---------------------------------------------------------------------------------------------
@dataclass
class Case:
    chunks: list[bytes]
    eof: bool = False
    tiny_buffer: bool = False
    fire_timer: bool = False
    small_slices: bool = False


def decode(data: bytes) -> Case:
    """Split the fuzzer's bytes into the payload's reads and the client's behaviour (see the module doc)."""
    if not data:
        return Case([])
    flags = data[0]
    n = min(flags & 7, len(data) - 1)
    payload = data[1 + n :]
    cuts = sorted({b * len(payload) // 256 for b in data[1 : 1 + n]} | {0, len(payload)})
    chunks = [payload[a:b] for a, b in itertools.pairwise(cuts) if b > a]
    return Case(
        chunks,
        eof=bool(flags & 8),
        tiny_buffer=bool(flags & 16),
        fire_timer=bool(flags & 32),
        small_slices=bool(flags & 64),
    )


def encode(
    payload: bytes, cuts: tuple[int, ...] = (), *, eof: bool = False, tiny: bool = False, slices: bool = False
) -> bytes:
    """The input that sends ``payload`` cut at the given byte fractions (0-255) of its length."""
    return (
        bytes([len(cuts) | (8 if eof else 0) | (16 if tiny else 0) | (64 if slices else 0), *cuts]) + payload
    )


class _Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class _Harness:
    loop: asyncio.AbstractEventLoop
    app: RecordingApp
    config: Any
    log: _Log
    loop_errors: list[dict[str, Any]] = field(default_factory=list)


_harness: _Harness | None = None


def _setup() -> _Harness:
    global _harness
    if _harness is None:
        from fulmen.engine.config import Config
        from fulmen.engine.server import served_app

        loop = asyncio.new_event_loop()
        app = RecordingApp(served_app(build_app()))
        loop.run_until_complete(app.startup())
        log = _Log()
        logging.getLogger("fulmen").addHandler(log)
        _harness = _Harness(loop, app, Config(**SETTINGS), log)
        loop.set_exception_handler(lambda _loop, context: _harness.loop_errors.append(context))  # type: ignore[union-attr]
    return _harness


def _settle(h: _Harness, transport: FakeTransport) -> None:
    """Run the loop until nothing is ready: handlers finish, streams end, callbacks run."""
    loop = h.loop

    async def quiet() -> None:
        me = asyncio.current_task()
        for _ in range(2000):
            await asyncio.sleep(0)
            if transport.write_paused and not transport.closed:
                # A prompt client: backpressure pauses only until it reads. Protocol callbacks always run
                # from the loop, never inside a task (the engine starts handlers eagerly from them).
                loop.call_soon(transport.client_reads)
            if not any(t is not me and not t.done() for t in asyncio.all_tasks()) and not loop._ready:  # type: ignore[attr-defined]
                return
        raise Violation("the event loop never went quiet (a handler or stream spins)")

    loop.run_until_complete(quiet())


def run_case(case: Case) -> tuple[bytes, list[str], FakeTransport]:
    """Feed one case to a fresh connection; returns the output, the methods the app got, the transport."""
    from fulmen.engine import protocol as engine_protocol
    from fulmen.engine.protocol import HttpProtocol, ServerState

    h = _setup()
    loop = h.loop
    h.app.methods = []
    h.log.records.clear()
    h.loop_errors.clear()
    state = ServerState(h.app, h.config, loop)  # type: ignore[arg-type]
    transport = FakeTransport(loop, 64 if case.tiny_buffer else 65536)
    protocol = HttpProtocol(state)
    transport.protocol = protocol
    feed_slice = engine_protocol._FEED_SLICE
    if case.small_slices:
        engine_protocol._FEED_SLICE = 32
    try:
        loop.call_soon(protocol.connection_made, transport)
        _settle(h, transport)
        for chunk in case.chunks:
            if transport.closed:
                break
            if not transport.reading and not transport.eof_written:
                # Handlers have finished and the client reads everything: nothing may keep reading paused.
                transport.problems.append("reading stays paused on an idle connection")
                break
            loop.call_soon(transport.protocol.data_received, chunk)
            loop.call_soon(transport.client_reads)
            _settle(h, transport)
        if case.eof and not transport.closed:

            def eof() -> None:
                if not transport.protocol.eof_received():
                    transport.close()  # what a transport does when eof_received() returns a false value

            loop.call_soon(eof)
            _settle(h, transport)
        if case.fire_timer and not transport.closed and getattr(protocol, "_timer", None) is not None:

            def fire() -> None:
                protocol._timer.cancel()  # as if its deadline had passed now
                protocol._deadline = loop.time()
                protocol._on_timer()

            loop.call_soon(fire)
            _settle(h, transport)
    finally:
        engine_protocol._FEED_SLICE = feed_slice
        output = bytes(transport.out)
        transport.server_ended = transport.closed or transport.eof_written
        if not transport.closed:
            transport.close()  # the client goes away
        _settle(h, transport)
    return output, list(h.app.methods), transport


@dataclass
class ParsedResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    #: Whether the body ends with the connection (no content-length, not chunked).
    close_delimited: bool = False

    @property
    def ends_connection(self) -> bool:
        return self.close_delimited or (self.header(b"connection") or b"").lower() == b"close"

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


class _Collector:
    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.head_done = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def parse_responses(out: bytes, methods: list[str]) -> list[ParsedResponse]:
    """Split the output into responses with httptools' parser; ``methods`` says which were to HEAD."""
    import httptools

    responses: list[ParsedResponse] = []
    final = 0
    pos = 0
    while pos < len(out):
        end = out.find(b"\r\n\r\n", pos)
        if end < 0 or not out.startswith(b"HTTP/1.1 ", pos):
            raise Violation(f"not a response head at byte {pos}: {out[pos : pos + 80]!r}")
        collector = _Collector()
        parser = httptools.HttpResponseParser(collector)
        try:
            parser.feed_data(out[pos : end + 4])
        except httptools.HttpParserError as exc:
            raise Violation(f"malformed response head: {exc}: {out[pos : end + 4]!r}") from exc
        if not collector.head_done:
            raise Violation(f"response head not complete: {out[pos : end + 4]!r}")
        status = parser.get_status_code()
        pos = end + 4
        response = ParsedResponse(status, collector.headers, b"")
        responses.append(response)
        if status == 101:
            break  # a WebSocket follows: frames, not HTTP
        if status < 200:
            continue  # 100 Continue: an interim response, the final one follows
        method = methods[final] if final < len(methods) else "GET"
        final += 1
        length = response.header(b"content-length")
        if method == "HEAD" or status in (204, 304):
            continue
        if length is not None:
            n = int(length)
            if pos + n > len(out):
                raise Violation(f"response body cut short: {n} bytes announced, {len(out) - pos} sent")
            parser.feed_data(out[pos : pos + n])
            pos += n
        elif (response.header(b"transfer-encoding") or b"").lower() == b"chunked":
            while not collector.complete and pos < len(out):
                parser.feed_data(out[pos : pos + 1])  # one byte at a time: stop exactly at its end
                pos += 1
        else:
            parser.feed_data(out[pos:])  # ends with the connection (an HTTP/1.0 stream)
            pos = len(out)
            collector.complete = response.close_delimited = True
        if not collector.complete:
            raise Violation(f"response {final} is incomplete")
        response.body = bytes(collector.body)
    return responses


def check(output: bytes, methods: list[str], transport: FakeTransport) -> list[ParsedResponse]:
    """Raise ``Violation`` unless the output is what the engine may send for what the app was handed."""
    h = _setup()
    if h.loop_errors:
        context = h.loop_errors[0]
        raise Violation(f"exception reached the event loop: {context.get('message')}") from context.get(
            "exception"
        )
    if h.log.records:
        record = h.log.records[0]
        raise Violation(f"logged at {record.levelname}: {record.getMessage()}")
    if transport.problems:
        raise Violation(transport.problems[0])
    responses = parse_responses(output, methods)
    finals = [r for r in responses if r.status >= 200 or r.status == 101]
    if any(r.status == 101 for r in finals):
        return responses  # handed over to the WebSocket protocol
    for r in finals:
        if r.status == 500:
            raise Violation(f"500 response: {r.body[:200]!r}")
    for i, r in enumerate(finals[:-1]):
        if r.ends_connection:
            raise Violation(f"response {i} closes the connection but {len(finals) - i - 1} follow it")
    extra = len(finals) - len(methods)
    if extra < 0 and not (finals and finals[-1].ends_connection):
        # Only a response that ends the connection (connection: close, or a body that ends with it) may
        # leave pipelined requests that were already handed to the app unanswered (RFC 9112 9.3.2).
        if extra == -1 and methods[-1] == "WEBSOCKET" and transport.server_ended:
            return responses  # bytes that aren't frames came before the 101 (RFC 6455 4.1): closed unanswered
        raise Violation(f"{len(finals)} responses for {len(methods)} requests handed to the app")
    if extra > 1:
        raise Violation(f"{len(finals)} responses for {len(methods)} requests handed to the app")
    if extra == 1:
        error = finals[-1]
        if error.status not in ENGINE_ERRORS:
            raise Violation(f"an engine response with status {error.status}")
        if (error.header(b"connection") or b"").lower() != b"close":
            raise Violation(f"a {error.status} framing error without connection: close")
        if not transport.server_ended:
            raise Violation(f"the connection stayed open after a {error.status}")
    return responses


def one_input(data: bytes) -> None:
    """The fuzz target: run the input and check every invariant (raises ``Violation``)."""
    case = decode(data)
    output, methods, transport = run_case(case)
    check(output, methods, transport)


# -- seeds -------------------------------------------------------------------------------------------------
H = b"Host: a\r\n"
SEEDS: dict[str, bytes] = {
    "get": encode(b"GET / HTTP/1.1\r\n" + H + b"\r\n"),
    "get-split": encode(b"GET /items/5?q=x&limit=3 HTTP/1.1\r\n" + H + b"\r\n", (10, 40, 100, 200)),
    "pipelined": encode(
        (b"GET /items/1 HTTP/1.1\r\n" + H + b"\r\n") * 3 + b"GET /suspend HTTP/1.1\r\n" + H + b"\r\n"
    ),
    "pipeline-over-cap": encode((b"GET /suspend HTTP/1.1\r\n" + H + b"\r\n") * 9, (30, 90)),
    "pipeline-backlog": encode(
        (b"GET /suspend HTTP/1.1\r\n" + H + b"\r\n") * 9 + b"GET / HTTP/1.1\r\n", slices=True
    ),
    "head": encode(b"HEAD /items/2 HTTP/1.1\r\n" + H + b"\r\nGET / HTTP/1.1\r\n" + H + b"\r\n"),
    "post-model": encode(
        b"POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n"
        b'{"name":"x","price":1.5}   '
    ),
    "post-invalid": encode(
        b"POST /items HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{bad}"
    ),
    "chunked": encode(
        b"PUT /raw HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        (50, 120, 180),
    ),
    "expect-continue": encode(
        b"POST /raw HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata", (200,)
    ),
    "headers-cookies": encode(
        b"GET /headers HTTP/1.1\r\nHost: a\r\nX-Token: t\r\nUser-Agent: f\r\n\r\n"
        b"GET /cookies HTTP/1.1\r\nHost: a\r\nCookie: session=s; other=o\r\n\r\n"
    ),
    "stream": encode(
        b"GET /stream?n=5 HTTP/1.1\r\n" + H + b"\r\nGET / HTTP/1.1\r\n" + H + b"\r\n", tiny=True
    ),
    # A fuzzer find (2026-12-07): requests queued behind streams (tiny write buffer) started inside the
    # ending stream's task, which an eager handler task can't; kept verbatim.
    "streams-then-backlog": bytes.fromhex(
        "10474554202f7374726d61653f6e3d3520485454502f312e310d0a486f73743a20610d0a0d0a474554202f7374726561"
        "6d3f6e3d353520485454502f312e310d0a486f73743a20610d0a0d0a474554202f73747265616d3f6e3d352048545450"
        "2f312e310d0a486f73743a20610d0a0d0a474554202f20485454502f312e310d0a483a2061479d9d9d9d9d9d9d9d9d9d"
        "9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d312e310d0a486f73743a20610d0a0d0a474554202f7374726561"
        "6d3f6e3d3520485454502f312e310d0a486f73743a20610d0a0d0a474554202f20485454502f312e310d0a483a206147"
        "9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d726d"
        "61653f6e3d3520485454502f312e310d0a486f73743a20610d0a0d0a474554202f73747265616d3f6e3d352048545450"
        "2f312e310d0a486f73743a20610d0a0d20485454502f312e310d0a486f73743a20610d0a0d0a474554202f2048545450"
        "2f312e310d0a483a2061479d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d"
        "9d9d9d9d9d9d9d9d9d726d61653f6e3d3520485454502f312e310d0a486f73743a20610d0a0d0a474554202f73747265"
        "616d3f6e3d35209d9d9d9d9d9d9d9d9d9d9d9d9d9d726d61653f6e3d3520485454502f312e310d0a486f73743a20610d"
        "0a0d0a474554202f73747265616d3f6e3d3520485454502f312e310d0a486f73743a20610d0a0d20485454502f312e31"
        "0d0a486f73743a20610d0a0d0a474554202f20485454502f312e310d0a483a2061479d9d9d9d9d9d9d9d9d9d9d9d9d9d"
        "9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d9d726d61653f6e3d3520485454502f312e"
        "310d0a486f73743a20610d0a0d0a474554202f73747265616d3f6e3d3520485454502f312e310d0a486f73743a20610d"
        "0a0d0a474554202f204854545073743a20610d0a0d0a"
    ),
    "http10": encode(b"GET /stream HTTP/1.0\r\n\r\n"),
    "http10-keepalive": encode(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n"),
    "connection-close": encode(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n"
    ),
    "eof-mid-body": encode(b"POST /raw HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", eof=True),
    "eof-after-pipeline": encode((b"GET /suspend HTTP/1.1\r\n" + H + b"\r\n") * 2, eof=True),
    "cl-te": encode(
        b"POST /raw HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "te-gzip-chunked": encode(
        b"POST /raw HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
    ),
    "double-cl": encode(b"POST /raw HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
    "bad-chunk": encode(b"POST /raw HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    "obs-fold": encode(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
    "bare-lf": encode(b"GET / HTTP/1.1\nHost: a\n\n"),
    "no-host": encode(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n"),
    "absolute-form": encode(b"GET http://x/items/3?q=1 HTTP/1.1\r\nHost: y\r\n\r\n"),
    "asterisk": encode(b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\nGET * HTTP/1.1\r\n" + H + b"\r\n"),
    "long-url": encode(b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n" + H + b"\r\n"),
    "big-header": encode(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 1100 + b"\r\n\r\n"),
    "many-headers": encode(
        b"GET / HTTP/1.1\r\n" + H + b"".join(b"X-%d: v\r\n" % i for i in range(20)) + b"\r\n"
    ),
    "body-too-big": encode(b"PUT /raw HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\nx"),
    "http2": encode(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    "header-timeout": bytes([32]) + b"GET / HTTP/1.1\r\nHost: a\r\n",
    "body-timeout": bytes([32]) + b"POST /raw HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nab",
    "websocket": encode(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ),
    "websocket-sliced": encode(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        b"\x81\x85\x01\x02\x03\x04igohn",
        slices=True,
    ),
    "h2c-upgrade": encode(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"),
}


def write_seeds(directory: Path = CORPUS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (directory / name).write_bytes(data)


def main(argv: list[str]) -> None:
    if argv[1:2] == ["--write-seeds"]:
        write_seeds()
        return
    try:
        import atheris
    except ImportError:
        sys.exit("the fuzzer needs atheris: pip install atheris (a wheel exists for CPython 3.11 to 3.13)")
    with atheris.instrument_imports(include=["fulmen"]):
        # Imported here so atheris instruments them for coverage feedback.
        import fulmen.engine.protocol
        import fulmen.engine.server  # noqa: F401
    _setup()
    # Only errors matter here (the checks read them); thousands of "Invalid HTTP request" warnings don't.
    logging.getLogger("fulmen").setLevel(logging.ERROR)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
