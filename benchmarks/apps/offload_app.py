"""Benchmark app for the CPU offload pool: a light route beside a CPU-bound one, in four modes.

``python offload_app.py PORT MODE`` serves on fulmen's engine (one worker, access log off):
- ``plain``: ``/light`` only, no pool (the baseline);
- ``pool-idle``: the same app with an offload pool started by its lifespan (``/light`` must not slow down);
- ``thread``: ``/heavy`` is a ``def`` handler (fulmen's thread pool, as in FastAPI), GIL-bound;
- ``offload``: ``/heavy`` is an ``async def`` handler awaiting ``pool.run(burn, ...)`` in worker processes.
"""

from __future__ import annotations

import hashlib
import os
import sys

from fulmen import FastAPI
from fulmen.integrations.offload import OffloadPool

#: Chained SHA-256 of 32-byte values: small inputs keep the GIL (hashlib releases it only from 2 KiB on),
#: so this is CPU-bound Python like parsing or templating: about 5 ms here (benchmarks/offload.py prints it).
ROUNDS = int(os.environ.get("OFFLOAD_ROUNDS", "4000"))


def burn(rounds: int) -> str:
    value = b"fulmen"
    for _ in range(rounds):
        value = hashlib.sha256(value).digest()
    return value.hex()


def make_app(mode: str) -> FastAPI:
    pool = OffloadPool() if mode in ("pool-idle", "offload") else None
    app = FastAPI(lifespan=pool.lifespan if pool is not None else None)

    @app.get("/light")
    async def light() -> dict[str, str]:
        return {"hello": "world"}

    if mode == "thread":

        @app.get("/heavy")
        def heavy_thread() -> dict[str, str]:
            return {"digest": burn(ROUNDS)}

    elif mode == "offload":
        assert pool is not None

        @app.get("/heavy")
        async def heavy_offload() -> dict[str, str]:
            return {"digest": await pool.run(burn, ROUNDS)}

    return app


if __name__ == "__main__":
    make_app(sys.argv[2]).run(host="127.0.0.1", port=int(sys.argv[1]), access_log=False)
