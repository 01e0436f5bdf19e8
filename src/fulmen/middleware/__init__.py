"""Middleware: the ``Middleware`` spec, the native middleware interface and the ASGI types.

Every middleware class follows Starlette's convention: ``Cls(app, **options)`` is a pure ASGI application
wrapping ``app``, so ecosystem middleware (``starlette.middleware.*``, ``asgi-correlation-id``, ...) can be
added with ``app.add_middleware(Cls, **options)`` and fulmen's own middleware works under any ASGI stack.

The native interface
--------------------
A middleware class may also offer a *native* path, which fulmen uses instead of ASGI whenever it can::

    class MyMiddleware:
        def __init__(self, app: ASGIApp, **options) -> None: ...          # as any ASGI middleware
        async def __call__(self, scope, receive, send) -> None: ...         # the ASGI path
        def wrap_handle(self, handle: Handle) -> Handle: ...                # the native path

``Handle`` is what ``app.handle`` is: a callable taking a ``Request`` and returning a coroutine that resolves
to a ``Response``. ``wrap_handle(handle)`` is called once, when the middleware stack is built, with the next
(inner) handle, and returns the new one; it may return ``handle`` itself when, with its options, the
middleware has nothing to do (``TrustedHostMiddleware(allowed_hosts=["*"])``). For the native path fulmen
constructs the class with ``UNBOUND_APP`` in place of ``app`` (an ASGI app that raises if called): all the
option handling of ``__init__`` is shared, only ``__call__`` is unused.

When every installed middleware is native (the built-in ones and ``@app.middleware("http")``), the stack is
a plain chain of handles: both front doors keep calling ``app.handle(request)`` and the engine never builds an
ASGI scope (DESIGN.md §3.2). As soon as one ASGI-only middleware is installed, the whole stack is built in
ASGI form (the built-ins use their ``__call__``); the ASGI front door runs it directly and the engine reaches
it through ``fulmen.engine.asgi_adapter.ASGIAdapter``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fulmen.requests import Request
    from fulmen.responses import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: ``app.handle``'s shape: a Request in, a coroutine resolving to a Response out.
Handle = Callable[["Request"], Coroutine[Any, Any, "Response"]]


class NativeMiddleware(Protocol):
    """A middleware instance that can wrap fulmen's ``handle`` directly (see the module docstring)."""

    def wrap_handle(self, handle: Handle) -> Handle: ...


async def UNBOUND_APP(scope: Scope, receive: Receive, send: Send) -> None:
    """The ``app`` a middleware gets when fulmen uses it natively; its ASGI path is never called then."""
    raise RuntimeError(
        "This middleware instance was built for fulmen's native stack (wrap_handle); it has no ASGI app"
    )


def is_native(cls: Any) -> bool:
    """True when middleware class ``cls`` offers the native ``wrap_handle`` path."""
    return callable(getattr(cls, "wrap_handle", None))


class Middleware:
    """A middleware class and its options, as ``Fulmen(middleware=[Middleware(Cls, **options)])`` takes it."""

    __slots__ = ("args", "cls", "kwargs")

    def __init__(self, cls: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cls, self.args, self.kwargs))

    def __repr__(self) -> str:
        options = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Middleware({', '.join([getattr(self.cls, '__name__', repr(self.cls)), *options])})"


__all__ = [
    "UNBOUND_APP",
    "ASGIApp",
    "Handle",
    "Message",
    "Middleware",
    "NativeMiddleware",
    "Receive",
    "Scope",
    "Send",
    "is_native",
]
