"""fulmen's objects pass ``isinstance`` checks against Starlette's and FastAPI's classes once imported.

Libraries written for FastAPI check ``isinstance(request, starlette.requests.Request)`` (slowapi),
``isinstance(response, starlette.responses.Response)`` (fastapi-csrf-protect, fastapi-cache2) or
``isinstance(route, fastapi.routing.APIRoute)`` (fastapi-restful's class-based views). fulmen's classes don't
derive from theirs (fulmen depends on neither). Instead their ``__class__`` names a subclass of both, made
once per class. ``isinstance`` consults ``__class__`` only after the real type failed to match, so
``type(obj)``, fulmen's own checks and the hot path are unchanged, and nothing happens before the program
itself imports Starlette or FastAPI.
"""

from __future__ import annotations

import copyreg
import sys
from typing import Any

#: fulmen's classes (module, name) and the class (module, name) each one stands for. A route stands for
#: FastAPI's route class once ``fastapi.routing`` is imported, else for Starlette's (the second entry).
_EQUIVALENTS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("fulmen.requests", "Request"): (("starlette.requests", "Request"),),
    ("fulmen.websockets", "WebSocket"): (("starlette.websockets", "WebSocket"),),
    ("fulmen.responses", "Response"): (("starlette.responses", "Response"),),
    ("fulmen.responses", "JSONResponse"): (("starlette.responses", "JSONResponse"),),
    ("fulmen.responses", "PlainTextResponse"): (("starlette.responses", "PlainTextResponse"),),
    ("fulmen.responses", "HTMLResponse"): (("starlette.responses", "HTMLResponse"),),
    ("fulmen.responses", "RedirectResponse"): (("starlette.responses", "RedirectResponse"),),
    ("fulmen.responses", "StreamingResponse"): (("starlette.responses", "StreamingResponse"),),
    ("fulmen.responses", "FileResponse"): (("starlette.responses", "FileResponse"),),
    ("fulmen.datastructures", "UploadFile"): (("starlette.datastructures", "UploadFile"),),
    ("fulmen.routing", "APIRoute"): (("fastapi.routing", "APIRoute"), ("starlette.routing", "Route")),
    ("fulmen.routing", "APIWebSocketRoute"): (
        ("fastapi.routing", "APIWebSocketRoute"),
        ("starlette.routing", "WebSocketRoute"),
    ),
}

#: Per fulmen class: what its instances' ``__class__`` reports (the class itself when nothing stands for it).
_views: dict[type, type] = {}
_set_class = object.__dict__["__class__"].__set__


def class_view(cls: type) -> type:
    """``cls``, or once Starlette's equivalent is imported, a subclass of ``cls`` and of that class."""
    view = _views.get(cls)
    if view is not None:
        return view
    targets = None
    for base in cls.__mro__:
        targets = _EQUIVALENTS.get((base.__module__, base.__name__))
        if targets is not None:
            break
    if targets is None:
        _views[cls] = cls
        return cls
    imported = [(sys.modules.get(module), name) for module, name in targets]
    found = [getattr(module, name) for module, name in imported if module is not None]
    if not found:
        return cls  # not remembered: the program may import Starlette later
    foreign = found[0]
    view = cls if issubclass(cls, foreign) else _view_class(cls, foreign)  # aliased: cls is Starlette's
    if imported[0][0] is None:
        return view  # a fallback (Starlette's): not remembered, FastAPI's may be imported later
    _views[cls] = view
    return view


_made: dict[tuple[type, type], type] = {}


def _view_class(cls: type, foreign: type) -> type:
    """The subclass of ``cls`` and ``foreign`` that ``cls``'s instances report as their ``__class__``."""
    view = _made.get((cls, foreign))
    if view is None:
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        view = _made[cls, foreign] = type(cls.__name__, (cls, foreign), namespace)
        _views[view] = view
    return view


def _get(self: Any) -> type:
    return class_view(type(self))


def _set(self: Any, cls: type) -> None:
    _set_class(self, cls)


#: The ``__class__`` of fulmen's requests, WebSockets, responses and routes (see the module's docstring).
lookalike_class = property(_get, _set, doc="The object's class as ``isinstance`` sees it (Starlette's too).")


_NEWOBJ: Any = vars(copyreg)["__newobj__"]


def _new(cls: type, *args: Any) -> Any:
    """Unpickling: ``cls.__new__(cls, *args)``, as ``copyreg.__newobj__`` does."""
    return cls.__new__(cls, *args)


def lookalike_reduce_ex(self: Any, protocol: Any) -> Any:
    """``__reduce_ex__`` for a class with ``lookalike_class``: pickle checks that ``copyreg.__newobj__``'s
    class is ``obj.__class__``, which the view no longer is; ``_new`` rebuilds the real class instead."""
    reduced = object.__reduce_ex__(self, protocol)
    if isinstance(reduced, tuple) and reduced and reduced[0] is _NEWOBJ:
        return (_new, *reduced[1:])
    return reduced
