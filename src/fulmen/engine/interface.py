"""Which interface the engine serves an object through: fulmen, ASGI 3 or WSGI (``Config.interface``).

Decided once at start-up by ``resolve_interface``; the CLI (``fulmen run --interface``) and ``Server`` both
call it, so a wrong choice fails before the socket is opened, with a message that says what to change.
``auto`` picks fulmen for an object with ``handle`` and ``startup`` (a fulmen app), ASGI 3 for a coroutine
function (or an object whose ``__call__`` is one) taking three arguments, WSGI for a plain callable taking
two.
"""

from __future__ import annotations

import inspect
from typing import Any

#: The values ``Config.interface`` and ``--interface`` accept.
INTERFACES = ("auto", "fulmen", "asgi", "wsgi")


class InterfaceError(TypeError):
    """The object can't be served through the chosen (or any detected) interface."""


def _is_fulmen(app: Any) -> bool:
    return callable(getattr(app, "handle", None)) and callable(getattr(app, "startup", None))


def _call_target(app: Any) -> Any:
    """The function that runs when ``app`` is called (its ``__call__`` for an instance)."""
    if inspect.isfunction(app) or inspect.ismethod(app) or not hasattr(app, "__call__"):  # noqa: B004
        return app
    return app.__call__


def _is_async(app: Any) -> bool:
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(_call_target(app))


def _positional_count(app: Any) -> int | None:
    """How many positional arguments ``app(...)`` takes; None when unknown (``*args``, no signature)."""
    try:
        signature = inspect.signature(app)
    except (TypeError, ValueError):
        return None
    count = 0
    for param in signature.parameters.values():
        if param.kind is param.VAR_POSITIONAL:
            return None
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _describe(app: Any) -> str:
    name = getattr(app, "__qualname__", None) or type(app).__qualname__
    return f"{name!s} ({type(app).__module__}.{type(app).__qualname__})"


def resolve_interface(app: Any, interface: str = "auto") -> str:
    """``"fulmen"``, ``"asgi"`` or ``"wsgi"`` for ``app``; raises InterfaceError when it doesn't fit.

    ``auto`` detects the interface; an explicit choice is checked against the object's shape.
    """
    if interface not in INTERFACES:
        raise InterfaceError(f"interface must be one of {', '.join(INTERFACES)}, got {interface!r}")
    if interface == "fulmen" or (interface == "auto" and _is_fulmen(app)):
        if not callable(getattr(app, "handle", None)):
            raise InterfaceError(
                f"{_describe(app)} is not a fulmen application: it has no .handle(request) method; "
                "serve an ASGI app with --interface asgi, a WSGI app with --interface wsgi (or use auto)"
            )
        return "fulmen"
    if inspect.isclass(app):
        raise InterfaceError(
            f"{_describe(app)} is a class: ASGI 2 applications (a class called with the scope) are not "
            "supported; serve an ASGI 3 callable "
            "(asgiref.compatibility.guarantee_single_callable converts one)"
        )
    if not callable(app):
        raise InterfaceError(
            f"{_describe(app)} is not callable: expected a fulmen app, an ASGI 3 app or a WSGI app"
        )
    is_async = _is_async(app)
    count = _positional_count(app)
    if interface == "asgi":
        if not is_async and count == 2:
            raise InterfaceError(
                f"{_describe(app)} takes (environ, start_response): it looks like a WSGI app; "
                "use --interface wsgi"
            )
        if count is not None and count != 3:
            raise InterfaceError(
                f"{_describe(app)} takes {count} positional argument(s); an ASGI 3 app takes "
                "(scope, receive, send) (ASGI 2 apps are not supported)"
            )
        return "asgi"
    if interface == "wsgi":
        if is_async:
            raise InterfaceError(
                f"{_describe(app)} is an async callable, not a WSGI app; use --interface asgi (or auto)"
            )
        if count is not None and count != 2:
            raise InterfaceError(
                f"{_describe(app)} takes {count} positional argument(s); a WSGI app takes "
                "(environ, start_response)"
            )
        return "wsgi"
    # auto
    if is_async:
        if count is not None and count != 3:
            raise InterfaceError(
                f"{_describe(app)} is an async callable taking {count} positional argument(s); an ASGI 3 app "
                "takes (scope, receive, send)"
            )
        return "asgi"
    if count == 2:
        return "wsgi"
    if count == 3:
        return "asgi"  # a plain function returning an awaitable (a decorated ASGI app)
    if count == 1:
        raise InterfaceError(
            f"{_describe(app)} takes one argument: ASGI 2 applications are not supported; serve an ASGI 3 "
            "callable (asgiref.compatibility.guarantee_single_callable converts one)"
        )
    raise InterfaceError(
        f"can't tell how to serve {_describe(app)}: it is neither a fulmen app, nor an ASGI 3 app "
        "(async (scope, receive, send)), nor a WSGI app ((environ, start_response)); "
        "name the interface with --interface"
    )
