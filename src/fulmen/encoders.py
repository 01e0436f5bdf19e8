"""JSON encoding with FastAPI's rules, at msgspec's speed.

``jsonable_encoder`` converts a value the way FastAPI does. Responses encode a handler's return value with a
cheap type scan first (``_is_native``): when msgspec's native encoding already equals FastAPI's output (the
common case: dicts, lists, str, int, finite floats, naive datetimes, UUIDs, Enums) it is encoded directly;
only values that would differ go through ``encode_json_converted`` (``jsonable_encoder`` first), so the output
is the same as FastAPI's either way.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
import re
import sys
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from types import GeneratorType
from typing import Any
from uuid import UUID

import msgspec

_encoder = msgspec.json.Encoder()
_encode = _encoder.encode

# Types msgspec writes exactly as FastAPI's jsonable_encoder + json.dumps would (``time`` only without tzinfo:
# its own branch in _is_native).
_SAME_SCALARS: frozenset[type] = frozenset({str, int, bool, type(None), datetime.date, UUID})

_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)


def _undefined(value: Any) -> None:
    return None


#: Pydantic types FastAPI's jsonable_encoder converts (module, class names, conversion); subclasses included.
#: Looked up in ``sys.modules`` only: a value of one of these types means its module is already imported, so
#: Pydantic is never imported here (it stays optional).
_PYDANTIC_ENCODERS: tuple[tuple[str, tuple[str, ...], Callable[[Any], Any]], ...] = (
    ("pydantic.types", ("SecretStr", "SecretBytes"), str),  # "**********", "b'**********'"
    ("pydantic.networks", ("AnyUrl", "NameEmail"), str),  # HttpUrl, AnyHttpUrl ... subclass AnyUrl
    ("pydantic_core", ("Url",), str),
    ("pydantic_core", ("PydanticUndefinedType",), _undefined),
    ("pydantic.color", ("Color",), str),
    ("pydantic_extra_types.color", ("Color",), str),
)


def _pydantic_encoder(obj: Any) -> Callable[[Any], Any] | None:
    """The conversion FastAPI applies to ``obj`` when it is one of Pydantic's special types, else None."""
    modules = sys.modules
    for module_name, names, encode in _PYDANTIC_ENCODERS:
        module = modules.get(module_name)
        if module is None:
            continue
        for name in names:
            cls = getattr(module, name, None)
            if isinstance(cls, type) and isinstance(obj, cls):
                return encode
    return None


def isoformat(o: datetime.date | datetime.time) -> str:
    """A date, time or datetime in ISO 8601 (``fastapi.encoders.isoformat``)."""
    return o.isoformat()


def _decimal_encoder(value: Decimal) -> int | float:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    return float(value)


def _is_native(value: Any) -> bool:
    """True when msgspec's encoding of ``value`` is byte-identical to FastAPI's."""
    t = type(value)
    if t in _SAME_SCALARS:
        return True
    if t is dict:
        for k, v in value.items():
            # PERF: most values are scalars (str, int, bool, None); test them inline before recursing.
            tv = type(v)
            if type(k) is not str or (tv is not str and tv not in _SAME_SCALARS and not _is_native(v)):
                return False
            # jsonable_encoder drops "_sa*" keys (its sqlalchemy_safe rule).
            # PERF: a one-character slice is a cached string; startswith only for keys that begin with "_".
            if k[:1] == "_" and k.startswith("_sa"):
                return False
        return True
    if t is list or t is tuple:
        for v in value:  # PERF: an explicit loop beats all() over a generator here
            tv = type(v)
            if tv is not str and tv not in _SAME_SCALARS and not _is_native(v):
                return False
        return True
    if t is float:
        # Python's repr (used by json.dumps) switches to exponents outside [1e-4, 1e16) and writes
        # "1e+20"; msgspec writes "1e20". Only the range where both agree is native; NaN/inf fail here too.
        return bool(value == 0.0 or 1e-4 <= abs(value) < 1e16)
    if t is datetime.datetime or t is datetime.time:
        if value.tzinfo is None:
            return True
        offset = value.utcoffset()
        # msgspec writes a zero offset as "Z" and rounds offsets to whole minutes; isoformat (FastAPI) writes
        # "+00:00" and keeps seconds (an LMT zone such as Amsterdam's +00:19:32 before 1937) and microseconds.
        return offset is None or (bool(offset) and not offset.microseconds and not offset.seconds % 60)
    if isinstance(value, msgspec.Struct):
        # PERF: the fields tested inline like a dict's values (no all() over a generator, no call per scalar).
        for f in value.__struct_fields__:
            v = getattr(value, f)
            tv = type(v)
            if tv is not str and tv not in _SAME_SCALARS and not _is_native(v):
                return False
        return True
    if isinstance(value, Enum):
        return _is_native(value.value)
    return False


def jsonable_encoder(
    obj: Any,
    include: set[str] | None = None,
    exclude: set[str] | None = None,
    by_alias: bool = True,
    exclude_unset: bool = False,
    exclude_defaults: bool = False,
    exclude_none: bool = False,
    custom_encoder: dict[Any, Callable[[Any], Any]] | None = None,
    sqlalchemy_safe: bool = True,
) -> Any:
    """Convert ``obj`` into JSON-compatible Python data with FastAPI's rules (same name and arguments)."""
    if custom_encoder:
        if type(obj) in custom_encoder:
            return custom_encoder[type(obj)](obj)
        for encoder_type, encoder in custom_encoder.items():
            if isinstance(obj, encoder_type):
                return encoder(obj)
    kwargs: dict[str, Any] = {
        "by_alias": by_alias,
        "exclude_unset": exclude_unset,
        "exclude_defaults": exclude_defaults,
        "exclude_none": exclude_none,
        "custom_encoder": custom_encoder,
        "sqlalchemy_safe": sqlalchemy_safe,
    }
    model_dump = getattr(obj, "model_dump", None)
    if model_dump is not None and hasattr(type(obj), "model_fields"):
        data = model_dump(
            mode="json",
            include=include,
            exclude=exclude,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )
        return jsonable_encoder(data, exclude_none=exclude_none, custom_encoder=custom_encoder)
    if isinstance(obj, msgspec.Struct):
        data = {f: getattr(obj, f) for f in obj.__struct_fields__}
        return jsonable_encoder(data, include=include, exclude=exclude, **kwargs)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        data = dataclasses.asdict(obj)
        return jsonable_encoder(data, include=include, exclude=exclude, **kwargs)
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, (str, int, float, type(None))):
        return obj
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        allowed = set(obj.keys())
        if include is not None:
            allowed &= set(include)
        if exclude is not None:
            allowed -= set(exclude)
        for key, value in obj.items():
            if (
                (not sqlalchemy_safe or not isinstance(key, str) or not key.startswith("_sa"))
                and (value is not None or not exclude_none)
                and key in allowed
            ):
                out[jsonable_encoder(key, **kwargs)] = jsonable_encoder(value, **kwargs)
        return out
    if isinstance(obj, (list, set, frozenset, GeneratorType, tuple, deque)):
        return [jsonable_encoder(item, include=include, exclude=exclude, **kwargs) for item in obj]
    if isinstance(obj, bytes):
        return obj.decode()
    if isinstance(obj, (datetime.datetime, datetime.date, datetime.time)):
        return obj.isoformat()
    if isinstance(obj, datetime.timedelta):
        return obj.total_seconds()
    if isinstance(obj, Decimal):
        return _decimal_encoder(obj)
    if isinstance(obj, (UUID, _IP_TYPES)):
        return str(obj)
    if isinstance(obj, re.Pattern):
        return obj.pattern
    encode = _pydantic_encoder(obj)
    if encode is not None:
        return encode(obj)
    if type(type(obj)).__module__.startswith("pydantic.v1."):
        from fulmen.exceptions import PydanticV1NotSupportedError

        raise PydanticV1NotSupportedError(
            f"pydantic.v1 models are no longer supported by FastAPI. Please update the model {obj!r}."
        )
    try:
        data = dict(obj)
    except Exception as e:
        errors: list[Exception] = [e]
        try:
            data = vars(obj)
        except Exception as e2:
            errors.append(e2)
            raise ValueError(errors) from e2
    return jsonable_encoder(data, include=include, exclude=exclude, **kwargs)


def _dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    # Exactly Starlette's JSONResponse.render, so the rare values that leave the fast path (exponent floats,
    # NaN -> ValueError, ...) come out byte-for-byte as FastAPI writes them. ``default`` as json.dumps'.
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"), default=default
    ).encode("utf-8")


def encode_json_converted(value: Any) -> bytes:
    """A handler's return value that ``_is_native`` refused, as JSON bytes: converted as FastAPI converts it
    first. (The native case, ``_encode(value)``, is inlined in the route serializer: fulmen.plan.)"""
    if (
        hasattr(value, "__pydantic_serializer__")
        and hasattr(value, "model_dump")  # a model, not SecretStr, Url ... (they have a serializer too)
        and not isinstance(value, type)
    ):
        # FastAPI: jsonable_encoder -> model_dump(mode="json") -> a walk over already JSON-compatible data
        # -> json.dumps; _is_native tells when that walk would change nothing.
        if type(value).model_dump is (_plain_model_dump or _base_model_dump()):
            # PERF: what BaseModel.model_dump does with these arguments, without its Python frame and its
            # dozen keyword arguments; a model that overrides model_dump is called as FastAPI calls it.
            data = value.__pydantic_serializer__.to_python(value, mode="json", by_alias=True)
        else:
            data = value.model_dump(mode="json", by_alias=True)
        if _is_native(data):
            return _encode(data)
        return _dumps(jsonable_encoder(data))
    return _dumps(jsonable_encoder(value))


#: pydantic's ``BaseModel.model_dump``, once a model was encoded (pydantic is never imported here).
_plain_model_dump: Any = None


def _base_model_dump() -> Any:
    """pydantic's ``BaseModel.model_dump``, looked up on first use; a value no method is when unavailable."""
    global _plain_model_dump
    pydantic = sys.modules.get("pydantic")
    base = getattr(pydantic, "BaseModel", None)
    if base is None:
        return _undefined  # not a model_dump: every model is dumped by calling its own
    _plain_model_dump = base.model_dump
    return _plain_model_dump


def _convert_leftover(value: Any) -> Any:
    # json.dumps' default hook, called only for what it can't write itself: the date/time values msgspec
    # writes on the native path (naive datetimes, dates) are written whatever their offset; the rest fails
    # as in Starlette.
    if isinstance(value, (datetime.date, datetime.time)):
        return jsonable_encoder(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_json_plain(value: Any) -> bytes:
    """Encode ready JSON-compatible data (``JSONResponse(content=...)``) as Starlette's JSONResponse does.

    Dates, datetimes and times (which Starlette's ``json.dumps`` can't write) are written as
    ``jsonable_encoder`` writes them, whatever their UTC offset; other non-JSON values fail as in Starlette
    (docs/response_model.md).
    """
    if _is_native(value):
        return _encode(value)
    return _dumps(value, _convert_leftover)


#: FastAPI's public name: a Decimal as an int when it has no fractional digits, else a float.
decimal_encoder = _decimal_encoder
