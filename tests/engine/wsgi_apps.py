"""WSGI applications for tests/engine/test_wsgi.py: a raw PEP 3333 app and a real Flask app.

The raw app routes on PATH_INFO; every response iterable it returns records its ``close()`` under the
request's ``X-Tag`` header in ``CLOSED`` (an Event per tag), so tests can prove close() ran.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

StartResponse = Callable[..., Callable[[bytes], None]]

#: Tag (X-Tag request header) -> set once the response iterable's close() ran.
CLOSED: dict[str, threading.Event] = {}
#: Tag -> number of chunks a streaming route produced so far.
PRODUCED: dict[str, int] = {}
#: Tag -> set when the /first-chunk route has read the body's first bytes.
FIRST_READ: dict[str, threading.Event] = {}
#: Thread name that ran each tag's request, and that ran its close().
THREADS: dict[str, tuple[str, str]] = {}
_lock = threading.Lock()


def closed_event(tag: str) -> threading.Event:
    with _lock:
        return CLOSED.setdefault(tag, threading.Event())


def first_read_event(tag: str) -> threading.Event:
    with _lock:
        return FIRST_READ.setdefault(tag, threading.Event())


class Tracked:
    """An iterable (not a list: the adapter must iterate it) that records close() for a tag."""

    def __init__(self, tag: str, items: Iterable[bytes]) -> None:
        self.tag = tag
        self.items = iter(items)
        self.started_in = threading.current_thread().name

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self.items)

    def close(self) -> None:
        close = getattr(self.items, "close", None)
        if close is not None:
            close()
        THREADS[self.tag] = (self.started_in, threading.current_thread().name)
        closed_event(self.tag).set()


class TrackedList(list):  # type: ignore[type-arg]
    """A list subclass with close(): answered in one piece, and still closed."""

    tag = ""

    def close(self) -> None:
        closed_event(self.tag).set()


def _environ_view(environ: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for key, value in environ.items():
        if isinstance(value, (str, bool, int)):
            view[key] = value
        elif isinstance(value, tuple):
            view[key] = list(value)
        else:
            view[key] = type(value).__name__
    view["file_wrapper_is_class"] = isinstance(environ["wsgi.file_wrapper"], type)
    for name in ("read", "readline", "readlines", "__iter__"):
        view[f"input_has_{name}"] = hasattr(environ["wsgi.input"], name)
    for name in ("write", "writelines", "flush"):
        view[f"errors_has_{name}"] = hasattr(environ["wsgi.errors"], name)
    return view


def _json(start_response: StartResponse, data: Any, status: str = "200 OK") -> list[bytes]:
    body = json.dumps(data).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _query(environ: dict[str, Any]) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(environ["QUERY_STRING"]))


def raw_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A PEP 3333 app without a framework: one branch per behaviour the tests check."""
    path = environ["PATH_INFO"]
    tag = environ.get("HTTP_X_TAG", "")
    query = _query(environ)
    stream = environ["wsgi.input"]

    if path.startswith("/path/"):
        return _json(start_response, {"path": path, "script": environ["SCRIPT_NAME"]})
    if path == "/environ":
        return _json(start_response, _environ_view(environ))
    if path == "/echo":
        return _json(start_response, {"body": stream.read().decode("latin-1")})
    if path == "/read-pieces":
        size = int(query.get("size", "3"))
        pieces = []
        while True:
            piece = stream.read(size)
            if not piece:
                break
            pieces.append(piece.decode())
        return _json(start_response, {"pieces": pieces})
    if path == "/lines":
        mode = query.get("mode", "readline")
        if mode == "readline":
            first = stream.readline()
            limited = stream.readline(2)
            rest = stream.readline()
            lines = [first, limited, rest, stream.readline()]
        elif mode == "readlines":
            lines = stream.readlines()
        else:
            lines = list(stream)
        return _json(start_response, {"lines": [line.decode() for line in lines]})
    if path == "/partial":
        part = stream.read(int(query.get("n", "5")))
        return _json(start_response, {"read": part.decode("latin-1")})
    if path == "/first-chunk":
        first = stream.read(5)
        first_read_event(tag).set()
        rest = stream.read()
        return _json(start_response, {"first": first.decode(), "rest": rest.decode()})
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-1 ")
        write(b"written-2 ")
        return Tracked(tag, [b"iter-1 ", b"iter-2"])
    if path == "/write-complete":
        write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
        write(b"written")
        return Tracked(tag, [])
    if path == "/list":
        start_response("200 OK", [("Content-Type", "text/plain")])
        body = TrackedList([b"a", b"b", b"", b"c"])
        body.tag = tag
        return body
    if path == "/generator":
        count = int(query.get("n", "3"))
        delay = float(query.get("delay", "0"))
        first_delay = float(query.get("first_delay", "0"))

        def chunks() -> Iterator[bytes]:
            time.sleep(first_delay)
            for i in range(count):
                if delay and i:
                    time.sleep(delay)
                PRODUCED[tag] = i + 1
                yield b"chunk-%d;" % i

        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked(tag, chunks())
    if path == "/big":
        size = int(query.get("chunk", "65536"))
        count = int(query.get("n", "256"))

        def big() -> Iterator[bytes]:
            block = b"x" * size
            for i in range(count):
                PRODUCED[tag] = i + 1
                yield block

        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Tracked(tag, big())
    if path == "/lazy-start":

        def lazy() -> Iterator[bytes]:
            start_response("201 Created", [("Content-Type", "text/plain"), ("X-Lazy", "yes")])
            yield b""
            yield b"lazy body"

        return Tracked(tag, lazy())
    if path == "/empty-chunks":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked(tag, [b"", b"", b""])
    if path == "/sleep":
        time.sleep(float(query.get("s", "1")))
        return _json(start_response, {"slept": True, "thread": threading.current_thread().name})
    if path == "/fast":
        return _json(start_response, {"fast": True})
    if path == "/error-before-start":
        raise RuntimeError("boom before start_response")
    if path == "/error-after-start":
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise RuntimeError("boom after start_response")
    if path == "/error-in-iterable":

        def failing() -> Iterator[bytes]:
            yield b"first part;"
            time.sleep(0.05)
            raise RuntimeError("boom in the iterable")

        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked(tag, failing())
    if path == "/error-first-chunk":

        def failing_first() -> Iterator[bytes]:
            raise RuntimeError("boom before the first chunk")
            yield b""  # pragma: no cover

        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked(tag, failing_first())
    if path == "/system-exit":
        raise SystemExit(3)
    if path == "/system-exit-late":

        def exiting() -> Iterator[bytes]:
            yield b"first part;"
            raise SystemExit(3)

        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked(tag, exiting())
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Replaced", "no")])
        try:
            raise ValueError("handled by the app")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced"]
    if path == "/exc-info-late":

        def late() -> Iterator[bytes]:
            yield b"headers are out;"
            try:
                raise ValueError("too late")
            except ValueError:
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
            yield b"never sent"  # pragma: no cover

        start_response("200 OK", [("Content-Type", "text/plain")])
        return Tracked(tag, late())
    if path == "/start-twice":
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"no"]
    if path == "/no-start":
        return Tracked(tag, [b"body without a head"])
    if path == "/bad-status":
        start_response(query.get("status", "OK 200"), [])
        return [b"no"]
    if path == "/bad-header":
        kind = query.get("kind", "crlf")
        headers = {
            "crlf": [("X-Evil", "a\r\nSet-Cookie: stolen=1")],
            "lf": [("X-Evil", "a\nb")],
            "name": [("Bad Name", "x")],
            "tuple": [["X-List", "x"]],
            "bytes": [(b"X-Bytes", "x")],
            "unicode": [("X-Unicode", "snowman \u2603")],
        }[kind]
        start_response("200 OK", headers)
        return [b"no"]
    if path == "/str-body":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["text, not bytes"]
    if path == "/cl-short":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])
        return Tracked(tag, [b"only-ten!!"])
    if path == "/cl-long":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
        return Tracked(tag, [b"abcdef", b"ghi"])
    if path == "/status":
        code = query.get("code", "204")
        start_response(f"{code} Whatever", [("Content-Type", "text/plain")])
        return [b"body that must not be sent"]
    if path == "/hop-by-hop":
        start_response(
            "200 OK",
            [("Content-Type", "text/plain"), ("Transfer-Encoding", "chunked"), ("Keep-Alive", "timeout=5")],
        )
        return [b"framed by the engine"]
    if path == "/file-wrapper":
        file = open(query["path"], "rb")  # noqa: SIM115 - closed by the file wrapper
        if "skip" in query:
            file.seek(int(query["skip"]))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](file, 4096)
    if path == "/file-wrapper-bytesio":
        data = b"0123456789" * 1000
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](io.BytesIO(data), 1000)
    if path == "/errors-stream":
        environ["wsgi.errors"].write("a message for the error log\n")
        environ["wsgi.errors"].flush()
        return _json(start_response, {"ok": True})
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def hello_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A minimal app for wsgiref.validate: reads the body with read(n), answers with an iterator."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"].readline(10)
    data = b"hello " + body
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    if environ["PATH_INFO"] == "/stream":
        return iter([b"hello ", body])
    return [data]


# -- a real Flask app ----------------------------------------------------------------------------------------
def make_flask_app(static_file: Path) -> Any:
    """A Flask app with JSON, forms, uploads, streaming, send_file, errors and request hooks."""
    from flask import Flask, abort, g, jsonify, request, send_file, stream_with_context

    app = Flask("wsgi_test_app")
    hooks: list[str] = []
    app.config["hooks"] = hooks

    @app.before_request
    def before() -> None:
        g.started = time.perf_counter()
        hooks.append(f"before {request.path}")

    @app.after_request
    def after(response: Any) -> Any:
        response.headers["X-After"] = "yes"
        hooks.append(f"after {request.path}")
        return response

    @app.get("/")
    def hello() -> Any:
        return jsonify(message="Hello, World!")

    @app.post("/json")
    def echo_json() -> Any:
        data = request.get_json()
        return jsonify(received=data, hook_ran="started" in g)

    @app.post("/form")
    def form() -> Any:
        return jsonify(fields=request.form.to_dict(flat=False))

    @app.post("/upload")
    def upload() -> Any:
        upload = request.files["file"]
        content = upload.read()
        return jsonify(
            filename=upload.filename,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            note=request.form.get("note"),
        )

    @app.post("/data")
    def data() -> Any:
        body = request.get_data()
        return jsonify(size=len(body), sha256=hashlib.sha256(body).hexdigest())

    @app.get("/stream")
    def stream() -> Any:
        count = int(request.args.get("n", "3"))

        def generate() -> Iterator[str]:
            for i in range(count):
                # request is still usable here thanks to stream_with_context
                yield f"{request.args.get('prefix', 'item')}-{i}\n"

        return app.response_class(stream_with_context(generate()), mimetype="text/plain")

    @app.get("/file")
    def file() -> Any:
        return send_file(static_file, mimetype="application/octet-stream")

    @app.get("/missing")
    def missing() -> Any:
        abort(404)

    @app.get("/boom")
    def boom() -> Any:
        raise RuntimeError("flask view failed")

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> Any:
        return jsonify(id=user_id, name="user")

    return app
