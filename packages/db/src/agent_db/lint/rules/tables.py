"""Rules on whole tables: dropping one the models map, renaming one the running code reads."""

from __future__ import annotations

from alembic.operations import ops

from agent_db.lint.rules.base import EXPAND_CONTRACT, OperationContext, OperationRule


def _dropped_mapped_table(seen: OperationContext) -> str | None:
    operation = seen.operation
    if isinstance(operation, ops.DropTableOp) and seen.maps_table(operation.table_name):
        return operation.table_name
    return None


DROP_MAPPED_TABLE = OperationRule(
    name="drop-mapped-table",
    summary="drops a table that the models still map: the running code reads it",
    safe_alternative="remove the model and deploy that first; drop the table in a later revision",
    squawk_equivalents=("ban-drop-table",),
    check=_dropped_mapped_table,
)


def _renamed_table(seen: OperationContext) -> str | None:
    operation = seen.operation
    if isinstance(operation, ops.RenameTableOp) and seen.on_existing_table:
        return f"{operation.table_name} to {operation.new_table_name}"
    return None


RENAME_TABLE = OperationRule(
    name="rename-table",
    summary="renames a table: the code running while the migration applies reads the old name",
    safe_alternative=EXPAND_CONTRACT + " (or keep a view under the old name for one release)",
    squawk_equivalents=("renaming-table",),
    check=_renamed_table,
)

RULES = (DROP_MAPPED_TABLE, RENAME_TABLE)
