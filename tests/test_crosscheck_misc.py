"""Cross-check against FastAPI 0.165: behaviour corners (security on WebSockets, custom Request classes,
exception handlers, empty bodies, docs pages) answer as FastAPI does.

The apps are written once as a function of the framework package (``fastapi`` or ``fulmen``); FastAPI's
answers come in-process through its TestClient, fulmen's through its own (and every front door where the
behaviour is HTTP).

No ``from __future__ import annotations`` here: FastAPI must resolve the handlers' annotations.
"""

import warnings
from collections.abc import Callable
from typing import Any

import fastapi
import fastapi.security
import pytest

import fulmen
import fulmen.security
from fulmen.testclient import TestClient, WebSocketDenialResponse

with warnings.catch_warnings():
    # Starlette 1.0 deprecates its httpx-based TestClient (use httpx2); FastAPI's tests still import it.
    warnings.simplefilter("ignore")
    from starlette.testclient import WebSocketDenialResponse as StarletteDenial

SECURITY_SCHEMES: dict[str, Callable[[Any, bool], Any]] = {
    "http-basic": lambda fw, auto: fw.security.HTTPBasic(auto_error=auto),
    "http-bearer": lambda fw, auto: fw.security.HTTPBearer(auto_error=auto),
    "api-key-header": lambda fw, auto: fw.security.APIKeyHeader(name="key", auto_error=auto),
    "api-key-cookie": lambda fw, auto: fw.security.APIKeyCookie(name="key", auto_error=auto),
    "oauth2-password": lambda fw, auto: fw.security.OAuth2PasswordBearer(tokenUrl="/t", auto_error=auto),
}


def _secured_websocket_app(fw: Any, scheme: str, auto_error: bool) -> Any:
    security = SECURITY_SCHEMES[scheme](fw, auto_error)
    app = fw.FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: fw.WebSocket, credentials: Any = fw.Security(security)) -> None:
        await websocket.accept()
        await websocket.send_json(fw.encoders.jsonable_encoder(credentials))
        await websocket.close()

    return app


def _denial(client: Any) -> tuple[int, str | None, Any]:
    with pytest.raises(StarletteDenial) as info, client.websocket_connect("/ws"):
        pass  # pragma: no cover - the handshake is refused
    return info.value.status_code, info.value.headers.get("www-authenticate"), info.value.json()


@pytest.mark.parametrize("scheme", sorted(SECURITY_SCHEMES))
def test_missing_websocket_credentials_are_a_starlette_denial(scheme: str) -> None:
    """Security on a WebSocket: a 401 denial that ``starlette.testclient.WebSocketDenialResponse`` catches."""
    with TestClient(_secured_websocket_app(fastapi, scheme, True)) as reference:
        expected = _denial(reference)
    with TestClient(_secured_websocket_app(fulmen, scheme, True)) as client:
        assert _denial(client) == expected
        with pytest.raises(WebSocketDenialResponse), client.websocket_connect("/ws"):
            pass  # pragma: no cover
    with (
        TestClient(_secured_websocket_app(fulmen, scheme, False)) as client,
        client.websocket_connect("/ws") as session,
    ):
        assert session.receive_json() is None
