"""Validators compiled once per annotation, reporting pydantic v2's exact 422 error items.

FastAPI answers invalid input with the error list of pydantic v2 in lax "python" mode (``from_attributes``
on, as FastAPI validates). fulmen reproduces those items without pydantic for scalar, container, msgspec,
dataclass and TypedDict annotations; pydantic models are delegated to pydantic, imported only when seen.
Every decision (which type, which constraints, which fields) is taken in ``compile_validator``; the
returned closure only converts and checks.

Known gaps (pydantic-core behaviour not reproduced):

- ``int`` from strings with a sign after leading zeros: pydantic-core accepts ``"0-5"`` as ``-5`` and
  ``"+0-0"`` as ``0`` (a quirk of its leading-zero stripping); fulmen answers ``int_parsing``.
- Smart unions: the exact-type pass covers scalars (``int | str`` keeps ``"1"`` a ``str``, ``float | int``
  keeps ``5`` an ``int``); containers and models are tried in lax mode only, in declaration order. A union
  member of pydantic's "constrained-..." labels other than int/float/str/bytes/list/dict/tuple/set falls
  back to the plain label.
- datetime/date/time: ISO 8601 / RFC 3339 forms and unix timestamps parse like speedate and the common
  errors are exact ("input is too short", "invalid character in year", "invalid date separator ...",
  "month value is outside expected range of 1-12", "day value is outside expected range", hour/minute/
  second ranges, "invalid datetime separator ...", "unexpected extra characters at the end of the input");
  rarer speedate messages (timezone-specific errors, fraction errors, out-of-range timestamps) are
  approximated with the nearest message.
- timedelta: ISO 8601 durations (``P1DT2H``), ``[-][D day[s][,]] HH:MM[:SS[.f]]`` and numbers parse;
  the error for other strings is always ``invalid digit in duration`` (speedate has several messages).
- Numeric strings as timestamps: ``-?digits[.digits]`` parse; pydantic-core 2.50 also reads a fraction with
  an exponent (``"1.5e3"``) and reports huge ones (20+ digits) as "dates after 9999/before 0000 ...";
  fulmen answers the ISO error for those.
- uuid: the uuid crate's (1.23) messages are reproduced for str input, including its 0-based byte
  positions; bytes are 16 raw bytes or UUID text, else "invalid length: expected 16 bytes, found N".
- ``too_long`` for sets reports pydantic's "not more" form; dict ``max_length`` is checked after items.
- ``compile_json_body`` skips msgspec's typed fast path when the type contains something msgspec would
  decode differently (``bytes``: base64 in msgspec, UTF-8 text in pydantic; annotated_types constraints,
  which msgspec ignores); those bodies always take the lax path.

Messages match pydantic 2.14 / pydantic-core 2.50.x (checked against pydantic 2.14.3, pydantic-core 2.50.4).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import decimal
import enum
import json
import re
import types
import typing
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, Union

import msgspec

from fulmen._typing import is_class
from fulmen.datastructures import UploadFile

__all__ = [
    "BodyParseFailure",
    "Constraints",
    "JSONDecodeFailure",
    "ValidationFailure",
    "compile_json_body",
    "compile_validator",
    "constraints_from_metadata",
    "is_pydantic_model",
    "loads_json",
]

Validator = Callable[[Any], Any]
ErrorDict = dict[str, Any]


#: Constraints' fields by name: its ``__slots__``, kept as a module name too because a class compiled with
#: mypyc doesn't keep ``__slots__`` as an attribute.
_LIMIT_NAMES = ("ge", "gt", "le", "lt", "max_length", "min_length", "multiple_of", "pattern")


class Constraints:
    """Numeric, length and pattern limits attached to an annotation (``Annotated``, ``Query(gt=...)``)."""

    __slots__ = _LIMIT_NAMES

    def __init__(
        self,
        *,
        gt: Any = None,
        ge: Any = None,
        lt: Any = None,
        le: Any = None,
        multiple_of: Any = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
    ) -> None:
        self.gt = gt
        self.ge = ge
        self.lt = lt
        self.le = le
        self.multiple_of = multiple_of
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern

    def is_empty(self) -> bool:
        """True when no limit is set."""
        return all(getattr(self, name) is None for name in _LIMIT_NAMES)

    def merged(self, other: Constraints | None) -> Constraints:
        """A copy with ``other``'s set limits taking precedence."""
        out = Constraints()
        for name in _LIMIT_NAMES:
            mine = getattr(self, name)
            theirs = getattr(other, name) if other is not None else None
            setattr(out, name, theirs if theirs is not None else mine)
        return out

    def __repr__(self) -> str:
        parts = [f"{n}={getattr(self, n)!r}" for n in _LIMIT_NAMES if getattr(self, n) is not None]
        return f"Constraints({', '.join(parts)})"


class ValidationFailure(Exception):
    """Raised by a validator with every error found; locations are relative to the validated value."""

    def __init__(self, errors: list[ErrorDict]) -> None:
        super().__init__(errors)
        self.errors = errors


class JSONDecodeFailure(Exception):
    """The body is not JSON; ``pos`` and ``msg`` are what ``json.loads`` reports (FastAPI's json_invalid)."""

    def __init__(self, pos: int, msg: str) -> None:
        super().__init__(pos, msg)
        self.pos = pos
        self.msg = msg


class BodyParseFailure(Exception):
    """The body could not be parsed at all (undecodable bytes, nesting too deep...): FastAPI answers 400."""


# --------------------------------------------------------------------------------------------- errors


def _error(kind: str, msg: str, value: Any, ctx: dict[str, Any] | None = None) -> ErrorDict:
    if ctx is None:
        return {"type": kind, "loc": (), "msg": msg, "input": value}
    return {"type": kind, "loc": (), "msg": msg, "input": value, "ctx": ctx}


def _fail(kind: str, msg: str, value: Any, ctx: dict[str, Any] | None = None) -> NoReturn:
    raise ValidationFailure([_error(kind, msg, value, ctx)])


def _prefixed(errors: list[ErrorDict], key: Any) -> list[ErrorDict]:
    for err in errors:
        err["loc"] = (key, *err["loc"])
    return errors


def _num_text(value: Any) -> str:
    """How pydantic-core prints a limit in a message: integral floats without ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _expected(values: Iterable[Any]) -> str:
    shown = [repr(v) for v in values]
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " or " + shown[-1]


_INT_PARSING = "Input should be a valid integer, unable to parse string as an integer"
_FLOAT_PARSING = "Input should be a valid number, unable to parse string as a number"
_BOOL_PARSING = "Input should be a valid boolean, unable to interpret input"

# ------------------------------------------------------------------------------------- int / float

# Rust's str::trim() strips Unicode White_Space; Python's str.strip() also strips \x1c-\x1f.
_RUST_WS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_INT_RE = re.compile(r"[+-]?[0-9]+")
_UNDERSCORE_RE = re.compile(r"(?<=[0-9])_(?=[0-9])")
_FLOAT_RE = re.compile(r"[+-]?(?:inf|infinity|nan|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?)", re.I)


def _int_from_str(value: Any, text: str) -> int:
    s = text.strip(_RUST_WS)
    if len(s) > 4300:
        _fail("int_parsing_size", "Unable to parse input string as an integer, exceeded maximum size", value)
    if "_" in s:
        if s.count("_") != len(_UNDERSCORE_RE.findall(s)):
            _fail("int_parsing", _INT_PARSING, value)
        s = s.replace("_", "")
    dot = s.find(".")
    if dot >= 0:
        frac = s[dot + 1 :]
        if not frac or frac.strip("0"):
            _fail("int_parsing", _INT_PARSING, value)
        s = s[:dot]
    if _INT_RE.fullmatch(s) is None:
        _fail("int_parsing", _INT_PARSING, value)
    return int(s)


def _int_from_float(value: Any, number: float) -> int:
    if number != number or number in (float("inf"), float("-inf")):
        _fail("finite_number", "Input should be a finite number", value)
    if not number.is_integer():
        _fail("int_from_float", "Input should be a valid integer, got a number with a fractional part", value)
    if not -9.223372036854776e18 < number < 9.223372036854776e18:
        _fail("int_parsing_size", "Unable to parse input string as an integer, exceeded maximum size", value)
    return int(number)


def _int_lax(value: Any) -> int:
    cls = value.__class__
    if cls is int:
        return int(value)
    if cls is str:
        return _int_from_str(value, value)
    if cls is bool:
        return int(value)
    if cls is float:
        return _int_from_float(value, value)
    if isinstance(value, (bytes, bytearray)):
        try:
            text = bytes(value).decode()
        except UnicodeDecodeError:
            _fail("int_parsing", _INT_PARSING, value)
        return _int_from_str(value, text)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            _fail("finite_number", "Input should be a finite number", value)
        if value != value.to_integral_value():
            _fail(
                "int_from_float",
                "Input should be a valid integer, got a number with a fractional part",
                value,
            )
        return int(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return _int_from_str(value, str(value))
    if isinstance(value, float):
        return _int_from_float(value, float(value))
    _fail("int_type", "Input should be a valid integer", value)


def _validate_int(value: Any) -> int:
    # PERF: a query/path value of plain ASCII digits is one class check and two C string methods away
    # from int(); everything else (signs, whitespace, floats, bytes) takes the general path.
    if value.__class__ is str and value.isdigit() and value.isascii() and len(value) <= 4300:
        return int(value)
    if value.__class__ is int:  # PERF: JSON ints are returned as they are
        return value
    return _int_lax(value)


def _float_from_str(value: Any, text: str) -> float:
    s = text.strip(_RUST_WS)
    if _FLOAT_RE.fullmatch(s) is not None:
        return float(s)
    # pydantic-core retries without underscores on the untrimmed text
    if "_" in text and not text.startswith("_") and not text.endswith("_") and "__" not in text:
        s = text.replace("_", "")
        if _FLOAT_RE.fullmatch(s) is not None:
            return float(s)
    _fail("float_parsing", _FLOAT_PARSING, value)


def _float_lax(value: Any) -> float:
    cls = value.__class__
    if cls is str:
        return _float_from_str(value, value)
    if cls is bool or cls is int:
        try:
            return float(value)
        except OverflowError:
            _fail("float_type", "Input should be a valid number", value)
    if isinstance(value, (bytes, bytearray)):
        try:
            text = bytes(value).decode()
        except UnicodeDecodeError:
            _fail("float_parsing", _FLOAT_PARSING, value)
        return _float_from_str(value, text)
    if isinstance(value, str):
        return _float_from_str(value, str(value))
    if isinstance(value, (int, float, decimal.Decimal)):
        try:
            return float(value)
        except OverflowError:
            _fail("float_type", "Input should be a valid number", value)
    _fail("float_type", "Input should be a valid number", value)


def _validate_float(value: Any) -> float:
    if value.__class__ is float:  # PERF: JSON floats pass through untouched
        return value
    return _float_lax(value)


def _validate_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, decimal.Decimal):
        result = value
    elif value.__class__ is bool or not isinstance(value, (str, int, float)):
        _fail("decimal_type", "Decimal input should be an integer, float, string or Decimal object", value)
    else:
        text = value.strip() if isinstance(value, str) else str(value)
        try:
            result = decimal.Decimal(text)
        except decimal.InvalidOperation:
            _fail("decimal_parsing", "Input should be a valid decimal", value)
    if not result.is_finite():
        _fail("finite_number", "Input should be a finite number", value)
    return result


def _number_checks(base: Validator, c: Constraints, convert: Callable[[Any], Any]) -> Validator:
    """Wrap a number validator with pydantic-core's checks, in its order, reporting the first failure."""
    checks: list[tuple[Callable[[Any], bool], str, str, str, Any]] = []
    if c.multiple_of is not None:
        m = convert(c.multiple_of)
        checks.append(
            (lambda v: v % m == 0, "multiple_of", "Input should be a multiple of", "multiple_of", m)
        )
    if c.le is not None:
        le = convert(c.le)
        checks.append(
            (lambda v: v <= le, "less_than_equal", "Input should be less than or equal to", "le", le)
        )
    if c.lt is not None:
        lt = convert(c.lt)
        checks.append((lambda v: v < lt, "less_than", "Input should be less than", "lt", lt))
    if c.ge is not None:
        ge = convert(c.ge)
        checks.append(
            (lambda v: v >= ge, "greater_than_equal", "Input should be greater than or equal to", "ge", ge)
        )
    if c.gt is not None:
        gt = convert(c.gt)
        checks.append((lambda v: v > gt, "greater_than", "Input should be greater than", "gt", gt))
    prepared = tuple(
        (ok, kind, f"{text} {_num_text(limit)}", {key: limit}) for ok, kind, text, key, limit in checks
    )

    def validate(value: Any) -> Any:
        result = base(value)
        for ok, kind, msg, ctx in prepared:
            if not ok(result):
                _fail(kind, msg, value, dict(ctx))
        return result

    return validate


def _float_multiple_ok(value: float, multiple: float) -> bool:
    # pydantic-core: a float is a multiple when the remainder is within float noise of 0 or of the divisor
    rem = value % multiple
    return abs(rem) < 1e-9 or abs(rem - multiple) < 1e-9


# ---------------------------------------------------------------------------------- str / bytes / bool


def _str_lax(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            _fail(
                "string_unicode",
                "Input should be a valid string, unable to parse raw data as a unicode string",
                value,
            )
    _fail("string_type", "Input should be a valid string", value)


def _validate_str(value: Any) -> str:
    if value.__class__ is str:  # PERF: the common case is one class check
        return value
    return _str_lax(value)


def _validate_bytes(value: Any) -> bytes:
    if value.__class__ is bytes:
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    _fail("bytes_type", "Input should be a valid bytes", value)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled to match as pydantic-core's regex engine does.

    In Python ``$`` also matches before a final newline; in pydantic-core (Rust's regex) only at the very end,
    so ``"abc\\n"`` fails ``^[a-z]+$`` there. An anchor ``$`` outside a character class becomes ``\\Z``,
    unless the pattern turns multi-line mode on, where both engines match at every line end.
    """
    if "$" not in pattern or re.search(r"\(\?[a-zA-Z]*m", pattern):
        return re.compile(pattern)
    out: list[str] = []
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]" or (out[-1] == "[" or out[-2:] == ["[", "^"])
        elif ch == "[":
            in_class = True
        elif ch == "$":
            out.append("\\Z")
            continue
        out.append(ch)
    return re.compile("".join(out))


def _length_checks(base: Validator, c: Constraints, kind: str) -> Validator:
    """string/bytes length and pattern checks (min, max, pattern: first failure only)."""
    noun = "characters" if kind == "string" else "bytes"
    subject = "String" if kind == "string" else "Data"
    lo, hi = c.min_length, c.max_length
    regex = compile_pattern(c.pattern) if c.pattern is not None and kind == "string" else None
    pattern = c.pattern

    def unit(n: int) -> str:
        return noun[:-1] if n == 1 else noun

    too_short = f"{subject} should have at least {lo} {unit(lo or 0)}"
    too_long = f"{subject} should have at most {hi} {unit(hi or 0)}"

    def validate(value: Any) -> Any:
        result = base(value)
        size = len(result)
        if lo is not None and size < lo:
            _fail(f"{kind}_too_short", too_short, value, {"min_length": lo})
        if hi is not None and size > hi:
            _fail(f"{kind}_too_long", too_long, value, {"max_length": hi})
        if regex is not None and regex.search(result) is None:
            _fail(
                "string_pattern_mismatch",
                f"String should match pattern '{pattern}'",
                value,
                {"pattern": pattern},
            )
        return result

    return validate


_BOOL_WORDS = {
    "0": False, "f": False, "n": False, "no": False, "off": False, "false": False,
    "1": True, "t": True, "y": True, "on": True, "yes": True, "true": True,
}  # fmt: skip


def _validate_bool(value: Any) -> bool:
    cls = value.__class__
    if cls is bool:
        return value is True
    if isinstance(value, (str, bytes, bytearray)):
        if not isinstance(value, str):
            try:
                value_text = bytes(value).decode()
            except UnicodeDecodeError:
                _fail("bool_parsing", _BOOL_PARSING, value)
        else:
            value_text = value
        found = _BOOL_WORDS.get(value_text.lower()) if value_text.isascii() else None
        if found is None:
            _fail("bool_parsing", _BOOL_PARSING, value)
        return found
    if isinstance(value, (int, float, decimal.Decimal)) and (
        isinstance(value, int) or (_finite(value) and value == int(value))
    ):
        if value == 0:
            return False
        if value == 1:
            return True
        # pydantic-core goes through i64: floats must lie strictly inside its range
        if (-(2**63) <= value < 2**63) if isinstance(value, int) else (-(2**63) < value < 2**63):
            _fail("bool_parsing", _BOOL_PARSING, value)
    _fail("bool_type", "Input should be a valid boolean", value)


def _finite(value: Any) -> bool:
    try:
        return bool(value == value and abs(value) != float("inf"))
    except (TypeError, ValueError):
        return False


def _validate_none(value: Any) -> None:
    if value is not None:
        _fail("none_required", "Input should be None", value)


def _identity(value: Any) -> Any:
    return value


# ------------------------------------------------------------------------------------------- uuid

_UUID_GROUPS = (8, 4, 4, 4, 12)
_UUID_STARTS = (0, 9, 14, 19, 24)
_HEX_OR_HYPHEN = frozenset(b"0123456789abcdefABCDEF-")


def _uuid_error(text: str) -> str:
    """The uuid crate's (1.23) explanation of why ``text`` is not a UUID.

    The crate reports positions as 0-based byte offsets and tests only the low byte of each character
    (``"İ"``, U+0130, passes as ``0``), so a multibyte character can count as a hex digit or a hyphen.
    """
    raw = text.encode()
    n = len(raw)
    if n == 0 or n > 45:
        return f"invalid length: found {n}"
    braced = n >= 2 and raw[0] == 0x7B and raw[-1] == 0x7D  # "{" ... "}"
    urn = raw.startswith(b"urn:uuid:")
    if n == 36 or (n == 38 and braced) or (n == 45 and urn):
        # the shape of a hyphenated UUID: the crate re-checks only the part inside the wrapper
        if n != 36:
            raw = raw[1:-1] if braced else raw[9:]
        start, end, hyphenated = 0, len(raw), True
    elif braced:
        start, end, hyphenated = 1, n - 1, True
    elif urn:
        start, end, hyphenated = 9, n, True
    else:
        start, end, hyphenated = 0, n, False  # a simple UUID until a hyphen is seen
    hyphens = 0
    bounds = [0, 0, 0, 0]
    index = 0
    for ch in raw[start:end].decode():
        low = ord(ch) & 0xFF
        if low not in _HEX_OR_HYPHEN:
            return f"invalid character: found `{ch}` at {index + start}"
        if low == 0x2D:  # "-"
            hyphenated = True
            if hyphens < 4:
                bounds[hyphens] = index
            hyphens += 1
        index += len(ch.encode())
    if not hyphenated:  # all hex digits: a simple UUID of the wrong length
        return f"invalid length: found {n}"
    if hyphens != 4:
        return f"invalid group count: expected 5, found {hyphens + 1}"
    for group in range(4):
        if bounds[group] != _UUID_STARTS[group + 1] - 1:
            found = bounds[group] - _UUID_STARTS[group]
            return f"invalid group length in group {group}: expected {_UUID_GROUPS[group]}, found {found}"
    return f"invalid group length in group 4: expected 12, found {len(raw) - _UUID_STARTS[4]}"


_UUID_HYPHENATED = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_UUID_SIMPLE = re.compile(r"[0-9a-fA-F]{32}")


def _uuid_text_body(text: str) -> str | None:
    """The hex digits of a simple, hyphenated, braced or URN UUID; ``None`` when ``text`` is none of them."""
    n = len(text)
    if n == 32:
        return text if _UUID_SIMPLE.fullmatch(text) else None
    if n == 36:
        return text if _UUID_HYPHENATED.fullmatch(text) else None
    if n == 38 and text[0] == "{" and text[-1] == "}":
        return text[1:-1] if _UUID_HYPHENATED.fullmatch(text, 1, 37) else None
    if n == 45 and text.startswith("urn:uuid:"):
        return text[9:] if _UUID_HYPHENATED.fullmatch(text, 9) else None
    return None


def _validate_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        body = _uuid_text_body(value)
        if body is None:
            reason = _uuid_error(value)
            _fail("uuid_parsing", f"Input should be a valid UUID, {reason}", value, {"error": reason})
        return uuid.UUID(body)
    if isinstance(value, bytes):
        # pydantic-core 2.50: 16 bytes are the UUID itself, other lengths UUID text; bytearray is refused
        if len(value) == 16:
            return uuid.UUID(bytes=value)
        body = _uuid_text_body(value.decode("latin-1"))
        if body is None:
            reason = f"invalid length: expected 16 bytes, found {len(value)}"
            _fail("uuid_parsing", f"Input should be a valid UUID, {reason}", value, {"error": reason})
        return uuid.UUID(body)
    _fail("uuid_type", "UUID input should be a string, bytes or UUID object", value)


# -------------------------------------------------------------------------------------- date/time


class _DtError(Exception):
    """A speedate parse error; ``args[0]`` is its message."""


_TOO_SHORT = "input is too short"
_EXTRA = "unexpected extra characters at the end of the input"
_NUMERIC_RE = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")
_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)


def _digits(s: str, start: int, count: int, what: str, short: str = _TOO_SHORT) -> int:
    part = s[start : start + count]
    if len(part) < count:
        raise _DtError(short)
    if not (part.isascii() and part.isdigit()):
        raise _DtError(what if what.startswith("invalid") else f"invalid character in {what}")
    return int(part)


def _parse_date_part(s: str) -> _dt.date:
    if len(s) < 10:
        raise _DtError(_TOO_SHORT)
    year = _digits(s, 0, 4, "year")
    if s[4] != "-":
        raise _DtError("invalid date separator, expected `-`")
    month = _digits(s, 5, 2, "month")
    if s[7] != "-":
        raise _DtError("invalid date separator, expected `-`")
    day = _digits(s, 8, 2, "day")
    if not 1 <= month <= 12:
        raise _DtError("month value is outside expected range of 1-12")
    try:
        return _dt.date(year, month, day)
    except ValueError:
        raise _DtError("day value is outside expected range") from None


def _parse_time_part(s: str, pos: int) -> tuple[_dt.time, int]:
    """Parse ``HH:MM[:SS[.ffffff]][Z|±HH[:]MM]`` at ``pos``; returns the time and where it ended."""
    if len(s) - pos < 5:
        raise _DtError(_TOO_SHORT)
    hour = _digits(s, pos, 2, "hour")
    if s[pos + 2] != ":":
        raise _DtError("invalid time separator, expected `:`")
    minute = _digits(s, pos + 3, 2, "minute")
    if hour > 23:
        raise _DtError("hour value is outside expected range of 0-23")
    if minute > 59:
        raise _DtError("minute value is outside expected range of 0-59")
    pos += 5
    second = micro = 0
    if pos < len(s) and s[pos] == ":":
        second = _digits(s, pos + 1, 2, "second", "invalid character in second")
        if second > 59:
            raise _DtError("second value is outside expected range of 0-59")
        pos += 3
        if pos < len(s) and s[pos] in ".,":
            end = pos + 1
            while end < len(s) and s[end].isascii() and s[end].isdigit():
                end += 1
            frac = s[pos + 1 : end]
            if not frac:
                raise _DtError(f"second fraction digits missing after `{s[pos]}`")
            micro = int(frac[:6].ljust(6, "0"))
            pos = end
    tz: _dt.tzinfo | None = None
    if pos < len(s):
        sign = s[pos]
        if sign in "Zz":
            tz = _UTC
            pos += 1
        elif sign in "+-":
            hh = _digits(s, pos + 1, 2, "invalid timezone hour", "invalid timezone hour")
            if hh > 23:
                raise _DtError("timezone offset must be less than 24 hours")
            pos += 3
            if pos < len(s) and s[pos] == ":":
                pos += 1
            mm = _digits(s, pos, 2, "invalid timezone minute", "invalid timezone minute")
            if mm > 59:
                raise _DtError("timezone minute value is outside expected range of 0-59")
            pos += 2
            offset = _dt.timedelta(hours=hh, minutes=mm)
            tz = _dt.timezone(-offset if sign == "-" else offset)
        else:
            raise _DtError("invalid timezone sign")
    return _dt.time(hour, minute, second, micro, tzinfo=tz), pos


def _from_timestamp(text_or_number: Any) -> _dt.datetime:
    number = float(text_or_number) if isinstance(text_or_number, str) else text_or_number
    if abs(number) > 20_000_000_000:  # speedate: beyond 2e10 seconds the number is milliseconds
        number = number / 1000
    whole = int(number)
    micros = round((number - whole) * 1_000_000)
    try:
        return _EPOCH + _dt.timedelta(seconds=whole, microseconds=micros)
    except OverflowError:
        raise _DtError("value is outside expected range") from None


def _parse_datetime(s: str) -> _dt.datetime:
    if _NUMERIC_RE.fullmatch(s):
        return _from_timestamp(s)
    day = _parse_date_part(s)
    if len(s) == 10:
        return _dt.datetime(day.year, day.month, day.day)
    if s[10] not in "Tt_ ":
        raise _DtError("invalid datetime separator, expected `T`, `t`, `_` or space")
    clock, end = _parse_time_part(s, 11)
    if end != len(s):
        raise _DtError(_EXTRA)
    return _dt.datetime.combine(day, clock)


def _parse_date_only(s: str) -> _dt.date:
    if _NUMERIC_RE.fullmatch(s):
        return _from_timestamp(s).date()
    day = _parse_date_part(s)
    if len(s) > 10:
        raise _DtError(_EXTRA)
    return day


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return None
    return None


def _validate_datetime(value: Any) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return value
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day)
    text = _as_text(value)
    if text is not None:
        try:
            return _parse_datetime(text)
        except _DtError:
            pass
        try:
            _parse_date_only(text)
            reason = _EXTRA
        except _DtError as exc:
            reason = str(exc)
        _fail(
            "datetime_from_date_parsing",
            f"Input should be a valid datetime or date, {reason}",
            value,
            {"error": reason},
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            _fail("datetime_parsing", "Input should be a valid datetime, NaN values not permitted", value)
        try:
            return _from_timestamp(value)
        except _DtError as exc:
            _fail("datetime_parsing", f"Input should be a valid datetime, {exc}", value, {"error": str(exc)})
    _fail("datetime_type", "Input should be a valid datetime", value)


_INEXACT = "Datetimes provided to dates should have zero time - e.g. be exact dates"


def _date_from_datetime(value: Any, moment: _dt.datetime) -> _dt.date:
    if moment.time().replace(tzinfo=None) != _dt.time():
        _fail("date_from_datetime_inexact", _INEXACT, value)
    return moment.date()


def _validate_date(value: Any) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return _date_from_datetime(value, value)
    if isinstance(value, _dt.date):
        return value
    text = _as_text(value)
    if text is not None:
        if len(text) == 10 and not _NUMERIC_RE.fullmatch(text):
            try:
                return _parse_date_part(text)
            except _DtError:
                pass
        try:
            moment = _parse_datetime(text)
        except _DtError as exc:
            _fail(
                "date_from_datetime_parsing",
                f"Input should be a valid date or datetime, {exc}",
                value,
                {"error": str(exc)},
            )
        return _date_from_datetime(value, moment)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return _date_from_datetime(value, _from_timestamp(value))
        except (_DtError, ValueError, OverflowError):
            _fail("date_from_datetime_inexact", _INEXACT, value)
    _fail("date_type", "Input should be a valid date", value)


def _validate_time(value: Any) -> _dt.time:
    if isinstance(value, _dt.time):
        return value
    text = _as_text(value)
    if text is not None:
        try:
            clock, end = _parse_time_part(text, 0)
            if end != len(text):
                raise _DtError(_EXTRA)
            return clock
        except _DtError as exc:
            _fail(
                "time_parsing", f"Input should be in a valid time format, {exc}", value, {"error": str(exc)}
            )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 0 <= value < 86400:
            whole = int(value)
            micro = round((value - whole) * 1_000_000)
            return _dt.time(whole // 3600, whole // 60 % 60, whole % 60, micro, tzinfo=_UTC)
        _fail(
            "time_parsing",
            "Input should be in a valid time format, time in seconds should be less than 86400",
            value,
            {"error": "time in seconds should be less than 86400"},
        )
    _fail("time_type", "Input should be a valid time", value)


_ISO_DURATION = re.compile(
    r"([+-])?P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)
_CLOCK_DURATION = re.compile(
    r"([+-])?(?:(\d+)\s*(?:d|days?)(?:,\s*|\s+|$))?(?:(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
)


def _validate_timedelta(value: Any) -> _dt.timedelta:
    if isinstance(value, _dt.timedelta):
        return value
    text = _as_text(value)
    if text is not None:
        m = _ISO_DURATION.fullmatch(text)
        if m is not None and text.strip("+-") not in ("P", "PT") and not text.endswith("T"):
            sign = -1 if m.group(1) == "-" else 1
            y, mo, w, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups()[1:])
            days = y * 365 + mo * 30 + w * 7 + d
            return sign * _dt.timedelta(days=days, hours=h, minutes=mi, seconds=s)
        m = _CLOCK_DURATION.fullmatch(text)
        if m is not None and (m.group(2) or m.group(3)):
            sign = -1 if m.group(1) == "-" else 1
            days_i = int(m.group(2) or 0)
            hours_i, minutes_i, seconds_i = int(m.group(3) or 0), int(m.group(4) or 0), int(m.group(5) or 0)
            micro = int((m.group(6) or "").ljust(6, "0"))
            return sign * _dt.timedelta(
                days=days_i, hours=hours_i, minutes=minutes_i, seconds=seconds_i, microseconds=micro
            )
        reason = "invalid digit in duration"
        _fail("time_delta_parsing", f"Input should be a valid timedelta, {reason}", value, {"error": reason})
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != value:
            reason = "NaN values not permitted"
        elif value >= 0:
            try:
                return _dt.timedelta(seconds=value)
            except OverflowError:
                reason = "durations may not exceed 999,999,999 days"
        else:
            # pydantic-core itself raises OverflowError below timedelta.min; so does this
            return _dt.timedelta(seconds=value)
        _fail("time_delta_parsing", f"Input should be a valid timedelta, {reason}", value, {"error": reason})
    _fail("time_delta_type", "Input should be a valid timedelta", value)


# ---------------------------------------------------------------------------------- enum / literal


def _compile_enum(tp: type[enum.Enum]) -> Validator:
    members = list(tp)
    expected = _expected(m.value for m in members)
    msg = f"Input should be {expected}"
    ctx = {"expected": expected}
    by_value: dict[Any, enum.Enum] = {}
    for member in members:
        by_value.setdefault(member.value, member)
    if issubclass(tp, int):
        convert: Validator | None = _validate_int
    elif issubclass(tp, str):
        convert = _validate_str
    elif issubclass(tp, float):
        convert = _validate_float
    else:
        convert = None

    def validate(value: Any) -> Any:
        if value.__class__ is tp:
            return value
        key = value
        if convert is not None:
            try:
                key = convert(value)
            except ValidationFailure:
                _fail("enum", msg, value, dict(ctx))
            if key.__class__ is int and not -(2**63) <= key < 2**63:
                _fail(
                    "int_parsing_size",
                    "Unable to parse input string as an integer, exceeded maximum size",
                    key,
                )
        try:
            return by_value[key]
        except (KeyError, TypeError):
            _fail("enum", msg, value, dict(ctx))

    return validate


def _compile_literal(values: tuple[Any, ...]) -> Validator:
    # pydantic-core looks bools, ints and strs up by exact type first, then falls back to a Python dict
    # of every expected value (so 1.0 finds 1, and True finds 1 when only 1 is expected)
    by_type: dict[type, dict[Any, Any]] = {bool: {}, int: {}, str: {}}
    fallback: dict[Any, Any] = {}
    for v in values:
        if v.__class__ in by_type:
            by_type[v.__class__].setdefault(v, v)
        try:
            fallback[v] = v
        except TypeError:  # pragma: no cover - Literal values are hashable
            pass
    expected = _expected(values)
    msg = f"Input should be {expected}"
    has_ints = bool(by_type[int])

    def validate(value: Any) -> Any:
        if has_ints and value.__class__ is int and not -(2**63) <= value < 2**63:
            # pydantic-core's int lookup reads the input as an i64 first, and fails on anything wider.
            _fail(
                "int_parsing_size", "Unable to parse input string as an integer, exceeded maximum size", value
            )
        table = by_type.get(value.__class__)
        if table:
            try:
                return table[value]
            except KeyError:
                pass
        try:
            return fallback[value]
        except (KeyError, TypeError):
            _fail("literal_error", msg, value, {"expected": expected})

    return validate


# -------------------------------------------------------------------------------------- containers

_SEQUENCE_INPUTS: tuple[type, ...] = (list, tuple, set, frozenset, deque, type({}.keys()), type({}.values()))


def _items_or_fail(value: Any, kind: str, msg: str) -> Any:
    if isinstance(value, _SEQUENCE_INPUTS):
        return value
    _fail(kind, msg, value)


def _too_short(value: Any, field: str, lo: int, n: int) -> ErrorDict:
    items = "item" if lo == 1 else "items"
    return _error(
        "too_short",
        f"{field} should have at least {lo} {items} after validation, not {n}",
        value,
        {"field_type": field, "min_length": lo, "actual_length": n},
    )


def _too_long(value: Any, field: str, hi: int, n: int | None) -> ErrorDict:
    items = "item" if hi == 1 else "items"
    return _error(
        "too_long",
        f"{field} should have at most {hi} {items} after validation, not {'more' if n is None else n}",
        value,
        {"field_type": field, "max_length": hi, "actual_length": n},
    )


def _compile_list(
    item: Validator, c: Constraints | None, field: str, out: Callable[[list[Any]], Any]
) -> Validator:
    kind, msg = {
        "List": ("list_type", "Input should be a valid list"),
        "Tuple": ("tuple_type", "Input should be a valid tuple"),
    }[field]
    lo = c.min_length if c is not None else None
    hi = c.max_length if c is not None else None

    def validate(value: Any) -> Any:
        items = value if value.__class__ is list else _items_or_fail(value, kind, msg)  # PERF: JSON lists
        if hi is not None and field == "List" and len(items) > hi:
            raise ValidationFailure([_too_long(value, field, hi, len(items))])
        result = []
        errors: list[ErrorDict] | None = None
        for index, element in enumerate(items):
            try:
                result.append(item(element))
            except ValidationFailure as exc:
                if errors is None:
                    errors = []
                errors.extend(_prefixed(exc.errors, index))
        if hi is not None and field == "Tuple" and len(result) > hi:
            errors = [*(errors or ()), _too_long(value, field, hi, len(result))]
        if lo is not None and len(result) < lo and (errors is None or field == "Tuple"):
            # pydantic-core checks a tuple's length on its valid items and reports it next to the item
            # errors; a list's maximum is checked on the input first and its minimum only when clean
            errors = [*(errors or ()), _too_short(value, field, lo, len(result))]
        if errors:
            raise ValidationFailure(errors)
        return out(result)

    return validate


def _compile_set(item: Validator, c: Constraints | None, frozen: bool) -> Validator:
    field = "Frozenset" if frozen else "Set"
    kind, msg = ("frozen_set_type", "Input should be a valid frozenset") if frozen else (
        "set_type", "Input should be a valid set")  # fmt: skip
    lo = c.min_length if c is not None else None
    hi = c.max_length if c is not None else None

    def validate(value: Any) -> Any:
        items = _items_or_fail(value, kind, msg)
        result: set[Any] = set()
        errors: list[ErrorDict] = []
        for index, element in enumerate(items):
            try:
                result.add(item(element))
            except ValidationFailure as exc:
                errors.extend(_prefixed(exc.errors, index))
            if hi is not None and len(result) > hi:
                raise ValidationFailure([_too_long(value, field, hi, None)])
        if errors:
            raise ValidationFailure(errors)
        if lo is not None and len(result) < lo:
            raise ValidationFailure([_too_short(value, field, lo, len(result))])
        return frozenset(result) if frozen else result

    return validate


def _compile_fixed_tuple(items: list[Validator]) -> Validator:
    count = len(items)

    def validate(value: Any) -> tuple[Any, ...]:
        seq = list(_items_or_fail(value, "tuple_type", "Input should be a valid tuple"))
        if len(seq) > count:
            raise ValidationFailure([_too_long(value, "Tuple", count, len(seq))])
        result = []
        errors: list[ErrorDict] = []
        for index, check in enumerate(items):
            if index >= len(seq):
                errors.append({"type": "missing", "loc": (index,), "msg": "Field required", "input": value})
                continue
            try:
                result.append(check(seq[index]))
            except ValidationFailure as exc:
                errors.extend(_prefixed(exc.errors, index))
        if errors:
            raise ValidationFailure(errors)
        return tuple(result)

    return validate


def _compile_sequence(item: Validator, c: Constraints | None) -> Validator:
    as_list = _compile_list(item, c, "List", list)
    as_tuple = _compile_list(item, c, "Tuple", tuple)

    def validate(value: Any) -> Any:
        if isinstance(value, (str, bytes, bytearray)):
            name = type(value).__name__
            _fail(
                "sequence_str",
                f"'{name}' instances are not allowed as a Sequence value",
                value,
                {"type_name": name},
            )
        if isinstance(value, tuple):
            return as_tuple(value)
        if isinstance(value, Sequence):
            return as_list(value)
        _fail("is_instance_of", "Input should be an instance of Sequence", value, {"class": "Sequence"})

    return validate


def _compile_dict(key: Validator, val: Validator, c: Constraints | None) -> Validator:
    lo = c.min_length if c is not None else None
    hi = c.max_length if c is not None else None

    def validate(value: Any) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            _fail("dict_type", "Input should be a valid dictionary", value)
        result = {}
        errors: list[ErrorDict] = []
        for k, v in value.items():
            ok = True
            try:
                new_key = key(k)
            except ValidationFailure as exc:
                errors.extend(_prefixed(_prefixed(exc.errors, "[key]"), k))
                ok = False
            try:
                new_value = val(v)
            except ValidationFailure as exc:
                errors.extend(_prefixed(exc.errors, k))
                ok = False
            if ok:
                result[new_key] = new_value
        if errors:
            raise ValidationFailure(errors)
        if lo is not None and len(result) < lo:
            raise ValidationFailure([_too_short(value, "Dictionary", lo, len(result))])
        if hi is not None and len(result) > hi:
            raise ValidationFailure([_too_long(value, "Dictionary", hi, len(result))])
        return result

    return validate


# --------------------------------------------------------------------------- structs and friends


class _Field:
    __slots__ = ("default", "factory", "key", "name", "required", "validate")

    def __init__(self, name: str, key: str, validate: Validator, required: bool) -> None:
        self.name = name
        self.key = key
        self.validate = validate
        self.required = required


_NOT_DICT_MODEL = "Input should be a valid dictionary or object to extract fields from"


def _compile_fields(
    fields: list[_Field],
    build: Callable[[dict[str, Any]], Any],
    reject: Callable[[Any], NoReturn],
    cls: type | None,
    forbid_extra: bool,
) -> Validator:
    table = tuple((f.key, f.name, f.validate, f.required) for f in fields)
    known = frozenset(f.key for f in fields)

    def validate(value: Any) -> Any:
        if cls is not None and value.__class__ is cls:
            return value
        if not isinstance(value, Mapping):
            reject(value)
        out: dict[str, Any] = {}
        errors: list[ErrorDict] | None = None
        for key, name, check, required in table:
            if key in value:
                try:
                    out[name] = check(value[key])
                except ValidationFailure as exc:
                    errors = (errors or []) + _prefixed(exc.errors, key)
            elif required:
                errors = errors or []
                errors.append({"type": "missing", "loc": (key,), "msg": "Field required", "input": value})
        if forbid_extra:
            for key in value:
                if key not in known:
                    errors = errors or []
                    errors.append(
                        {
                            "type": "extra_forbidden",
                            "loc": (key,),
                            "msg": "Extra inputs are not permitted",
                            "input": value[key],
                        }
                    )
        if errors:
            raise ValidationFailure(errors)
        return build(out)

    return validate


def _reject_model(value: Any) -> NoReturn:
    _fail("model_attributes_type", _NOT_DICT_MODEL, value)


def _compile_struct(tp: type[msgspec.Struct]) -> Validator:
    fields = []
    for info in msgspec.structs.fields(tp):
        required = info.default is msgspec.NODEFAULT and info.default_factory is msgspec.NODEFAULT
        fields.append(_Field(info.name, info.encode_name, _compile(info.type, None)[0], required))
    forbid = bool(getattr(tp, "__struct_config__", None) and tp.__struct_config__.forbid_unknown_fields)
    return _compile_fields(fields, lambda kw: tp(**kw), _reject_model, tp, forbid)


def _compile_dataclass(tp: type) -> Validator:
    hints = typing.get_type_hints(tp, include_extras=True)
    fields = []
    for f in dataclasses.fields(tp):
        if not f.init:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields.append(_Field(f.name, f.name, _compile(hints[f.name], None)[0], required))
    name = tp.__name__

    def reject(value: Any) -> NoReturn:
        _fail(
            "dataclass_type",
            f"Input should be a dictionary or an instance of {name}",
            value,
            {"class_name": name},
        )

    return _compile_fields(fields, lambda kw: tp(**kw), reject, tp, False)


def _compile_typeddict(tp: type) -> Validator:
    hints = typing.get_type_hints(tp, include_extras=True)
    required_keys: frozenset[str] = getattr(tp, "__required_keys__", frozenset(hints))
    fields = []
    for key, hint in hints.items():
        required = key in required_keys
        # the wrappers decide: with postponed annotations the class's key sets cannot see them
        while getattr(typing.get_origin(hint), "_name", None) in ("Required", "NotRequired"):
            required = getattr(typing.get_origin(hint), "_name", None) == "Required"
            hint = typing.get_args(hint)[0]
        fields.append(_Field(key, key, _compile(hint, None)[0], required))

    def reject(value: Any) -> NoReturn:
        _fail("dict_type", "Input should be a valid dictionary", value)

    return _compile_fields(fields, dict, reject, None, False)


def _compile_pydantic(tp: Any) -> Validator:
    import pydantic  # lazy: only apps that declare pydantic models pay for importing it

    adapter = pydantic.TypeAdapter(tp)

    def validate(value: Any) -> Any:
        try:
            return adapter.validate_python(value, from_attributes=True)
        except pydantic.ValidationError as exc:
            errors: list[ErrorDict] = []
            for item in exc.errors(include_url=False):
                err: ErrorDict = {"type": item["type"], "loc": tuple(item["loc"]), "msg": item["msg"]}
                err["input"] = item.get("input")
                if "ctx" in item:
                    err["ctx"] = item["ctx"]
                errors.append(err)
            raise ValidationFailure(errors) from None

    return validate


#: Settings of ``Field()``, ``Query()`` ... only pydantic implements: declaring one hands validation to it.
_PYDANTIC_ONLY_SETTINGS = (
    "strict",
    "allow_inf_nan",
    "max_digits",
    "decimal_places",
    "union_mode",
    "fail_fast",
)
#: annotated_types constraints fulmen's own validators don't apply (pydantic does).
_UNAPPLIED_ANNOTATED_TYPES = frozenset({"Predicate", "Timezone", "Not", "Unit"})


def _needs_pydantic(item: Any) -> bool:
    """True for ``Annotated`` metadata only pydantic implements: its validators (``AfterValidator`` ...),
    ``StringConstraints``, ``Strict``, UUID versions, ``Predicate``, or a marker asking for ``strict`` etc."""
    module = type(item).__module__ or ""
    if module.startswith("pydantic"):
        if type(item).__name__ == "FieldInfo":
            return item.discriminator is not None or any(_needs_pydantic(m) for m in item.metadata)
        return True
    if module.startswith("annotated_types"):
        return type(item).__name__ in _UNAPPLIED_ANNOTATED_TYPES
    return marker_needs_pydantic(item)


def marker_needs_pydantic(marker: Any) -> bool:
    """True when a marker (``Query(...)``, ``msgspec.Meta``) asks for what only pydantic implements: a setting
    such as ``strict`` or ``union_mode``, or a compiled ``pattern`` (its flags, Python's regex engine)."""
    if isinstance(getattr(marker, "pattern", None), re.Pattern):
        return True
    return any(getattr(marker, name, None) is not None for name in _PYDANTIC_ONLY_SETTINGS)


def _without_validate_default(info: Any) -> Any:
    """A copy of a pydantic ``Field`` without ``validate_default``: fulmen applies that setting itself, and a
    ``TypeAdapter`` given it warns that it has no effect."""
    info = copy.copy(info)
    info.validate_default = None
    info._attributes_set = {k: v for k, v in info._attributes_set.items() if k != "validate_default"}
    return info


def _compile_delegated(base: Any, metadata: Iterable[Any], c: Constraints | None) -> Validator:
    """Validate ``Annotated[base, *metadata]`` (plus the constraints ``c``) with a pydantic TypeAdapter.

    For what fulmen's validators don't implement: pydantic's own metadata is kept as is; fulmen markers,
    ``msgspec.Meta`` and the outer constraints become one ``pydantic.Field()``. Errors keep pydantic's words.
    """
    import pydantic  # lazy: only these annotations need it

    kept: list[Any] = []  # pydantic's and annotated_types' own metadata, which pydantic reads as is
    others: list[Any] = []
    for item in metadata:
        own = (type(item).__module__ or "").startswith(("pydantic", "annotated_types"))
        if own and getattr(item, "validate_default", None) is not None and type(item).__name__ == "FieldInfo":
            item = _without_validate_default(item)
        (kept if own else others).append(item)
    settings: dict[str, Any] = {}
    for item in others:
        for name in _PYDANTIC_ONLY_SETTINGS:
            value = getattr(item, name, None)
            if value is not None:
                settings[name] = value
    found = constraints_from_metadata(others)
    merged = found.merged(c) if found is not None else c
    if merged is not None:
        for name in _LIMIT_NAMES:
            value = getattr(merged, name)
            if value is not None:
                settings[name] = value
    for item in others:
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, re.Pattern):
            settings["pattern"] = pattern  # with its flags (the constraints above keep only its text)
    if settings:
        kept.append(pydantic.Field(**settings))
    parts = (base, *kept)
    return _compile_pydantic(typing.Annotated[parts] if kept else base)


def _pydantic_fallback(tp: Any, c: Constraints | None) -> Validator | None:
    """A pydantic validator for a type fulmen's own validators don't know (``HttpUrl``, ``IPv4Address``,
    ``SecretStr``, ``pathlib.Path`` ...), when pydantic is installed and supports it; else None."""
    try:
        return _compile_delegated(tp, (), c)
    except Exception:  # no pydantic (ImportError), or it can't build a schema either: the caller reports it
        return None


def _validate_upload(value: Any) -> UploadFile:
    if isinstance(value, UploadFile):
        return value
    msg = f"Expected UploadFile, received: {type(value)}"
    # FastAPI's UploadFile raises ValueError in a plain validator: pydantic reports it as a value_error.
    _fail("value_error", f"Value error, {msg}", value, {"error": ValueError(msg)})


def is_pydantic_model(tp: Any) -> bool:
    """True for a pydantic model class."""
    # checked by attribute so that pydantic is never imported to answer the question
    return is_class(tp) and hasattr(tp, "__pydantic_core_schema__") and hasattr(tp, "model_validate")


# -------------------------------------------------------------------------------------- union


def _compile_union(members: list[Any], c: Constraints | None) -> tuple[Validator, str]:
    compiled = [_compile(m, c) for m in members]
    validators = [v for v, _, _ in compiled]
    labels = [label for _, label, _ in compiled]
    exact = tuple(t for _, _, t in compiled)

    def validate(value: Any) -> Any:
        cls = value.__class__
        for index, exact_type in enumerate(exact):
            # smart mode, first pass: an input already of a member's exact scalar type wins
            if exact_type is not None and cls is exact_type:
                try:
                    return validators[index](value)
                except ValidationFailure:
                    break
        errors: list[ErrorDict] = []
        for check, label in zip(validators, labels, strict=True):
            try:
                return check(value)
            except ValidationFailure as exc:
                errors.extend(_prefixed(exc.errors, label))
        raise ValidationFailure(errors)

    return validate, "union[" + ",".join(labels) + "]"


def _compile_optional(inner: Validator) -> Validator:
    def validate(value: Any) -> Any:
        if value is None:
            return None
        return inner(value)

    return validate


# ------------------------------------------------------------------------------------- compiling


def constraints_from_metadata(metadata: Iterable[Any]) -> Constraints | None:
    """Collect limits from ``Annotated`` extras: annotated_types objects, ``msgspec.Meta`` and look-alikes."""
    found = Constraints()
    names = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")
    for item in metadata:
        kind = type(item).__name__
        if kind == "Interval" or kind == "Meta" or kind == "FieldInfo":
            sources: Iterable[Any] = [item]
            if kind == "FieldInfo":
                sources = [item, *getattr(item, "metadata", ())]
            for source in sources:
                sub = constraints_from_metadata([source]) if source is not item else None
                if sub is not None:
                    found = found.merged(sub)
                    continue
                for name in names:
                    v = getattr(source, name, None)
                    if v is not None:
                        setattr(found, name, v)
            continue
        if kind == "Len":
            if getattr(item, "min_length", 0):
                found.min_length = item.min_length
            if getattr(item, "max_length", None) is not None:
                found.max_length = item.max_length
            continue
        for name in names:
            v = getattr(item, name, None)
            if v is not None and not callable(v):
                if name == "pattern" and not isinstance(v, str):
                    v = getattr(v, "pattern", v)
                setattr(found, name, v)
    return None if found.is_empty() else found


_SCALARS: dict[Any, tuple[Validator, str]] = {
    int: (_validate_int, "int"),
    float: (_validate_float, "float"),
    str: (_validate_str, "str"),
    bool: (_validate_bool, "bool"),
    bytes: (_validate_bytes, "bytes"),
    decimal.Decimal: (_validate_decimal, "decimal"),
    uuid.UUID: (_validate_uuid, "uuid"),
    _dt.datetime: (_validate_datetime, "datetime"),
    _dt.date: (_validate_date, "date"),
    _dt.time: (_validate_time, "time"),
    _dt.timedelta: (_validate_timedelta, "timedelta"),
}
_EXACT = {int: int, float: float, str: str, bool: bool, bytes: bytes}


def _constrain_scalar(tp: Any, base: Validator, label: str, c: Constraints) -> tuple[Validator, str]:
    if tp is int:
        return _number_checks(base, c, int), "constrained-int"
    if tp is float:
        if c.multiple_of is not None:
            multiple = float(c.multiple_of)
            rest = c.merged(None)
            rest.multiple_of = None
            inner = _number_checks(base, rest, float)
            msg = f"Input should be a multiple of {_num_text(multiple)}"

            def validate(value: Any) -> Any:
                result = inner(value)
                if not _float_multiple_ok(result, multiple):
                    _fail("multiple_of", msg, value, {"multiple_of": multiple})
                return result

            return validate, "constrained-float"
        return _number_checks(base, c, float), "constrained-float"
    if tp is decimal.Decimal:
        return _number_checks(base, c, lambda v: decimal.Decimal(str(v))), label
    if tp is str:
        return _length_checks(base, c, "string"), "constrained-str"
    if tp is bytes:
        return _length_checks(base, c, "bytes"), "constrained-bytes"
    if tp in (_dt.date, _dt.datetime, _dt.time, _dt.timedelta):
        return _number_checks(base, c, lambda v: v), label
    raise TypeError(f"constraints {c!r} are not supported on {tp!r}")


def _type_label(tp: Any) -> str:
    if is_class(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _compile(tp: Any, c: Constraints | None) -> tuple[Validator, str, type | None]:
    """The validator for ``tp``, its pydantic union label, and the exact class the smart union prefers."""
    if c is not None and c.is_empty():
        c = None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    if origin is typing.Annotated:
        if any(_needs_pydantic(m) for m in tp.__metadata__):
            return _compile_delegated(args[0], tp.__metadata__, c), _type_label(args[0]), None
        extra = constraints_from_metadata(tp.__metadata__)
        merged = extra.merged(c) if extra is not None else c
        return _compile(args[0], merged)

    if tp in _SCALARS:
        base, label = _SCALARS[tp]
        if c is None:
            return base, label, _EXACT.get(tp)
        validator, label = _constrain_scalar(tp, base, label, c)
        return validator, label, _EXACT.get(tp)
    if tp is None or tp is type(None):
        return _validate_none, "none", type(None)
    if tp is Any or tp is object:
        return _identity, "any", None

    if origin is Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            inner, label, exact = _compile(members[0], c)
        else:
            inner, label = _compile_union(members, c)
            exact = None
        if len(members) != len(args):
            return _compile_optional(inner), f"nullable[{label}]", None
        return inner, label, exact

    if origin is typing.Literal:
        return _compile_literal(args), "literal[" + ",".join(repr(a) for a in args) + "]", None

    if is_class(tp) and issubclass(tp, enum.Enum):
        return _compile_enum(tp), f"enum[{tp.__name__}]", None

    if origin in (list, typing.List) or tp in (list, typing.List):  # noqa: UP006
        item, item_label, _ = _compile(args[0] if args else Any, None)
        return _compile_list(item, c, "List", list), f"list[{item_label}]", None
    if origin in (set, frozenset) or tp in (set, frozenset):
        frozen = (origin or tp) is frozenset
        item, item_label, _ = _compile(args[0] if args else Any, None)
        name = "frozenset" if frozen else "set"
        return _compile_set(item, c, frozen), f"{name}[{item_label}]", None
    if origin is tuple or tp is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item, item_label, _ = _compile(args[0] if args else Any, None)
            return _compile_list(item, c, "Tuple", tuple), f"tuple[{item_label}, ...]", None
        if args == ((),):
            args = ()
        compiled = [_compile(a, None) for a in args]
        label = "tuple[" + ", ".join(lbl for _, lbl, _ in compiled) + "]"
        return _compile_fixed_tuple([v for v, _, _ in compiled]), label, None
    if origin is Sequence or tp is Sequence:
        item, _, _ = _compile(args[0] if args else Any, None)
        return _compile_sequence(item, c), "sequence", None
    if origin in (dict, Mapping, typing.Dict) or tp in (dict, Mapping):  # noqa: UP006
        k_tp, v_tp = args if args else (Any, Any)
        key, key_label, _ = _compile(k_tp, None)
        val, val_label, _ = _compile(v_tp, None)
        return _compile_dict(key, val, c), f"dict[{key_label},{val_label}]", None

    if is_class(tp):
        if issubclass(tp, UploadFile):
            # FastAPI validates UploadFile with a plain validator function; the label is pydantic's for it.
            return _validate_upload, "function-plain[_validate()]", None
        if issubclass(tp, msgspec.Struct):
            return _compile_struct(tp), tp.__name__, None
        if is_pydantic_model(tp):
            return _compile_pydantic(tp), tp.__name__, None
        if dataclasses.is_dataclass(tp):
            return _compile_dataclass(tp), tp.__name__, None
        if typing.is_typeddict(tp) or _is_typeddict_ext(tp):
            return _compile_typeddict(tp), tp.__name__, None
    if origin is not None and is_pydantic_model(origin):
        return _compile_pydantic(tp), _type_label(tp), None
    delegated = _pydantic_fallback(tp, c)
    if delegated is not None:
        return delegated, _type_label(tp), None
    raise TypeError(f"fulmen cannot validate values of type {tp!r}: the annotation is not supported")


def _is_typeddict_ext(tp: type) -> bool:
    try:
        import typing_extensions
    except ImportError:  # pragma: no cover - typing_extensions is a dependency
        return False
    return bool(typing_extensions.is_typeddict(tp))


def compile_validator(tp: Any, constraints: Constraints | None = None) -> Callable[[Any], Any]:
    """Build, once, the function that converts a value to ``tp`` the way pydantic's lax mode does.

    The returned callable raises ``ValidationFailure`` carrying every error, with pydantic's
    ``type``/``loc``/``msg``/``input``/``ctx`` items; ``TypeError`` here means the annotation is unsupported.
    """
    return _compile(tp, constraints)[0]


# ------------------------------------------------------------------------------------------ bodies


def _msgspec_decodes_alike(tp: Any, seen: set[int] | None = None) -> bool:
    """Whether msgspec's strict typed decode accepts only what the lax validator accepts, identically."""
    seen = seen if seen is not None else set()
    if id(tp) in seen:
        return True
    seen.add(id(tp))
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        for meta in tp.__metadata__:
            if _needs_pydantic(meta):
                return False
            if not isinstance(meta, msgspec.Meta) and constraints_from_metadata([meta]) is not None:
                return False
        return _msgspec_decodes_alike(typing.get_args(tp)[0], seen)
    if tp in (bytes, bytearray, _dt.timedelta, _dt.time, _dt.date, _dt.datetime):
        # bytes: base64 in msgspec; the date/time forms accepted by msgspec and speedate differ in corners
        return False
    if origin is not None:
        return all(_msgspec_decodes_alike(a, seen) for a in typing.get_args(tp) if a is not Ellipsis)
    if is_class(tp):
        if is_pydantic_model(tp):
            return False
        if issubclass(tp, msgspec.Struct):
            return all(_msgspec_decodes_alike(f.type, seen) for f in msgspec.structs.fields(tp))
        if dataclasses.is_dataclass(tp):
            hints = typing.get_type_hints(tp, include_extras=True)
            return all(_msgspec_decodes_alike(h, seen) for h in hints.values())
        if typing.is_typeddict(tp) or _is_typeddict_ext(tp):
            hints = typing.get_type_hints(tp, include_extras=True)
            return all(_msgspec_decodes_alike(h, seen) for h in hints.values())
    return True


#: What msgspec raises for bodies it won't decode: bad syntax, undecodable bytes, nesting too deep.
_MSGSPEC_REJECTS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def loads_json(body: bytes) -> Any:
    """Decode a JSON body as FastAPI does: syntax errors raise ``JSONDecodeFailure`` (its 422 json_invalid),
    anything else that stops parsing raises ``BodyParseFailure`` (its 400); BOM, UTF-16/32, NaN accepted."""
    try:
        # PERF: msgspec decodes every ordinary body; json.loads only sees the ones it rejects.
        return msgspec.json.decode(body)
    except _MSGSPEC_REJECTS:
        pass
    try:
        return json.loads(body)
    # One name per except clause: mypyc types a name once per function (docs/engine.md, What to compile).
    except json.JSONDecodeError as not_json:
        raise JSONDecodeFailure(not_json.pos, not_json.msg) from None
    except Exception as unparseable:
        raise BodyParseFailure(str(unparseable)) from unparseable


def compile_json_body(tp: Any) -> Callable[[bytes], Any]:
    """Build the JSON body decoder for ``tp``: msgspec's typed decode, then the lax validator on misses."""
    validate = compile_validator(tp)
    typed: msgspec.json.Decoder[Any] | None = None
    if _msgspec_decodes_alike(tp):
        try:
            typed = msgspec.json.Decoder(tp)
        except TypeError:
            typed = None

    def lax(body: bytes) -> Any:
        return validate(loads_json(body))

    if typed is None:
        return lax
    decode = typed.decode

    def decode_body(body: bytes) -> Any:
        try:
            return decode(body)  # PERF: valid, exactly-typed bodies are decoded and built in C
        except (msgspec.ValidationError, *_MSGSPEC_REJECTS):
            return lax(body)  # coercion, error listing and FastAPI's JSON rules are the lax path's job

    return decode_body
