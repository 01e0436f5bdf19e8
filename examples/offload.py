"""CPU-bound work in worker processes while the event loop keeps answering (docs/offload.md).

Run: python examples/offload.py   (then open http://127.0.0.1:8000/digest?rounds=200000 and, meanwhile,
http://127.0.0.1:8000/ping; or `fulmen run examples.offload:app --workers 2`)
"""

from __future__ import annotations

import hashlib

from fulmen import Depends, FastAPI, Request
from fulmen.integrations.offload import OffloadPool, OffloadTimeoutError, offloaded
from fulmen.responses import JSONResponse

# Functions that run in a worker must be importable: module level, here or in another module.


def digest(seed: bytes, rounds: int) -> str:
    """Chained SHA-256: pure CPU work that would hold the GIL in a ``def`` handler."""
    for _ in range(rounds):
        seed = hashlib.sha256(seed).digest()
    return seed.hex()


pool = OffloadPool(timeout=10.0)  # sized to the CPUs; each call may take 10 s at most
app = FastAPI(lifespan=pool.lifespan)  # workers start with the app and stop gracefully with it


@offloaded(pool=pool)
def word_count(text: str) -> dict[str, int]:
    """``@offloaded``: calling it returns an awaitable; the body runs in a worker."""
    counts: dict[str, int] = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


@app.exception_handler(OffloadTimeoutError)
async def too_slow(request: Request, exc: OffloadTimeoutError) -> JSONResponse:
    return JSONResponse({"detail": "The computation took too long"}, status_code=504)


@app.get("/digest")
async def make_digest(rounds: int = 100_000, workers: OffloadPool = Depends(pool)) -> dict[str, object]:
    return {"rounds": rounds, "digest": await workers.run(digest, b"fulmen", rounds)}


@app.get("/words")
async def words(text: str) -> dict[str, int]:
    return await word_count(text)


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"ping": "pong"}


if __name__ == "__main__":  # required: each worker process imports this module first
    app.run()
