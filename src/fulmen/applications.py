"""``fastapi.applications``: where FastAPI defines its application class; fulmen's is ``Fulmen``."""

from __future__ import annotations

from typing import TypeVar

from fulmen.app import Fulmen

__all__ = ["AppType", "FastAPI", "Fulmen"]

FastAPI = Fulmen
#: A FastAPI application or subclass, for generic code (``def f(app: AppType) -> AppType``).
AppType = TypeVar("AppType", bound=Fulmen)
