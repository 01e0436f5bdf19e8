"""WebSocket echo benchmark app for fulmen (the same code as ws_fastapi.py, only the import differs).

Run as a script: ``python ws_fulmen.py PORT`` serves it on fulmen's engine (one worker, access log off,
no keepalive pings so the load generator sees only echoes).
"""

from __future__ import annotations

import sys

from fulmen import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    app.run(host="127.0.0.1", port=port, access_log=False, ws_ping_interval=None)
