"""Shared fixtures: every behaviour test runs through every front door (DESIGN.md §5).

``serve(app)`` returns an ``httpx.Client`` talking to ``app`` through the front door under test:
- ``engine``: fulmen's own HTTP engine on a real socket (ephemeral port);
- ``asgi``: the ASGI callable, in-process, through ``fulmen.testclient.TestClient``;
- ``uvicorn``: the ASGI callable served by uvicorn on a real socket.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from fulmen.testclient import TestClient

FRONT_DOORS = ["engine", "asgi", "uvicorn"]


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY; without it Nagle + delayed ACK add ~40 ms per request.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class _UvicornThread:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = _bound_socket()
        config = uvicorn.Config(app, loop="asyncio", log_level="warning", lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        self.port = self.sock.getsockname()[1]

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        finally:
            loop.close()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def _start_engine(app: Any) -> tuple[int, Callable[[], None]]:
    from tests.engine.conftest import start_engine_in_thread

    return start_engine_in_thread(app)


class _FreshAfterServerError(httpx.BaseTransport):
    """Keep-alive, but a new connection after a 5xx: uvicorn closes the connection once the app has raised
    an error on to it (FastAPI's and fulmen's alike, after the 500 is sent), racing the next request."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if response.status_code >= 500:
            response.read()
            spent, self.inner = self.inner, httpx.HTTPTransport()
            spent.close()
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(params=FRONT_DOORS)
def front_door(request: pytest.FixtureRequest) -> str:
    """The name of the front door under test."""
    return str(request.param)


@pytest.fixture
def serve(front_door: str) -> Iterator[Callable[..., httpx.Client]]:
    """Factory: ``client = serve(app)`` gives an httpx client for ``app`` through the current front door."""
    cleanups: list[Callable[[], None]] = []

    def make(app: Any, **client_options: Any) -> httpx.Client:
        client: httpx.Client
        if front_door == "asgi":
            client = TestClient(app, raise_server_exceptions=False, **client_options)
            client.__enter__()
            cleanups.append(lambda: client.__exit__(None, None, None))
            return client
        if front_door == "uvicorn":
            server = _UvicornThread(app)
            cleanups.append(server.stop)
            base = f"http://127.0.0.1:{server.port}"
        else:
            port, stop = _start_engine(app)
            cleanups.append(stop)
            base = f"http://127.0.0.1:{port}"
        transport = _FreshAfterServerError() if front_door == "uvicorn" else None
        client = httpx.Client(
            base_url=base, follow_redirects=client_options.get("follow_redirects", True), transport=transport
        )
        cleanups.append(client.close)
        return client

    yield make
    for cleanup in reversed(cleanups):
        cleanup()


def ci() -> bool:
    """True on CI, where a missing service must fail a test rather than skip it."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


#: The releases the cross-checks compare against (the dev extra resolves to these on Python 3.11+).
REFERENCE_RELEASES = {"fastapi": (0, 165), "starlette": (1, 10)}


def _older_references() -> list[str]:
    """The reference libraries installed at a release older than REFERENCE_RELEASES ("fastapi 0.162.5")."""
    from importlib.metadata import PackageNotFoundError, version

    older = []
    for name, wanted in REFERENCE_RELEASES.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue
        if tuple(int(part) for part in installed.split(".")[:2]) < wanted:
            older.append(f"{name} {installed}")
    return older


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the cross-checks listed in tests/reference_release.txt when FastAPI/Starlette are older releases.

    Python 3.10 gets FastAPI 0.162.5 and Starlette 1.7.0 (the last for it); those tests compare with later
    behaviour, so there they would test the reference, not fulmen.
    """
    older = _older_references()
    if not older:
        return
    listed = os.path.join(os.path.dirname(__file__), "reference_release.txt")
    with open(listed, encoding="utf-8") as file:
        ids = {line.strip() for line in file if line.strip() and not line.startswith("#")}
    skip = pytest.mark.skip(
        reason=f"compares with FastAPI 0.165 / Starlette 1.10 behaviour; installed: {', '.join(older)}"
    )
    for item in items:
        if item.nodeid in ids:
            item.add_marker(skip)
