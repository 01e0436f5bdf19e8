"""The server span and metrics of one request or WebSocket connection, around the app's ASGI entry.

``NativeTelemetry`` wraps the app's ASGI front door (the engine serves an instrumented app through its ASGI
adapter, so both front doors go through it). Spans and metrics follow the HTTP semantic conventions
(schema 1.44): the span ends when the last body message is sent, before background tasks run.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from time import perf_counter
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from opentelemetry import _logs, metrics, propagate, trace
from opentelemetry import context as otel_context
from opentelemetry.metrics import Histogram, UpDownCounter
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, StatusCode

from fulmen import __version__
from fulmen.telemetry._api import (
    HTTP_METHODS,
    RequestTelemetry,
    context_key,
    exception_raised,
    exception_type,
    normal_websocket_close,
    unconfigured,
)

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Query parameters the semantic conventions ask to redact (signed-URL secrets).
_REDACTED_QUERY_KEYS = frozenset(
    {"X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "sig", "X-Goog-Signature"}
)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class _ScopeHeaders(Getter[dict[str, list[str]]]):
    """Reads propagation headers from the scope's headers, grouped by lower-case name."""

    def get(self, carrier: dict[str, list[str]], key: str) -> list[str] | None:
        values = carrier.get(key.lower())
        if not values:
            return None
        if key.lower() == "baggage":
            return [",".join(values)]  # the baggage propagator reads only the first value
        return values

    def keys(self, carrier: dict[str, list[str]]) -> list[str]:
        return list(carrier)


_GETTER = _ScopeHeaders()


def _grouped_headers(scope: dict[str, Any]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in scope.get("headers", ()):
        grouped.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
    return grouped


def server_attributes(scope: dict[str, Any], headers: dict[str, list[str]]) -> dict[str, Any]:
    """``server.address`` and ``server.port`` from the Host header, else from the scope's server."""
    hosts = headers.get("host")
    if hosts:
        try:
            url = urlsplit("//" + hosts[0])
            address, port = url.hostname, url.port
        except ValueError:  # a malformed Host must not fail the request
            return {}
        if url.username is not None or url.path or url.query or url.fragment:
            return {}
        if port is None:
            port = _DEFAULT_PORTS.get(scope.get("scheme", "http"))
    else:
        address, port = scope.get("server") or (None, None)
    if address is None:
        return {}
    attributes: dict[str, Any] = {"server.address": address}
    if port is not None:
        attributes["server.port"] = port
    return attributes


def _redacted_query(query_string: bytes) -> str:
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return urlencode([(k, "REDACTED" if k in _REDACTED_QUERY_KEYS else v) for k, v in pairs])


def route_template(app: Any, method: str | None, path: str) -> str | None:
    """The template of the route that answers ``method path`` in a fulmen app (mounts followed), or None.

    Asked once per instrumented request, from the same route table the app routes with: a 405 names the
    path's route, a redirect to the slashed (or unslashed) path names the route it redirects to, a mount
    that isn't a fulmen app is ``<mount>/{path}``. ``method`` None: a WebSocket connection.
    """
    table = getattr(app, "table", None)
    if table is None:
        return None
    if method is None:
        websockets = app.__dict__.get("_websocket_table")
        found = websockets.match(path) if websockets is not None else None
        named = None if found is None else str(found[0].path)
    else:
        named = _table_template(table, method, path)
    if named is not None:
        return named
    for mount in table.mounts:
        if mount.covers(path):
            inner = route_template(mount.app, method, path[len(mount.path) :] or "/")
            return str(mount.path) + (inner if inner is not None else "/{path}")
    if method is not None and getattr(app, "redirect_slashes", False) and path != "/":
        return _table_template(table, method, path[:-1] if path.endswith("/") else path + "/")
    return None


def _table_template(table: Any, method: str, path: str) -> str | None:
    found = table.match(method, path)
    if type(found) is tuple:
        return str(found[0].path)
    if found is not None:  # 405: the path has routes, none for this method
        candidates = table._candidates(path)
        if candidates:
            return str(candidates[0][1].path)
    return None


def _app_path(scope: dict[str, Any]) -> tuple[str, str]:
    """``(root path, path under it)`` of a scope."""
    path: str = scope.get("path", "/")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :] or "/"
    return scope.get("app_root_path", root_path).rstrip("/"), path


class NativeTelemetry:
    """The instrumentation of one app, with its configuration (a ``telemetry_config`` dict)."""

    def __init__(self, config: dict[str, Any], app: Any = None) -> None:
        self.config = config
        self.app = app
        known = os.getenv("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS", "").strip()
        self.known_methods = (
            frozenset(m.strip() for m in known.split(",") if m.strip()) if known else HTTP_METHODS
        )
        self._meter_provider: Any = None
        self._duration: Histogram | None = None
        self._active: UpDownCounter | None = None
        self._tracer_provider: Any = None
        self._tracer: trace.Tracer | None = None
        #: OpenTelemetry's contrib ASGI middleware is in the app's stack: no second span, metric or log.
        self.legacy_otel = False

    def enabled(self) -> bool:
        """Whether any signal is on and has a provider to report to (given, or set globally)."""
        config = self.config
        return bool(
            (
                config["tracing"]
                and (config["tracer_provider"] or not unconfigured(trace.get_tracer_provider()))
            )
            or (
                config["metrics"]
                and (config["meter_provider"] or not unconfigured(metrics.get_meter_provider()))
            )
            or (
                config["logs"]
                and (config["logger_provider"] or not unconfigured(_logs.get_logger_provider()))
            )
        )

    def _instruments(self) -> tuple[Histogram, UpDownCounter]:
        provider = self.config["meter_provider"] or metrics.get_meter_provider()
        if provider is not self._meter_provider or self._duration is None or self._active is None:
            meter = provider.get_meter("fastapi", __version__, schema_url=SCHEMA_URL)
            self._duration = meter.create_histogram(
                "http.server.request.duration",
                unit="s",
                description="Duration of HTTP server requests.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            )
            self._active = meter.create_up_down_counter(
                "http.server.active_requests",
                unit="{request}",
                description="Number of active HTTP server requests.",
            )
            self._meter_provider = provider
        return self._duration, self._active

    def _get_tracer(self, provider: Any) -> trace.Tracer:
        if provider is not self._tracer_provider or self._tracer is None:
            self._tracer = provider.get_tracer("fastapi", __version__, schema_url=SCHEMA_URL)
            self._tracer_provider = provider
        return self._tracer

    def _provider(self, signal: str, get_global: Callable[[], Any], noop: type) -> Any:
        """The provider for a signal when it is on and real, else None."""
        config = self.config
        if not config[signal]:
            return None
        explicit = config[f"{_PROVIDER_KEYS[signal]}_provider"]
        provider = explicit or get_global()
        if (explicit is None and unconfigured(provider)) or isinstance(provider, noop):
            return None
        return provider

    async def serve(self, owner: Any, inner: ASGIApp, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The app's ASGI entry with telemetry: ``inner`` inside a server span when a provider listens."""
        if scope["type"] not in ("http", "websocket") or _SCOPE_KEY in scope or not self.enabled():
            await inner(scope, receive, send)
            return
        scope[_SCOPE_KEY] = True  # an instrumented app called inside this one doesn't report it twice
        try:
            await self(app=inner, scope=scope, receive=receive, send=send, legacy_otel=self.legacy_otel)
        finally:
            scope.pop(_SCOPE_KEY, None)

    async def __call__(
        self, *, app: ASGIApp, scope: dict[str, Any], receive: Any, send: Any, legacy_otel: bool = False
    ) -> None:
        """Run ``app`` for an http or websocket scope inside its server span and metrics."""
        config = self.config
        key = context_key()
        exclude = config["exclude"]
        if exclude is not None and exclude(scope):
            # Mounted apps and in-process calls must not report this request either.
            token = otel_context.attach(otel_context.set_value(key, None))
            try:
                await app(scope, receive, send)
            finally:
                otel_context.detach(token)
            return
        is_websocket = scope["type"] == "websocket"
        if legacy_otel:
            await app(scope, receive, send)
            return
        tracer_provider = self._provider("tracing", trace.get_tracer_provider, trace.NoOpTracerProvider)
        logger_provider = self._provider("logs", _logs.get_logger_provider, _logs.NoOpLoggerProvider)
        meter_provider = (
            None
            if is_websocket
            else self._provider("metrics", metrics.get_meter_provider, metrics.NoOpMeterProvider)
        )
        if tracer_provider is None and logger_provider is None and meter_provider is None:
            await app(scope, receive, send)
            return
        original_method = scope.get("method", "")
        method = original_method if original_method in self.known_methods else "_OTHER"
        span_method = "WS" if is_websocket else "HTTP" if method == "_OTHER" else method
        attributes: dict[str, Any] = {"url.scheme": scope.get("scheme", "ws" if is_websocket else "http")}
        if is_websocket:
            attributes["network.protocol.name"] = "websocket"
        else:
            attributes["http.request.method"] = method
            if scope.get("http_version"):
                attributes["network.protocol.version"] = scope["http_version"]
        duration, active = self._instruments() if meter_provider is not None else (None, None)
        active_attributes = {k: v for k, v in attributes.items() if k != "network.protocol.version"}
        if active is not None:
            active.add(1, active_attributes)
        started = perf_counter()
        span = None
        tracer = None
        parent_token = None
        if tracer_provider is not None:
            headers = _grouped_headers(scope)
            parent = propagate.extract(headers, getter=_GETTER)
            parent_token = otel_context.attach(parent)
            tracer = self._get_tracer(tracer_provider)
            span_attributes = {**attributes, **server_attributes(scope, headers)}
            if not is_websocket:
                span_attributes["url.path"] = scope["path"]
                if scope.get("query_string"):
                    span_attributes["url.query"] = _redacted_query(scope["query_string"])
                if original_method != method:
                    span_attributes["http.request.method_original"] = original_method
            span = tracer.start_span(
                span_method, context=parent, kind=SpanKind.SERVER, attributes=span_attributes
            )
        prefix, app_path = _app_path(scope)
        routed = self.app

        def find_route() -> str | None:
            found = route_template(routed, None if is_websocket else original_method, app_path)
            return None if found is None else prefix + found

        request_telemetry = RequestTelemetry(
            span=span,
            span_method=span_method,
            tracer=tracer if config["operation_spans"] else None,
            logger=_logs.get_logger("fastapi", __version__, config["logger_provider"], schema_url=SCHEMA_URL)
            if logger_provider is not None
            else None,
            find_route=find_route if routed is not None else None,
        )
        token = otel_context.attach(otel_context.set_value(key, request_telemetry))
        finished = False
        trailers = False
        disconnected = False

        def finish(error: BaseException | None = None) -> None:
            nonlocal finished
            if finished:
                return
            finished = True
            route = request_telemetry.route
            if route is not None:
                attributes["http.route"] = route
                if span is not None:
                    span.update_name(f"{span_method} {route}")
            status = request_telemetry.status_code
            if status is not None:
                attributes["http.response.status_code"] = status
            failed = error is not None or (not is_websocket and (status is None or status >= 500))
            if failed:
                seen = request_telemetry.exceptions
                failure = error or (seen[-1] if seen else None)
                attributes["error.type"] = (
                    exception_type(failure) if failure is not None else str(status or "incomplete_response")
                )
            if span is not None:
                span.set_attributes(attributes)
                if failed:
                    span.set_status(StatusCode.ERROR)
            if duration is not None:  # recorded while the span is current, so exemplars can point at it
                duration.record(max(0.0, perf_counter() - started), attributes)
            if active is not None:
                active.add(-1, active_attributes)
            if span is not None:
                span.end()

        async def observed_send(message: dict[str, Any]) -> None:
            nonlocal trailers
            kind = message["type"]
            if kind == "http.response.start":
                request_telemetry.status_code = message["status"]
                trailers = message.get("trailers", False)
            await send(message)
            if (
                (kind == "http.response.body" and not message.get("more_body", False) and not trailers)
                or (kind == "http.response.trailers" and not message.get("more_trailers", False))
                or kind == "http.response.pathsend"
            ):
                finish()

        async def observed_receive() -> dict[str, Any]:
            nonlocal disconnected
            message: dict[str, Any] = await receive()
            if message["type"] == "http.disconnect":
                disconnected = True
            return message

        current: AbstractContextManager[Any] = (
            trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)
            if span is not None
            else nullcontext()
        )
        try:
            with current:
                try:
                    await app(
                        scope,
                        receive if is_websocket else observed_receive,
                        send if is_websocket else observed_send,
                    )
                except BaseException as exc:
                    exception_raised(exc, websocket=is_websocket)
                    finish(None if is_websocket and normal_websocket_close(exc) else exc)
                    raise
                finally:
                    if not finished:
                        finish(
                            None
                            if is_websocket
                            else ConnectionError("Client disconnected")
                            if disconnected
                            else RuntimeError("Incomplete ASGI response")
                        )
        finally:
            request_telemetry.data = None
            request_telemetry.exceptions.clear()
            otel_context.detach(token)
            if parent_token is not None:
                otel_context.detach(parent_token)


_PROVIDER_KEYS = {"tracing": "tracer", "metrics": "meter", "logs": "logger"}
_SCOPE_KEY = "fulmen.telemetry"
