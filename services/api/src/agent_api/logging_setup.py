"""The API's logs: ``[api] log_level`` and ``[api] log_format`` for the app's own loggers
(``agent_api.*``, including the access log ``agent_api.access``) and uvicorn's.

``api.serve`` hands uvicorn :func:`uvicorn_log_config`, so every worker writes the same
structured lines (JSON when stderr is not a terminal; see :mod:`agent_db.logs`) and uvicorn's
own access log is off: the app writes one richer line per request instead (request id, route
template, status, duration, user, error code).

When nothing has configured logging (an app built in-process, with no handler on the app's
logger or the root), :func:`apply_log_level` adds one stderr handler of that format: without it
Python's last-resort handler shows only warnings and worse.
"""

from __future__ import annotations

import logging
from typing import Any

from agent_api.settings import LogLevel
from agent_db.logs import LogFormat, dict_config, make_handler, requested_format

APP_LOGGER = "agent_api"
TRACE = 5  # uvicorn's level below DEBUG

LEVELS: dict[LogLevel, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}


def apply_log_level(level: LogLevel, log_format: LogFormat = "auto") -> logging.Logger:
    logger = logging.getLogger(APP_LOGGER)
    logger.setLevel(LEVELS[level])
    if not logger.handlers and not logging.getLogger().handlers:
        logger.addHandler(make_handler(requested_format(log_format)))
    return logger


def uvicorn_log_config(level: LogLevel, log_format: LogFormat = "auto") -> dict[str, Any]:
    """uvicorn's ``log_config``: its loggers and the app's through one structured handler."""
    number = LEVELS[level]
    return dict_config(
        requested_format(log_format),
        {"uvicorn": number, "uvicorn.error": number, APP_LOGGER: number},
        disabled=("uvicorn.access",),
    )
