"""Our checks on the operations a revision invokes, where the SQL alone cannot tell.

"Existing table" means a table this revision did not create before the operation: the only
tables that can be busy while the revision runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from alembic.operations import ops
from sqlalchemy import MetaData, String

from agent_db.lint.capture import CapturedOperation, RenderedRevision


@dataclass(frozen=True)
class OperationFinding:
    rule: str
    captured: CapturedOperation
    detail: str
    suggestion: str | None = None  # the safe call for this very statement, when we can write it


_DATA_CHANGE = re.compile(
    r"^\s*(?:UPDATE\s+(?:ONLY\s+)?|DELETE\s+FROM\s+(?:ONLY\s+)?)(?P<table>\"[^\"]+\"|[\w.]+)",
    re.IGNORECASE,
)
_SQL_COMMENT = re.compile(r"^\s*--[^\n]*\n", re.MULTILINE)


def _table_key(name: str) -> str:
    return name.strip('"').split(".")[-1].strip('"')


def _is_widening(existing: object, new: object) -> bool:
    """A varchar made longer (or unbounded) changes only the catalog: no rewrite."""
    if not isinstance(existing, String) or not isinstance(new, String):
        return False
    if type(new).__name__ not in ("String", "VARCHAR", "Text", "TEXT", "Unicode", "UnicodeText"):
        return False
    if new.length is None:
        return True
    return existing.length is not None and new.length >= existing.length


def _kw(operation: object) -> dict[str, object]:
    kw = getattr(operation, "kw", None)
    return kw if isinstance(kw, dict) else {}


def _suggest(operation: object) -> str | None:
    """The helper call that does what ``operation`` asked for, safely."""
    if isinstance(operation, ops.CreateIndexOp):
        columns = [str(c) for c in operation.columns]
        unique = ", unique=True" if operation.unique else ""
        return (
            f"safe.create_index_concurrently({operation.index_name!r}, "
            f"{operation.table_name!r}, {columns!r}{unique})"
        )
    if isinstance(operation, ops.DropIndexOp):
        return f"safe.drop_index_concurrently({operation.index_name!r}, {operation.table_name!r})"
    if isinstance(operation, ops.CreateForeignKeyOp):
        return (
            f"safe.add_foreign_key_not_valid({operation.constraint_name!r}, "
            f"{operation.source_table!r}, {operation.referent_table!r}, "
            f"{list(operation.local_cols)!r}, {list(operation.remote_cols)!r}), then "
            f"safe.validate_constraint({operation.source_table!r}, "
            f"{operation.constraint_name!r}) in the next revision"
        )
    return None


def _check(captured: CapturedOperation, created: set[str], metadata: MetaData) -> Iterator[tuple[str, str]]:
    """(rule, detail) for one operation."""
    operation = captured.operation
    table = getattr(operation, "table_name", None)
    existing = table is not None and _table_key(table) not in created
    concurrently = bool(_kw(operation).get("postgresql_concurrently"))

    if isinstance(operation, ops.DropColumnOp):
        mapped = metadata.tables.get(operation.table_name)
        if mapped is not None and operation.column_name in mapped.columns:
            yield "drop-mapped-column", f"{operation.table_name}.{operation.column_name}"
    elif isinstance(operation, ops.DropTableOp):
        if operation.table_name in metadata.tables:
            yield "drop-mapped-table", operation.table_name
    elif isinstance(operation, ops.AddColumnOp) and existing:
        column = operation.column
        if (
            not column.nullable
            and column.server_default is None
            and column.identity is None
            and column.computed is None
        ):
            yield "add-required-column", f"{operation.table_name}.{column.name}"
    elif isinstance(operation, ops.AlterColumnOp) and existing:
        where = f"{operation.table_name}.{operation.column_name}"
        if operation.modify_nullable is False and operation.existing_nullable is not False:
            yield "set-not-null", where
        if operation.modify_type is not None and not _is_widening(
            operation.existing_type, operation.modify_type
        ):
            yield "column-type-change", f"{where} to {operation.modify_type!r}"
        if operation.modify_name:
            mapped = metadata.tables.get(operation.table_name)
            reads = (
                " (the models still map the old name)"
                if mapped is not None and operation.column_name in mapped.columns
                else ""
            )
            yield "rename-column", f"{where} to {operation.modify_name}{reads}"
    elif isinstance(operation, ops.RenameTableOp) and existing:
        yield "rename-table", f"{operation.table_name} to {operation.new_table_name}"
    elif isinstance(operation, (ops.CreateIndexOp, ops.DropIndexOp)):
        verb = "create" if isinstance(operation, ops.CreateIndexOp) else "drop"
        subject = f"{operation.index_name} on {operation.table_name}"
        if concurrently and not captured.in_autocommit:
            yield "concurrent-index-in-transaction", subject
        elif existing and not concurrently:
            yield f"{verb}-index-blocking", subject
    elif isinstance(operation, (ops.CreateForeignKeyOp, ops.CreateCheckConstraintOp)):
        source = getattr(operation, "source_table", None) or table
        if (
            source is not None
            and _table_key(source) not in created
            and not _kw(operation).get("postgresql_not_valid")
        ):
            yield "constraint-without-not-valid", f"{operation.constraint_name} on {source}"
    elif isinstance(operation, ops.CreateUniqueConstraintOp) and existing:
        yield "unique-constraint-blocking", f"{operation.constraint_name} on {table}"
    elif isinstance(operation, ops.ExecuteSQLOp) and not captured.in_autocommit:
        text = _SQL_COMMENT.sub("", str(operation.sqltext))
        match = _DATA_CHANGE.match(text)
        if match and _table_key(match.group("table")) not in created and "LIMIT" not in text.upper():
            yield "unbatched-update", _table_key(match.group("table"))


@dataclass
class OperationReview:
    """Our findings, in the order the operations ran, and the operations that only touch
    tables this revision created (nobody else can be waiting on those)."""

    findings: list[OperationFinding]
    on_new_tables: set[int]  # ids of CapturedOperation objects

    def touches_new_table(self, captured: CapturedOperation) -> bool:
        return id(captured) in self.on_new_tables


def check_operations(rendered: RenderedRevision, metadata: MetaData) -> OperationReview:
    """Review the operations of one revision."""
    created: set[str] = set()
    review = OperationReview([], set())
    for captured in rendered.operations:
        operation = captured.operation
        table = getattr(operation, "source_table", None) or getattr(operation, "table_name", None)
        if table is not None and _table_key(table) in created:
            review.on_new_tables.add(id(captured))
        for rule, detail in _check(captured, created, metadata):
            suggestion = _suggest(operation)
            review.findings.append(OperationFinding(rule, captured, detail, suggestion))
        if isinstance(operation, ops.CreateTableOp):
            created.add(_table_key(operation.table_name))
        elif isinstance(operation, ops.RenameTableOp) and operation.table_name in created:
            created.add(_table_key(operation.new_table_name))
    return review
