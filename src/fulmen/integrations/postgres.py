"""PostgreSQL for fulmen apps: an asyncpg pool run by the lifespan, connection and transaction dependencies.

``db = Postgres(dsn, ...)``; ``FastAPI(lifespan=db.lifespan)``; ``Depends(db.connection)`` in a route gives
it a pooled connection, released after the response (also when the handler raises or the client goes away);
``Depends(db.transaction, scope="function")`` wraps the handler in a transaction that commits when it returns
and rolls back when it raises. asyncpg is imported when a ``Postgres`` is created, never by ``import fulmen``.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from fulmen.exceptions import HTTPException
from fulmen.params import Depends

if TYPE_CHECKING:
    from asyncpg import Connection, Record  # type: ignore[import-untyped]
    from asyncpg.pool import Pool  # type: ignore[import-untyped]

__all__ = ["Postgres", "PostgresStartupError", "as_model", "as_models"]

logger = logging.getLogger("fulmen.error")
T = TypeVar("T")
ConnectionHook = Callable[["Connection"], Awaitable[None]]
INSTALL_HINT = 'pip install "fulmen[postgres]"'


class PostgresStartupError(RuntimeError):
    """The pool could not be opened at start-up (server unreachable, wrong database, credentials ...)."""


def _asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError as exc:  # the extra is not installed
        raise ImportError(f"fulmen.integrations.postgres needs asyncpg: {INSTALL_HINT}") from exc
    return asyncpg


def describe_target(dsn: str | None, options: dict[str, Any]) -> str:
    """``host=... port=... database=... user=...`` as asyncpg would resolve them, for error messages.

    Best effort (no password, ever): keyword arguments win over the DSN, then libpq's PG* variables, then
    libpq's defaults, the order asyncpg uses.
    """
    host, port = options.get("host"), options.get("port")
    database, user = options.get("database"), options.get("user")
    if dsn:
        parts = urllib.parse.urlsplit(dsn)
        query = {key: values[0] for key, values in urllib.parse.parse_qs(parts.query).items()}
        with contextlib.suppress(ValueError):  # a malformed port: asyncpg reports it itself
            port = port or parts.port or query.get("port")
        host = host or parts.hostname or query.get("host")
        database = database or urllib.parse.unquote(parts.path.lstrip("/")) or query.get("dbname")
        user = user or (urllib.parse.unquote(parts.username) if parts.username else None)
    host = host or os.environ.get("PGHOST") or "localhost"
    port = port or os.environ.get("PGPORT") or 5432
    user = user or os.environ.get("PGUSER") or getpass.getuser()
    database = database or os.environ.get("PGDATABASE") or user
    return f"host={host} port={port} database={database} user={user}"


class Postgres:
    """An asyncpg pool bound to an app's lifespan, with FastAPI dependencies for connections and transactions.

    Every option asyncpg's ``create_pool`` takes passes through (``max_queries``, ``command_timeout``,
    ``server_settings``, ``ssl``, ``record_class`` ...). Each worker process opens its own pool at start-up.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        min_size: int = 10,
        max_size: int = 10,
        acquire_timeout: float | None = 5.0,
        close_timeout: float = 10.0,
        json_codecs: bool = False,
        init: ConnectionHook | None = None,
        setup: ConnectionHook | None = None,
        **pool_options: Any,
    ) -> None:
        _asyncpg()  # fail here, at import time of the user's module, rather than at the first start-up
        if max_size < 1:
            raise ValueError(f"Postgres(max_size=...) must be at least 1, got {max_size}")
        if not 0 <= min_size <= max_size:
            raise ValueError(
                f"Postgres(min_size=...) must be from 0 to max_size ({max_size}), got {min_size}"
            )
        if acquire_timeout is not None and acquire_timeout <= 0:
            raise ValueError(f"Postgres(acquire_timeout=...) must be positive or None, got {acquire_timeout}")
        if close_timeout < 0:
            raise ValueError(f"Postgres(close_timeout=...) must be 0 or more, got {close_timeout}")
        for name in ("loop", "connect"):
            if name in pool_options:
                raise TypeError(f"Postgres() does not take asyncpg's {name}= option")
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        #: Seconds a request waits for a free connection before it is answered 503; None waits forever.
        self.acquire_timeout = acquire_timeout
        #: Seconds shutdown waits for connections in use to come back before it terminates them.
        self.close_timeout = close_timeout
        self.json_codecs = json_codecs
        self.init = init
        self.setup = setup
        self.pool_options = pool_options
        self._pool: Pool | None = None
        self._closing = False
        self._test_transaction = False
        # The test mode's one connection, its outer transaction, and the lock that lends it to one request.
        self._pinned: Connection | None = None
        self._pinned_tx: Any = None
        self._pinned_lock: asyncio.Lock | None = None
        # Built here so each is one stable callable: the key of the per-request cache and of
        # ``app.dependency_overrides``, and the transaction depends on this object's connection.
        self.connection: Callable[[], AsyncIterator[Connection]] = self._connection
        self.transaction: Callable[..., AsyncIterator[Connection]] = self.transaction_with()

    def __repr__(self) -> str:
        state = "open" if self._pool is not None else "closed"
        return f"<Postgres {describe_target(self.dsn, self.pool_options)} {state}>"

    @property
    def pool(self) -> Pool:
        """The open asyncpg pool (for ``await db.pool.fetchrow(...)`` without a dependency)."""
        if self._pool is None:
            raise RuntimeError(
                "the PostgreSQL pool is not open: start it with the app's lifespan "
                "(FastAPI(lifespan=db.lifespan), or `async with db.lifespan(app):` inside your own lifespan)"
            )
        return self._pool

    # -- lifespan --------------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Open the pool at start-up and close it at shutdown: ``FastAPI(lifespan=db.lifespan)``."""
        await self.open()
        try:
            yield
        finally:
            await self.close()

    async def open(self) -> None:
        """Create the pool and check that a connection can be made; raise ``PostgresStartupError`` if not."""
        if self._pool is not None:
            raise RuntimeError(f"{self!r} is already open: is its lifespan entered twice?")
        asyncpg = _asyncpg()
        target = describe_target(self.dsn, self.pool_options)
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self.min_size,
                max_size=self.max_size,
                init=self._init_connection,
                setup=self.setup,
                **self.pool_options,
            )
        except Exception as exc:
            raise PostgresStartupError(
                f"could not open the PostgreSQL pool ({target}): {type(exc).__name__}: {exc}"
            ) from exc
        try:
            # min_size=0 opens nothing: one connection proves the server, database and credentials work.
            conn = await pool.acquire(timeout=self.acquire_timeout)
            if self._test_transaction:
                await self._pin(pool, conn)
            else:
                await pool.release(conn)
        except Exception as exc:
            pool.terminate()
            raise PostgresStartupError(
                f"could not connect to PostgreSQL ({target}): {type(exc).__name__}: {exc}"
            ) from exc
        self._pool, self._closing = pool, False

    async def close(self) -> None:
        """Close the pool: wait up to ``close_timeout`` for connections in use, then terminate them."""
        pool = self._pool
        if pool is None:
            return
        self._closing = True
        try:
            await self._unpin(pool)
            try:
                await asyncio.wait_for(pool.close(), self.close_timeout)
            except asyncio.TimeoutError:
                logger.warning(
                    "PostgreSQL pool: connections still in use after %s s at shutdown; terminating them",
                    self.close_timeout,
                )
                pool.terminate()
        finally:
            self._pool, self._closing = None, False

    async def _init_connection(self, conn: Connection) -> None:
        if self.json_codecs:
            import msgspec

            encode, decode = msgspec.json.encode, msgspec.json.decode
            for name in ("json", "jsonb"):
                # Text format: asyncpg hands the codec a str and wants one back.
                await conn.set_type_codec(
                    name, schema="pg_catalog", encoder=lambda v: encode(v).decode(), decoder=decode
                )
        if self.init is not None:
            await self.init(conn)

    # -- dependencies ----------------------------------------------------------------------------------------
    async def _connection(self) -> AsyncIterator[Connection]:
        """A pooled connection for one request, released after the response; 503 when none is free in time."""
        if self._closing:
            raise HTTPException(503, detail="The database is shutting down; try again later")
        pool = self.pool
        if self._pinned is not None:
            async with self._pinned_lock or contextlib.nullcontext():
                yield self._pinned
            return
        try:
            conn = await pool.acquire(timeout=self.acquire_timeout)
        except asyncio.TimeoutError:
            raise HTTPException(
                503,
                detail=f"No database connection became free within {self.acquire_timeout} s; try again later",
            ) from None
        except Exception as exc:
            if not _is_unavailable(exc):
                raise
            logger.warning("PostgreSQL unavailable: %s: %s", type(exc).__name__, exc)
            raise HTTPException(503, detail="The database is unavailable; try again later") from None
        try:
            yield conn
        finally:
            # asyncpg resets the connection (rolls back, unlistens) before lending it again and terminates it
            # if that fails, so a request cut short never leaks its state into the next one.
            await pool.release(conn)

    def transaction_with(
        self, *, isolation: str | None = None, readonly: bool = False, deferrable: bool = False
    ) -> Callable[..., AsyncIterator[Connection]]:
        """A transaction dependency with these options (``db.transaction`` is the default one).

        ``isolation`` is ``"serializable"``, ``"repeatable_read"``, ``"read_committed"`` or
        ``"read_uncommitted"`` (asyncpg's names); None keeps the server's default.
        """
        if isolation not in (None, "serializable", "repeatable_read", "read_committed", "read_uncommitted"):
            raise ValueError(f"unknown transaction isolation {isolation!r}")

        async def transaction(conn: Any = Depends(self.connection)) -> AsyncIterator[Connection]:
            """The request's connection in a transaction: commit when the handler returns, else roll back."""
            tx = conn.transaction(isolation=isolation, readonly=readonly, deferrable=deferrable)
            await tx.start()
            try:
                yield conn
            except BaseException:
                # HTTPException too: FastAPI throws what the handler raised into its yield dependencies.
                await tx.rollback()
                raise
            await tx.commit()

        return transaction

    # -- tests -----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def test_transaction(self) -> Iterator[Postgres]:
        """While in this block, each app start runs on one connection in a transaction rolled back at the end.

        For tests: ``with db.test_transaction(), TestClient(app) as client:``; nothing a test writes survives
        it. Requests then take turns on that connection, and ``db.transaction`` becomes a savepoint.
        """
        if self._pool is not None:
            raise RuntimeError("db.test_transaction() must be entered before the app starts")
        self._test_transaction = True
        try:
            yield self
        finally:
            self._test_transaction = False

    async def _pin(self, pool: Pool, conn: Connection) -> None:
        """Keep ``conn`` out of the pool, inside a transaction, for every request until shutdown."""
        try:
            tx = conn.transaction()
            await tx.start()
        except BaseException:
            await pool.release(conn)
            raise
        self._pinned, self._pinned_tx, self._pinned_lock = conn, tx, asyncio.Lock()

    async def _unpin(self, pool: Pool) -> None:
        pinned, tx = self._pinned, self._pinned_tx
        self._pinned = self._pinned_tx = self._pinned_lock = None
        if pinned is None:
            return
        try:
            await tx.rollback()
        finally:
            await pool.release(pinned)


def _is_unavailable(exc: BaseException) -> bool:
    """True for the errors that mean the server can't be reached now (rather than a bug in the query)."""
    import asyncpg

    return isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | asyncpg.TooManyConnectionsError
        | asyncpg.ConnectionDoesNotExistError,
    )


# -- rows into models ----------------------------------------------------------------------------------------
_converters: dict[Any, Callable[[list[dict[str, Any]]], list[Any]]] = {}


def _converter(model: type[T]) -> Callable[[list[dict[str, Any]]], list[T]]:
    """One list converter per model type, built on first use: pydantic's TypeAdapter or msgspec.convert."""
    convert = _converters.get(model)
    if convert is None:
        if hasattr(model, "model_validate") and hasattr(model, "model_fields"):  # a pydantic model
            from pydantic import TypeAdapter

            convert = TypeAdapter(list[model]).validate_python  # type: ignore[valid-type]
        else:  # msgspec Struct, dataclass, attrs class, TypedDict, NamedTuple ...
            import msgspec

            list_type = list[model]  # type: ignore[valid-type]

            def convert(rows: list[dict[str, Any]]) -> list[Any]:
                return msgspec.convert(rows, list_type)

        _converters[model] = convert
    return convert


def as_models(model: type[T], records: Iterable[Record]) -> list[T]:
    """``await conn.fetch(...)`` rows as ``model`` instances (msgspec Struct, pydantic model, dataclass ...).

    Columns are matched to fields by name; a missing or ill-typed column raises the library's validation error
    (msgspec's ``ValidationError`` or pydantic's), so a query that drifts from its model fails loudly.
    """
    return _converter(model)([dict(record) for record in records])


def as_model(model: type[T], record: Record | None) -> T | None:
    """``await conn.fetchrow(...)`` as an instance of ``model``, or None when there was no row."""
    if record is None:
        return None
    return _converter(model)([dict(record)])[0]
