"""``fastapi.param_functions``: where FastAPI defines ``Query``, ``Path``, ``Body``, ``Depends`` ...

fulmen's are the classes of ``fulmen.params`` (called the same way); this module gives them FastAPI's import
path so ``from fastapi.param_functions import Query`` keeps working.
"""

from __future__ import annotations

from fulmen.params import Body, Cookie, Depends, File, Form, Header, Path, Query, Security

__all__ = ["Body", "Cookie", "Depends", "File", "Form", "Header", "Path", "Query", "Security"]
