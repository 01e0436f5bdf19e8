"""fulmen's requests and responses pass ``isinstance`` checks against Starlette's classes once it's imported.

Libraries written for FastAPI check ``isinstance(request, starlette.requests.Request)`` (slowapi) or
``isinstance(response, starlette.responses.Response)`` (fastapi-csrf-protect, fastapi-cache2). fulmen's
classes don't derive from Starlette's (fulmen doesn't depend on it). Instead their ``__class__`` names a
subclass of both, made once per class. ``isinstance`` consults ``__class__`` only after the real type failed
to match, so ``type(obj)``, fulmen's own checks and the hot path are unchanged, and nothing happens before
the program itself imports Starlette.
"""

from __future__ import annotations

import sys
from typing import Any

#: fulmen's classes (module, name) and the Starlette class (module, name) each one stands for.
_EQUIVALENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("fulmen.requests", "Request"): ("starlette.requests", "Request"),
    ("fulmen.websockets", "WebSocket"): ("starlette.websockets", "WebSocket"),
    ("fulmen.responses", "Response"): ("starlette.responses", "Response"),
    ("fulmen.responses", "JSONResponse"): ("starlette.responses", "JSONResponse"),
    ("fulmen.responses", "PlainTextResponse"): ("starlette.responses", "PlainTextResponse"),
    ("fulmen.responses", "HTMLResponse"): ("starlette.responses", "HTMLResponse"),
    ("fulmen.responses", "RedirectResponse"): ("starlette.responses", "RedirectResponse"),
    ("fulmen.responses", "StreamingResponse"): ("starlette.responses", "StreamingResponse"),
    ("fulmen.responses", "FileResponse"): ("starlette.responses", "FileResponse"),
}

#: Per fulmen class: what its instances' ``__class__`` reports (the class itself when nothing stands for it).
_views: dict[type, type] = {}
_set_class = object.__dict__["__class__"].__set__


def class_view(cls: type) -> type:
    """``cls``, or once Starlette's equivalent is imported, a subclass of ``cls`` and of that class."""
    view = _views.get(cls)
    if view is not None:
        return view
    target = None
    for base in cls.__mro__:
        target = _EQUIVALENTS.get((base.__module__, base.__name__))
        if target is not None:
            break
    if target is None:
        _views[cls] = cls
        return cls
    module = sys.modules.get(target[0])
    if module is None:
        return cls  # not remembered: the program may import Starlette later
    foreign = getattr(module, target[1])
    if issubclass(cls, foreign):
        view = cls  # a program that aliases Starlette's modules to fulmen's
    else:
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        view = type(cls.__name__, (cls, foreign), namespace)
        _views[view] = view
    _views[cls] = view
    return view


def _get(self: Any) -> type:
    return class_view(type(self))


def _set(self: Any, cls: type) -> None:
    _set_class(self, cls)


#: The ``__class__`` of fulmen's requests, WebSockets and responses (see the module's docstring).
lookalike_class = property(_get, _set, doc="The object's class as ``isinstance`` sees it (Starlette's too).")
