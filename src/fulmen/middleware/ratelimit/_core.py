"""Limits, the GCRA decision they share, the response headers that report it, and the memory backend.

Why GCRA (the Generic Cell Rate Algorithm, a token bucket kept as one timestamp): it is smooth and exact (no
2N requests within moments at a fixed window's edge, as fixed windows allow; no estimate, as the sliding
window counter makes), it stores one integer per client and limit (the "theoretical arrival time", TAT), and
its check is a handful of integer operations, which keeps the Redis script to one GET and one SET per limit.
A limit of N per period P lets N requests through at once and then one every P/N: the bucket refills
steadily instead of all at once.

Time is counted in integer microseconds so that the memory backend and the Redis script (Lua doubles hold
integers exactly up to 2**53) compute the very same answers.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

#: Seconds per unit name, as slowapi/limits spell them ("10/minute", "100 per 2 hours").
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*([a-z]+?)s?\s*$", re.IGNORECASE)

#: Which headers report the limit: the IETF draft's, the common X-RateLimit-*, both, or none.
HeaderStyle = Literal["ietf", "x-ratelimit", "both", "none"]
HEADER_STYLES = ("ietf", "x-ratelimit", "both", "none")


@dataclass(frozen=True)
class Limit:
    """At most ``times`` requests per ``seconds``, with a burst of ``times`` (a GCRA token bucket)."""

    times: int
    seconds: float
    #: The policy's name in the ``RateLimit``/``RateLimit-Policy`` headers and in storage keys.
    name: str = ""
    #: Microseconds between two requests once the burst is spent (the emission interval).
    interval_us: int = field(init=False, repr=False, compare=False)
    #: Microseconds of credit a full bucket holds: ``times`` intervals (never more than the period).
    window_us: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.times, int) or isinstance(self.times, bool) or self.times < 1:
            raise ValueError(f"A rate limit's times must be a positive integer, not {self.times!r}")
        if not isinstance(self.seconds, (int, float)) or not self.seconds > 0 or math.isinf(self.seconds):
            raise ValueError(f"A rate limit's seconds must be a positive number, not {self.seconds!r}")
        if not self.name:
            seconds = int(self.seconds) if float(self.seconds).is_integer() else self.seconds
            object.__setattr__(self, "name", f"{self.times}-per-{seconds}s")
        if '"' in self.name or "\\" in self.name or not self.name.isprintable():
            raise ValueError(f"A rate limit's name must be printable without quotes, not {self.name!r}")
        # PERF: computed once; every check reads them. Integer microseconds: the window is a whole number
        # of intervals, so exactly ``times`` requests fit in a full bucket.
        interval = max(1, int(self.seconds * 1_000_000) // self.times)
        object.__setattr__(self, "interval_us", interval)
        object.__setattr__(self, "window_us", interval * self.times)


def parse_limit(text: str) -> Limit:
    """``"10/minute"``, ``"10 per minute"``, ``"100/2 hours"`` as a ``Limit`` (slowapi's notation)."""
    match = _LIMIT.match(text)
    unit = None if match is None else _UNITS.get(match.group(3).lower())
    if match is None or unit is None:
        raise ValueError(
            f"Invalid rate limit {text!r}: write it as '<count>/<unit>' or '<count>/<n> <unit>s', "
            "e.g. '10/minute', '100/2 hours' (units: second, minute, hour, day)"
        )
    return Limit(int(match.group(1)), int(match.group(2) or 1) * unit, name=_normal_name(text))


def _normal_name(text: str) -> str:
    return " ".join(text.split()).replace(" per ", "/")


def parse_limits(limits: str | Limit | Sequence[str | Limit]) -> tuple[Limit, ...]:
    """Limits given as one string (several separated by ``;`` or ``,``), one ``Limit``, or a sequence."""
    items: list[str | Limit] = [limits] if isinstance(limits, (str, Limit)) else list(limits)
    parsed: list[Limit] = []
    for item in items:
        if isinstance(item, Limit):
            parsed.append(item)
        elif isinstance(item, str):
            parsed += [parse_limit(part) for part in re.split(r"[;,]", item) if part.strip()]
        else:
            raise TypeError(f"A rate limit is a string like '10/minute' or a Limit, not {item!r}")
    if not parsed:
        raise ValueError("A rate limiter needs at least one limit, e.g. '10/minute'")
    names = [limit.name for limit in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"Two limits of one limiter have the same name: {names}; give them distinct names")
    return tuple(parsed)


class Decision:
    """The outcome of one check: allowed or not, and each limit's remaining count, reset and retry times."""

    __slots__ = ("allowed", "remaining", "reset_us", "retry_us")

    def __init__(self, allowed: bool, remaining: list[int], reset_us: list[int], retry_us: int) -> None:
        self.allowed = allowed
        #: Per limit, in the limiter's order: requests still allowed right now.
        self.remaining = remaining
        #: Per limit: microseconds until the bucket is full again.
        self.reset_us = reset_us
        #: When refused: microseconds until a request would be allowed (0 when allowed).
        self.retry_us = retry_us

    @property
    def retry_after(self) -> int:
        """Whole seconds for ``Retry-After`` (rounded up, at least 1 when refused)."""
        return max(1, -(-self.retry_us // 1_000_000)) if not self.allowed else 0

    def __repr__(self) -> str:
        return (
            f"Decision(allowed={self.allowed}, remaining={self.remaining}, reset_us={self.reset_us}, "
            f"retry_us={self.retry_us})"
        )


def gcra(
    stored: Sequence[int | None], now: int, limits: Sequence[Limit]
) -> tuple[Decision, list[int] | None]:
    """Check one request against ``limits`` given each one's stored TAT; returns the decision and the TATs
    to store (None when refused: a refused request consumes nothing, under any of the limits)."""
    if len(limits) == 1:
        # PERF: one limit is the usual case: no lists to build beyond the decision's own.
        limit = limits[0]
        tat = stored[0]
        interval, window = limit.interval_us, limit.window_us
        new_tat = (now if tat is None or tat < now else tat) + interval
        if new_tat - now <= window:
            return Decision(True, [(now + window - new_tat) // interval], [new_tat - now], 0), [new_tat]
        tat = new_tat - interval
        left = max(0, (now + window - tat) // interval)
        return Decision(False, [left], [max(0, tat - now)], new_tat - window - now), None
    new_tats = []
    allowed = True
    for tat, limit in zip(stored, limits, strict=True):
        start = now if tat is None or tat < now else tat
        new_tat = start + limit.interval_us
        new_tats.append(new_tat)
        if new_tat - now > limit.window_us:
            allowed = False
    remaining = []
    reset = []
    retry = 0
    for new_tat, limit in zip(new_tats, limits, strict=True):
        interval, window = limit.interval_us, limit.window_us
        tat = new_tat if allowed else new_tat - interval
        remaining.append(max(0, (now + window - tat) // interval))
        reset.append(max(0, tat - now))
        if not allowed:
            retry = max(retry, new_tat - window - now)
    return Decision(allowed, remaining, reset, retry), (new_tats if allowed else None)


class RateLimitBackend(Protocol):
    """Where the limiter's state lives: ``check`` is one atomic GCRA step over several keys."""

    async def check(self, keys: Sequence[str], limits: Sequence[Limit]) -> Decision: ...


class MemoryBackend:
    """Limiter state in this process's memory: exact and fast, but per process (each worker counts apart).

    Memory stays bounded by the clients seen within one window: entries whose bucket is full again carry no
    information and are dropped by a sweep that runs whenever the table has doubled since the last one.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        #: Seconds as a float; any monotonic clock (tests pass a fake one to move time by hand).
        self.clock = clock
        self._tats: dict[str, int] = {}
        self._sweep_at = 1024

    def __len__(self) -> int:
        return len(self._tats)

    async def check(self, keys: Sequence[str], limits: Sequence[Limit]) -> Decision:
        """One GCRA step for ``keys`` (one per limit); never suspends, so it is atomic on the event loop."""
        return self.check_now(keys, limits)

    def check_now(self, keys: Sequence[str], limits: Sequence[Limit]) -> Decision:
        """``check``'s synchronous body (the middleware calls it directly: no coroutine per request)."""
        now = int(self.clock() * 1_000_000)
        tats = self._tats
        decision, new_tats = gcra([tats.get(key) for key in keys], now, limits)
        if new_tats is not None:
            for key, tat in zip(keys, new_tats, strict=True):
                tats[key] = tat
            if len(tats) >= self._sweep_at:
                self.sweep(now)
        return decision

    def sweep(self, now: int | None = None) -> int:
        """Drop every entry whose bucket is full again (its TAT has passed); returns how many were dropped."""
        if now is None:
            now = int(self.clock() * 1_000_000)
        tats = self._tats
        expired = [key for key, tat in tats.items() if tat <= now]
        for key in expired:
            del tats[key]
        # PERF: amortised O(1) per check: the next sweep waits until the live entries have doubled.
        self._sweep_at = max(1024, 2 * len(tats))
        return len(expired)

    async def aclose(self) -> None:
        """Nothing to release (for symmetry with ``RedisBackend``)."""

    async def __aenter__(self) -> MemoryBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
