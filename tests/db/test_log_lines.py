"""What a JSON log line holds (agent_db.log_lines): fields in a fixed order, UTC timestamps with
milliseconds, bound and passed fields, values JSON cannot hold as text, tracebacks, and no secret
anywhere in the line."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent_db.log_lines import HumanFormatter, JsonFormatter, utc_timestamp
from agent_db.logs import bound, make_handler

SECRET = "hunter2-not-for-logs"


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger(f"tests.log_lines.{uuid.uuid4().hex}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(make_handler("json", stream))
    yield logger, stream
    logger.handlers.clear()


def written(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_has_the_well_known_fields_first_then_the_others_in_order(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = lines
    with bound(request_id="r-1", method="GET") as fields:
        fields.update(status=200, route="/api/v1/agents/{agent_id}", note=None)
        logger.info(
            "GET %s %s", "/api/v1/agents/{agent_id}", 200, extra={"zeta": 1, "alpha": 2, "_hidden": 3}
        )
    [line] = written(stream)
    assert list(line) == [
        "time", "level", "logger", "message", "request_id", "method", "route", "status", "zeta", "alpha",
    ]  # fmt: skip
    assert line["message"] == "GET /api/v1/agents/{agent_id} 200"
    assert line["level"] == "INFO"
    assert line["logger"] == logger.name


def test_a_field_passed_with_the_call_wins_over_the_bound_one(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = lines
    with bound(environment="staging", run_id="outer"):
        logger.warning("step", extra={"run_id": "inner"})
    [line] = written(stream)
    assert (line["environment"], line["run_id"]) == ("staging", "inner")


def test_timestamps_are_utc_with_milliseconds_and_change_with_the_second() -> None:
    moment = datetime(2026, 12, 3, 9, 14, 9, tzinfo=UTC).timestamp()
    assert utc_timestamp(moment + 0.9995) == "2026-12-03T09:14:09.999Z"
    assert utc_timestamp(moment + 1.0004) == "2026-12-03T09:14:10.000Z"
    assert utc_timestamp(moment + 0.25) == "2026-12-03T09:14:09.250Z"  # back a second: not cached wrong
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    stamp = json.loads(JsonFormatter().format(record))["time"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    assert abs(parsed - record.created) < 0.001


def test_values_json_cannot_hold_are_written_as_text(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = lines
    when = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    ident = uuid.UUID(int=7)
    logger.info(
        "values", extra={"at": when, "id": ident, "path": Path("/srv/agent/x"), "error": ValueError("bad")}
    )
    [line] = written(stream)
    assert line["at"] == when.isoformat()
    assert line["id"] == str(ident)
    assert line["path"] == "/srv/agent/x"
    assert line["error"] == "ValueError: bad"


def test_non_ascii_text_is_kept_as_it_is(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = lines
    logger.info("agent «Zoë» créé")
    assert "agent «Zoë» créé" in stream.getvalue()
    assert written(stream)[0]["message"] == "agent «Zoë» créé"


def test_a_traceback_is_in_the_line_and_secrets_are_masked_everywhere(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = lines
    try:
        raise RuntimeError(f"connect to postgresql://app:{SECRET}@db/app failed")
    except RuntimeError:
        logger.exception("password=%s", SECRET, extra={"url": f"postgresql://app:{SECRET}@db/app"})
    assert SECRET not in stream.getvalue()
    [line] = written(stream)
    assert "RuntimeError" in str(line["exc_info"])
    assert "Traceback" in str(line["exc_info"])
    assert line["url"] == "postgresql://app:***@db/app"
    assert line["message"] == "password=***"


def test_the_human_line_shows_the_same_fields_in_the_same_order() -> None:
    record = logging.LogRecord("agent_api.access", logging.INFO, __file__, 1, "GET /x 200", None, None)
    record.__dict__.update(status=200, request_id="r-2", extra_field="e", _private="p", user_id=None)
    line = HumanFormatter().format(record)
    assert line.endswith("agent_api.access: GET /x 200  request_id=r-2  status=200  extra_field=e")


def test_an_integer_beyond_64_bits_is_still_written(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = lines
    logger.info("big", extra={"rows": 2**70})
    assert written(stream)[0]["rows"] == 2**70
