"""Structured logs for the API and the toolkit.

One JSON object per line when the stream is not a terminal (a log shipper reads it) or when
``AGENT_LOG_FORMAT=json`` asks for it; a readable line in a terminal (``AGENT_LOG_FORMAT=human``
forces that). Every line carries the fields bound to the current context (the API binds the
request id, method, route, status, duration, user id and error code; a migration run binds its
environment and run id), and every line passes through :func:`agent_db.redaction.redact`: a
password in a URL, a bearer token, a JWT or a ``password=...`` pair never reaches the stream,
whoever logged it. How a record becomes a line: :mod:`agent_db.log_lines`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Any, Literal

from agent_db.log_lines import HumanFormatter, JsonFormatter

LOG_FORMAT_ENV = "AGENT_LOG_FORMAT"
LogFormat = Literal["auto", "json", "human"]
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "human")

_context: ContextVar[dict[str, Any] | None] = ContextVar("agent_log_context", default=None)


@contextmanager
def bound(**fields: Any) -> Iterator[dict[str, Any]]:
    """Bind ``fields`` to every log line written inside the block (nested blocks add to the
    outer ones). Returns the mutable mapping: fields learnt later (the user id once the token is
    checked, the error code once the handler answers) are set on it and show up from then on,
    including in code that ran in a copied context (a thread pool), which shares the mapping."""
    fields = {**(_context.get() or {}), **fields}
    token = _context.set(fields)
    try:
        yield fields
    finally:
        _context.reset(token)


def current_fields() -> dict[str, Any] | None:
    """The mapping bound by the innermost :func:`bound` block, if any."""
    return _context.get()


def add_fields(**fields: Any) -> None:
    """Add ``fields`` to the current context's lines (does nothing outside a bound block)."""
    current = _context.get()
    if current is not None:
        current.update(fields)


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (a field the call passed itself wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        if fields:
            values = record.__dict__
            for key, value in fields.items():
                if value is not None and key not in values:
                    values[key] = value
        return True


def requested_format(default: LogFormat = "auto") -> LogFormat:
    """``AGENT_LOG_FORMAT`` when set (to a valid value), else ``default``."""
    value = os.environ.get(LOG_FORMAT_ENV, "").strip().lower()
    for known in LOG_FORMATS:
        if value == known:
            return known
    return default


def resolve_format(requested: LogFormat, stream: IO[str] | None = None) -> Literal["json", "human"]:
    """``auto`` means human on a terminal, JSON anywhere else."""
    if requested != "auto":
        return requested
    try:
        terminal = stream.isatty() if stream is not None else os.isatty(2)  # 2: stderr
    except (AttributeError, ValueError, OSError):
        terminal = False
    return "human" if terminal else "json"


def formatter_for(log_format: LogFormat = "auto", stream: IO[str] | None = None) -> logging.Formatter:
    """The formatter for ``log_format`` (``auto`` resolved against ``stream``)."""
    if resolve_format(log_format, stream) == "json":
        return JsonFormatter()
    return HumanFormatter()


def make_handler(log_format: LogFormat = "auto", stream: IO[str] | None = None) -> logging.Handler:
    """A stderr (or ``stream``) handler with the right formatter and the context filter."""
    handler = logging.StreamHandler(stream)  # None: stderr
    handler.setFormatter(formatter_for(log_format, stream))
    handler.addFilter(ContextFilter())
    return handler


def dict_config(
    log_format: LogFormat, levels: Mapping[str, int | str], disabled: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` document (what uvicorn's ``log_config`` takes):
    one stderr handler with the format resolved now, the named loggers at their levels."""
    chosen = resolve_format(log_format)
    formatter = {"()": JsonFormatter if chosen == "json" else HumanFormatter}
    loggers: dict[str, Any] = {
        name: {"handlers": ["stderr"], "level": level, "propagate": False} for name, level in levels.items()
    }
    for name in disabled:
        loggers[name] = {"handlers": [], "level": "CRITICAL", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": f"{__name__}.ContextFilter"}},
        "formatters": {"structured": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "structured",
                "filters": ["context"],
            }
        },
        "loggers": loggers,
    }
