"""Request IDs: ``X-Request-ID`` on every response, in the logs and in the handler.

Run: ``python examples/request_id.py`` then ``curl -i -H "X-Request-ID: demo-1" localhost:8000/items/3``.
"""

from __future__ import annotations

import logging

from fulmen import FastAPI
from fulmen.middleware.requestid import RequestIdFilter, RequestIdMiddleware, get_request_id

app = FastAPI()
app.add_middleware(RequestIdMiddleware)

handler = logging.StreamHandler()
handler.addFilter(RequestIdFilter(default_value="-"))
handler.setFormatter(logging.Formatter("%(levelname)s [%(request_id)s] %(name)s: %(message)s"))
log = logging.getLogger("example")
log.addHandler(handler)
log.setLevel(logging.INFO)


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, object]:
    log.info("reading item %d", item_id)
    return {"item_id": item_id, "request_id": get_request_id()}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
