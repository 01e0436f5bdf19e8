"""A small headless-Chromium driver over the DevTools protocol (CDP), for the docs-page browser tests.

No browser-automation dependency: Chromium is started with ``--remote-debugging-port=0``, the port it
picked is read from ``DevToolsActivePort`` in its profile directory, a page target is opened over HTTP
(``/json/new``) and driven over its WebSocket with the ``websockets`` package's synchronous client. Every
network request the page makes (``Network.requestWillBeSent``) is recorded in ``Page.requests``, so a test can
assert that none leaves the machine.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(RuntimeError):
    """Chromium failed to start, a CDP command failed, or a wait timed out."""


def find_chromium() -> str | None:
    """The path of a Chromium binary on ``PATH`` (Debian's package installs ``chromium``), or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """A headless Chromium process; ``with Browser(binary) as browser: page = browser.new_page()``."""

    def __init__(self, binary: str, *, start_timeout: float = 20.0) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="fulmen-chromium-", ignore_cleanup_errors=True)
        profile = Path(self._tmp.name) / "profile"
        self._stderr_path = Path(self._tmp.name) / "stderr.log"
        self._stderr = self._stderr_path.open("wb")
        args = [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            # Keep the browser itself quiet on the network (updates, metrics, safe browsing, first-run).
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--metrics-recording-only",
            # Nothing but this machine resolves: a page's request to another host is still recorded (the
            # tests assert there is none) but cannot reach out.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
            "about:blank",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._stderr)
        self.pages: list[Page] = []
        self._connections = contextlib.ExitStack()  # the pages' WebSockets (connect() is a context manager)
        try:
            self.port = self._wait_for_port(profile / "DevToolsActivePort", start_timeout)
        except BaseException:
            self.close()
            raise

    def _wait_for_port(self, port_file: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}: {self.stderr_tail()}")
            try:
                first_line = port_file.read_text().splitlines()[0]
                return int(first_line)
            except (OSError, IndexError, ValueError):
                time.sleep(0.05)
        raise BrowserError(f"chromium did not report its DevTools port in {timeout} s: {self.stderr_tail()}")

    def stderr_tail(self, size: int = 2000) -> str:
        """The end of Chromium's stderr, for error messages."""
        try:
            return self._stderr_path.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def new_page(self) -> Page:
        """Open a blank tab and connect to it, with network recording on."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as reply:
            target = json.loads(reply.read())
        ws = self._connections.enter_context(
            connect(target["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        )
        page = Page(ws, target["id"])
        # A background tab gets throttled timers and animation frames, which stalls single-page apps.
        page.send("Page.bringToFront")
        self.pages.append(page)
        return page

    def close_page(self, page: Page) -> None:
        """Close ``page``'s tab (its WebSocket closes with it)."""
        urllib.request.urlopen(
            f"http://127.0.0.1:{self.port}/json/close/{page.target_id}", timeout=10
        ).close()

    def close(self) -> None:
        """Close the pages, stop Chromium and remove its profile."""
        self._connections.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._stderr.close()
        self._tmp.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Page:
    """One tab: send CDP commands, evaluate JavaScript, wait for conditions; records requested URLs."""

    def __init__(self, ws: ClientConnection, target_id: str) -> None:
        self.ws = ws
        self.target_id = target_id
        self._next_id = 0
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.send("Network.enable")
        self.send("Runtime.enable")
        self.send("Page.enable")

    # -- protocol --------------------------------------------------------------------------------------------
    def send(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 15.0
    ) -> dict[str, Any]:
        """Send a command and return its ``result``; events that arrive meanwhile are recorded."""
        self._next_id += 1
        message_id = self._next_id
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"no reply to {method} in {timeout} s")
            try:
                message = json.loads(self.ws.recv(timeout=remaining))
            except TimeoutError:
                continue
            if message.get("id") == message_id:
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._on_event(message)

    def _on_event(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])

    # -- helpers ---------------------------------------------------------------------------------------------
    def evaluate(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page (promises awaited) and return its JSON value."""
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"JavaScript error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def navigate(self, url: str, timeout: float = 15.0) -> None:
        """Load ``url`` and wait until the document has finished loading."""
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"navigation to {url} failed: {result['errorText']}")
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'", timeout)

    def wait_for(self, expression: str, timeout: float = 15.0, interval: float = 0.1) -> Any:
        """Poll ``expression`` until it is truthy and return its value; BrowserError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(interval)
        raise BrowserError(
            f"timed out after {timeout} s waiting for {expression!r} (last value {value!r}); "
            f"page errors: {self.console_errors}"
        )
