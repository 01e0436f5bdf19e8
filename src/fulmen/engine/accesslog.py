"""The access log: one "fulmen.access" record per request (and per WebSocket handshake), text or JSON.

The message is uvicorn's line (``127.0.0.1:5000 - "GET /x HTTP/1.1" 200``); the same facts ride on the record
as attributes (``extra=``: ``client``, ``method``, ``path``, ``query``, ``http_version``, ``status``,
``duration_ms``, ``bytes``, ``user_agent``, ``outcome``; ``request_id`` with ``RequestIdMiddleware``, also at
the end of the line) so a logging config of your own can format them.
``JsonAccessFormatter`` writes them as one JSON object per line (``access_log_format="json"``).

Nothing here runs when the access log is off: the protocol checks ``ServerState.access_log`` (decided at
start-up) before calling ``log_access``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec

from fulmen.requests import Request

access_logger = logging.getLogger("fulmen.access")

#: The record attributes an access record carries, in the order the JSON line lists them (after "time").
FIELDS = (
    "client",
    "method",
    "path",
    "query",
    "http_version",
    "status",
    "duration_ms",
    "bytes",
    "user_agent",
    "outcome",
)

_encode = msgspec.json.Encoder().encode


def _where(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"


def log_access(
    client: tuple[str, int] | None,
    request: Request | None,
    status: int,
    started: float | None = None,
    size: int | None = None,
    outcome: str | None = None,
) -> None:
    """Log one request: ``started`` is its ``perf_counter()`` start, ``size`` the body bytes sent if known.

    ``outcome`` is set for a WebSocket handshake: "accepted", "rejected" (closed before accepting: 403),
    "denied" (the app sent an HTTP response), "failed" (the endpoint failed first: 500) or "invalid" (not a
    valid handshake).
    """
    where = _where(client)
    duration = None if started is None else round((time.perf_counter() - started) * 1000.0, 3)
    if request is None:  # an error the engine answered before a request was complete (400, 408, 413 ...)
        fields: dict[str, Any] = {
            "client": where,
            "method": None,
            "path": None,
            "query": None,
            "http_version": None,
            "status": status,
            "duration_ms": duration,
            "bytes": size,
            "user_agent": None,
            "outcome": outcome,
        }
        access_logger.info('%s - "-" %d', where, status, extra=fields)
        return
    path = request.raw_path.decode("latin-1")
    query = request.query_string.decode("latin-1")
    user_agent = None
    for name, value in request.raw_headers:
        if name == b"user-agent":
            user_agent = value.decode("latin-1")
            break
    fields = {
        "client": where,
        "method": request.method,
        "path": path,
        "query": query,
        "http_version": request.http_version,
        "status": status,
        "duration_ms": duration,
        "bytes": size,
        "user_agent": user_agent,
        "outcome": outcome,
    }
    target = f"{path}?{query}" if query else path
    # The request ID (RequestIdMiddleware puts it in request.state): one attribute test when nothing did.
    state = request._state
    rid = None if state is None else (state if isinstance(state, dict) else state._state).get("request_id")
    if outcome is None:
        method, version = request.method, request.http_version
        if type(rid) is str:
            fields["request_id"] = rid
            access_logger.info(
                '%s - "%s %s HTTP/%s" %d %s', where, method, target, version, status, rid, extra=fields
            )
            return
        access_logger.info('%s - "%s %s HTTP/%s" %d', where, method, target, version, status, extra=fields)
    else:
        shown = "[accepted]" if outcome == "accepted" else str(status)
        access_logger.info('%s - "WebSocket %s" %s', where, target, shown, extra=fields)


class JsonAccessFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (ISO 8601, UTC) and the access fields; other records get
    ``time``, ``level`` and ``message``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, Any] = {"time": f"{stamp}.{int(record.msecs):03d}Z"}
        if hasattr(record, "status"):
            for name in FIELDS:
                value = getattr(record, name, None)
                if value is not None or name != "outcome":
                    entry[name] = value
            rid = getattr(record, "request_id", None)
            if rid is not None:  # RequestIdMiddleware's, or RequestIdFilter's
                entry["request_id"] = rid
        else:
            entry["level"] = record.levelname
            entry["message"] = record.getMessage()
            if record.exc_info:
                entry["exc_info"] = self.formatException(record.exc_info)
        return _encode(entry).decode("utf-8")


__all__ = ["FIELDS", "JsonAccessFormatter", "access_logger", "log_access"]
