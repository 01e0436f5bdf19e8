"""The public configuration and data types, and the per-request record the instrumentation shares.

Nothing here imports OpenTelemetry at import time: ``fulmen.telemetry`` is importable without it, and the
hooks the core calls on its error paths (``exception_raised``, ``validation_failed``) return at once when no
request is being instrumented.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from time import time_ns
from typing import TYPE_CHECKING, Any

from typing_extensions import TypedDict

if TYPE_CHECKING:
    from opentelemetry._logs import Logger, LoggerProvider
    from opentelemetry.context import Context
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from fulmen.requests import Request
    from fulmen.websockets import WebSocket

#: The methods the HTTP semantic conventions know; others are reported as ``_OTHER``.
HTTP_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)


class TelemetryConfig(TypedDict, total=False):
    """Settings for ``Fulmen(telemetry={...})``; omitted ones keep their defaults (FastAPI's keys).

    Providers you pass are used as they are and never shut down by fulmen; without them the global ones are.
    """

    #: The tracer provider to use instead of the global one.
    tracer_provider: TracerProvider | None
    #: The meter provider to use instead of the global one.
    meter_provider: MeterProvider | None
    #: The logger provider to use instead of the global one.
    logger_provider: LoggerProvider | None
    #: HTTP request and WebSocket connection spans (default True).
    tracing: bool
    #: The ``http.server.request.duration`` and ``http.server.active_requests`` metrics (default True).
    metrics: bool
    #: Log records for validation failures and unhandled exceptions (default True).
    logs: bool
    #: Spans for dependency resolution, the endpoint, serialisation and background tasks (default True).
    operation_spans: bool
    #: Add OTLP exporters from the ``OTEL_*`` environment at startup (default from the environment,
    #: ``FASTAPI_OTEL_AUTO_CONFIGURE=true``).
    auto_configure: bool
    #: ``exclude(scope) -> True`` skips telemetry for that request or connection.
    exclude: Callable[[MutableMapping[str, Any]], bool] | None


def telemetry_config(telemetry: TelemetryConfig | None) -> dict[str, Any]:
    """The app's full configuration: FastAPI's defaults, then the given settings (copied, not shared)."""
    config: dict[str, Any] = {
        "tracer_provider": None,
        "meter_provider": None,
        "logger_provider": None,
        "tracing": True,
        "metrics": True,
        "logs": True,
        "operation_spans": True,
        "auto_configure": os.getenv("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true",
        "exclude": None,
    }
    if telemetry is not None:
        config.update(telemetry)
    return config


@dataclass(kw_only=True)
class TelemetryData:
    """Data about the request or connection being handled, for synchronous OpenTelemetry processors.

    Filled in as the request is handled; read-only for integrations, which apply their own redaction.
    """

    #: The request, set when its route handler starts.
    request: Request | None = None
    #: The WebSocket, set when its route handler starts.
    websocket: WebSocket | None = None
    #: The body as read, before parameter validation.
    body: Any = None
    #: The parsed arguments, after dependency resolution.
    values: dict[str, Any] | None = None
    #: Request validation errors, with the input values.
    errors: Sequence[Any] | None = None


@dataclass(kw_only=True, eq=False)
class RequestTelemetry:
    """What the instrumentation knows about one request or connection while it is handled."""

    span: Span | None
    span_method: str
    tracer: Tracer | None = None
    logger: Logger | None = None
    #: Finds the route template when first asked (None: no route matched).
    find_route: Callable[[], str | None] | None = None
    status_code: int | None = None
    data: TelemetryData | None = field(default_factory=TelemetryData)
    exceptions: list[BaseException] = field(default_factory=list, repr=False)
    _route: str | None = None
    _route_known: bool = False

    @property
    def route(self) -> str | None:
        """The matched route's template (``/items/{item_id}``), mounts and root path included."""
        if not self._route_known:
            self._route_known = True
            if self.find_route is not None:
                self._route = self.find_route()
        return self._route


_key: Any = None


def context_key() -> str:
    """The OpenTelemetry context key the current request's ``RequestTelemetry`` lives under."""
    global _key
    if _key is None:
        from opentelemetry import context as otel_context

        _key = otel_context.create_key("fulmen.request")
    return str(_key)


def current(context: Context | None = None) -> RequestTelemetry | None:
    """The ``RequestTelemetry`` of the request being handled (or of ``context``), else None."""
    if _key is None:  # PERF: nothing was ever instrumented in this process
        return None
    from opentelemetry import context as otel_context

    value = otel_context.get_value(_key, context)
    return value if isinstance(value, RequestTelemetry) else None


def get_telemetry_data(context: Context | None = None) -> TelemetryData | None:
    """The data of the request or connection being handled, from the current (or the given) context.

    Log processors pass ``record.context``. Returns None once the request has finished.
    """
    found = current(context)
    return found.data if found is not None else None


def exception_type(exc: BaseException) -> str:
    """The ``error.type`` of an exception: its qualified name, the module left out for builtins."""
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def normal_websocket_close(exc: BaseException) -> bool:
    """A client's normal close (1000, 1001): not an error for a WebSocket connection's telemetry."""
    from fulmen.websockets import WebSocketDisconnect

    return isinstance(exc, WebSocketDisconnect) and exc.code in (1000, 1001)


def _handled_kind(exc: BaseException) -> bool:
    from fulmen.exceptions import (
        BaseHTTPException,
        RequestValidationError,
        WebSocketException,
        WebSocketRequestValidationError,
    )

    return isinstance(
        exc, (BaseHTTPException, RequestValidationError, WebSocketException, WebSocketRequestValidationError)
    )


_NO_OPERATION = nullcontext()


def operation(name: str, function: Callable[..., Any] | None = None) -> AbstractContextManager[None]:
    """A ``fastapi.<name>`` span around a step of the current request, when operation spans are on."""
    found = current()
    if found is None or found.tracer is None:
        return _NO_OPERATION
    return _traced_operation(found.tracer, name, function)


@contextmanager
def _traced_operation(tracer: Tracer, name: str, function: Callable[..., Any] | None) -> Iterator[None]:
    from opentelemetry.trace import StatusCode

    attributes = {}
    if function is not None:
        module = getattr(function, "__module__", type(function).__module__)
        qualname = getattr(function, "__qualname__", type(function).__qualname__)
        attributes["code.function.name"] = f"{module}.{qualname}"
    with tracer.start_as_current_span(
        f"fastapi.{name}", attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield
        except Exception as exc:
            # An HTTPException or a validation error is an answer, not a failure of the step.
            if name == "background_task" or (not _handled_kind(exc) and not normal_websocket_close(exc)):
                span.set_attribute("error.type", exception_type(exc))
                span.set_status(StatusCode.ERROR)
            raise


def run_sync_operation(name: str, function: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """``function(**arguments)`` inside its operation span (in the worker thread, for a ``def`` endpoint)."""
    with operation(name, function):
        return function(**arguments)


def exception_raised(exc: BaseException, websocket: bool = False) -> None:
    """Note an exception no handler answered: the span's ``error.type`` and one log record per exception."""
    found = current()
    if found is None or (websocket and normal_websocket_close(exc)):
        return
    if any(seen is exc for seen in found.exceptions):
        return
    found.exceptions.append(exc)
    if found.logger is not None and isinstance(exc, Exception):
        from opentelemetry._logs import SeverityNumber

        route = found.route
        found.logger.emit(
            exception=exc,
            event_name="fastapi.websocket.exception" if websocket else "http.server.request.exception",
            timestamp=time_ns(),
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            body="Unhandled exception in FastAPI WebSocket connection"
            if websocket
            else "Unhandled exception in FastAPI request",
            attributes={"http.route": route} if route else None,
        )


def validation_failed(exc: Any) -> None:
    """Note a request validation error: its errors and body in the data, and a warning log record."""
    found = current()
    if found is None:
        return
    from fulmen.exceptions import RequestValidationError, WebSocketRequestValidationError

    if not isinstance(exc, (RequestValidationError, WebSocketRequestValidationError)):
        return  # a response that fails its model is a server error, reported as an exception
    errors = exc.errors()
    if found.data is not None:
        if isinstance(exc, RequestValidationError):
            found.data.body = exc.body
        found.data.errors = errors
    if found.logger is not None:
        from opentelemetry._logs import SeverityNumber

        attributes: dict[str, Any] = {"fastapi.validation.error_count": len(errors)}
        route = found.route
        if route is not None:
            attributes["http.route"] = route
        found.logger.emit(
            event_name="fastapi.validation.failed",
            timestamp=time_ns(),
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body="Request validation failed",
            attributes=attributes,
        )


_DEFERRED_PROVIDERS = frozenset(
    {
        ("opentelemetry.trace", "ProxyTracerProvider"),
        ("opentelemetry.metrics._internal", "_ProxyMeterProvider"),
        ("opentelemetry._logs._internal", "ProxyLoggerProvider"),
    }
)


def unconfigured(provider: Any) -> bool:
    """True for the API's placeholder providers, used before an application sets real ones."""
    cls = type(provider)
    return (cls.__module__, cls.__name__) in _DEFERRED_PROVIDERS


def opentelemetry_imported() -> bool:
    """Whether the OpenTelemetry API is loaded (no global provider can be set before it is)."""
    return "opentelemetry" in sys.modules
