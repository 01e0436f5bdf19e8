"""GZipMiddleware stays FastAPI's: the same app and options in both, the raw (still encoded) answers compared.

Beside CompressionMiddleware, fulmen's GZipMiddleware must keep Starlette's behaviour exactly, quirks
included (a substring test for "gzip", so ``gzip;q=0`` is still gzip'd; ETags left strong). FastAPI's answers
come in-process; fulmen's through every front door. Whole bodies are compared byte for byte (same zlib, same
level); streams after decoding (chunk boundaries belong to the front door).
"""

import zlib
from typing import Any

import fastapi
import fastapi.middleware.gzip
import fastapi.responses
import fastapi.testclient
import httpx
import pytest

import fulmen
import fulmen.middleware.gzip
import fulmen.responses

TEXT = "".join(f"row {i}: some text that compresses\n" for i in range(60))


def build(fw: Any, gzip: Any, responses: Any, options: dict[str, Any]) -> Any:
    app = fw.FastAPI()

    @app.get("/text")
    def text() -> Any:
        return responses.PlainTextResponse(TEXT, headers={"ETag": '"t1"', "Vary": "Origin"})

    @app.get("/json")
    def json() -> Any:
        return {"rows": [TEXT[:40]] * 30}

    @app.get("/small")
    def small() -> Any:
        return responses.PlainTextResponse("tiny")

    @app.get("/svg")
    def svg() -> Any:
        return responses.Response("<svg/>" * 200, media_type="image/svg+xml")

    @app.get("/png")
    def png() -> Any:
        return responses.Response(b"\x89PNG" * 300, media_type="image/png")

    @app.get("/stream")
    def stream() -> Any:
        return responses.StreamingResponse((f"chunk {i};" for i in range(100)), media_type="text/plain")

    @app.get("/missing")
    def missing() -> Any:
        raise fw.HTTPException(404, "x" * 800)

    app.add_middleware(gzip, **options)
    return app


OPTIONS = [{}, {"minimum_size": 10, "compresslevel": 1}, {"exclude_content_types": ("text/plain",)}]
ACCEPTS = [None, "gzip", "gzip;q=0", "br, gzip;q=0.5", "identity", "GZIP", "x-gzip", "deflate"]
PATHS = ["/text", "/json", "/small", "/svg", "/png", "/stream", "/missing"]
COMPARED = ("content-encoding", "content-length", "content-type", "vary", "etag")


def raw_answer(client: httpx.Client, path: str, accept: str | None) -> tuple[int, dict[str, str], bytes]:
    request = client.build_request("GET", path)
    del request.headers["accept-encoding"]
    if accept is not None:
        request.headers["Accept-Encoding"] = accept
    response = client.send(request, stream=True)
    try:
        body = b"".join(response.iter_raw())
    finally:
        response.close()
    headers = {name: response.headers[name] for name in COMPARED if name in response.headers}
    if path == "/stream":
        headers.pop("content-length", None)  # buffered by in-process clients, chunked on sockets
        if headers.get("content-encoding") == "gzip":
            body = zlib.decompress(body, 31)
    return response.status_code, headers, body


@pytest.mark.parametrize("options", OPTIONS, ids=["defaults", "level1", "exclude-text"])
def test_gzip_middleware_answers_as_fastapi(serve: Any, options: dict[str, Any]) -> None:
    reference = build(fastapi, fastapi.middleware.gzip.GZipMiddleware, fastapi.responses, options)
    ours = build(fulmen, fulmen.middleware.gzip.GZipMiddleware, fulmen.responses, options)
    client = serve(ours)
    with fastapi.testclient.TestClient(reference) as expected_client:
        for path in PATHS:
            for accept in ACCEPTS:
                expected = raw_answer(expected_client, path, accept)
                assert raw_answer(client, path, accept) == expected, (path, accept)
