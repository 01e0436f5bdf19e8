"""FastAPI's private ``fastapi._form_limits`` name, kept for code that annotates with it."""

from fulmen.limits import FormLimits as _FormLimits

__all__ = ["_FormLimits"]
