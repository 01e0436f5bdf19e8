"""Server-Sent Events, as ``fastapi.sse``: ``EventSourceResponse``, ``ServerSentEvent`` and the wire format.

A generator endpoint declared with ``response_class=EventSourceResponse`` streams each yielded item as one
event: a ``ServerSentEvent`` gives the fields itself, anything else is JSON-encoded into ``data:``. While the
generator is idle a ``: ping`` comment goes out every ``_PING_INTERVAL`` seconds so proxies keep the
connection open. ``event_source_response`` builds that response; the route plan calls it.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from fulmen.encoders import jsonable_encoder
from fulmen.responses import EventSourceResponse, _ThreadedIterator

if TYPE_CHECKING:
    from fulmen.background import BackgroundTask

__all__ = [
    "KEEPALIVE_COMMENT",
    "EventSourceResponse",
    "ServerSentEvent",
    "encode_event",
    "event_source_response",
    "format_sse_event",
]

#: The keep-alive comment sent while a stream is idle (the SSE spec's recommendation).
KEEPALIVE_COMMENT = b": ping\n\n"

#: Seconds between keep-alive pings while a generator is idle (read at each response; tests may patch it).
_PING_INTERVAL: float = 15.0


def _single_line(value: str | None, field: str) -> str | None:
    if value is not None and ("\r" in value or "\n" in value):
        raise ValueError(f"SSE '{field}' must be a single line")
    return value


class ServerSentEvent:
    """One event: ``data`` (as JSON) or ``raw_data`` (as is), plus ``event``/``id``/``retry``/``comment``.

    Same fields and checks as FastAPI's (a pydantic model there, a plain class here): ``event`` and ``id``
    are single lines, ``id`` has no NUL, ``retry`` (milliseconds) is >= 0, ``data`` and ``raw_data`` exclude
    each other. A failed check raises ``ValueError``.
    """

    __slots__ = ("comment", "data", "event", "id", "raw_data", "retry")

    def __init__(
        self,
        *,
        data: Any = None,
        raw_data: str | None = None,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        if data is not None and raw_data is not None:
            raise ValueError(
                "Cannot set both 'data' and 'raw_data' on the same ServerSentEvent. Use 'data' for "
                "JSON-serialized payloads or 'raw_data' for pre-formatted strings."
            )
        if id is not None and "\0" in id:
            raise ValueError("SSE 'id' must not contain null characters")
        if retry is not None and (not isinstance(retry, int) or retry < 0):
            raise ValueError("SSE 'retry' must be an integer >= 0")
        self.data = data
        self.raw_data = raw_data
        self.event = _single_line(event, "event")
        self.id = _single_line(id, "id")
        self.retry = retry
        self.comment = comment

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{n}={getattr(self, n)!r}" for n in self.__slots__ if getattr(self, n) is not None
        )
        return f"ServerSentEvent({fields})"


def _split_lines(value: str) -> list[str]:
    # The SSE line terminators are \r\n, \r and \n; a trailing one gives a trailing empty line.
    return value.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def format_sse_event(
    *,
    data_str: str | None = None,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """The wire bytes of one event from already-serialised ``data_str``; always ends with a blank line."""
    lines: list[str] = []
    if comment is not None:
        lines.extend(f": {line}" for line in _split_lines(comment))
    if event is not None:
        lines.append(f"event: {event}")
    if data_str is not None:
        lines.extend(f"data: {line}" for line in _split_lines(data_str))
    if id is not None:
        lines.append(f"id: {id}")
    if retry is not None:
        lines.append(f"retry: {retry}")
    lines += ("", "")
    return "\n".join(lines).encode("utf-8")


def _finite(data: Any) -> Any:
    # JSON has no inf/nan: they become null, dict keys untouched (as FastAPI does for stream items).
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_finite(value) for value in data]
    return data


def serialize_data(data: Any) -> str:
    """JSON text for an item's ``data:``, as FastAPI writes it (``json.dumps`` of the encoded value)."""
    return json.dumps(_finite(jsonable_encoder(data)))


def encode_event(item: Any, serialize: Callable[[Any], str] | None = None) -> bytes:
    """One yielded item as event bytes: a ``ServerSentEvent`` as given, anything else as JSON ``data:``.

    ``serialize`` turns a plain item into its JSON text (the route's item model, when it declares one).
    A ``ServerSentEvent``'s ``data`` uses ``model_dump_json`` when it is a pydantic model, as in FastAPI.
    """
    if isinstance(item, ServerSentEvent):
        data = item.data
        if item.raw_data is not None:
            data_str: str | None = item.raw_data
        elif data is not None:
            dump = getattr(data, "model_dump_json", None)
            data_str = dump() if dump is not None else serialize_data(data)
        else:
            data_str = None
        return format_sse_event(
            data_str=data_str, event=item.event, id=item.id, retry=item.retry, comment=item.comment
        )
    return format_sse_event(data_str=(serialize or serialize_data)(item))


async def _events(
    source: AsyncIterable[Any], encode: Callable[[Any], bytes], ping_interval: float
) -> AsyncIterator[bytes]:
    """Encoded events from ``source``, with a keep-alive comment after each ``ping_interval`` of silence.

    A producer task pulls from the generator, so a timeout never interrupts the generator itself.
    """
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue(maxsize=1)

    async def produce() -> None:
        try:
            async for item in source:
                await queue.put((0, encode(item)))
        except Exception as exc:
            await queue.put((2, exc))
            return
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
        await queue.put((1, None))

    producer = asyncio.ensure_future(produce())
    getter: asyncio.Future[tuple[int, Any]] | None = None
    try:
        while True:
            if getter is None:
                getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait((getter,), timeout=ping_interval)
            if not done:
                yield KEEPALIVE_COMMENT
                continue
            kind, value = getter.result()
            getter = None
            if kind == 1:
                return
            if kind == 2:
                raise value
            yield value
    finally:
        if getter is not None:
            getter.cancel()
        if not producer.done():
            producer.cancel()
            try:
                await producer
            except asyncio.CancelledError:
                pass


def event_source_response(
    items: AsyncIterable[Any] | Iterable[Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    background: BackgroundTask | None = None,
    serialize: Callable[[Any], str] | None = None,
    ping: bool = True,
) -> EventSourceResponse:
    """The response of a generator endpoint with ``response_class=EventSourceResponse``, as FastAPI's.

    Each item becomes an event (``encode_event``); a sync generator runs in the thread pool. Adds
    ``cache-control: no-cache`` and ``x-accel-buffering: no`` (so nginx doesn't buffer the stream).
    """
    source: AsyncIterable[Any] = items if isinstance(items, AsyncIterable) else _ThreadedIterator(items)

    def encode(item: Any) -> bytes:
        return encode_event(item, serialize)

    if ping:
        stream: AsyncIterable[bytes] = _events(source, encode, _PING_INTERVAL)
    else:

        async def plain() -> AsyncIterator[bytes]:
            try:
                async for item in source:
                    yield encode(item)
            finally:
                aclose = getattr(source, "aclose", None)
                if aclose is not None:
                    await aclose()

        stream = plain()
    response = EventSourceResponse(stream, status_code=status_code, background=background)
    raw = response.raw_headers
    raw.append((b"cache-control", b"no-cache"))
    raw.append((b"x-accel-buffering", b"no"))
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    return response
