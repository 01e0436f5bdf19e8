"""In-process cost of ``app.handle`` for GET /hello with and without the MCP server mounted (best of 15).

Not a wrk run: on a shared machine wrk's req/s move by 20% between runs, which hides a small difference;
the best of many in-process timings shows what mounting MCP costs a route that doesn't use it.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fulmen.requests import Request


def make(mounted: bool) -> Any:
    sys.argv = ["handle_cost"] if mounted else ["handle_cost", "--no-mcp"]
    import fulmen_mcp_app

    return importlib.reload(fulmen_mcp_app).app


async def per_request(app: Any, n: int = 20_000) -> float:
    headers = [(b"host", b"bench")]
    start = time.perf_counter()
    for _ in range(n):
        await app.handle(Request("GET", b"/hello", b"", headers, app=app))
    return (time.perf_counter() - start) / n * 1e9


async def main() -> None:
    apps = {"no MCP": make(False), "MCP mounted": make(True)}
    for app in apps.values():
        await app.startup()
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(15):
        for name, app in apps.items():
            best[name] = min(best[name], await per_request(app))
    for name, value in best.items():
        print(f"{name}: {value:,.0f} ns per request")
    print(f"ratio mounted / not: {best['MCP mounted'] / best['no MCP']:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
