"""The CPU offload pool (fulmen.integrations.offload) with real worker processes.

HTTP behaviour goes through every front door (``serve``); pool mechanics (timeouts, crashes, shutdown) are
also checked on the pool directly. Waits are for events (a marker file, a pid gone), never timing thresholds.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fulmen import Depends, FastAPI, Request
from fulmen.integrations.offload import (
    OffloadError,
    OffloadPool,
    OffloadTimeoutError,
    PoolClosedError,
    WorkerCrashedError,
    default_max_workers,
    get_offload_pool,
    offload,
    offloaded,
    run_in_process,
)
from fulmen.responses import JSONResponse
from fulmen.testclient import TestClient
from tests.conftest import _UvicornThread
from tests.engine.conftest import FULMEN_PATH, REPO, EngineThread, start_engine_in_thread
from tests.integration import offload_work as work


def wait_until(predicate: Callable[[], bool], what: str, limit: float = 20.0) -> None:
    """Poll until ``predicate()`` is true; the limit only stops a broken test from hanging."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def gone(pid: int) -> bool:
    """True once ``pid`` is no process at all (a zombie still counts as there: it was not reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def expected_digest(rounds: int) -> str:
    value = b"fulmen"
    for _ in range(rounds):
        value = hashlib.sha256(value).digest()
    return value.hex()


@pytest.fixture
def folder(tmp_path: Path) -> str:
    return str(tmp_path)


@pytest.fixture
def pool() -> Iterator[OffloadPool]:
    created = OffloadPool(2)
    try:
        yield created
    finally:
        pids = created.pids()
        created.close(timeout=5)
        assert all(gone(pid) for pid in pids), "a worker process outlived its pool"


def started_pid(folder: str, name: str) -> int:
    path = Path(folder, f"{name}.started")
    wait_until(path.exists, f"{name}() to start in a worker")
    wait_until(lambda: path.read_text() != "", f"{name}.started to be written")
    return int(path.read_text())


def release(folder: str, name: str) -> None:
    Path(folder, f"{name}.release").write_text("go")


def make_app(pool: OffloadPool, folder: str) -> FastAPI:
    app = FastAPI(lifespan=pool.lifespan)

    @app.exception_handler(OffloadTimeoutError)
    async def timed_out(request: Request, exc: OffloadTimeoutError) -> JSONResponse:
        return JSONResponse({"detail": "The computation took too long"}, status_code=504)

    @app.get("/digest/{rounds}")
    async def digest(rounds: int) -> dict[str, Any]:
        hexdigest, worker = await pool.run(work.digest, rounds)
        return {"digest": hexdigest, "worker": worker, "server": os.getpid()}

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    @app.get("/block/{name}")
    async def block(name: str) -> dict[str, int]:
        return {"pid": await pool.run(work.wait_for_release, folder, name)}

    @app.get("/stuck")
    async def stuck() -> None:
        await pool.run_with_timeout(0.5, work.wait_for_release, folder, "stuck")

    @app.get("/unpicklable")
    async def unpicklable() -> None:
        await pool.run(work.digest, 1, seed=threading.Lock())  # type: ignore[arg-type]

    @app.get("/fails")
    async def fails() -> None:
        await pool.run(work.fail, "no such key")

    @app.get("/injected")
    async def injected(
        injected: OffloadPool = Depends(pool), default: OffloadPool = Depends(get_offload_pool)
    ) -> dict[str, Any]:
        return {"same": injected is pool, "default": default is pool, "double": await work.double(21)}

    app.get("/square/{n}")(work.square)

    @app.get("/doubled")
    async def doubled(value: int = Depends(work.double)) -> dict[str, int]:
        return {"value": value}

    @app.get("/pids")
    async def pids() -> list[int]:
        return pool.pids()

    return app


# -- through every front door ---------------------------------------------------------------------------


def test_cpu_bound_call_runs_in_a_worker_process(serve: Any, pool: OffloadPool, folder: str) -> None:
    client = serve(make_app(pool, folder))
    workers = client.get("/pids").json()
    assert len(workers) == 2  # started by the lifespan, before the first call
    response = client.get("/digest/2000")
    assert response.status_code == 200
    body = response.json()
    assert body["digest"] == expected_digest(2000)
    assert body["worker"] in workers and body["worker"] != body["server"]


def test_loop_answers_other_requests_while_a_call_runs(serve: Any, pool: OffloadPool, folder: str) -> None:
    client = serve(make_app(pool, folder))
    results: dict[str, httpx.Response] = {}
    slow = threading.Thread(target=lambda: results.setdefault("block", client.get("/block/a")))
    slow.start()
    try:
        worker = started_pid(folder, "a")
        # The offloaded call is running (it wrote its marker and waits); the loop still answers.
        for _ in range(3):
            assert client.get("/ping").json() == {"pong": True}
        assert "block" not in results and slow.is_alive()
    finally:
        release(folder, "a")
        slow.join(20)
    assert results["block"].status_code == 200
    assert results["block"].json() == {"pid": worker}


def test_timeout_kills_the_stuck_worker_and_the_pool_goes_on(
    serve: Any, pool: OffloadPool, folder: str
) -> None:
    client = serve(make_app(pool, folder))
    response = client.get("/stuck")
    assert response.status_code == 504
    assert response.json() == {"detail": "The computation took too long"}
    stuck = started_pid(folder, "stuck")
    wait_until(lambda: gone(stuck), "the timed-out worker to be killed and reaped")
    wait_until(lambda: len(pool.pids()) == 2, "a replacement worker")
    assert stuck not in pool.pids()
    assert client.get("/digest/10").json()["digest"] == expected_digest(10)


def test_killed_worker_is_a_500_and_the_pool_is_rebuilt(serve: Any, pool: OffloadPool, folder: str) -> None:
    client = serve(make_app(pool, folder))
    results: dict[str, httpx.Response] = {}
    victim_call = threading.Thread(target=lambda: results.setdefault("r", client.get("/block/victim")))
    victim_call.start()
    victim = started_pid(folder, "victim")
    os.kill(victim, signal.SIGKILL)
    victim_call.join(20)
    assert results["r"].status_code == 500
    assert results["r"].text == "Internal Server Error"
    wait_until(lambda: len(pool.pids()) == 2, "the pool to be rebuilt")
    assert victim not in pool.pids()
    for rounds in (1, 2, 3):  # the app lives on, with both workers
        assert client.get(f"/digest/{rounds}").json()["digest"] == expected_digest(rounds)


def test_unpicklable_argument_and_remote_exception_are_500s(
    serve: Any, pool: OffloadPool, folder: str
) -> None:
    client = serve(make_app(pool, folder))
    assert client.get("/unpicklable").status_code == 500
    assert client.get("/fails").status_code == 500
    assert client.get("/ping").status_code == 200


def test_pool_as_a_dependency_and_the_decorator(serve: Any, pool: OffloadPool, folder: str) -> None:
    client = serve(make_app(pool, folder))
    # @offloaded without a pool uses the default pool: the first started (this one).
    assert client.get("/injected").json() == {"same": True, "default": True, "double": 42}


def test_offloaded_function_as_an_endpoint_and_as_a_dependency(
    serve: Any, pool: OffloadPool, folder: str
) -> None:
    client = serve(make_app(pool, folder))
    body = client.get("/square/12").json()
    assert body["square"] == 144 and body["pid"] in pool.pids()
    invalid = client.get("/square/twelve")
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["path", "n"]
    assert client.get("/doubled", params={"n": 8}).json() == {"value": 16}
    schema = client.get("/openapi.json").json()
    assert schema["paths"]["/square/{n}"]["get"]["parameters"][0]["schema"] == {
        "type": "integer",
        "title": "N",
    }


def test_lifespan_shutdown_joins_every_worker(front_door: str, folder: str) -> None:
    pool = OffloadPool(2)
    app = make_app(pool, folder)
    if front_door == "asgi":
        with TestClient(app) as client:
            pids = client.get("/pids").json()
    else:
        if front_door == "uvicorn":
            server = _UvicornThread(app)
            port, stop = server.port, server.stop
        else:
            port, stop = start_engine_in_thread(app)
        try:
            pids = httpx.get(f"http://127.0.0.1:{port}/pids").json()
        finally:
            stop()
    assert len(pids) == 2
    assert pool.pids() == []
    assert all(gone(pid) for pid in pids)


# -- the engine's SIGTERM path ---------------------------------------------------------------------------


def test_engine_shutdown_lets_an_in_flight_call_finish(folder: str) -> None:
    pool = OffloadPool(1)
    engine = EngineThread(make_app(pool, folder), graceful_timeout=20)
    results: dict[str, httpx.Response] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{engine.port}") as client:
        call = threading.Thread(target=lambda: results.setdefault("r", client.get("/block/drain")))
        call.start()
        worker = started_pid(folder, "drain")
        engine.server.request_exit()  # as SIGTERM does
        state = engine.server.state
        assert state is not None
        wait_until(lambda: state.shutting_down, "the engine to begin its shutdown")
        assert call.is_alive() and worker in pool.pids()
        release(folder, "drain")
        call.join(20)
    engine.thread.join(20)
    assert results["r"].status_code == 200 and results["r"].json() == {"pid": worker}
    assert pool.pids() == []
    wait_until(lambda: gone(worker), "the worker to be joined")


# -- the pool on its own ---------------------------------------------------------------------------------


def test_run_returns_results_and_reraises_the_functions_exception(pool: OffloadPool) -> None:
    async def main() -> None:
        async with pool:
            assert (await pool.run(work.digest, 5))[0] == expected_digest(5)
            with pytest.raises(KeyError, match="missing") as info:
                await pool.run(work.fail, "missing")
            assert "in fail" in str(info.value.__cause__)  # the worker's traceback, chained

    asyncio.run(main())


def test_unpicklable_function_argument_and_result_name_the_culprit(pool: OffloadPool) -> None:
    def local() -> int:
        return 1

    async def main() -> None:
        async with pool:
            with pytest.raises(TypeError, match=r"can't pickle the function .*local\(\).*top level"):
                await pool.run(local)
            with pytest.raises(TypeError, match=r"positional argument 0 of digest\(\) \(a lock\)"):
                await pool.run(work.digest, threading.Lock())  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"keyword argument 'seed' of digest\(\)"):
                await pool.run(work.digest, 1, seed=threading.Lock())  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"result of unpicklable_result\(\) \(a function\)"):
                await pool.run(work.unpicklable_result)
            assert (await pool.run(work.digest, 1))[0] == expected_digest(1)

    asyncio.run(main())


def test_worker_that_exits_fails_only_its_call(pool: OffloadPool, folder: str) -> None:
    async def main() -> None:
        async with pool:
            survivor = asyncio.ensure_future(pool.run(work.wait_for_release, folder, "survivor"))
            await asyncio.to_thread(started_pid, folder, "survivor")
            with pytest.raises(WorkerCrashedError, match=r"died \(exit status 3\)") as info:
                await pool.run(work.die, 3)
            assert isinstance(info.value, BrokenProcessPool)  # ProcessPoolExecutor code catches it
            release(folder, "survivor")
            assert await survivor == int(Path(folder, "survivor.started").read_text())
            await asyncio.to_thread(wait_until, lambda: len(pool.pids()) == 2, "a replacement")

    asyncio.run(main())


def test_timeout_of_a_queued_call_drops_it_unrun(folder: str) -> None:
    pool = OffloadPool(1)

    async def main() -> None:
        async with pool:
            busy = asyncio.ensure_future(pool.run(work.wait_for_release, folder, "busy"))
            await asyncio.to_thread(started_pid, folder, "busy")
            with pytest.raises(OffloadTimeoutError, match="did not start"):
                await pool.run_with_timeout(0.2, work.mark, folder, "queued")
            release(folder, "busy")
            await busy
            assert await pool.run(work.mark, folder, "after") == "after"
            assert not Path(folder, "queued.ran").exists()

    asyncio.run(main())


def test_cancelled_caller_drops_a_queued_call(folder: str) -> None:
    pool = OffloadPool(1)

    async def main() -> None:
        async with pool:
            busy = asyncio.ensure_future(pool.run(work.wait_for_release, folder, "busy"))
            await asyncio.to_thread(started_pid, folder, "busy")
            queued = asyncio.ensure_future(pool.run(work.mark, folder, "dropped"))
            await asyncio.sleep(0)
            queued.cancel()  # a client that went away
            release(folder, "busy")
            await busy
            await pool.run(work.mark, folder, "next")
            assert not Path(folder, "dropped.ran").exists() and Path(folder, "next.ran").exists()

    asyncio.run(main())


def test_shutdown_waits_for_running_calls_then_joins(folder: str) -> None:
    pool = OffloadPool(2)

    async def main() -> None:
        await pool.start()
        pids = pool.pids()
        call = asyncio.ensure_future(pool.run(work.wait_for_release, folder, "last"))
        worker = await asyncio.to_thread(started_pid, folder, "last")
        closing = asyncio.ensure_future(pool.aclose(timeout=20))
        with pytest.raises(PoolClosedError):
            for _ in range(200):  # close() marks the pool closed from a thread: soon new calls fail
                await pool.run(work.pid)
                await asyncio.sleep(0.01)
        assert not closing.done()
        release(folder, "last")
        assert await call == worker
        await closing
        assert pool.pids() == [] and all(gone(pid) for pid in pids)

    asyncio.run(main())


def test_shutdown_timeout_kills_calls_that_never_finish(folder: str) -> None:
    pool = OffloadPool(1, shutdown_timeout=0.2)

    async def main() -> None:
        await pool.start()
        call = asyncio.ensure_future(pool.run(work.wait_for_release, folder, "forever"))
        worker = await asyncio.to_thread(started_pid, folder, "forever")
        await pool.aclose()
        with pytest.raises(PoolClosedError, match="killed at shutdown"):
            await call
        assert gone(worker)

    asyncio.run(main())


def test_initializer_runs_in_every_worker_and_its_failure_stops_startup(folder: str) -> None:
    async def main() -> None:
        async with OffloadPool(1, initializer=work.setup_greeting, initargs=("hello",)) as pool:
            assert await pool.run(work.greet, "fulmen") == "hello, fulmen"
        broken = OffloadPool(1, initializer=work.broken_initializer)
        with pytest.raises(OffloadError, match="failed in its set-up") as info:
            await broken.start()
        assert "the model file is missing" in str(info.value.__cause__)
        assert broken.pids() == []

    asyncio.run(main())


def test_initializer_failure_fails_app_startup_on_the_engine() -> None:
    pool = OffloadPool(1, initializer=work.broken_initializer)
    engine = EngineThread(FastAPI(lifespan=pool.lifespan))
    try:
        engine.thread.join(20)
        assert engine.result is False  # serve() returned "application failed to start" (exit status 3)
    finally:
        engine.sock.close()
    assert pool.pids() == []


def test_max_tasks_per_child_replaces_the_process() -> None:
    async def main() -> None:
        async with OffloadPool(1, max_tasks_per_child=1) as pool:
            first = await pool.run(work.pid)
            second = await pool.run(work.pid)
            assert first != second

    asyncio.run(main())


def test_contextvars_do_not_cross_into_workers(pool: OffloadPool) -> None:
    async def main() -> None:
        async with pool:
            work.REQUEST_ID.set("abc")
            assert await pool.run(work.read_request_id) == "unset"
            with pytest.raises(TypeError, match=r"argument 0 of greet\(\) \(a ContextVar\)"):
                await pool.run(work.greet, work.REQUEST_ID)  # type: ignore[arg-type]

    asyncio.run(main())


def test_default_pool_starts_lazily_and_a_closed_pool_refuses_calls() -> None:
    async def main() -> None:
        assert (await offload(work.digest, 3))[0] == expected_digest(3)
        assert run_in_process is offload
        default = get_offload_pool()
        assert len(default.pids()) >= 1
        pids = default.pids()
        await default.aclose()
        assert all(gone(pid) for pid in pids)
        with pytest.raises(PoolClosedError):
            await default.run(work.pid)
        await default.start()  # a lifespan may open it again (the same app served twice)
        assert await default.run(work.pid) in default.pids()
        await default.aclose()

    asyncio.run(main())


def test_declaration_errors() -> None:
    with pytest.raises(ValueError, match="forking the server process is unsafe"):
        OffloadPool(start_method="fork")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_workers=0"):
        OffloadPool(0)
    with pytest.raises(ValueError, match="timeout=0"):
        OffloadPool(timeout=0)
    with pytest.raises(ValueError, match="kind='interpreter'"):
        OffloadPool(kind="interpreter")
    with pytest.raises(TypeError, match="initializer"):
        OffloadPool(initializer=lambda: None)

    def nested() -> None: ...

    with pytest.raises(TypeError, match="top level"):
        offloaded(nested)
    with pytest.raises(TypeError, match="top level"):
        offloaded(lambda: None)


def test_default_max_workers_divides_the_cpus_by_the_server_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    cpus = len(os.sched_getaffinity(0))
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("FULMEN_WORKERS", raising=False)
    assert default_max_workers() == cpus
    monkeypatch.setenv("FULMEN_WORKERS", str(cpus * 2))
    assert default_max_workers() == 1
    monkeypatch.delenv("FULMEN_WORKERS")
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    assert default_max_workers() == cpus


MULTI_WORKER_APP = textwrap.dedent(
    """
    import os
    from fulmen import FastAPI
    from fulmen.integrations.offload import OffloadPool
    from tests.integration import offload_work as work

    pool = OffloadPool()
    app = FastAPI(lifespan=pool.lifespan)

    @app.get("/")
    async def root():
        return {"server": os.getpid(), "size": pool.max_workers, "pids": pool.pids(),
                "worker": await pool.run(work.pid)}

    if __name__ == "__main__":
        app.run(port=int(os.environ["PORT"]), workers=2, access_log=False)
    """
)


def test_each_engine_worker_has_its_own_pool(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "multi.py"
    script.write_text(MULTI_WORKER_APP)
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": f"{FULMEN_PATH}{os.pathsep}{REPO}"}
    env.pop("FULMEN_WORKERS", None)
    env.pop("WEB_CONCURRENCY", None)
    server = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)
    seen: dict[int, dict[str, Any]] = {}
    try:

        def both_workers_answered() -> bool:
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                    body = client.get("/").json()
            except httpx.HTTPError:
                return False
            seen[body["server"]] = body
            return len(seen) == 2

        wait_until(both_workers_answered, "both engine workers to answer", limit=60)
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(30)
    assert code == 0
    expected_size = max(1, len(os.sched_getaffinity(0)) // 2)
    all_pool_pids: set[int] = set()
    for body in seen.values():
        assert body["size"] == expected_size
        assert len(body["pids"]) == expected_size and body["worker"] in body["pids"]
        all_pool_pids.update(body["pids"])
    assert len(all_pool_pids) == 2 * expected_size  # separate pools, separate processes
    wait_until(lambda: all(gone(pid) for pid in all_pool_pids), "every pool process to exit")


ORPHAN_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from fulmen.integrations.offload import OffloadPool
    from tests.integration import offload_work as work

    async def main():
        pool = OffloadPool(2)
        await pool.start()
        busy = asyncio.ensure_future(pool.run(work.wait_for_release, sys.argv[1], "orphan"))
        print(" ".join(map(str, pool.pids())), flush=True)
        await busy

    if __name__ == "__main__":
        asyncio.run(main())
    """
)


def test_workers_exit_when_the_server_is_killed(tmp_path: Path, folder: str) -> None:
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": f"{FULMEN_PATH}{os.pathsep}{REPO}"}
    server = subprocess.Popen(
        [sys.executable, str(script), folder], env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        pids = [int(pid) for pid in server.stdout.readline().split()]
        assert len(pids) == 2
        started_pid(folder, "orphan")  # one worker is busy in a call that never ends, one is idle
    finally:
        server.kill()  # SIGKILL: no shutdown code runs in the server
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()
    wait_until(lambda: all(gone(pid) for pid in pids), "the orphaned workers to exit")


def test_the_example_app(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # As a top-level module (workers import it by that name, as they would a user's app module).
    # Not monkeypatch.syspath_prepend: it calls into pkg_resources when that is imported, and the Autobahn
    # test's kosoku installs a partial pkg_resources shim (the full suite failed here).
    monkeypatch.setattr(sys, "path", [str(REPO / "examples"), *sys.path])
    importlib.invalidate_caches()
    example = __import__("offload")
    assert Path(example.__file__).parent == REPO / "examples"
    client = serve(example.app)
    body = client.get("/digest", params={"rounds": 50}).json()
    assert body == {"rounds": 50, "digest": expected_digest_of(b"fulmen", 50)}
    assert client.get("/words", params={"text": "to be or not to be"}).json() == {
        "to": 2,
        "be": 2,
        "or": 1,
        "not": 1,
    }
    assert client.get("/ping").json() == {"ping": "pong"}


def expected_digest_of(seed: bytes, rounds: int) -> str:
    for _ in range(rounds):
        seed = hashlib.sha256(seed).digest()
    return seed.hex()


def test_import_fulmen_does_not_load_the_pool() -> None:
    code = (
        "import sys, fulmen\n"
        "from fulmen import FastAPI\n"
        "loaded = ('fulmen.integrations.offload', 'multiprocessing', 'concurrent.futures.process')\n"
        "print(','.join(m for m in loaded if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


SIGNAL_APP = textwrap.dedent(
    """
    import os, sys
    from fulmen import FastAPI
    from fulmen.integrations.offload import OffloadPool
    from tests.integration import offload_work as work

    pool = OffloadPool(1)
    app = FastAPI(lifespan=pool.lifespan)

    @app.get("/block")
    async def block():
        return {"pid": await pool.run(work.wait_for_release, sys.argv[2], "signal")}

    if __name__ == "__main__":
        app.run(port=int(sys.argv[1]), access_log=False, graceful_timeout=30)
    """
)


@pytest.mark.parametrize("how", ["SIGTERM to the server", "SIGINT to the process group"])
def test_a_signal_lets_the_in_flight_offloaded_call_finish(tmp_path: Path, folder: str, how: str) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "signal_app.py"
    script.write_text(SIGNAL_APP)
    env = {**os.environ, "PYTHONPATH": f"{FULMEN_PATH}{os.pathsep}{REPO}"}
    # Its own session: the group SIGINT (a terminal's Ctrl-C) reaches the server and its workers only.
    server = subprocess.Popen(
        [sys.executable, str(script), str(port), folder], env=env, start_new_session=True
    )
    results: dict[str, Any] = {}
    try:

        def call() -> None:
            try:
                results["r"] = httpx.get(f"http://127.0.0.1:{port}/block", timeout=60)
            except httpx.HTTPError as exc:
                results["r"] = exc

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_until(listening, "the server to listen", limit=30)
        caller = threading.Thread(target=call)
        caller.start()
        worker = started_pid(folder, "signal")
        if how.startswith("SIGTERM"):
            server.send_signal(signal.SIGTERM)
        else:
            os.killpg(server.pid, signal.SIGINT)
        wait_until(lambda: not listening(), "the server to stop accepting")
        assert caller.is_alive() and not gone(worker)  # the worker ignored the signal, the call still runs
        release(folder, "signal")
        caller.join(30)
        assert server.wait(30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
    response = results["r"]
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200 and response.json() == {"pid": worker}
    wait_until(lambda: gone(worker), "the worker to be joined")


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_start_methods_and_preload(start_method: str) -> None:
    async def main() -> None:
        pool = OffloadPool(1, start_method=start_method, preload=["xml.dom.minidom"])  # type: ignore[arg-type]
        async with pool:
            assert await pool.run(work.loaded, "xml.dom.minidom")
            assert (await pool.run(work.digest, 4))[0] == expected_digest(4)
        missing = OffloadPool(1, start_method=start_method, preload=["no_such_module_here"])  # type: ignore[arg-type]
        with pytest.raises(OffloadError, match="failed in its set-up") as info:
            await missing.start()
        assert "No module named 'no_such_module_here'" in str(info.value.__cause__)

    asyncio.run(main())


JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=20,
)


def test_values_cross_unchanged_from_any_event_loop() -> None:
    pool = OffloadPool(1)

    @settings(max_examples=60, deadline=None)
    @given(JSON_LIKE)
    def crosses(value: Any) -> None:
        # A new event loop per example: the pool is not tied to the loop that started it.
        assert asyncio.run(pool.run(work.identity, value)) == value

    try:
        crosses()
    finally:
        pool.close(timeout=5)


def test_large_payloads_both_ways() -> None:
    data = os.urandom(8 * 1024 * 1024)  # far past a pipe's buffer, so both sides must stream it

    async def main() -> None:
        async with OffloadPool(1) as pool:
            assert await pool.run(work.reverse, data) == data[::-1]

    asyncio.run(main())


def test_shutdown_kills_a_worker_stuck_in_its_initializer(folder: str) -> None:
    pool = OffloadPool(1, initializer=work.hang_in_setup, initargs=(folder,), shutdown_timeout=0.2)

    async def main() -> None:
        starting = asyncio.ensure_future(pool.start())
        worker = await asyncio.to_thread(started_pid, folder, "setup")
        await pool.aclose()
        with pytest.raises(PoolClosedError, match="while a worker process was starting"):
            await starting
        assert gone(worker) and pool.pids() == []

    asyncio.run(main())
