"""Rules on columns of existing tables: dropping what the models map, adding a required one,
NOT NULL, type changes, renames."""

from __future__ import annotations

from alembic.operations import ops
from sqlalchemy import String

from agent_db.lint.rules.base import EXPAND_CONTRACT, SAFE, OperationContext, OperationRule


def _dropped_mapped_column(seen: OperationContext) -> str | None:
    operation = seen.operation
    if isinstance(operation, ops.DropColumnOp) and seen.maps_column(
        operation.table_name, operation.column_name
    ):
        return f"{operation.table_name}.{operation.column_name}"
    return None


DROP_MAPPED_COLUMN = OperationRule(
    name="drop-mapped-column",
    summary="drops a column that the models (agent_db.models) still map: the code that runs "
    "during and after this migration reads and writes it",
    safe_alternative="remove the attribute from the model and deploy that first; drop the column "
    "in a later revision (the contract step)",
    squawk_equivalents=("ban-drop-column",),
    check=_dropped_mapped_column,
)


def _added_required_column(seen: OperationContext) -> str | None:
    operation = seen.operation
    if not isinstance(operation, ops.AddColumnOp) or not seen.on_existing_table:
        return None
    column = operation.column
    if (
        not column.nullable
        and column.server_default is None
        and column.identity is None
        and column.computed is None
    ):
        return f"{operation.table_name}.{column.name}"
    return None


ADD_REQUIRED_COLUMN = OperationRule(
    name="add-required-column",
    summary="adds a NOT NULL column without a server default to an existing table: it fails on "
    "a table with rows, and inserts from the code already running fail",
    safe_alternative="add it nullable, or with a constant server_default (metadata-only on "
    f"PostgreSQL 11+); backfill with {SAFE}.backfill_in_batches; then {SAFE}.add_check_not_valid("
    f"'<col> IS NOT NULL') and {SAFE}.validate_constraint in a later revision",
    squawk_equivalents=("adding-required-field",),
    check=_added_required_column,
)


def _altered(seen: OperationContext) -> ops.AlterColumnOp | None:
    """The operation, when it alters a column of an existing table."""
    operation = seen.operation
    if isinstance(operation, ops.AlterColumnOp) and seen.on_existing_table:
        return operation
    return None


def _where(operation: ops.AlterColumnOp) -> str:
    return f"{operation.table_name}.{operation.column_name}"


def _set_not_null(seen: OperationContext) -> str | None:
    operation = _altered(seen)
    if (
        operation is not None
        and operation.modify_nullable is False
        and operation.existing_nullable is not False
    ):
        return _where(operation)
    return None


SET_NOT_NULL = OperationRule(
    name="set-not-null",
    summary="sets NOT NULL on a column of an existing table: the whole table is scanned under "
    "an ACCESS EXCLUSIVE lock (reads and writes wait), unless a valid CHECK (col IS NOT "
    "NULL) already proves it; then accept the finding naming that constraint",
    safe_alternative=f"{SAFE}.add_check_not_valid(name, table, '<col> IS NOT NULL'), then in a "
    f"later revision {SAFE}.validate_constraint and SET NOT NULL (PostgreSQL 12+ uses the "
    "valid CHECK and skips the scan), then drop the CHECK",
    squawk_equivalents=("adding-not-nullable-field",),
    check=_set_not_null,
)


def is_widening(existing: object, new: object) -> bool:
    """A varchar made longer (or unbounded) changes only the catalog: no rewrite."""
    if not isinstance(existing, String) or not isinstance(new, String):
        return False
    if type(new).__name__ not in ("String", "VARCHAR", "Text", "TEXT", "Unicode", "UnicodeText"):
        return False
    if new.length is None:
        return True
    return existing.length is not None and new.length >= existing.length


def _changed_type(seen: OperationContext) -> str | None:
    operation = _altered(seen)
    if (
        operation is not None
        and operation.modify_type is not None
        and not is_widening(operation.existing_type, operation.modify_type)
    ):
        return f"{_where(operation)} to {operation.modify_type!r}"
    return None


COLUMN_TYPE_CHANGE = OperationRule(
    name="column-type-change",
    summary="changes a column's type on an existing table: PostgreSQL rewrites the table (and "
    "its indexes) under an ACCESS EXCLUSIVE lock, and running code may read the old type",
    safe_alternative=EXPAND_CONTRACT,
    squawk_equivalents=("changing-column-type",),
    check=_changed_type,
)


def _renamed_column(seen: OperationContext) -> str | None:
    operation = _altered(seen)
    if operation is None or not operation.modify_name:
        return None
    reads = (
        " (the models still map the old name)"
        if seen.maps_column(operation.table_name, operation.column_name)
        else ""
    )
    return f"{_where(operation)} to {operation.modify_name}{reads}"


RENAME_COLUMN = OperationRule(
    name="rename-column",
    summary="renames a column: the code running while the migration applies (and until the "
    "deploy finishes) still reads the old name",
    safe_alternative=EXPAND_CONTRACT,
    squawk_equivalents=("renaming-column",),
    check=_renamed_column,
)

RULES = (DROP_MAPPED_COLUMN, ADD_REQUIRED_COLUMN, SET_NOT_NULL, COLUMN_TYPE_CHANGE, RENAME_COLUMN)
