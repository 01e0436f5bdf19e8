"""Files read once at start-up, as uvicorn reads them: ``--env-file`` (dotenv) and ``--log-config``.

python-dotenv and PyYAML are imported here, only when the option is used, with an error that names the extra.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
from typing import Any

from fulmen.engine.config import ConfigError

logger = logging.getLogger("fulmen.error")

#: The log config file already applied in this process: ``fulmen run`` configures logging before it imports
#: the app and ``run()`` would apply it again (reopening a mode "w" file handler would truncate the log).
_applied_log_config: str | None = None


def load_env_file(path: str) -> None:
    """Load ``path`` (dotenv syntax) into ``os.environ`` with python-dotenv, as uvicorn does.

    Variables already set in the environment win (python-dotenv's default, and uvicorn's).
    """
    try:
        from dotenv import load_dotenv
    except ImportError:
        raise ConfigError(
            '--env-file needs python-dotenv: pip install "fulmen[dotenv]" (or python-dotenv)'
        ) from None
    if not os.path.isfile(path):
        raise ConfigError(f"--env-file: no such file: {path!r}")
    logger.info("Loading environment from %r", path)
    try:
        load_dotenv(dotenv_path=path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--env-file: can't read {path!r}: {exc}") from None


def _load_mapping(path: str) -> dict[str, Any]:
    """A dictConfig mapping from a .json or .yaml/.yml file; ConfigError naming --log-config otherwise."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise ConfigError(f"--log-config: can't read {path!r}: {exc.strerror or exc}") from None
    if path.endswith(".json"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"--log-config: {path!r} is not valid JSON: {exc}") from None
    else:
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            raise ConfigError(
                f'--log-config {path!r}: YAML files need PyYAML: pip install "fulmen[yaml]" (or pyyaml)'
            ) from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--log-config: {path!r} is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"--log-config: {path!r} must hold a mapping (logging.config.dictConfig's schema)")
    return loaded


def apply_log_config(path: str) -> None:
    """Configure logging from ``path``: dictConfig for .json/.yaml/.yml, fileConfig for any other file.

    As uvicorn: fileConfig keeps existing loggers (``disable_existing_loggers=False``); a dictConfig file
    decides that itself. Applied once per process; errors are ``ConfigError`` naming ``--log-config``.
    """
    global _applied_log_config
    if _applied_log_config == path:
        return
    try:
        if path.endswith((".json", ".yaml", ".yml")):
            logging.config.dictConfig(_load_mapping(path))
        else:
            if not os.path.isfile(path):
                raise ConfigError(f"--log-config: no such file: {path!r}")
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except ConfigError:
        raise
    except (
        Exception
    ) as exc:  # dictConfig/fileConfig raise ValueError, KeyError, TypeError, configparser errors
        raise ConfigError(f"--log-config: can't apply {path!r}: {exc!r}") from None
    _applied_log_config = path
