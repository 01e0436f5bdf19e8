"""Which engine build the suite runs against: the mypyc-compiled one when CI says so, else pure Python.

CI's compiled job installs ``FULMEN_COMPILE=1 pip install ".[dev]"`` and sets ``FULMEN_EXPECT_COMPILED=1``:
a build that silently fell back to pure Python fails here instead of passing the suite unnoticed. Without
the variable, an editable checkout must run its own ``src/`` as plain Python (no stale ``.so`` shadowing it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fulmen.engine
from fulmen.engine import protocol
from fulmen.engine.config import Config
from fulmen.engine.protocol import HttpProtocol, ServerState, timed_protocol
from fulmen.engine.streamed_body import StreamingBodyProtocol

SRC = Path(__file__).resolve().parents[2] / "src"
EXPECT_COMPILED = os.environ.get("FULMEN_EXPECT_COMPILED") == "1"
#: The modules setup.py's COMPILED list turns into C extensions.
COMPILED_MODULES = (protocol,)


@pytest.mark.skipif(not EXPECT_COMPILED, reason="FULMEN_EXPECT_COMPILED=1 is set only by CI's compiled job")
def test_the_compiled_engine_is_the_one_imported() -> None:
    for module in COMPILED_MODULES:
        path = Path(module.__file__ or "")
        assert path.name.endswith(".so"), f"{path}: FULMEN_COMPILE=1 fell back to pure Python"
        assert SRC not in path.resolve().parents, f"{path}: the checkout, not the installed build"
    assert fulmen.engine.compiled()
    from fulmen.engine import _lane  # type: ignore[attr-defined]  # the Cython lane (setup.py CYTHON)

    path = Path(_lane.__file__ or "")
    assert path.name.endswith(".so") and SRC not in path.resolve().parents, path


def test_an_editable_checkout_runs_pure_python() -> None:
    if EXPECT_COMPILED:
        pytest.skip("CI's compiled job: the installed build is compiled")
    path = Path(protocol.__file__).resolve()
    if SRC not in path.parents:
        pytest.skip(f"fulmen is imported from {path.parent}, not this checkout's src/")
    for module in COMPILED_MODULES:
        path = Path(module.__file__ or "").resolve()
        assert path.suffix == ".py"
        stale = list(path.parent.glob(f"{path.stem}.*.so"))
        assert not stale, f"a stale compiled module shadows {path.name}: {stale}"
    assert not fulmen.engine.compiled()


class _Recording(HttpProtocol):
    """A Python subclass overriding a method that the protocol's own code calls."""

    def _after_activity(self) -> None:
        self.calls.append("after_activity")
        super()._after_activity()

    calls: list[str]


def test_python_subclasses_override_the_protocols_methods() -> None:
    """Compiled, HttpProtocol must still dispatch its internal calls to a Python subclass's overrides
    (``allow_interpreted_subclasses``): StreamingBodyProtocol and the access log's timer rely on it."""

    class Transport:
        def get_extra_info(self, name: str) -> None:
            return None

        def write(self, data: bytes) -> None:
            pass

    class Loop:
        def time(self) -> float:
            return 0.0

        def call_at(self, when: float, callback: object) -> object:
            return None

    state = ServerState(object(), Config(), Loop())  # type: ignore[arg-type]
    proto = _Recording(state)
    proto.calls = []
    proto.connection_made(Transport())  # type: ignore[arg-type]
    proto.data_received(b"GET / HTTP/1.1\r\nHost: a")  # half a head: parsed, nothing dispatched
    assert proto.calls == ["after_activity"]


def test_the_access_log_timer_mixes_with_every_protocol_class() -> None:
    for cls in (HttpProtocol, StreamingBodyProtocol):
        timed = timed_protocol(cls)
        assert issubclass(timed, cls)
        assert timed.on_message_begin is not cls.on_message_begin
