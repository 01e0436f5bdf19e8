"""``fastapi.logger``: the framework's logger, for code written as ``from fastapi.logger import logger``.

fulmen logs its own errors under ``fulmen.*`` (``fulmen.error``); this is their parent, ``"fulmen"``.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("fulmen")
