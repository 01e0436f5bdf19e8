"""OTLP export configured from the ``OTEL_*`` environment at startup, and its flush at shutdown.

Runs only when ``auto_configure`` is on (``FASTAPI_OTEL_AUTO_CONFIGURE=true`` or the config key). Providers
already set are kept: fulmen adds its exporter to them, once per provider; where the global provider is the
API's placeholder it sets an SDK provider. What fulmen created it flushes at shutdown and closes at exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from fulmen.exceptions import FastAPIError
from fulmen.telemetry._api import unconfigured

logger = logging.getLogger("fulmen.error")

_lock = threading.RLock()
#: Providers and export components fulmen created (flushed at shutdown, closed at exit).
_owned: list[Any] = []
#: ``(signal, provider)`` pairs fulmen already added an exporter to.
_configured: list[tuple[str, Any]] = []

_SIGNAL_NAMES = {"TRACES": "tracer", "METRICS": "meter", "LOGS": "logger"}
_AUTO_OFF = "pass telemetry={'auto_configure': False} to FastAPI()"


def flush() -> None:
    """Export what fulmen's own pipelines still hold (called as the app shuts down)."""
    for component in tuple(_owned):
        try:
            component.force_flush()
        except Exception:
            logger.exception("FastAPI telemetry cleanup failed")


def _shutdown() -> None:
    with _lock:
        owned = tuple(_owned)
        _owned.clear()
    for component in owned:
        try:
            component.shutdown()
        except Exception:
            logger.exception("FastAPI telemetry cleanup failed")


atexit.register(_shutdown)


def owns_components() -> bool:
    """Whether fulmen created any export pipeline in this process."""
    return bool(_owned)


def _export_endpoint(signal: str) -> str | None:
    """The OTLP/HTTP endpoint for ``signal`` ("TRACES", "METRICS", "LOGS") from the environment, or None."""
    exporter = (os.getenv(f"OTEL_{signal}_EXPORTER") or "otlp").strip().lower()
    endpoint = os.getenv(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    if not endpoint:
        base = os.getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
        if base:
            endpoint = f"{base.removesuffix('/')}/v1/{signal.lower()}"
    if not endpoint or exporter == "none":
        return None
    if exporter != "otlp":
        raise FastAPIError(
            f"FastAPI automatic telemetry supports OTEL_{signal}_EXPORTER=otlp or none. "
            f"Configure other exporters explicitly and {_AUTO_OFF}."
        )
    protocol = (
        os.getenv(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise FastAPIError(
            "FastAPI automatic telemetry requires the OTLP http/protobuf protocol. "
            f"Configure other transports explicitly and {_AUTO_OFF}."
        )
    parsed = urlsplit(endpoint)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise FastAPIError(f"Invalid OTLP {signal.lower()} endpoint. Use an absolute HTTP or HTTPS URL.")
    return endpoint


def _registration_target(provider: Any) -> Any:
    # Older Logfire meter wrappers lack add_metric_reader(); their SDK provider takes the reader.
    cls = type(provider)
    if (
        cls.__module__ == "logfire._internal.metrics"
        and cls.__name__ == "ProxyMeterProvider"
        and not hasattr(provider, "add_metric_reader")
    ):
        return provider.provider
    return provider


def configure_from_environment(config: dict[str, Any]) -> None:
    """Add OTLP exporters named by the environment to the app's providers (see the module docstring)."""
    if not config["auto_configure"] or os.getenv("OTEL_SDK_DISABLED", "").lower() == "true":
        return
    from opentelemetry import _logs, metrics, trace

    with _lock:
        wanted = [
            (signal, config[key], config[f"{_SIGNAL_NAMES[signal]}_provider"])
            for signal, key in (("TRACES", "tracing"), ("METRICS", "metrics"), ("LOGS", "logs"))
        ]
        requested = [
            (signal, provider, endpoint)
            for signal, enabled, provider in wanted
            if enabled and (endpoint := _export_endpoint(signal)) is not None
        ]
        if not requested:
            return
        try:
            # By name: the exporter package is optional, and mypy may not find it.
            exporters = "opentelemetry.exporter.otlp.proto.http"
            OTLPLogExporter = import_module(f"{exporters}._log_exporter").OTLPLogExporter
            OTLPMetricExporter = import_module(f"{exporters}.metric_exporter").OTLPMetricExporter
            OTLPSpanExporter = import_module(f"{exporters}.trace_exporter").OTLPSpanExporter
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise FastAPIError(
                'Automatic OpenTelemetry export needs the OTLP exporter: pip install "fulmen[telemetry]" '
                f"(or opentelemetry-exporter-otlp-proto-http), configure providers yourself, or {_AUTO_OFF}."
            ) from exc
        getters: dict[str, Callable[[], Any]] = {
            "TRACES": trace.get_tracer_provider,
            "METRICS": metrics.get_meter_provider,
            "LOGS": _logs.get_logger_provider,
        }

        def component_for(signal: str, endpoint: str) -> Any:
            if signal == "TRACES":
                return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
            if signal == "METRICS":
                return PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint))
            return BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint))

        for signal, explicit, endpoint in requested:
            get_provider = getters[signal]
            provider = _registration_target(explicit if explicit is not None else get_provider())
            if any(s == signal and p is provider for s, p in _configured):
                continue
            if explicit is None and unconfigured(provider):
                component = component_for(signal, endpoint)
                created: Any
                if signal == "TRACES":
                    created = TracerProvider(shutdown_on_exit=False)
                    created.add_span_processor(component)
                    trace.set_tracer_provider(created)
                elif signal == "METRICS":
                    created = MeterProvider(metric_readers=[component], shutdown_on_exit=False)
                    metrics.set_meter_provider(created)
                else:
                    created = LoggerProvider(shutdown_on_exit=False)
                    created.add_log_record_processor(component)
                    _logs.set_logger_provider(created)
                now = get_provider()
                if now is created:
                    _configured.append((signal, created))
                    _owned.append(created)
                    continue
                # Someone else set the global provider meanwhile: drop ours, add an exporter to theirs.
                created.shutdown()
                provider = _registration_target(now)
            method = {
                "TRACES": "add_span_processor",
                "METRICS": "add_metric_reader",
                "LOGS": "add_log_record_processor",
            }[signal]
            register = getattr(provider, method, None)
            if not callable(register):
                raise FastAPIError(
                    f"The configured OpenTelemetry {_SIGNAL_NAMES[signal]} provider does not support adding "
                    "an OTLP exporter. Configure environment export through that provider and "
                    f"{_AUTO_OFF}."
                )
            component = component_for(signal, endpoint)
            try:
                register(component)
            except Exception:
                component.shutdown()
                raise
            _configured.append((signal, provider))
            _owned.append(component)


def startup(config: dict[str, Any]) -> None:
    """At application startup: environment export; a failure is logged, never fatal to the app."""
    try:
        configure_from_environment(config)
    except Exception as exc:
        logging.getLogger("fastapi").warning("FastAPI automatic telemetry configuration failed: %s", exc)
