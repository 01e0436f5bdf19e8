"""Cross-check middleware against FastAPI: the same app and middleware, built with ``fastapi`` and ``fulmen``.

Each config of ``CONFIGS`` installs middleware on the app of ``build(fw, config)`` (written once against the
framework module, no ``from __future__ import annotations`` so annotations resolve per framework). FastAPI's
answers are collected in-process; fulmen's come through every front door (``serve``). Compared: status, body
and every header but date/server/connection ones; content-length is compared too, so a gzip body must have
exactly FastAPI's compressed size.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import fastapi
import fastapi.middleware.cors
import fastapi.middleware.gzip
import fastapi.middleware.httpsredirect
import fastapi.middleware.trustedhost
import fastapi.responses
import httpx
import pytest

import fulmen
import fulmen.middleware.cors
import fulmen.middleware.gzip
import fulmen.middleware.httpsredirect
import fulmen.middleware.trustedhost
import fulmen.responses
from fulmen.testclient import TestClient
from tests.test_crosscheck_fastapi import _reraise_only_unanswered

Case = tuple[str, str, str, dict[str, Any]]


class Boom(Exception):
    """Handled by an app exception handler (inside the middleware, as in Starlette)."""


def build(fw: Any, config: str) -> Any:
    """The app for ``config``: the same routes for every config, the middleware differs."""
    app = fw.FastAPI()
    responses = fw.responses

    @app.get("/text")
    def text():
        return responses.PlainTextResponse("hello")

    @app.get("/json")
    def json_route():
        return {"message": "hello", "items": list(range(5))}

    @app.get("/big")
    def big():
        return responses.PlainTextResponse("fulmen " * 300)

    @app.get("/big-json")
    def big_json():
        return {"data": [f"value-{i}" for i in range(150)]}

    @app.get("/vary")
    def vary():
        return responses.PlainTextResponse("v" * 1200, headers={"Vary": "Cookie"})

    @app.get("/encoded")
    def encoded():
        # A coding httpx doesn't know, so it leaves the bytes alone (with brotli installed, "br" over these
        # plain bytes fails to decode); the middleware must not compress an already encoded body either way.
        headers = {"Content-Encoding": "x-fulmen-test"}
        return responses.Response(b"e" * 1200, headers=headers, media_type="text/plain")

    @app.get("/png")
    def png():
        return responses.Response(b"\x89PNG" * 400, media_type="image/png")

    @app.get("/partial")
    def partial():
        return responses.PlainTextResponse("p" * 1200, status_code=206)

    @app.get("/own-cors")
    def own_cors():
        return responses.PlainTextResponse(
            "mine", headers={"Access-Control-Allow-Origin": "https://own.example"}
        )

    @app.get("/stream")
    def stream():
        return responses.StreamingResponse((f"part-{i};" for i in range(300)), media_type="text/plain")

    @app.get("/events")
    def events():
        return responses.StreamingResponse(
            (f"data: {i}\n\n" for i in range(50)), media_type="text/event-stream"
        )

    @app.get("/file")
    def file():
        return responses.FileResponse(__file__, media_type="text/plain")

    @app.get("/missing")
    def missing():
        raise fw.HTTPException(404, "no such thing")

    @app.get("/boom")
    def boom():
        raise ValueError("boom")

    @app.get("/type-error")
    def type_error():
        raise TypeError("not caught by the middleware")

    @app.get("/handled")
    def handled():
        raise Boom()

    @app.post("/echo")
    async def echo(request: fw.Request):
        return {"body": (await request.body()).decode(), "path": request.url.path}

    @app.exception_handler(Boom)
    async def on_boom(request, exc):
        return responses.JSONResponse({"handled": True}, status_code=409)

    cors = fw.middleware.cors.CORSMiddleware
    gzip = fw.middleware.gzip.GZipMiddleware
    trusted = fw.middleware.trustedhost.TrustedHostMiddleware
    https = fw.middleware.httpsredirect.HTTPSRedirectMiddleware

    if config == "cors-list":
        app.add_middleware(
            cors,
            allow_origins=["https://a.example", "https://b.example"],
            allow_methods=["GET", "POST"],
            allow_headers=["X-Token"],
            expose_headers=["X-Exposed", "X-Other"],
            max_age=300,
        )
    elif config == "cors-wildcard":
        app.add_middleware(cors, allow_origins=["*"])
    elif config == "cors-credentials":
        app.add_middleware(
            cors, allow_origins=["*"], allow_credentials=True, allow_methods=["*"], allow_headers=["*"]
        )
    elif config == "cors-regex":
        app.add_middleware(
            cors,
            allow_origin_regex=r"https://[a-z]+\.example\.org",
            allow_origins=["https://listed.example"],
            allow_credentials=True,
            allow_private_network=True,
        )
    elif config == "gzip":
        app.add_middleware(gzip, minimum_size=1000)
    elif config == "gzip-level1":
        app.add_middleware(gzip, minimum_size=10, compresslevel=1)
    elif config == "trustedhost":
        app.add_middleware(trusted, allowed_hosts=["example.com", "*.example.org", "www.example.net"])
    elif config == "trustedhost-no-www":
        app.add_middleware(trusted, allowed_hosts=["www.example.net"], www_redirect=False)
    elif config == "httpsredirect":
        app.add_middleware(https)
    elif config == "gzip-streams":
        app.add_middleware(gzip, minimum_size=100)
        app.add_middleware(cors, allow_origins=["https://a.example"])
    elif config == "gzip-outside-http":
        add_http_middleware(fw, app)
        app.add_middleware(gzip, minimum_size=500)
    elif config == "http":
        add_http_middleware(fw, app)
    elif config == "stack":
        # Several kinds at once: order and the exception layering must match. GZip sits inside the http
        # middleware: outside one, FastAPI's GZip sees a stream (test_documented_gzip_after_http_middleware).
        app.add_middleware(gzip, minimum_size=500)
        add_http_middleware(fw, app)
        app.add_middleware(cors, allow_origins=["https://a.example"], expose_headers=["X-Order"])

        @app.exception_handler(Exception)
        async def on_any(request, exc):
            return responses.JSONResponse({"error": type(exc).__name__}, status_code=500)

    else:  # pragma: no cover - a typo in CONFIGS
        raise ValueError(config)
    return app


def add_http_middleware(fw: Any, app: Any) -> None:
    responses = fw.responses

    @app.middleware("http")
    async def inner(request, call_next):
        if request.url.path == "/blocked":
            return responses.JSONResponse({"blocked": True}, status_code=403)
        try:
            response = await call_next(request)
        except ValueError as exc:
            return responses.JSONResponse({"caught": str(exc)}, status_code=418)
        response.headers["X-Order"] = "inner"
        response.headers["X-Status-Seen"] = str(response.status_code)
        return response

    @app.middleware("http")
    async def outer(request, call_next):
        body = await request.body()
        response = await call_next(request)
        response.headers["X-Order"] = response.headers.get("X-Order", "") + ",outer"
        response.headers["X-Body-Length"] = str(len(body))
        return response


ORIGIN_A = {"Origin": "https://a.example"}
PREFLIGHT = {"Origin": "https://a.example", "Access-Control-Request-Method": "POST"}

CONFIGS: dict[str, list[Case]] = {
    "cors-list": [
        ("simple-allowed", "GET", "/json", {"headers": ORIGIN_A}),
        ("simple-other-listed", "GET", "/json", {"headers": {"Origin": "https://b.example"}}),
        ("simple-denied", "GET", "/json", {"headers": {"Origin": "https://evil.example"}}),
        ("no-origin", "GET", "/json", {}),
        ("existing-vary", "GET", "/vary", {"headers": ORIGIN_A}),
        ("own-acao", "GET", "/own-cors", {"headers": ORIGIN_A}),
        ("404-gets-headers", "GET", "/missing", {"headers": ORIGIN_A}),
        ("post-allowed", "POST", "/echo", {"headers": ORIGIN_A, "content": b"data"}),
        ("preflight-ok", "OPTIONS", "/echo", {"headers": PREFLIGHT}),
        (
            "preflight-header-ok",
            "OPTIONS",
            "/echo",
            {"headers": {**PREFLIGHT, "Access-Control-Request-Headers": "x-token, Content-Type"}},
        ),
        (
            "preflight-header-denied",
            "OPTIONS",
            "/echo",
            {"headers": {**PREFLIGHT, "Access-Control-Request-Headers": "X-Secret"}},
        ),
        (
            "preflight-method-denied",
            "OPTIONS",
            "/echo",
            {"headers": {**PREFLIGHT, "Access-Control-Request-Method": "DELETE"}},
        ),
        (
            "preflight-origin-denied",
            "OPTIONS",
            "/echo",
            {"headers": {**PREFLIGHT, "Origin": "https://evil.example"}},
        ),
        (
            "preflight-all-denied",
            "OPTIONS",
            "/echo",
            {
                "headers": {
                    "Origin": "https://evil.example",
                    "Access-Control-Request-Method": "PUT",
                    "Access-Control-Request-Headers": "X-Secret",
                }
            },
        ),
        (
            "preflight-private-network-denied",
            "OPTIONS",
            "/echo",
            {"headers": {**PREFLIGHT, "Access-Control-Request-Private-Network": "true"}},
        ),
        ("options-without-request-method", "OPTIONS", "/echo", {"headers": ORIGIN_A}),
        ("preflight-unknown-path", "OPTIONS", "/nowhere", {"headers": PREFLIGHT}),
    ],
    "cors-wildcard": [
        ("simple", "GET", "/json", {"headers": ORIGIN_A}),
        ("no-origin", "GET", "/json", {}),
        ("preflight", "OPTIONS", "/json", {"headers": {**ORIGIN_A, "Access-Control-Request-Method": "GET"}}),
        ("preflight-method-denied", "OPTIONS", "/json", {"headers": PREFLIGHT}),
        ("own-acao", "GET", "/own-cors", {"headers": ORIGIN_A}),
    ],
    "cors-credentials": [
        ("simple-echoes-origin", "GET", "/json", {"headers": ORIGIN_A}),
        ("no-origin", "GET", "/json", {}),
        (
            "preflight-mirrors-headers",
            "OPTIONS",
            "/echo",
            {"headers": {**PREFLIGHT, "Access-Control-Request-Headers": "X-Anything, X-Else"}},
        ),
        (
            "preflight-any-method",
            "OPTIONS",
            "/echo",
            {"headers": {**PREFLIGHT, "Access-Control-Request-Method": "QUERY"}},
        ),
        ("own-acao", "GET", "/own-cors", {"headers": ORIGIN_A}),
    ],
    "cors-regex": [
        ("regex-match", "GET", "/json", {"headers": {"Origin": "https://sub.example.org"}}),
        ("regex-no-fullmatch", "GET", "/json", {"headers": {"Origin": "https://sub.example.org.evil"}}),
        ("regex-listed", "GET", "/json", {"headers": {"Origin": "https://listed.example"}}),
        ("regex-denied", "GET", "/json", {"headers": {"Origin": "https://evil.example"}}),
        (
            "preflight-regex",
            "OPTIONS",
            "/json",
            {"headers": {"Origin": "https://sub.example.org", "Access-Control-Request-Method": "GET"}},
        ),
        (
            "preflight-private-network",
            "OPTIONS",
            "/json",
            {
                "headers": {
                    "Origin": "https://sub.example.org",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Private-Network": "true",
                }
            },
        ),
    ],
    "gzip": [
        ("big-gzip", "GET", "/big", {"headers": {"Accept-Encoding": "gzip"}}),
        ("big-gzip-among-others", "GET", "/big", {"headers": {"Accept-Encoding": "br;q=1.0, gzip;q=0.8"}}),
        ("big-identity", "GET", "/big", {"headers": {"Accept-Encoding": "identity"}}),
        ("small-gzip", "GET", "/text", {"headers": {"Accept-Encoding": "gzip"}}),
        ("big-json-gzip", "GET", "/big-json", {"headers": {"Accept-Encoding": "gzip"}}),
        ("vary-joined", "GET", "/vary", {"headers": {"Accept-Encoding": "gzip"}}),
        ("already-encoded", "GET", "/encoded", {"headers": {"Accept-Encoding": "gzip"}}),
        ("excluded-type", "GET", "/png", {"headers": {"Accept-Encoding": "gzip"}}),
        ("partial-content", "GET", "/partial", {"headers": {"Accept-Encoding": "gzip"}}),
        ("error-small", "GET", "/missing", {"headers": {"Accept-Encoding": "gzip"}}),
    ],
    # Streamed bodies: no content-length on a socket, one added by httpx in-process: not compared for these.
    "gzip-streams": [
        ("stream-gzip", "GET", "/stream", {"headers": {**ORIGIN_A, "Accept-Encoding": "gzip"}}),
        ("stream-identity", "GET", "/stream", {"headers": {"Accept-Encoding": "identity"}}),
        ("stream-excluded-type", "GET", "/events", {"headers": {"Accept-Encoding": "gzip"}}),
        ("stream-file-gzip", "GET", "/file", {"headers": {**ORIGIN_A, "Accept-Encoding": "gzip"}}),
        (
            "stream-file-range",
            "GET",
            "/file",
            {"headers": {"Accept-Encoding": "gzip", "Range": "bytes=5-24"}},
        ),
        ("stream-file-identity", "GET", "/file", {"headers": {"Accept-Encoding": "identity"}}),
        ("plain-next-to-streams", "GET", "/big", {"headers": {"Accept-Encoding": "gzip"}}),
    ],
    "gzip-level1": [
        ("small-now-compressed", "GET", "/text", {"headers": {"Accept-Encoding": "gzip"}}),
        ("big-level1", "GET", "/big", {"headers": {"Accept-Encoding": "gzip, deflate"}}),
        ("not-accepted", "GET", "/json", {"headers": {"Accept-Encoding": "deflate"}}),
    ],
    "trustedhost": [
        ("exact", "GET", "/json", {"headers": {"Host": "example.com"}}),
        ("exact-with-port", "GET", "/json", {"headers": {"Host": "example.com:8080"}}),
        ("case-insensitive", "GET", "/json", {"headers": {"Host": "EXAMPLE.com"}}),
        ("wildcard-sub", "GET", "/json", {"headers": {"Host": "api.example.org"}}),
        ("wildcard-not-apex", "GET", "/json", {"headers": {"Host": "example.org"}}),
        ("denied", "GET", "/json", {"headers": {"Host": "evil.com"}}),
        ("www-redirect", "GET", "/json?x=1", {"headers": {"Host": "example.net"}}),
        ("www-redirect-port", "GET", "/text", {"headers": {"Host": "example.net:8000"}}),
        ("www-itself", "GET", "/json", {"headers": {"Host": "www.example.net"}}),
    ],
    "trustedhost-no-www": [
        ("no-redirect", "GET", "/json", {"headers": {"Host": "example.net"}}),
        ("allowed", "GET", "/json", {"headers": {"Host": "www.example.net"}}),
    ],
    "httpsredirect": [
        ("redirect", "GET", "/json?q=1&r=two", {"headers": {"Host": "example.com"}}),
        ("redirect-port-80", "GET", "/text", {"headers": {"Host": "example.com:80"}}),
        ("redirect-port-443", "GET", "/text", {"headers": {"Host": "example.com:443"}}),
        ("redirect-other-port", "GET", "/a/b%20c", {"headers": {"Host": "Example.com:8443"}}),
        ("redirect-post", "POST", "/echo", {"headers": {"Host": "example.com"}, "content": b"x"}),
    ],
    "http": [
        ("ok", "GET", "/json", {}),
        ("http-exception-is-a-response", "GET", "/missing", {}),
        ("handled-exception-is-a-response", "GET", "/handled", {}),
        ("unhandled-reaches-call-next", "GET", "/boom", {}),
        ("unhandled-past-middleware-is-500", "GET", "/type-error", {}),
        ("short-circuit", "GET", "/blocked", {}),
        ("body-read-twice", "POST", "/echo", {"content": b"payload"}),
        ("not-found", "GET", "/nowhere", {}),
    ],
    "stack": [
        ("ok", "GET", "/big-json", {"headers": {**ORIGIN_A, "Accept-Encoding": "gzip"}}),
        ("caught", "GET", "/boom", {"headers": ORIGIN_A}),
        ("missing", "GET", "/missing", {"headers": ORIGIN_A}),
        ("handler-for-exception-outside", "GET", "/type-error", {"headers": ORIGIN_A}),
        ("preflight", "OPTIONS", "/json", {"headers": {**ORIGIN_A, "Access-Control-Request-Method": "GET"}}),
        ("blocked", "GET", "/blocked", {"headers": ORIGIN_A}),
    ],
}

# Headers a server adds by itself.
_IGNORED = frozenset({"date", "server", "connection", "keep-alive", "transfer-encoding"})


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def ask(client: httpx.Client, case: Case) -> Answer:
    """Send one case; the body compared is the decoded one, the encoded size is in content-length."""
    _, method, url, kwargs = case
    headers = httpx.Headers(kwargs.get("headers"))
    headers.setdefault("user-agent", "crosscheck")
    headers.setdefault("accept-encoding", "identity")
    response = client.request(
        method, url, headers=headers, content=kwargs.get("content"), follow_redirects=False
    )
    body = response.content  # decoded by httpx; content-length and content-encoding show the encoded form
    ignored = _IGNORED | {"content-length"} if case[0].startswith("stream-") else _IGNORED
    out = sorted(
        (k.decode("latin-1").lower(), v.decode("latin-1"))
        for k, v in response.headers.raw
        if k.decode("latin-1").lower() not in ignored
    )
    return Answer(response.status_code, tuple(out), body)


@pytest.fixture(scope="module")
def fastapi_answers() -> dict[str, dict[str, Answer]]:
    answers: dict[str, dict[str, Answer]] = {}
    for config, cases in CONFIGS.items():
        app = _reraise_only_unanswered(build(fastapi, config))
        with TestClient(app, raise_server_exceptions=False) as client:
            answers[config] = {case[0]: ask(client, case) for case in cases}
    return answers


def test_case_ids_are_unique() -> None:
    for cases in CONFIGS.values():
        ids = [case[0] for case in cases]
        assert len(ids) == len(set(ids))


@pytest.mark.parametrize("config", list(CONFIGS))
def test_same_answers(
    config: str, serve: Callable[..., httpx.Client], fastapi_answers: dict[str, dict[str, Answer]]
) -> None:
    """Every case answers byte for byte as FastAPI (status, headers, raw body)."""
    client = serve(build(fulmen, config))
    failures = []
    for case in CONFIGS[config]:
        got = ask(client, case)
        expected = fastapi_answers[config][case[0]]
        if got != expected:
            failures.append(f"  [{case[0]}] {case[1]} {case[2]}\n    fastapi: {expected}\n    fulmen:  {got}")
    assert not failures, f"{len(failures)} cases differ from FastAPI:\n" + "\n".join(failures)


def test_cases_exercise_the_middleware(fastapi_answers: dict[str, dict[str, Answer]]) -> None:
    """Guard against a vacuous cross-check: the reference answers really show each middleware at work."""

    def header(config: str, case: str, name: str) -> str | None:
        return dict(fastapi_answers[config][case].headers).get(name)

    assert header("cors-list", "simple-allowed", "access-control-allow-origin") == "https://a.example"
    assert fastapi_answers["cors-list"]["preflight-header-denied"].status == 400
    assert header("gzip", "big-gzip", "content-encoding") == "gzip"
    assert header("gzip", "big-identity", "content-encoding") is None
    assert fastapi_answers["trustedhost"]["denied"].status == 400
    assert header("trustedhost", "www-redirect", "location") == "http://www.example.net/json?x=1"
    assert header("httpsredirect", "redirect", "location") == "https://example.com/json?q=1&r=two"
    assert fastapi_answers["http"]["unhandled-reaches-call-next"].status == 418
    assert header("stack", "caught", "access-control-allow-origin") == "https://a.example"
    assert fastapi_answers["stack"]["handler-for-exception-outside"].status == 500
    assert header("stack", "handler-for-exception-outside", "access-control-allow-origin") is None


# ------------------------------------------------------------------------------------------------------------
# Documented differences: asserted on both sides, so a change on either is noticed.
# ------------------------------------------------------------------------------------------------------------
def test_documented_gzip_after_http_middleware(serve: Callable[..., httpx.Client]) -> None:
    """GZip outside an ``http`` middleware: FastAPI compresses every body, fulmen keeps ``minimum_size``.

    Starlette's ``call_next`` hands the response on as a stream, so GZip sees ``more_body=True``, cannot tell
    the size and compresses even a 16-byte body (chunked, no content-length). fulmen's ``call_next`` returns
    the real response, so the same rules apply as without the http middleware.
    """
    small: Case = ("small", "GET", "/missing", {"headers": {"Accept-Encoding": "gzip"}})
    big: Case = ("big", "GET", "/big", {"headers": {"Accept-Encoding": "gzip"}})
    with TestClient(_reraise_only_unanswered(build(fastapi, "gzip-outside-http"))) as client:
        fa_small, fa_big = ask(client, small), ask(client, big)
    assert dict(fa_small.headers)["content-encoding"] == "gzip"  # 26 bytes, minimum_size=500
    assert dict(fa_big.headers)["content-encoding"] == "gzip"

    fu = serve(build(fulmen, "gzip-outside-http"))
    fu_small, fu_big = ask(fu, small), ask(fu, big)
    assert fu_small.status == fa_small.status == 404
    assert fu_small.body == fa_small.body
    assert "content-encoding" not in dict(fu_small.headers)
    assert "vary" not in dict(fu_small.headers)
    assert fu_big.body == fa_big.body
    assert dict(fu_big.headers)["content-encoding"] == "gzip"
    assert dict(fu_big.headers)["vary"] == "Accept-Encoding"
    assert dict(fu_big.headers)["x-order"] == "inner,outer"
