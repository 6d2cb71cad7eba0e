"""Rules on changing rows: one UPDATE or DELETE over an existing table inside the revision's
transaction holds every touched row's lock until the revision commits."""

from __future__ import annotations

import re

from alembic.operations import ops

from agent_db.lint.rules.base import SAFE, OperationContext, OperationRule, table_key

_DATA_CHANGE = re.compile(
    r"^\s*(?:UPDATE\s+(?:ONLY\s+)?|DELETE\s+FROM\s+(?:ONLY\s+)?)(?P<table>\"[^\"]+\"|[\w.]+)",
    re.IGNORECASE,
)
_SQL_COMMENT = re.compile(r"^\s*--[^\n]*\n", re.MULTILINE)


def _unbatched(seen: OperationContext) -> str | None:
    operation = seen.operation
    if not isinstance(operation, ops.ExecuteSQLOp) or seen.in_autocommit:
        return None
    text = _SQL_COMMENT.sub("", str(operation.sqltext))
    match = _DATA_CHANGE.match(text)
    if match and not seen.is_new(match.group("table")) and "LIMIT" not in text.upper():
        return table_key(match.group("table"))
    return None


UNBATCHED_UPDATE = OperationRule(
    name="unbatched-update",
    summary="updates or deletes rows of an existing table in one statement inside the "
    "revision's transaction: every touched row stays locked until the end (measured: one "
    "UPDATE of 1M rows under live traffic caused a 15.6 s outage, see bench/RESULTS.md)",
    safe_alternative=f"{SAFE}.backfill_in_batches(table, set_clause=..., pending=...): short "
    "transactions of batch_size rows, resumable, with progress",
    check=_unbatched,
)

RULES = (UNBATCHED_UPDATE,)
