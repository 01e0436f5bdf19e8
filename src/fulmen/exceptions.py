"""Exceptions with FastAPI's names and shapes."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fulmen._typing import is_class


class BaseHTTPException(Exception):
    """An HTTP error answered with ``status_code`` and ``{"detail": detail}``: Starlette's ``HTTPException``.

    fulmen raises it itself (router 404/405, an unparseable body's 400, ``StaticFiles``), as Starlette and
    FastAPI raise Starlette's class there; a handler registered for it also answers every ``HTTPException``.
    """

    def __init__(
        self, status_code: int, detail: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        if detail is None:
            try:
                detail = HTTPStatus(status_code).phrase
            except ValueError:
                detail = ""
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers) if headers is not None else None
        super().__init__(status_code, detail)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class HTTPException(BaseHTTPException):
    """Raise to answer with ``status_code`` and ``{"detail": detail}`` (plus optional headers).

    FastAPI's ``HTTPException``: a handler registered for it answers what routes raise, not the router's own
    404/405 (register ``BaseHTTPException``, or Starlette's ``HTTPException``, for those too).
    """


class FastAPIDeprecationWarning(UserWarning):
    """A FastAPI feature that still works but is deprecated (``example=``, ``regex=``); FastAPI's category,
    a UserWarning so it is shown by default."""


class FastAPIError(RuntimeError):
    """A problem in how the application is declared (raised at start-up, not per request)."""


#: fulmen's own name for declaration errors; the same class as ``FastAPIError``.
FulmenError = FastAPIError


class PydanticV1NotSupportedError(FastAPIError):
    """A ``pydantic.v1`` model is used in a route; only pydantic 2 models are supported (as in FastAPI)."""


class DependencyScopeError(FastAPIError):
    """A ``yield`` dependency with request scope depends on one with function scope (it would end first)."""


class ValidationException(Exception):
    """Base of the validation errors; carries the list of error dicts and, once raised by a route, where the
    route's endpoint is (FastAPI 0.165's ``endpoint_ctx``: ``file``, ``line``, ``function``, ``path``)."""

    def __init__(self, errors: Sequence[Any], *, endpoint_ctx: dict[str, Any] | None = None) -> None:
        self._errors = errors
        self.endpoint_ctx = endpoint_ctx

    def errors(self) -> Sequence[Any]:
        """The error dicts (``type``, ``loc``, ``msg``, ``input``, ``ctx``)."""
        return self._errors

    @property
    def endpoint_function(self) -> str | None:
        """The endpoint's function name, when a route raised this."""
        return (self.endpoint_ctx or {}).get("function")

    @property
    def endpoint_path(self) -> str | None:
        """Method and path of the route (``"GET /items/{item_id}"``), when a route raised this."""
        return (self.endpoint_ctx or {}).get("path")

    @property
    def endpoint_file(self) -> str | None:
        """The source file of the endpoint, when known."""
        return (self.endpoint_ctx or {}).get("file")

    @property
    def endpoint_line(self) -> int | None:
        """The line the endpoint's definition starts on (its first decorator), when known."""
        return (self.endpoint_ctx or {}).get("line")

    def __str__(self) -> str:
        lines = [f"{len(self._errors)} validation error{'s' if len(self._errors) != 1 else ''}:"]
        lines.extend(f"  {e}" for e in self._errors)
        text = "\n".join(lines)
        # Where the endpoint is, as FastAPI 0.165 words it (custom handlers often answer with str(exc)).
        file, line, function, path = (
            self.endpoint_file,
            self.endpoint_line,
            self.endpoint_function,
            self.endpoint_path,
        )
        if file and line and function:
            text += f'\n\n  File "{file}", line {line}, in {function}'
            if path:
                text += f"\n    {path}"
        elif path:
            text += f"\n\n  Endpoint: {path}"
        return text


class RequestValidationError(ValidationException):
    """The request did not match the declared parameters; answered with 422 by default."""

    def __init__(
        self, errors: Sequence[Any], *, body: Any = None, endpoint_ctx: dict[str, Any] | None = None
    ) -> None:
        super().__init__(errors, endpoint_ctx=endpoint_ctx)
        self.body = body


class ResponseValidationError(ValidationException):
    """The handler returned data that does not match its ``response_model``; answered with 500."""

    def __init__(
        self, errors: Sequence[Any], *, body: Any = None, endpoint_ctx: dict[str, Any] | None = None
    ) -> None:
        super().__init__(errors, endpoint_ctx=endpoint_ctx)
        self.body = body


class WebSocketException(Exception):
    """Raise inside a WebSocket endpoint to close it with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketRequestValidationError(ValidationException):
    """A WebSocket route's parameters did not validate; by default the socket closes with code 1008."""


# -- Starlette's classes -------------------------------------------------------------------------------------
# FastAPI code registers handlers for ``starlette.exceptions.HTTPException`` and may raise it (or Starlette's
# ``WebSocketException``). fulmen doesn't depend on Starlette: once a program has imported that module, its
# two classes stand for fulmen's equivalents, as handler keys and when raised.
_starlette_equivalents: dict[type, type[Exception]] = {}
_http_exception_types: tuple[type, ...] = (BaseHTTPException,)


#: The foreign modules already looked at by ``starlette_equivalents``.
_equivalents_from: set[str] = set()
#: FastAPI's exception classes (``fastapi.exceptions``) and fulmen's classes they stand for, by name.
_FASTAPI_EQUIVALENTS = (
    ("HTTPException", "HTTPException"),
    ("WebSocketException", "WebSocketException"),
    ("RequestValidationError", "RequestValidationError"),
    ("WebSocketRequestValidationError", "WebSocketRequestValidationError"),
    ("ResponseValidationError", "ResponseValidationError"),
)


def starlette_equivalents() -> dict[type, type[Exception]]:
    """``{Starlette's or FastAPI's exception class: fulmen's}``, filled in as the program imports
    ``starlette.exceptions`` and ``fastapi.exceptions`` (libraries written for FastAPI raise FastAPI's)."""
    global _http_exception_types
    if len(_equivalents_from) < 2:
        module = sys.modules.get("starlette.exceptions")
        if module is not None and "starlette" not in _equivalents_from:
            _equivalents_from.add("starlette")
            _starlette_equivalents[module.HTTPException] = BaseHTTPException
            _starlette_equivalents[module.WebSocketException] = WebSocketException
            _http_exception_types = (BaseHTTPException, module.HTTPException)
        module = sys.modules.get("fastapi.exceptions")
        if module is not None and "fastapi" not in _equivalents_from:
            _equivalents_from.add("fastapi")
            ours = globals()
            for theirs, name in _FASTAPI_EQUIVALENTS:
                cls = getattr(module, theirs, None)
                if is_class(cls):
                    _starlette_equivalents[cls] = ours[name]
    return _starlette_equivalents


def is_http_exception(exc: BaseException) -> bool:
    """True for fulmen's ``BaseHTTPException`` (``HTTPException`` included) and Starlette's."""
    if isinstance(exc, BaseHTTPException):
        return True
    starlette_equivalents()
    return isinstance(exc, _http_exception_types)


def handler_key(key: Any) -> Any:
    """The key an exception handler is stored under: Starlette's classes become fulmen's."""
    if is_class(key):
        return starlette_equivalents().get(key, key)
    return key


class NoMatchFound(FastAPIError):
    """``url_path_for``/``url_for`` found no route of that name taking those parameters (Starlette's name).

    Once the program has imported ``starlette.routing``, the error raised is also Starlette's ``NoMatchFound``
    (see ``no_match_found``), so ``except starlette.routing.NoMatchFound`` written for FastAPI catches it.
    """

    def __init__(self, name: str, path_params: Mapping[str, Any]) -> None:
        params = ", ".join(path_params)
        super().__init__(f'No route exists for name "{name}" and params "{params}".')


_catchable_no_match: type[NoMatchFound] | None = None


def no_match_found(name: str, path_params: Mapping[str, Any]) -> NoMatchFound:
    """The ``NoMatchFound`` to raise: also Starlette's class when ``starlette.routing`` is loaded."""
    global _catchable_no_match
    cls = _catchable_no_match
    if cls is None:
        module = sys.modules.get("starlette.routing")
        if module is None:
            return NoMatchFound(name, path_params)
        cls = _catchable_no_match = type(
            "NoMatchFound", (NoMatchFound, module.NoMatchFound), {"__module__": "fulmen.routing"}
        )
    return cls(name, path_params)


_catchable_http_exception: type[BaseHTTPException] | None = None


def http_error(
    status_code: int, detail: Any = None, headers: Mapping[str, str] | None = None
) -> BaseHTTPException:
    """The ``BaseHTTPException`` fulmen raises where Starlette would raise its own ``HTTPException``.

    Once the program has imported ``starlette.exceptions``, the error also subclasses Starlette's class, so
    code written for FastAPI that catches it (the "serve index.html on a 404" ``StaticFiles`` recipe) catches
    fulmen's too. Without Starlette it is a plain ``BaseHTTPException``.
    """
    global _catchable_http_exception
    cls = _catchable_http_exception
    if cls is None:
        module = sys.modules.get("starlette.exceptions")
        if module is None:
            return BaseHTTPException(status_code, detail, headers)
        cls = _catchable_http_exception = type(
            "HTTPException",
            (BaseHTTPException, module.HTTPException),
            {"__module__": __name__, "__doc__": BaseHTTPException.__doc__},
        )
    error = cls(status_code, detail, headers)
    # Starlette's __init__ runs after ours in the chain and keeps ``headers`` as given (None, from our call).
    error.headers = dict(headers) if headers is not None else None
    Exception.__init__(error, status_code, error.detail)
    return error
