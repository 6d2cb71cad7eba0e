"""``[api] log_level`` for the app's own loggers (``agent_api.*``); uvicorn's loggers get the
same level from the serve task (``--log-level``), which reads ``ApiSettings.log_level``.

When nothing has configured logging (no handler on the app's logger or the root), one plain
stderr handler is added: without it Python's last-resort handler shows only warnings and worse,
and a ``debug`` level would show nothing more.
"""

from __future__ import annotations

import logging

from agent_api.settings import LogLevel

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


def apply_log_level(level: LogLevel) -> logging.Logger:
    logger = logging.getLogger(APP_LOGGER)
    logger.setLevel(LEVELS[level])
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    return logger
