"""Resuming a step that left its transaction and stopped (its ledger row is ``partial``).

What such a revision ran before its autocommit block is committed; the block's own work is
resumable by construction (``safe.backfill_in_batches`` only touches rows still pending, a
concurrent index build drops an INVALID leftover and builds again). So the runner runs the
revision again from the start, as a resume: an ``op.add_column`` whose column already exists
with the same type is the interrupted attempt's own and is skipped; one whose column exists
with another type is not skipped, and fails as it would have. ``op.alter_column`` (a default, a
nullability, a comment) is idempotent by nature.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

# Operations that may run before an autocommit block of a resumable revision.
RESUMABLE_BEFORE_AUTOCOMMIT: tuple[type[ops.MigrateOperation], ...] = (ops.AddColumnOp, ops.AlterColumnOp)


def describe(operations: Sequence[ops.MigrateOperation]) -> str:
    """``add column conversations.message_count, alter column ...``: what a step committed."""
    if not operations:
        return "nothing before its autocommit block"
    return ", ".join(_describe(operation) for operation in operations)


def _describe(operation: ops.MigrateOperation) -> str:
    kind = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(operation).__name__.removesuffix("Op")).lower()
    table = getattr(operation, "table_name", None)
    added = getattr(operation, "column", None)
    column = getattr(operation, "column_name", None) or getattr(added, "name", None)
    name = getattr(operation, "index_name", None) or getattr(operation, "constraint_name", None)
    subject = ".".join(str(part) for part in (table, column) if part)
    if name:
        subject = f"{name} on {table}" if table else str(name)
    return f"{kind} {subject}".strip()


def skip_committed(operation: ops.MigrateOperation, context: MigrationContext) -> bool:
    """True for an ``add_column`` the interrupted attempt already committed (same column, same
    type): a resumed step does not run it again."""
    if not isinstance(operation, ops.AddColumnOp) or context.as_sql or context.connection is None:
        return False
    connection = context.connection
    live = {
        column["name"]: column["type"]
        for column in inspect(connection).get_columns(operation.table_name, schema=operation.schema)
    }
    existing = live.get(operation.column.name)
    if existing is None:
        return False
    dialect = connection.dialect
    return bool(existing.compile(dialect=dialect) == operation.column.type.compile(dialect=dialect))
