"""Built-in OpenTelemetry instrumentation: FastAPI 0.165's ``fastapi.telemetry`` (``fulmen[telemetry]``).

``Fulmen(telemetry={...})`` takes a ``TelemetryConfig``; processors read request data with
``get_telemetry_data``. OpenTelemetry itself is imported only when a request is instrumented.
"""

from fulmen.telemetry._api import TelemetryConfig as TelemetryConfig
from fulmen.telemetry._api import TelemetryData as TelemetryData
from fulmen.telemetry._api import get_telemetry_data as get_telemetry_data

__all__ = ["TelemetryConfig", "TelemetryData", "get_telemetry_data"]
