"""``fulmen.integrations.postgres`` against a real PostgreSQL server, through every front door.

The server is started once per session by ``tests/integration/postgres_server.py`` (initdb into a temp dir);
on CI its absence fails these tests, locally it skips them.
"""

import asyncio
import dataclasses
import decimal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
import httpx
import msgspec
import pydantic
import pytest

from fulmen import Depends, FastAPI, HTTPException, Request
from fulmen.integrations.postgres import Postgres, PostgresStartupError, as_model, as_models, describe_target
from fulmen.testclient import TestClient
from tests.integration.postgres_server import PostgresServer, postgres, postgres_server  # noqa: F401 - the fixture

Conn = Any  # asyncpg.Connection; the dependency's annotation is not what injects it


def run_sql(server: PostgresServer, sql: str, *args: Any) -> Any:
    """Run one statement on a fresh connection from the test's own thread; return ``fetch``'s rows."""

    async def main() -> Any:
        conn = await asyncpg.connect(server.dsn)
        try:
            if not args and ";" in sql:  # several statements: only the simple query protocol takes them
                return await conn.execute(sql)
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(main())


def wait_until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until true: exits of ``yield`` dependencies may run just after the response is sent."""
    deadline = time.monotonic() + 10
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def server(postgres: PostgresServer) -> PostgresServer:  # noqa: F811 - the fixture imported above
    """The session's server with an ``items`` table of two rows."""
    run_sql(
        postgres,
        "DROP TABLE IF EXISTS items; "
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric NOT NULL, tags jsonb); "
        "INSERT INTO items VALUES (1, 'Hammer', 9.5, '[\"tools\"]'), (2, 'Nail', 0.1, '[]')",
    )
    return postgres


@pytest.fixture
def table(server: PostgresServer) -> Iterator[str]:
    """A fresh ``(id serial, name text unique)`` table for a test that writes."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    run_sql(server, f"CREATE TABLE {name} (id serial PRIMARY KEY, name text UNIQUE NOT NULL)")
    yield name
    run_sql(server, f"DROP TABLE {name}")


def names(server: PostgresServer, table: str) -> list[str]:
    return [row["name"] for row in run_sql(server, f"SELECT name FROM {table} ORDER BY id")]


def pool_app(db: Postgres, table: str = "items", lifespan: Any = None) -> FastAPI:
    """Routes using each dependency, plus ``/pool`` (no database) to read the pool's counters."""
    app = FastAPI(lifespan=lifespan or db.lifespan)
    Connection = Annotated[Conn, Depends(db.connection)]
    Transaction = Annotated[Conn, Depends(db.transaction, scope="function")]

    @app.get("/items/{item_id}")
    async def read_item(
        item_id: int, conn: Connection
    ):  # no return annotation: a Record is not a pydantic type
        row = await conn.fetchrow("SELECT id, name FROM items WHERE id = $1", item_id)
        if row is None:
            raise HTTPException(404, detail="Item not found")
        return row  # an asyncpg Record is JSON-returnable, as in FastAPI

    @app.get("/items")
    async def list_items(conn: Connection):  # no return annotation: a Record is not a pydantic type
        return await conn.fetch("SELECT id, name FROM items ORDER BY id")

    @app.get("/boom")
    async def boom(conn: Connection) -> Any:
        await conn.fetchval("SELECT 1")
        raise ValueError("handler bug")

    @app.get("/validated")
    async def validated(conn: Connection, n: int) -> Any:  # a 422 after the connection was lent
        return {"n": n}

    @app.get("/bad-sql")
    async def bad_sql(conn: Connection):  # no return annotation: a Record is not a pydantic type
        return await conn.fetch("SELECT no_such_column FROM items")

    @app.post("/names/{name}", status_code=201)
    async def add(name: str, conn: Transaction, fail: str | None = None) -> Any:
        new_id = await conn.fetchval(f"INSERT INTO {table} (name) VALUES ($1) RETURNING id", name)
        if fail == "http":
            raise HTTPException(409, detail="Refused after the insert")
        if fail == "error":
            raise RuntimeError("handler bug after the insert")
        return {"id": new_id}

    @app.post("/names-request-scope/{name}", status_code=201)
    async def add_request_scope(
        name: str, conn: Annotated[Conn, Depends(db.transaction)], fail: bool = False
    ) -> Any:
        await conn.execute(f"INSERT INTO {table} (name) VALUES ($1)", name)
        if fail:
            raise HTTPException(409, detail="Refused")
        return {"ok": True}

    @app.get("/same-connection")
    async def same(conn: Connection, tx: Transaction) -> Any:
        return {"same": conn is tx, "in_transaction": conn.is_in_transaction()}

    @app.get("/pool")
    async def pool() -> Any:
        return {"size": db.pool.get_size(), "idle": db.pool.get_idle_size()}

    return app


def all_idle(client: httpx.Client) -> bool:
    counts = client.get("/pool").json()
    return bool(counts["idle"] == counts["size"])


# -- connection dependency -----------------------------------------------------------------------------------
def test_connection_dependency_serves_rows(server: PostgresServer, serve: Any) -> None:
    db = Postgres(server.dsn, min_size=1, max_size=2)
    client = serve(pool_app(db))
    assert client.get("/items/1").json() == {"id": 1, "name": "Hammer"}
    assert client.get("/items").json() == [{"id": 1, "name": "Hammer"}, {"id": 2, "name": "Nail"}]
    response = client.get("/items/99")
    assert (response.status_code, response.json()) == (404, {"detail": "Item not found"})
    wait_until(lambda: all_idle(client), "every connection back in the pool")


def test_connection_is_released_when_the_handler_fails(server: PostgresServer, serve: Any) -> None:
    # max_size=1: a leaked connection would turn every later request into a 503.
    db = Postgres(server.dsn, min_size=1, max_size=1, acquire_timeout=5)
    client = serve(pool_app(db))
    for _ in range(3):
        assert client.get("/boom").status_code == 500
        assert client.get("/bad-sql").status_code == 500
        assert client.get("/items/99").status_code == 404
        assert client.get("/validated?n=x").status_code == 422
    assert client.get("/items/2").json() == {"id": 2, "name": "Nail"}
    wait_until(lambda: all_idle(client), "the only connection back in the pool")


def test_pool_exhaustion_is_a_503_not_a_hang(server: PostgresServer, serve: Any) -> None:
    db = Postgres(server.dsn, min_size=1, max_size=1, acquire_timeout=0.2)
    app = pool_app(db)
    holding, release = threading.Event(), threading.Event()

    @app.get("/hold")
    async def hold(conn: Annotated[Conn, Depends(db.connection)]) -> Any:
        holding.set()
        while not release.is_set():  # the pool's only connection stays lent until the test says so
            await asyncio.sleep(0.01)
        return {"held": True}

    client = serve(app)
    # Its own client over the network: uvicorn's transport here drops its connections after a 5xx.
    other = client if isinstance(client, TestClient) else httpx.Client(base_url=client.base_url)
    results: list[httpx.Response] = []
    holder = threading.Thread(target=lambda: results.append(other.get("/hold")))
    holder.start()
    try:
        assert holding.wait(10)
        response = client.get("/items/1")
        assert response.status_code == 503
        assert response.json() == {
            "detail": "No database connection became free within 0.2 s; try again later"
        }
    finally:
        release.set()
        holder.join(10)
        if other is not client:
            other.close()
    assert results[0].json() == {"held": True}
    assert client.get("/items/1").status_code == 200


def test_a_server_gone_away_is_a_503(server: PostgresServer, serve: Any) -> None:
    """A server of its own (`server` only makes the test skip where PostgreSQL is missing), stopped while the
    app runs: acquiring then fails to reconnect."""
    with postgres_server() as own:
        db = Postgres(own.dsn, min_size=1, max_size=1, acquire_timeout=5)
        client = serve(pool_app(db))
        assert client.get("/pool").json() == {"size": 1, "idle": 1}
    response = client.get("/items/1")
    assert (response.status_code, response.json()) == (
        503,
        {"detail": "The database is unavailable; try again later"},
    )


@pytest.mark.parametrize(
    "front_door", ["engine", "uvicorn"]
)  # a disconnect needs a socket: not the asgi door
def test_connection_is_released_when_the_client_goes_away(server: PostgresServer, serve: Any) -> None:
    db = Postgres(server.dsn, min_size=1, max_size=1, acquire_timeout=5)
    app = pool_app(db)
    holding, gone = threading.Event(), threading.Event()

    @app.get("/slow")
    async def slow(conn: Annotated[Conn, Depends(db.connection)]) -> Any:
        holding.set()
        while not gone.is_set():
            await asyncio.sleep(0.01)
        return await conn.fetchval("SELECT 1")

    client = serve(app)
    host, port = client.base_url.host, client.base_url.port
    assert port is not None
    with socket.create_connection((host, port)) as raw:
        raw.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert holding.wait(10)
    gone.set()  # the socket is closed: the handler ends with nobody to answer
    wait_until(lambda: all_idle(client), "the connection released after the client left")
    assert client.get("/items/1").status_code == 200


# -- transaction dependency ----------------------------------------------------------------------------------
def test_transaction_commits_on_success_and_rolls_back_on_errors(
    server: PostgresServer, serve: Any, table: str
) -> None:
    db = Postgres(server.dsn, min_size=1, max_size=2)
    client = serve(pool_app(db, table))
    created = client.post("/names/ada")
    assert created.status_code == 201 and isinstance(created.json()["id"], int)
    refused = client.post("/names/bob?fail=http")
    assert (refused.status_code, refused.json()) == (409, {"detail": "Refused after the insert"})
    assert client.post("/names/cy?fail=error").status_code == 500
    duplicate = client.post("/names/ada")  # the unique constraint: asyncpg's error is a 500, and rolled back
    assert duplicate.status_code == 500
    assert client.post("/names/dee").status_code == 201
    assert names(server, table) == ["ada", "dee"]
    wait_until(lambda: all_idle(client), "every connection back in the pool")


def test_transaction_with_the_default_request_scope(server: PostgresServer, serve: Any, table: str) -> None:
    """Without ``scope="function"`` the commit runs after the response was sent (FastAPI's default scope)."""
    db = Postgres(server.dsn, min_size=1, max_size=2)
    client = serve(pool_app(db, table))
    assert client.post("/names-request-scope/ann").status_code == 201
    refused = client.post("/names-request-scope/ben?fail=1")
    assert (refused.status_code, refused.json()) == (409, {"detail": "Refused"})
    wait_until(lambda: names(server, table) == ["ann"], "the commit after the response")
    wait_until(lambda: all_idle(client), "every connection back in the pool")
    assert names(server, table) == ["ann"]


def test_connection_and_transaction_share_one_connection(server: PostgresServer, serve: Any) -> None:
    client = serve(pool_app(Postgres(server.dsn, min_size=1, max_size=2)))
    assert client.get("/same-connection").json() == {"same": True, "in_transaction": True}


def test_transaction_with_options(server: PostgresServer) -> None:
    db = Postgres(server.dsn, min_size=1, max_size=1)
    app = FastAPI(lifespan=db.lifespan)
    ReadOnly = Annotated[Conn, Depends(db.transaction_with(isolation="serializable", readonly=True))]

    @app.get("/settings")
    async def settings(conn: ReadOnly) -> Any:
        return {
            "isolation": await conn.fetchval("SHOW transaction_isolation"),
            "read_only": await conn.fetchval("SHOW transaction_read_only"),
        }

    with TestClient(app) as client:
        assert client.get("/settings").json() == {"isolation": "serializable", "read_only": "on"}
    with pytest.raises(ValueError, match="unknown transaction isolation 'snapshot'"):
        db.transaction_with(isolation="snapshot")


# -- lifespan ------------------------------------------------------------------------------------------------
def test_lifespan_opens_and_closes_the_pool(server: PostgresServer, serve: Any) -> None:
    db = Postgres(server.dsn, min_size=2, max_size=3)
    with pytest.raises(RuntimeError, match="pool is not open: start it with the app's lifespan"):
        db.pool  # noqa: B018
    client = serve(pool_app(db))
    assert client.get("/pool").json() == {"size": 2, "idle": 2}
    # The pool's connections show up on the server while the app runs.
    assert "open" in repr(db)


def test_lifespan_composes_with_the_users_own(server: PostgresServer, serve: Any) -> None:
    db = Postgres(server.dsn, min_size=1, max_size=1)
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, int]]:
        async with db.lifespan(app):
            events.append("started")
            # The pool is usable from the user's own start-up code already.
            version = await db.pool.fetchval("SHOW server_version_num")
            yield {"server_version": int(version)}

    app = FastAPI(lifespan=lifespan)

    @app.get("/state")
    async def state(request: Request, conn: Annotated[Conn, Depends(db.connection)]) -> Any:
        return {"version": request.state.server_version, "one": await conn.fetchval("SELECT 1")}

    client = serve(app)
    body = client.get("/state").json()
    assert body["one"] == 1 and body["version"] >= 150000
    assert events == ["started"]


def test_no_lifespan_means_a_500(server: PostgresServer, serve: Any) -> None:
    db = Postgres(server.dsn, min_size=1, max_size=1)
    app = FastAPI()  # forgot lifespan=db.lifespan

    @app.get("/")
    async def root(conn: Annotated[Conn, Depends(db.connection)]) -> Any:
        return {}

    response = serve(app).get("/")
    assert (response.status_code, response.text) == (500, "Internal Server Error")


def test_startup_fails_clearly_when_the_server_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens on it once closed
    db = Postgres(f"postgresql://app@127.0.0.1:{port}/shop", min_size=1, max_size=1)
    with pytest.raises(PostgresStartupError) as info, TestClient(FastAPI(lifespan=db.lifespan)):
        pass
    message = str(info.value)
    assert f"host=127.0.0.1 port={port} database=shop user=app" in message
    assert "could not open the PostgreSQL pool" in message and "ConnectionRefusedError" in message


@pytest.mark.parametrize("min_size", [0, 1])
def test_startup_fails_clearly_for_a_missing_database(server: PostgresServer, min_size: int) -> None:
    # min_size=0 opens no connection by itself: start-up still checks one.
    db = Postgres(
        host=server.host,
        port=server.port,
        user=server.user,
        database="nosuchdb",
        min_size=min_size,
        max_size=1,
    )
    with pytest.raises(PostgresStartupError, match=r'database=nosuchdb user=postgres\).*"nosuchdb" does not'):
        asyncio.run(db.open())
    assert "closed" in repr(db)


def sessions(server: PostgresServer, application_name: str) -> int:
    """How many server sessions a pool tagged with ``application_name`` has open."""
    rows = run_sql(
        server, "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", application_name
    )
    return int(rows[0]["n"])


def test_shutdown_waits_for_connections_in_use_then_terminates(server: PostgresServer) -> None:
    graceful_name, stuck_name = f"graceful-{uuid.uuid4().hex[:8]}", f"stuck-{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        settings = {"application_name": graceful_name}
        graceful = Postgres(server.dsn, min_size=1, max_size=2, close_timeout=10, server_settings=settings)
        await graceful.open()
        conn = await graceful.pool.acquire()
        closing = asyncio.ensure_future(graceful.close())
        await asyncio.sleep(0.05)
        assert not closing.done()  # waits for the connection in use
        assert await conn.fetchval("SELECT 2") == 2  # which still works meanwhile
        await graceful.pool.release(conn)
        await closing

        settings = {"application_name": stuck_name}
        stuck = Postgres(server.dsn, min_size=1, max_size=1, close_timeout=0.1, server_settings=settings)
        await stuck.open()
        held = await stuck.pool.acquire()
        await stuck.close()  # never released: terminated after close_timeout
        with pytest.raises(asyncpg.InterfaceError):
            await held.fetchval("SELECT 1")

    asyncio.run(main())
    wait_until(lambda: sessions(server, graceful_name) == 0, "the graceful pool's sessions closed")
    wait_until(lambda: sessions(server, stuck_name) == 0, "the terminated pool's sessions closed")


def test_requests_during_shutdown_get_503(server: PostgresServer) -> None:
    async def main() -> None:
        db = Postgres(server.dsn, min_size=1, max_size=2, close_timeout=10)
        await db.open()
        conn = await db.pool.acquire()
        closing = asyncio.ensure_future(db.close())
        await asyncio.sleep(0.05)
        gen = db.connection()
        with pytest.raises(HTTPException) as info:
            await gen.__anext__()
        assert (info.value.status_code, info.value.detail) == (
            503,
            "The database is shutting down; try again later",
        )
        await db.pool.release(conn)
        await closing

    asyncio.run(main())


def test_opening_twice_is_an_error(server: PostgresServer) -> None:
    async def main() -> None:
        db = Postgres(server.dsn, min_size=1, max_size=1)
        async with db.lifespan():
            with pytest.raises(RuntimeError, match="already open: is its lifespan entered twice"):
                await db.open()
        async with db.lifespan():  # reopened after a close: a new TestClient session, a restarted app
            assert await db.pool.fetchval("SELECT 3") == 3

    asyncio.run(main())


# -- codecs and hooks ----------------------------------------------------------------------------------------
def test_json_codecs_and_init_and_setup_hooks(server: PostgresServer, serve: Any) -> None:
    seen: list[str] = []

    async def init(conn: Any) -> None:  # once per new connection (codecs, prepared statements ...)
        seen.append("init")

    async def setup(
        conn: Any,
    ) -> None:  # at every acquire: asyncpg's reset (RESET ALL) undoes SETs at release
        await conn.execute("SET application_name = 'fulmen-test'")
        seen.append("setup")

    db = Postgres(server.dsn, min_size=1, max_size=1, json_codecs=True, init=init, setup=setup)
    app = FastAPI(lifespan=db.lifespan)

    @app.get("/json")
    async def read(conn: Annotated[Conn, Depends(db.connection)]) -> Any:
        tags = await conn.fetchval("SELECT tags FROM items WHERE id = 1")
        echoed = await conn.fetchval("SELECT $1::jsonb", {"a": [1, 2], "b": None})
        name = await conn.fetchval("SHOW application_name")
        return {
            "tags": tags,
            "echoed": echoed,
            "app": name,
            "types": [type(tags).__name__, type(echoed).__name__],
        }

    client = serve(app)
    expected = {
        "tags": ["tools"],
        "echoed": {"a": [1, 2], "b": None},
        "app": "fulmen-test",
        "types": ["list", "dict"],
    }
    assert client.get("/json").json() == expected
    assert client.get("/json").json() == expected
    # init ran once (the pool's one connection); setup at start-up's check and at each request's acquire.
    wait_until(lambda: seen.count("setup") == 3, "three acquires")
    assert seen.count("init") == 1


def test_without_json_codecs_json_is_text_as_in_asyncpg(server: PostgresServer) -> None:
    async def main() -> None:
        async with (db := Postgres(server.dsn, min_size=1, max_size=1)).lifespan():
            assert await db.pool.fetchval("SELECT tags FROM items WHERE id = 1") == '["tools"]'

    asyncio.run(main())


# -- rows into models ----------------------------------------------------------------------------------------
class ItemStruct(msgspec.Struct):
    id: int
    name: str
    price: float


class ItemModel(pydantic.BaseModel):
    id: int
    name: str
    price: decimal.Decimal


@dataclasses.dataclass
class ItemData:
    id: int
    name: str
    price: float


def test_rows_as_models(server: PostgresServer) -> None:
    rows = run_sql(server, "SELECT id, name, price FROM items ORDER BY id")
    assert as_models(ItemStruct, rows) == [ItemStruct(1, "Hammer", 9.5), ItemStruct(2, "Nail", 0.1)]
    assert as_models(ItemModel, rows)[1] == ItemModel(id=2, name="Nail", price=decimal.Decimal("0.1"))
    assert as_models(ItemData, rows) == [ItemData(1, "Hammer", 9.5), ItemData(2, "Nail", 0.1)]
    assert as_model(ItemStruct, rows[0]) == ItemStruct(1, "Hammer", 9.5)
    assert as_model(ItemStruct, None) is None
    # A query that drifts from its model fails loudly, with the library's own error.
    names_only = run_sql(server, "SELECT id, name FROM items")
    with pytest.raises(msgspec.ValidationError, match="missing required field `price`"):
        as_models(ItemStruct, names_only)
    with pytest.raises(pydantic.ValidationError, match="price"):
        as_models(ItemModel, names_only)


def test_models_as_responses(server: PostgresServer, serve: Any) -> None:
    db = Postgres(server.dsn, min_size=1, max_size=1)
    app = FastAPI(lifespan=db.lifespan)

    @app.get("/items")
    async def items(conn: Annotated[Conn, Depends(db.connection)]) -> list[ItemStruct]:
        return as_models(ItemStruct, await conn.fetch("SELECT id, name, price FROM items ORDER BY id"))

    @app.get("/items/{item_id}", response_model=ItemModel)
    async def item(item_id: int, conn: Annotated[Conn, Depends(db.connection)]) -> Any:
        return as_model(
            ItemModel, await conn.fetchrow("SELECT id, name, price FROM items WHERE id = $1", item_id)
        )

    client = serve(app)
    assert client.get("/items").json() == [
        {"id": 1, "name": "Hammer", "price": 9.5},
        {"id": 2, "name": "Nail", "price": 0.1},
    ]
    assert client.get("/items/1").json() == {"id": 1, "name": "Hammer", "price": "9.5"}


# -- tests of the user's app ---------------------------------------------------------------------------------
def test_test_transaction_rolls_back_what_a_test_wrote(server: PostgresServer, table: str) -> None:
    db = Postgres(server.dsn, min_size=1, max_size=2)
    app = pool_app(db, table)

    @app.get("/names")
    async def list_names(conn: Annotated[Conn, Depends(db.connection)]) -> Any:
        return [r["name"] for r in await conn.fetch(f"SELECT name FROM {table} ORDER BY id")]

    with db.test_transaction(), TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/names/tess").status_code == 201
        assert client.post("/names/tom?fail=http").status_code == 409  # its savepoint rolled back
        assert client.post("/names/tim").status_code == 201
        assert client.get("/names").json() == ["tess", "tim"]  # the app sees its own writes
        assert names(server, table) == []  # nobody else does
    assert names(server, table) == []  # and they are gone after the test
    with TestClient(app) as client:  # outside the block the app writes for real again
        assert client.post("/names/real").status_code == 201
    assert names(server, table) == ["real"]


def test_dependency_override_for_tests(server: PostgresServer, table: str) -> None:
    """FastAPI's pattern works too: override ``db.connection`` (and so the transactions built on it)."""
    db = Postgres(server.dsn, min_size=1, max_size=1)
    other = Postgres(server.dsn, min_size=1, max_size=1, server_settings={"application_name": "override"})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with db.lifespan(app), other.lifespan(app):
            yield

    app = pool_app(db, table, lifespan=lifespan)

    @app.get("/who")
    async def who(conn: Annotated[Conn, Depends(db.connection)]) -> Any:
        return await conn.fetchval("SHOW application_name")

    app.dependency_overrides[db.connection] = other.connection
    with TestClient(app) as client:
        assert client.get("/who").json() == "override"
        assert client.post("/names/ovr").status_code == 201
        # The transaction ran on the override's connection too: its pool lent it, the app's did not.
        assert db.pool.get_idle_size() == db.pool.get_size() == 1


# -- configuration and packaging -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_size": 0}, r"max_size=...\) must be at least 1, got 0"),
        ({"min_size": 5, "max_size": 2}, r"min_size=...\) must be from 0 to max_size \(2\), got 5"),
        ({"acquire_timeout": 0}, r"acquire_timeout=...\) must be positive or None, got 0"),
        ({"close_timeout": -1}, r"close_timeout=...\) must be 0 or more, got -1"),
    ],
)
def test_bad_configuration_fails_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Postgres("postgresql://localhost/db", **options)


def test_describe_target_never_shows_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    assert describe_target("postgresql://u:secret@db.internal:6543/shop", {}) == (
        "host=db.internal port=6543 database=shop user=u"
    )
    assert describe_target("postgresql://u:secret@db/shop", {"port": 7000, "database": "other"}) == (
        "host=db port=7000 database=other user=u"
    )
    monkeypatch.setenv("PGHOST", "envhost")
    monkeypatch.setenv("PGUSER", "envuser")
    assert describe_target(None, {}) == "host=envhost port=5432 database=envuser user=envuser"


def test_asyncpg_is_imported_only_by_the_feature() -> None:
    code = (
        "import sys, fulmen, fulmen.integrations\n"
        "from fulmen import FastAPI\n"
        "assert 'asyncpg' not in sys.modules\n"
        "sys.modules['asyncpg'] = None\n"  # as if the extra were not installed
        "from fulmen.integrations.postgres import Postgres\n"
        "try:\n"
        "    Postgres('postgresql://localhost/db')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'fulmen.integrations.postgres needs asyncpg: pip install "fulmen[postgres]"'


def load_example(server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh import of examples/postgres.py (docs/postgres.md's app) on a new database of its own."""
    import importlib.util
    from pathlib import Path

    database = f"shop_{uuid.uuid4().hex[:8]}"
    run_sql(server, f"CREATE DATABASE {database};")  # ";": the simple protocol, outside a transaction
    monkeypatch.setenv("POSTGRES_DSN", f"postgresql://{server.user}@{server.host}:{server.port}/{database}")
    path = Path(__file__).resolve().parents[2] / "examples" / "postgres.py"
    spec = importlib.util.spec_from_file_location("example_postgres", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


def test_the_example_app(server: PostgresServer, serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    example = load_example(server, monkeypatch)
    client = serve(example.app)
    assert client.get("/items").json() == [
        {"id": 1, "name": "Hammer", "stock": 5},
        {"id": 2, "name": "Nail", "stock": 100},
    ]
    for _ in range(5):
        assert client.post("/items/1/sell").status_code == 204
    sold_out = client.post("/items/1/sell")
    assert (sold_out.status_code, sold_out.json()) == (409, {"detail": "Out of stock"})
    assert client.get("/items/1").json() == {"id": 1, "name": "Hammer", "stock": 0}  # the 6th was rolled back
    assert client.get("/items/9").status_code == 404

    async def sales() -> int:
        conn = await asyncpg.connect(example.db.dsn)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM sales"))
        finally:
            await conn.close()

    assert asyncio.run(sales()) == 5


def test_the_documented_test_fixture(server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/postgres.md's ``client`` fixture: each test's writes are rolled back, the example's seed stays."""
    example = load_example(server, monkeypatch)
    for _ in range(2):  # two "tests" in a row see the same starting point
        with example.db.test_transaction(), TestClient(example.app) as client:
            assert client.post("/items/1/sell").status_code == 204
            assert client.get("/items/1").json()["stock"] == 4
    with TestClient(example.app) as client:
        assert client.get("/items/1").json()["stock"] == 5


def test_engine_shutdown_lets_a_request_in_flight_finish_then_closes_the_pool(server: PostgresServer) -> None:
    """SIGTERM's path on fulmen's engine: stop accepting, finish the request holding a connection, close."""
    from tests.engine.conftest import EngineThread

    name = f"drain-{uuid.uuid4().hex[:8]}"
    db = Postgres(server.dsn, min_size=1, max_size=2, server_settings={"application_name": name})
    app = pool_app(db)
    holding, release = threading.Event(), threading.Event()

    @app.get("/hold")
    async def hold(conn: Annotated[Conn, Depends(db.connection)]) -> Any:
        holding.set()
        while not release.is_set():
            await asyncio.sleep(0.01)
        return {"value": await conn.fetchval("SELECT 42")}

    engine = EngineThread(app)
    results: list[httpx.Response] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as client:
        holder = threading.Thread(target=lambda: results.append(client.get("/hold", timeout=30)))
        holder.start()
        assert holding.wait(10)
        stopper = threading.Thread(target=engine.stop)
        stopper.start()  # graceful: waits for /hold

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", engine.port), timeout=1).close()
            except OSError:
                return True
            return False

        wait_until(refused, "the engine stopped accepting")
        assert sessions(server, name) >= 1  # the pool is still open for the request in flight
        release.set()
        holder.join(30)
        stopper.join(30)
    assert results[0].status_code == 200 and results[0].json() == {"value": 42}
    assert "closed" in repr(db)
    wait_until(lambda: sessions(server, name) == 0, "the pool's sessions closed at shutdown")


def test_streaming_rows_with_a_cursor(server: PostgresServer, serve: Any) -> None:
    """A request-scoped transaction lives until the streamed body ends: a server-side cursor can feed it."""
    from fulmen.responses import StreamingResponse

    db = Postgres(server.dsn, min_size=1, max_size=1)
    app = pool_app(db)

    @app.get("/export")
    async def export(conn: Annotated[Conn, Depends(db.transaction)]) -> StreamingResponse:
        async def lines() -> AsyncIterator[bytes]:
            async for row in conn.cursor("SELECT g FROM generate_series(1, 5000) AS g", prefetch=100):
                yield b"%d\n" % row["g"]

        return StreamingResponse(lines(), media_type="text/plain")

    client = serve(app)
    body = client.get("/export").text
    assert body.split() == [str(n) for n in range(1, 5001)]
    wait_until(lambda: all_idle(client), "the connection back after the stream")


def test_each_worker_has_its_own_pool(server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``fulmen run --workers 2`` on the example app: two pools (one per worker), all closed at SIGTERM."""
    import os
    import signal
    from pathlib import Path

    example = load_example(server, monkeypatch)  # creates its database; the workers import their own copy
    name = f"workers-{uuid.uuid4().hex[:8]}"
    dsn = f"{example.db.dsn}?application_name={name}"  # asyncpg sends unknown DSN options as server settings
    repo = Path(__file__).resolve().parents[2]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from tests.engine.conftest import FULMEN_PATH  # the fulmen under test: src/, or an installed build

    env = {**os.environ, "POSTGRES_DSN": dsn, "PYTHONPATH": str(FULMEN_PATH)}
    command = [sys.executable, "-m", "fulmen", "run", "postgres:app", "--app-dir", str(repo / "examples")]
    command += ["--port", str(port), "--workers", "2", "--no-access-log"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: sessions(server, name) == 2, "one pool (min_size=1) in each of the two workers")

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/items/2", timeout=2).json()["stock"] == 100
            except httpx.HTTPError:
                return False

        wait_until(answers, "the workers answering")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        wait_until(lambda: sessions(server, name) == 0, "both pools closed at shutdown")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_a_worker_that_cannot_connect_stops_the_server() -> None:
    """``fulmen run --workers 2`` with an unreachable database exits non-zero, naming the target."""
    import os
    from pathlib import Path

    from tests.engine.conftest import FULMEN_PATH

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]  # nothing listens there once this socket is closed
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "POSTGRES_DSN": f"postgresql://app@127.0.0.1:{dead_port}/shop"}
    env["PYTHONPATH"] = str(FULMEN_PATH)
    command = [sys.executable, "-m", "fulmen", "run", "postgres:app", "--app-dir", str(repo / "examples")]
    command += ["--port", str(port), "--workers", "2", "--no-access-log"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert f"could not open the PostgreSQL pool (host=127.0.0.1 port={dead_port} database=shop user=app)" in (
        done.stdout + done.stderr
    )
