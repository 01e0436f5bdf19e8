"""``/docs`` and ``/redoc`` work in a real headless Chromium, and no request leaves the machine.

An example app is served by fulmen's engine on 127.0.0.1; Chromium (Debian's ``chromium``, installed by
``.ci/run``) is driven over the DevTools protocol by ``tests/openapi/browser.py``. Every URL the page requests
is recorded and must be on the app's own origin: the docs pages' JavaScript and CSS are served by the app.
On CI a missing Chromium fails these tests; locally they skip.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pydantic
import pytest

from fulmen import FastAPI
from tests.conftest import ci
from tests.engine.conftest import start_engine_in_thread
from tests.openapi.browser import Browser, BrowserError, Page, find_chromium

ITEMS = [{"name": "Hammer", "price": 9.5, "tags": ["tools"]}, {"name": "Nail", "price": 0.1, "tags": []}]
OPERATION_PATHS = ["/items/", "/items/{item_id}"]
# Summaries from the function names, in the document's order (by path, then method), as ReDoc lists them.
OPERATION_TITLES = ["List Items", "Create Item", "Read Item"]


class Item(pydantic.BaseModel):
    name: str
    price: float
    tags: list[str] = []
    description: str | None = None


def example_app(**settings: Any) -> FastAPI:
    app = FastAPI(title="Browser test shop", **settings)

    @app.get("/items/", response_model=list[Item], tags=["items"])
    async def list_items(limit: int = 10) -> list[dict[str, object]]:
        """All the items, at most ``limit``."""
        return ITEMS[:limit]

    @app.get("/items/{item_id}", response_model=Item, tags=["items"])
    async def read_item(item_id: int) -> dict[str, object]:
        return ITEMS[item_id]

    @app.post("/items/", response_model=Item, status_code=201, tags=["items"])
    async def create_item(item: Item) -> Item:
        return item

    return app


@dataclass
class Site:
    base: str
    browser: Browser

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[Page]:
        """A new tab showing ``path``, closed afterwards (one at a time: a background tab is throttled)."""
        page = self.browser.new_page()
        try:
            page.navigate(self.base + path)
            yield page
        finally:
            self.browser.close_page(page)

    def remote_requests(self, page: Page) -> list[str]:
        """The URLs ``page`` requested from anywhere but the app (data: and blob: stay in the browser)."""
        page.evaluate("1")  # a round trip: every event sent before its reply has been recorded
        assert page.requests, "no request was recorded"
        return [url for url in page.requests if not url.startswith((self.base + "/", "data:", "blob:"))]

    def assert_only_local_requests(self, page: Page) -> None:
        remote = self.remote_requests(page)
        assert not remote, f"requests left the machine: {remote}"


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    binary = find_chromium()
    if binary is None:
        message = "chromium is not installed (apt-get install chromium; .ci/run does it)"
        if ci():
            pytest.fail(message)
        pytest.skip(message)
    port, stop = start_engine_in_thread(example_app())
    try:
        with Browser(binary) as browser:
            yield Site(f"http://127.0.0.1:{port}", browser)
    finally:
        stop()


# JavaScript: an operation block's path as Swagger UI shows it (``data-path`` in Swagger UI 4 and 5).
PATH_OF = (
    "(b => { const p = b.querySelector('.opblock-summary-path');"
    " return p && (p.getAttribute('data-path') || p.textContent.replace(/\\u200b/g, '').trim()); })"
)
BLOCKS = "Array.from(document.querySelectorAll('.opblock'))"


def block(method: str, path: str) -> str:
    """JavaScript: the operation block of ``method path``."""
    return (
        f"{BLOCKS}.find(b => b.classList.contains('opblock-{method}') && {PATH_OF}(b) === {json.dumps(path)})"
    )


def wait_for_operations(page: Page) -> list[str]:
    paths: list[str] = page.wait_for(
        f"(() => {{ const p = {BLOCKS}.map({PATH_OF}); return p.length >= 3 && p; }})()"
    )
    return paths


def click(page: Page, element_js: str, what: str) -> None:
    """Wait for the element ``element_js`` (a JavaScript expression) evaluates to, then click it."""
    try:
        page.wait_for(f"!!({element_js})")
    except BrowserError as exc:
        raise AssertionError(f"{what} never showed") from exc
    page.evaluate(f"({element_js}).click()")


def text_of(page: Page, element_js: str) -> str:
    """Wait for the element ``element_js`` evaluates to and return its text."""
    text: str = page.wait_for(f"(() => {{ const e = {element_js}; return e && e.textContent.trim(); }})()")
    return text


def test_swagger_ui_shows_the_operations(site: Site) -> None:
    with site.open("/docs") as page:
        paths = wait_for_operations(page)
        assert sorted(paths) == ["/items/", "/items/", "/items/{item_id}"]
        methods = page.evaluate(f"{BLOCKS}.map(b => b.querySelector('.opblock-summary-method').textContent)")
        assert sorted(methods) == ["GET", "GET", "POST"]
        assert text_of(page, f"{block('post', '/items/')}.querySelector('.opblock-summary-description')") == (
            "Create Item"
        )
        site.assert_only_local_requests(page)


def test_swagger_ui_try_it_out_and_execute(site: Site) -> None:
    with site.open("/docs") as page:
        wait_for_operations(page)
        get_items = block("get", "/items/")
        # Swagger UI 5 expands on the summary's button (the enclosing div has no click handler).
        click(page, f"{get_items}.querySelector('.opblock-summary-control')", "the GET /items/ operation")
        click(page, f"{get_items}.querySelector('.try-out__btn')", "Try it out")
        click(page, f"{get_items}.querySelector('.execute')", "Execute")
        live = f"{get_items}.querySelector('.live-responses-table')"
        assert text_of(page, f"{live} && {live}.querySelector('.response .response-col_status')") == "200"
        body = text_of(page, f"{live} && {live}.querySelector('.response-col_description pre')")
        assert json.loads(body) == [
            {"name": "Hammer", "price": 9.5, "tags": ["tools"], "description": None},
            {"name": "Nail", "price": 0.1, "tags": [], "description": None},
        ]
        # Swagger UI called the app itself, from the browser, with the parameter's default filled in.
        assert f"{site.base}/items/?limit=10" in page.requests
        site.assert_only_local_requests(page)


def test_redoc_renders_the_operations(site: Site) -> None:
    titles_js = "Array.from(document.querySelectorAll('h2')).map(h => h.textContent.trim())"
    with site.open("/redoc") as page:
        page.wait_for(
            f"(t => {json.dumps(OPERATION_TITLES)}.every(x => t.includes(x)))({titles_js})",
            timeout=20,
        )
        titles = page.evaluate(titles_js)
        assert [t for t in titles if t in OPERATION_TITLES] == OPERATION_TITLES
        # The paths show in the operations' endpoint boxes.
        text = page.evaluate("document.body.innerText")
        for path in OPERATION_PATHS:
            assert path in text
        site.assert_only_local_requests(page)


def test_the_check_sees_cdn_requests(site: Site) -> None:
    """With ``docs_assets="cdn"`` the same pages load from jsDelivr, and the recorded requests show it.

    Chromium resolves no host but 127.0.0.1 here (``--host-resolver-rules``), so nothing actually leaves.
    """
    port, stop = start_engine_in_thread(example_app(docs_assets="cdn"))
    try:
        cdn = Site(f"http://127.0.0.1:{port}", site.browser)
        for path, bundle in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            with cdn.open(path) as page:
                remote = cdn.remote_requests(page)
                assert any(
                    url.startswith("https://cdn.jsdelivr.net/") and url.endswith(bundle) for url in remote
                )
    finally:
        stop()
