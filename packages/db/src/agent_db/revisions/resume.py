"""Resuming a step that left its transaction and stopped (its ledger row is ``partial``).

What such a revision ran before its autocommit block is committed; the block's own work is
resumable by construction (``safe.backfill_in_batches`` only touches rows still pending, a
concurrent index build drops an INVALID leftover and builds again). So the runner runs the
revision again from the start, as a resume: an ``op.add_column`` whose column already exists
with the same type is the interrupted attempt's own and is skipped (one whose column exists
with another type is not skipped, and fails as it would have), and so is a constraint of the
same name on the same table (``safe.add_check_not_valid``, ``safe.add_foreign_key_not_valid``);
``op.alter_column`` (a default, a nullability, a comment) is idempotent by nature. ``db.lint``
refuses anything else before an autocommit block (rule ``ddl-before-autocommit``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

# Operations that may run before an autocommit block of a resumable revision.
RESUMABLE_BEFORE_AUTOCOMMIT: tuple[type[ops.MigrateOperation], ...] = (
    ops.AddColumnOp,
    ops.AlterColumnOp,
    ops.CreateForeignKeyOp,
)
# What safe.add_check_not_valid runs: a named constraint, skipped when it is there already.
_ADD_CONSTRAINT = re.compile(
    r'^\s*ALTER TABLE\s+"?(?P<table>[\w$]+)"?\s+ADD CONSTRAINT\s+"?(?P<name>[\w$]+)"?\s', re.IGNORECASE
)


def resumes(operation: ops.MigrateOperation) -> bool:
    """Whether a resumed step can run ``operation`` again (or skip it) after it committed."""
    if isinstance(operation, ops.ExecuteSQLOp):
        return _ADD_CONSTRAINT.match(str(operation.sqltext)) is not None
    return isinstance(operation, RESUMABLE_BEFORE_AUTOCOMMIT)


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
    type), or a constraint it added (same name, same table): a resumed step does not run it
    again."""
    if context.as_sql or context.connection is None:
        return False
    connection = context.connection
    if isinstance(operation, ops.CreateForeignKeyOp):
        return _has_constraint(context, operation.source_table, str(operation.constraint_name))
    if isinstance(operation, ops.ExecuteSQLOp):
        match = _ADD_CONSTRAINT.match(str(operation.sqltext))
        return match is not None and _has_constraint(context, match["table"], match["name"])
    if not isinstance(operation, ops.AddColumnOp):
        return False
    live = {
        column["name"]: column["type"]
        for column in inspect(connection).get_columns(operation.table_name, schema=operation.schema)
    }
    existing = live.get(operation.column.name)
    if existing is None:
        return False
    dialect = connection.dialect
    return bool(existing.compile(dialect=dialect) == operation.column.type.compile(dialect=dialect))


def _has_constraint(context: MigrationContext, table: str, name: str) -> bool:
    assert context.connection is not None
    found = context.connection.execute(
        text("SELECT 1 FROM pg_constraint WHERE conname = :name AND conrelid = to_regclass(:table)"),
        {"name": name, "table": table},
    ).first()
    return found is not None
