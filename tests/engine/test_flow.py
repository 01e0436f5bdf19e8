"""Flow control: a client that doesn't read makes the server pause reading, not buffer without bound."""

from __future__ import annotations

import socket
import time

from tests.engine.conftest import EngineThread, RawConn
from tests.engine.sample_app import make_app

RESPONSE_SIZE = 256 * 1024
REQUESTS = 200  # 50 MiB of responses in total


def test_non_reading_client_pauses_reading_and_bounds_buffers() -> None:
    app = make_app()
    engine = EngineThread(app)
    try:
        with RawConn(engine.port, timeout=10) as conn:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            request = b"GET /big?n=%d HTTP/1.1\r\nHost: a\r\n\r\n" % RESPONSE_SIZE
            conn.send(request * REQUESTS)
            time.sleep(0.5)

            def snapshot() -> tuple[bool, int]:
                (proto,) = engine.server.state.connections  # type: ignore[union-attr]
                return proto.reading_paused, proto._transport.get_write_buffer_size()

            paused, buffered = engine.call(snapshot)
            assert paused, "reading should be paused while the client does not read"
            assert buffered < 2 * RESPONSE_SIZE, f"server buffered {buffered} bytes"
            assert app.calls < REQUESTS // 2, f"{app.calls} handlers ran although nothing was read"

            # Now read everything: all responses arrive, in order, and reading resumes.
            for _ in range(REQUESTS):
                r = conn.read_response()
                assert r.status == 200 and len(r.body) == RESPONSE_SIZE
            assert app.calls == REQUESTS
            assert conn.request("GET", "/fast").body == b"fast"
    finally:
        engine.stop()


def test_pipeline_cap_pauses_reading() -> None:
    app = make_app()
    engine = EngineThread(app, max_pipelined_requests=4)
    try:
        with RawConn(engine.port) as conn:
            conn.send(b"GET /slow?d=0.3&tag=s HTTP/1.1\r\nHost: a\r\n\r\n" * 10)
            time.sleep(0.1)
            (proto,) = engine.connections()
            assert engine.call(lambda: proto.reading_paused)
            assert 4 <= app.calls <= 10
            bodies = [conn.read_response().body for _ in range(10)]
            assert bodies == [b"slow s"] * 10
    finally:
        engine.stop()
