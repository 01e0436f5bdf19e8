"""Exceptions with FastAPI's names and shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any


class HTTPException(Exception):
    """Raise to answer with ``status_code`` and ``{"detail": detail}`` (plus optional headers)."""

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


class FastAPIError(RuntimeError):
    """A problem in how the application is declared (raised at start-up, not per request)."""


#: fulmen's own name for declaration errors; the same class as ``FastAPIError``.
FulmenError = FastAPIError


class DependencyScopeError(FastAPIError):
    """A ``yield`` dependency with request scope depends on one with function scope (it would end first)."""


class ValidationException(Exception):
    """Base of the validation errors; carries the list of error dicts."""

    def __init__(self, errors: Sequence[Any]) -> None:
        self._errors = errors

    def errors(self) -> Sequence[Any]:
        """The error dicts (``type``, ``loc``, ``msg``, ``input``, ``ctx``)."""
        return self._errors


class RequestValidationError(ValidationException):
    """The request did not match the declared parameters; answered with 422 by default."""

    def __init__(self, errors: Sequence[Any], *, body: Any = None) -> None:
        super().__init__(errors)
        self.body = body

    def __str__(self) -> str:
        lines = [f"{len(self._errors)} validation error{'s' if len(self._errors) != 1 else ''}:"]
        lines.extend(f"  {e}" for e in self._errors)
        return "\n".join(lines)


class ResponseValidationError(ValidationException):
    """The handler returned data that does not match its ``response_model``; answered with 500."""

    def __init__(self, errors: Sequence[Any], *, body: Any = None) -> None:
        super().__init__(errors)
        self.body = body

    def __str__(self) -> str:
        return f"{len(self._errors)} validation errors:\n" + "\n".join(f"  {e}" for e in self._errors)


class WebSocketException(Exception):
    """Raise inside a WebSocket endpoint to close it with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketRequestValidationError(ValidationException):
    """A WebSocket route's parameters did not validate; by default the socket closes with code 1008."""

    def __str__(self) -> str:
        return f"{len(self._errors)} validation errors:\n" + "\n".join(f"  {e}" for e in self._errors)
