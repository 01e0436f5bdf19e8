"""``@mcp.tool()`` functions as route endpoints: their plain parameters become embedded JSON body fields.

A tool function is served by a private app's route, so its arguments get fulmen's validation (and its
error items), ``Depends`` and the other route parameters work, and its schema comes from the OpenAPI output.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin

from fulmen._typing import function_type_hints, is_class
from fulmen.background import BackgroundTasks
from fulmen.params import Body, Depends, Param
from fulmen.requests import Request
from fulmen.responses import Response
from fulmen.security.oauth2 import SecurityScopes

# Parameters of these types are given by the framework, never by the tool's caller.
_INJECTED = (Request, Response, BackgroundTasks, SecurityScopes)


def _is_marker(value: Any) -> bool:
    return isinstance(value, (Param, Depends))


def _caller_gives(annotation: Any, default: Any) -> bool:
    """True for a parameter the MCP client passes: not a Depends/Header/... nor an injected type."""
    if _is_marker(default):
        return False
    if get_origin(annotation) is Annotated:
        if any(_is_marker(m) for m in get_args(annotation)[1:]):
            return False
        annotation = get_args(annotation)[0]
    return not (is_class(annotation) and issubclass(annotation, _INJECTED))


def endpoint_for(func: Callable[..., Any]) -> tuple[Callable[..., Any], Any]:
    """A route endpoint calling ``func`` with every plain parameter as ``Body(embed=True)``, and its
    response model (the return annotation, or None)."""
    signature = inspect.signature(func)
    try:
        hints = function_type_hints(func)
    except Exception as exc:
        raise TypeError(f"MCP tool {func.__qualname__}: can't resolve its annotations ({exc})") from exc
    parameters = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"MCP tool {func.__qualname__}: *args and **kwargs can't be tool arguments")
        annotation = hints.get(parameter.name, Any)
        default = parameter.default
        if _caller_gives(annotation, default):
            marker = Body(embed=True) if default is parameter.empty else Body(default, embed=True)
            default = marker
        parameters.append(
            parameter.replace(kind=parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        )
    response_model = hints.get("return")
    if response_model is type(None):
        response_model = None

    endpoint: Any  # attributes are set on it below
    if inspect.iscoroutinefunction(func):

        async def call_async(**kwargs: Any) -> Any:
            return await func(**kwargs)

        endpoint = call_async
    else:

        def call_sync(**kwargs: Any) -> Any:
            return func(**kwargs)

        endpoint = call_sync
    functools.update_wrapper(endpoint, func, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    del endpoint.__wrapped__  # the route must read the signature below, not the function's
    endpoint.__annotations__ = {} if response_model is None else {"return": response_model}
    # Keyword-only: a parameter with a default may come before one without.
    endpoint.__signature__ = signature.replace(parameters=parameters, return_annotation=signature.empty)
    return endpoint, response_model
