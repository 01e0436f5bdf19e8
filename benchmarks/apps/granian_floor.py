"""The floor of a Python app on granian: an RSGI handler that writes one fixed response, whatever the request.

granian does the HTTP work in Rust and calls Python once per request; this handler does nothing else, so
its req/s is the most any framework can reach on granian on this machine (compare the ``ceiling`` row, the
same fixed response from a Python protocol on uvloop + httptools that calls no app at all). Run by the
driver as ``granian --interface rsgi --working-dir benchmarks/apps granian_floor:app``.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"message":"Hello, World!"}'
HEADERS = [("content-type", "application/json")]


class FixedResponse:
    """An RSGI application: granian calls ``__rsgi__(scope, protocol)`` for every request."""

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        protocol.response_bytes(200, HEADERS, BODY)


app = FixedResponse()
