"""Structured logs for the API and the toolkit.

One JSON object per line when the stream is not a terminal (a log shipper reads it) or when
``AGENT_LOG_FORMAT=json`` asks for it; a readable line in a terminal (``AGENT_LOG_FORMAT=human``
forces that). Every line carries the fields bound to the current context (the API binds the
request id, method, route, status, duration, user id and error code; a migration run binds its
environment and run id), and every line passes through :func:`redact`: a password in a URL, a
bearer token, a JWT or a ``password=...`` pair never reaches the stream, whoever logged it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

LOG_FORMAT_ENV = "AGENT_LOG_FORMAT"
LogFormat = Literal["auto", "json", "human"]
LOG_FORMATS: tuple[LogFormat, ...] = ("auto", "json", "human")

# The order of the well-known fields in a JSON line; anything else follows.
FIRST_FIELDS = ("time", "level", "logger", "message")
KNOWN_FIELDS = (
    "request_id",
    "method",
    "route",
    "status",
    "duration_ms",
    "user_id",
    "error_code",
    "environment",
    "run_id",
    "revision",
)

_ORDER = (*FIRST_FIELDS, *KNOWN_FIELDS)

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


# What must never be written: the password of a URL, bearer tokens, JWTs, key=value secrets.
# Greedy to the last "@": a password with a raw "@" in it is masked whole.
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s\"']*:)[^\s\"']*@")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_SECRET_PAIR = re.compile(
    r"(?i)(\b(?:password|passwd|pwd|secret|token|access_token|api_key|apikey)\b\\?[\"']?\s*[:=]\s*\\?[\"']?)"
    r"[^\s\"'&,;}\\]+"
)
MASK = "***"


# Each pattern needs one of these literals; a line without them is not scanned by it (the four
# scans were ~40 % of formatting an access line). Only for ASCII text: ignoring case, ``re`` also
# matches a few non-ASCII letters (the long s for ``s``, the Kelvin sign for ``k``) that ``lower()`` keeps.
_SECRET_WORDS = ("pass", "pwd", "secret", "token", "api_key", "apikey")


def redact(text: str) -> str:
    """``text`` with every secret-looking value masked."""
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    if not text.isascii():
        text = _JWT.sub(MASK, _BEARER.sub(rf"\1{MASK}", text))
        return _SECRET_PAIR.sub(rf"\1{MASK}", text)
    lowered = text.lower()
    if "bearer" in lowered:
        text = _BEARER.sub(rf"\1{MASK}", text)
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    if any(word in lowered for word in _SECRET_WORDS):
        text = _SECRET_PAIR.sub(rf"\1{MASK}", text)
    return text


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record (a field the call passed itself wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        if fields:
            for key, value in fields.items():
                if value is not None and not hasattr(record, key):
                    setattr(record, key, value)
        return True


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the bound and
    passed fields, and the traceback as ``exc_info`` when there is one."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__("%(levelname)s %(name)s %(message)s", **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        if isinstance(log_data.get("time"), datetime):
            log_data["time"] = log_data["time"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
        ordered = {key: log_data.pop(key) for key in _ORDER if key in log_data}
        ordered.update((key, value) for key, value in log_data.items() if value is not None)
        return ordered

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        return redact(super().jsonify_log_record(log_data))


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class HumanFormatter(logging.Formatter):
    """``15:02:07.123 INFO agent_api.access GET /agents 200 in 3.1 ms  request_id=...``."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD and v is not None}
        ordered = [k for k in KNOWN_FIELDS if k in extras] + [k for k in extras if k not in KNOWN_FIELDS]
        tail = "  ".join(f"{key}={extras[key]}" for key in ordered if not key.startswith("_"))
        line = f"{moment} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if tail:
            line = f"{line}  {tail}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return redact(line)


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
    formatter = {"()": f"{__name__}.{'JsonFormatter' if chosen == 'json' else 'HumanFormatter'}"}
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
