"""Path operations that ``yield``: their items stream as JSON Lines, Server-Sent Events, or raw chunks.

FastAPI 0.165's rules, decided once per route: a generator endpoint with no response class chosen streams
``application/jsonl`` (one JSON document per line); with ``response_class=EventSourceResponse`` each item is
an event; with any other response class the generator is that class's content (``StreamingResponse``). When
the return annotation names the items (``AsyncIterator[Item]``), each item is validated and serialised
through it.
"""

from __future__ import annotations

import asyncio
import collections.abc
import json
import typing
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, get_args, get_origin

from fulmen._typing import is_class
from fulmen.encoders import jsonable_encoder
from fulmen.responses import Response, StreamingResponse

_STREAM_ORIGINS = {
    collections.abc.AsyncIterable,
    collections.abc.AsyncIterator,
    collections.abc.AsyncGenerator,
    collections.abc.Iterable,
    collections.abc.Iterator,
    collections.abc.Generator,
}

Invoke = Callable[[dict[str, Any]], Any]


def stream_item_type(annotation: Any) -> Any | None:
    """The item type of an iterator/generator return annotation (``Any`` when unparameterised), else None."""
    origin = get_origin(annotation)
    if origin is not None and origin in _STREAM_ORIGINS:
        args = get_args(annotation)
        return args[0] if args else Any
    return None


def _return_annotation(call: Any) -> Any:
    try:
        return typing.get_type_hints(call, include_extras=True).get("return")
    except Exception:
        return None


def _finite(data: Any) -> Any:
    # JSON has no inf/nan: FastAPI writes null for them in streamed items (dict keys untouched).
    if isinstance(data, float):
        return data if data == data and data not in (float("inf"), float("-inf")) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_finite(value) for value in data]
    return data


def _plain_item(item: Any) -> bytes:
    """An item without a declared type: ``json.dumps`` of its jsonable form, as FastAPI writes it."""
    return json.dumps(_finite(jsonable_encoder(item))).encode("utf-8")


def compile_stream_invoke(
    call: Callable[..., Any],
    *,
    is_async: bool,
    response_class: type[Response],
    response_class_is_default: bool,
    status_code: int | None,
    item_serializer: Callable[[Any], bytes] | None,
) -> Invoke:
    """The ``invoke`` step for a generator endpoint: call it and wrap its items in the streaming response."""
    from fulmen.sse import EventSourceResponse

    serialize = item_serializer or _plain_item
    status: dict[str, Any] = {"status_code": status_code} if status_code else {}

    if issubclass(response_class, EventSourceResponse):
        from fulmen.sse import event_source_response

        def sse_text(item: Any) -> str:
            return serialize(item).decode("utf-8")

        async def invoke_sse(kwargs: dict[str, Any]) -> Response:
            return event_source_response(call(**kwargs), status_code=status_code or 200, serialize=sse_text)

        return invoke_sse

    if response_class_is_default:
        if is_async:

            async def invoke_jsonl(kwargs: dict[str, Any]) -> Response:
                gen = call(**kwargs)

                async def lines() -> AsyncIterator[bytes]:
                    try:
                        async for item in gen:
                            yield serialize(item) + b"\n"
                            await asyncio.sleep(0)  # see _checkpointed
                    finally:
                        await gen.aclose()

                return StreamingResponse(lines(), media_type="application/jsonl", **status)

            return invoke_jsonl

        async def invoke_jsonl_sync(kwargs: dict[str, Any]) -> Response:
            gen = call(**kwargs)

            def lines() -> Iterator[bytes]:
                for item in gen:
                    yield serialize(item) + b"\n"

            return StreamingResponse(lines(), media_type="application/jsonl", **status)

        return invoke_jsonl_sync

    if is_async:

        async def invoke_raw_async(kwargs: dict[str, Any]) -> Response:
            return response_class(content=_checkpointed(call(**kwargs)), **status)

        return invoke_raw_async

    async def invoke_raw(kwargs: dict[str, Any]) -> Response:
        return response_class(content=call(**kwargs), **status)

    return invoke_raw


async def _checkpointed(gen: Any) -> AsyncIterator[Any]:
    """The generator's items, with a pass through the event loop after each one, as FastAPI does.

    A generator that never awaits (``while True: yield ...``) would otherwise keep the loop to itself: no
    other request runs, and neither a disconnect nor a cancellation can stop it.
    """
    try:
        async for item in gen:
            yield item
            await asyncio.sleep(0)
    finally:
        await gen.aclose()


def item_serializer_for(
    call: Callable[..., Any],
    *,
    response_class: type[Response],
    response_class_is_default: bool,
    options: dict[str, Any],
    where: str,
) -> Callable[[Any], bytes] | None:
    """Validate-and-serialise for the items a generator endpoint declares in its return annotation, if any."""
    from fulmen.sse import EventSourceResponse, ServerSentEvent

    item = stream_item_type(_return_annotation(call))
    if item is None or item is Any:
        return None
    if not (response_class_is_default or issubclass(response_class, EventSourceResponse)):
        return None
    if is_class(item) and issubclass(item, ServerSentEvent):
        return None  # a transport wrapper, not a data model
    from fulmen.response_model import compile_response_serializer

    serializer = compile_response_serializer(item, where=where, json_bytes=True, **options)
    if serializer is None:
        return None
    to_bytes = serializer

    def serialize_item(value: Any) -> bytes:
        out = to_bytes(value)
        return out if isinstance(out, bytes) else bytes(out)

    return serialize_item
