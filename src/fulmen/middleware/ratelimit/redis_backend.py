"""``RedisBackend``: limiter state in Redis, shared by every worker and server; one script call per check.

The GCRA step of ``_core.gcra`` runs as a Lua script, so a check over all of a route's limits is atomic and
costs one round trip (EVALSHA; on NOSCRIPT, after a Redis restart or SCRIPT FLUSH, the script is loaded
again by an EVAL that runs it). The clock is the Redis server's (``TIME``): every process agrees on "now"
however far apart their own clocks are. ``redis`` (redis-py) is imported when the backend first connects.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from fulmen.middleware.ratelimit._core import Decision, Limit

logger = logging.getLogger("fulmen.ratelimit")

# KEYS: one per limit. ARGV[1]: now in microseconds, or "" for the server's TIME; then, per limit, its
# interval and window in microseconds. Returns "allowed retry_us remaining... reset_us..." as one string:
# PERF: one bulk string is one line for redis-py to parse, where an array of integers is one per element.
# Mirrors _core.gcra line for line: a refused request stores nothing under any of its limits.
GCRA_SCRIPT = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local n = #KEYS
local new_tats = {}
local allowed = 1
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local stored = redis.call('GET', KEYS[i])
  local tat = now
  if stored then
    tat = tonumber(stored)
    if tat < now then tat = now end
  end
  new_tats[i] = tat + interval
  if new_tats[i] - now > window then allowed = 0 end
end
local out = {allowed, 0}
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local tat = new_tats[i]
  if allowed == 1 then
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
  else
    tat = tat - interval
    local retry = new_tats[i] - window - now
    if retry > out[2] then out[2] = retry end
  end
  out[2 + i] = math.max(0, math.floor((now + window - tat) / interval))
  out[2 + n + i] = math.max(0, tat - now)
end
for i = 1, #out do out[i] = string.format('%d', out[i]) end
return table.concat(out, ' ')
"""
GCRA_SHA = hashlib.sha1(GCRA_SCRIPT.encode()).hexdigest()

MISSING_REDIS = 'RedisBackend needs redis-py: pip install "fulmen[redis]"'


class RateLimitBackendError(RuntimeError):
    """The backend could not be asked (Redis down, timed out, refused the script)."""


def _import_redis() -> Any:
    try:
        import redis.asyncio
    except ImportError as exc:
        raise ImportError(MISSING_REDIS) from exc
    return redis.asyncio


class RedisBackend:
    """Limiter state in Redis: ``RedisBackend("redis://localhost:6379/0")`` or ``RedisBackend(client=r)``.

    ``fail_open`` decides what a request gets while Redis cannot be reached: allowed (True, the default;
    the outage is logged once, and its end too) or refused with 503 (False). Use ``async with backend:``
    in the app's lifespan to connect at start-up and close the pool at shutdown; without it the pool is
    made on first use. ``clock`` replaces the server's TIME with this process's clock (seconds, float).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "fulmen:ratelimit:",
        fail_open: bool = True,
        timeout: float | None = 1.0,
        clock: Callable[[], float] | None = None,
        **client_options: Any,
    ) -> None:
        if (url is None) == (client is None):
            raise TypeError("RedisBackend takes a Redis URL or client=redis.asyncio.Redis(...), exactly one")
        if client is not None and client_options:
            raise TypeError(
                "RedisBackend's client options apply to a URL; configure the given client instead"
            )
        if url is not None:
            _import_redis()  # a missing extra is reported at declaration, not on the first request
        self.url = url
        self.prefix = prefix
        self.fail_open = fail_open
        self.clock = clock
        self._options = client_options
        if url is not None and timeout is not None:
            # A request must not wait longer for the limiter than it would for anything else.
            self._options.setdefault("socket_timeout", timeout)
            self._options.setdefault("socket_connect_timeout", timeout)
        self._client = client
        self._owns_client = client is None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Checks waiting for the end of this loop turn, to be sent together (see ``_run``).
        self._queue: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._down = False

    @property
    def client(self) -> Any:
        """The ``redis.asyncio.Redis`` client in use (made from the URL on first use in each event loop)."""
        loop = asyncio.get_running_loop()
        if self._client is None or (self._owns_client and self._loop is not loop):
            # A pool belongs to one event loop: a new loop (another worker, a test's server thread) gets one.
            self._client = _import_redis().Redis.from_url(self.url, **self._options)
            self._loop = loop
            self._queue = []
        return self._client

    async def check(self, keys: Sequence[str], limits: Sequence[Limit]) -> Decision:
        """One atomic GCRA step in Redis for ``keys`` (one per limit)."""
        prefix = self.prefix
        full_keys = [prefix + key for key in keys]
        args: list[Any] = ["" if self.clock is None else int(self.clock() * 1_000_000)]
        for limit in limits:
            args += (limit.interval_us, limit.window_us)
        try:
            reply = await self._run(full_keys, args)
        except (OSError, asyncio.TimeoutError, RateLimitBackendError) as exc:
            return self._unavailable(exc, limits)
        except Exception as exc:
            if not _is_redis_error(exc):
                raise
            return self._unavailable(exc, limits)
        if self._down:
            self._down = False
            logger.warning("Rate limit backend %s is reachable again", self._where())
        n = len(limits)
        values = [int(v) for v in reply.split()]
        return Decision(values[0] == 1, values[2 : 2 + n], values[2 + n : 2 + 2 * n], values[1])

    def _run(self, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        """Queue one script call; calls queued in the same event-loop turn leave together as one pipeline.

        PERF: redis-py spends far more per command than Redis does (~150 us against ~10 us here), so under
        load the checks of concurrent requests are sent as one non-transactional pipeline: one round trip and
        one pool checkout for the batch. Each EVALSHA stays atomic on its own, which is all a check needs.
        A lone request (no concurrency) is sent as soon as the loop turn ends, as a plain EVALSHA.
        """
        client = self.client
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, future))
        if len(self._queue) == 1:
            asyncio.get_running_loop().call_soon(self._flush, client)
        return future

    def _flush(self, client: Any) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.get_running_loop().create_task(self._send(client, batch))
        self._tasks.add(task)  # a strong reference until it is done (the loop keeps only weak ones)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, client: Any, batch: list[tuple[list[str], list[Any], asyncio.Future[Any]]]) -> None:
        try:
            if len(batch) == 1:
                keys, args, future = batch[0]
                results: list[Any] = [await self._evalsha(client, keys, args)]
            else:
                results = await self._pipeline(client, batch)
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # its request went away (cancelled) while Redis answered
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _evalsha(self, client: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await client.evalsha(GCRA_SHA, len(keys), *keys, *args)
        except Exception as exc:
            if type(exc).__name__ != "NoScriptError":
                raise
        # NOSCRIPT: Redis restarted or its script cache was flushed; EVAL runs the script and caches it.
        return await client.eval(GCRA_SCRIPT, len(keys), *keys, *args)

    async def _pipeline(
        self, client: Any, batch: list[tuple[list[str], list[Any], asyncio.Future[Any]]]
    ) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for keys, args, _ in batch:
            pipe.evalsha(GCRA_SHA, len(keys), *keys, *args)
        results: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [i for i, r in enumerate(results) if type(r).__name__ == "NoScriptError"]
        if missing:
            # NOSCRIPT (see _evalsha): load the script once, then run the calls that missed it again.
            await client.script_load(GCRA_SCRIPT)
            retry = client.pipeline(transaction=False)
            for i in missing:
                keys, args, _ = batch[i]
                retry.evalsha(GCRA_SHA, len(keys), *keys, *args)
            for i, result in zip(missing, await retry.execute(raise_on_error=False), strict=True):
                results[i] = result
        return results

    def _unavailable(self, exc: BaseException, limits: Sequence[Limit]) -> Decision:
        if not self._down:
            self._down = True
            verdict = "allowing requests (fail_open)" if self.fail_open else "refusing requests with 503"
            logger.error("Rate limit backend %s failed: %r; %s until it is back", self._where(), exc, verdict)
        if not self.fail_open:
            raise RateLimitBackendError(f"Rate limit backend {self._where()} is unavailable") from exc
        # Allowed, with nothing known about the limits: no RateLimit headers are sent for it.
        return Decision(True, [], [], 0)

    def _where(self) -> str:
        if self.url is not None:
            # Never log a password from the URL.
            from urllib.parse import urlsplit

            parts = urlsplit(self.url)
            return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"
        return repr(self._client)

    async def ping(self) -> None:
        """Connect now; raises when Redis can't be reached (``RedisError``/``OSError`` from redis-py)."""
        await self.client.ping()

    async def aclose(self) -> None:
        """Close the connection pool this backend made (a client passed in is the caller's to close)."""
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            await client.aclose()
        elif client is not None:
            self._client = client

    async def __aenter__(self) -> RedisBackend:
        """Connect at start-up: an unreachable Redis stops a fail-closed app from starting; a fail-open
        app starts anyway (the outage is logged, requests are allowed until Redis answers)."""
        try:
            await self.ping()
        except Exception as exc:
            if not (isinstance(exc, (OSError, asyncio.TimeoutError)) or _is_redis_error(exc)):
                raise
            if not self.fail_open:
                raise RateLimitBackendError(
                    f"Rate limit backend {self._where()} is unreachable at start-up: {exc!r}"
                ) from exc
            self._unavailable(exc, ())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _is_redis_error(exc: BaseException) -> bool:
    """True for redis-py's errors (ConnectionError, TimeoutError, ResponseError ...) without importing it."""
    return any(cls.__module__.startswith("redis.") for cls in type(exc).__mro__)
