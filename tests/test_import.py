"""The core installs small and imports fast: no pydantic, no engine, no test client on ``import fulmen``."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_pull_optional_modules() -> None:
    code = (
        "import sys, fulmen\n"
        "from fulmen import FastAPI\n"
        "app = FastAPI()\n"
        "@app.get('/')\n"
        "async def root(): return {}\n"
        "bad = [m for m in ('pydantic', 'fastapi', 'starlette', 'httpx', 'fulmen.engine',"
        " 'fulmen.testclient')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_batteries_import_their_libraries_only_when_used() -> None:
    # The batteries' packages and modules import fine without touching their optional libraries.
    code = (
        "import sys, fulmen, fulmen.middleware, fulmen.integrations\n"
        "import fulmen.integrations.postgres, fulmen.integrations.mcp, fulmen.integrations.offload\n"
        "import fulmen.middleware.ratelimit, fulmen.middleware.compression, fulmen.middleware.requestid\n"
        "heavy = ('asyncpg', 'redis', 'brotli', 'zstandard', 'compression.zstd', 'backports.zstd', 'mcp',"
        " 'pydantic', 'starlette', 'httpx')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names() -> None:
    import fulmen
    from fulmen import exceptions, params, responses, routing, status, testclient

    for name in (
        "FastAPI",
        "Fulmen",
        "APIRouter",
        "Path",
        "Query",
        "Header",
        "Cookie",
        "Body",
        "Request",
        "Response",
        "HTTPException",
        "status",
        "Depends",
    ):
        assert hasattr(fulmen, name), name
    assert fulmen.FastAPI is fulmen.Fulmen
    assert status.HTTP_404_NOT_FOUND == 404 and status.HTTP_422_UNPROCESSABLE_CONTENT == 422
    assert responses.JSONResponse and exceptions.HTTPException and params.Query and routing.APIRoute
    assert testclient.TestClient


def test_default_placeholder_importable_where_fastapi_has_it() -> None:
    from fulmen.datastructures import Default, DefaultPlaceholder

    assert isinstance(Default(1), DefaultPlaceholder)
