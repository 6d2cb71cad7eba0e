"""How a log record becomes a line: :class:`JsonFormatter` (one JSON object per line, for log
shippers) and :class:`HumanFormatter` (for a terminal). Both pass the whole line through
:func:`agent_db.redaction.redact`.

The JSON formatter is written here rather than on python-json-logger: the API writes one access
line per request, and the library's generic record merging, renaming and reordering was most of
the ~90 us such a line cost (bench/RESULTS.md, section 1); this one builds the object in its
final order in one pass, encodes it with orjson and formats each second's timestamp once.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from typing import Any

import orjson

from agent_db.redaction import redact

# The order of the well-known fields in a JSON line; anything else follows, in the order given.
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

# A record's own attributes (levelname, args, thread...): never copied into a line as fields.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class _SecondStamps:
    """``2026-12-03T09:14:10.123Z`` for a record's ``created``: the part up to the second is
    formatted once per second (strftime is most of the cost of a timestamp)."""

    def __init__(self) -> None:
        self._last: tuple[int, str] = (-1, "")

    def __call__(self, created: float) -> str:
        second = int(created)
        last = self._last
        if last[0] != second:
            last = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
            self._last = last  # one tuple, replaced whole: safe to share between threads
        return f"{last[1]}.{int((created - second) * 1000):03d}Z"


utc_timestamp = _SecondStamps()


def _as_text(value: object) -> str:
    """A value JSON cannot hold (a datetime, a UUID, a path, an exception) as text."""
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return str(value)


_FALLBACK = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_as_text)


def encode(line: dict[str, Any]) -> str:
    """``line`` as compact JSON, non-ASCII text kept. orjson: a tenth of the standard library's
    time for an access line; the standard library for what orjson refuses (an int beyond 64 bits)."""
    try:
        return orjson.dumps(line, default=_as_text).decode()
    except orjson.JSONEncodeError:
        return _FALLBACK.encode(line)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record carries beyond the standard ones (passed with ``extra=`` or bound by
    :func:`agent_db.logs.bound`), the well-known ones first; None and ``_private`` ones left out."""
    values = record.__dict__
    fields = {key: values[key] for key in KNOWN_FIELDS if values.get(key) is not None}
    for key, value in values.items():
        if value is not None and key not in _STANDARD and key not in fields and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601, milliseconds), level, logger, message,
    the record's fields, and the traceback as ``exc_info`` (the stack as ``stack_info``)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record_fields(record).items():
            line.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return redact(encode(line))


class HumanFormatter(logging.Formatter):
    """``2026-12-03 15:02:07.123 INFO    agent_api.access: GET /agents 200  request_id=...``."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        tail = "  ".join(f"{key}={value}" for key, value in record_fields(record).items())
        line = f"{moment} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if tail:
            line = f"{line}  {tail}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return redact(line)
