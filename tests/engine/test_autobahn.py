"""Autobahn TestSuite conformance of the engine's WebSockets, run by kosoku against an echo endpoint.

kosoku (PyPI, a dev extra) drives the Autobahn case files from Python 3. Every selected case must pass:
``OK``, or ``NON-STRICT`` / ``INFORMATIONAL`` as Autobahn defines them (its ``passed``).

CI runs every case of sections 1-7, 9 (large and fragmented messages up to 16 MiB) and 10, and a
representative slice of the compression sections 12 and 13 (each of their 12 offer/parameter groups at
payload sizes 16, 64 and 256 bytes, plus 8 KiB auto-fragmented to 256-byte frames): the full 12.x/13.x
sections push 1000 messages of up to 128 KiB through deflate per case and take about ten minutes on a
2-core machine.
``FULMEN_AUTOBAHN=full`` runs the whole suite instead.
"""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import fulmen
from fulmen import WebSocket
from tests.conftest import ci
from tests.engine.conftest import EngineThread

try:
    import kosoku
except ImportError:  # pragma: no cover - depends on the environment
    kosoku = None

_COMPRESSION_GROUPS = [f"12.{i}" for i in range(1, 6)] + [f"13.{i}" for i in range(1, 8)]

SECTIONS: dict[str, list[str]] = {
    "framing": ["1.*", "2.*", "3.*", "4.*"],
    "fragmentation": ["5.*"],
    "utf8": ["6.*"],
    "close": ["7.*"],
    "limits-and-large-messages": ["9.*"],
    "auto-fragmentation": ["10.*"],
    "compression": [f"{group}.{n}" for group in _COMPRESSION_GROUPS for n in (1, 2, 3, 11)],
}

FULL = os.environ.get("FULMEN_AUTOBAHN", "").lower() == "full"


def _echo_app() -> fulmen.FastAPI:
    app = fulmen.FastAPI()

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is not None:
                await websocket.send_text(text)
            else:
                await websocket.send_bytes(message["bytes"])

    async def echo_any(websocket: WebSocket, rest: str) -> None:
        await echo(websocket)

    app.add_api_websocket_route("/", echo)
    app.add_api_websocket_route("/{rest:path}", echo_any)
    return app


@pytest.fixture(scope="module")
def echo_server() -> Iterator[EngineThread]:
    if kosoku is None:
        if ci():
            pytest.fail('kosoku is not installed (pip install -e ".[dev]")')
        pytest.skip("kosoku is not installed")
    # No keepalive pings: an Autobahn case ends at the first frame it doesn't expect, and the long 9.x/12.x
    # cases would outlive the 20 s ping interval. Keepalive has its own tests in tests/test_websockets.py.
    engine = EngineThread(_echo_app(), ws_ping_interval=None)
    yield engine
    engine.stop()


def _run(engine: EngineThread, cases: list[str] | None) -> list[Any]:
    assert kosoku is not None

    async def main() -> list[Any]:
        try:
            return list(
                await kosoku.run_fuzzingclient(f"ws://127.0.0.1:{engine.port}", cases=cases, concurrency=2)
            )
        except kosoku.FailureError as exc:  # raised when any case fails; the results are on it
            return list(exc.results)

    # kosoku's case files open test data without closing it: collect those files here, with their
    # ResourceWarning silenced, rather than in some later test where it would fail under filterwarnings=error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        results = asyncio.run(main())
        gc.collect()
    return results


def _check(results: list[Any]) -> None:
    assert results, "no Autobahn case ran"
    failed = [
        f"{r.case_id}: {r.behavior.value}/{r.behavior_close.value} ({r.result}; {r.result_close}) "
        f"- {r.description.strip()[:120]}"
        for r in results
        if not r.passed
    ]
    assert not failed, f"{len(failed)} of {len(results)} Autobahn cases failed:\n" + "\n".join(failed)


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.skipif(FULL, reason="FULMEN_AUTOBAHN=full runs the whole suite in test_autobahn_full")
@pytest.mark.timeout(300)
@pytest.mark.parametrize("section", list(SECTIONS))
def test_autobahn(echo_server: EngineThread, section: str) -> None:
    results = _run(echo_server, SECTIONS[section])
    _check(results)
    if section == "compression":
        assert len(results) == len(SECTIONS["compression"])


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.skipif(not FULL, reason="set FULMEN_AUTOBAHN=full to run every Autobahn case (~10 minutes)")
@pytest.mark.timeout(3600)
def test_autobahn_full(echo_server: EngineThread) -> None:
    results = _run(echo_server, None)
    _check(results)
    assert len(results) > 500
