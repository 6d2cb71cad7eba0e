"""Rules on a revision's phase (:mod:`agent_db.revisions.phases`): an expand revision runs while
the previous release still serves, so it must not remove or change what that release reads; a
contract revision runs once no such release is left, so it must not also carry additions (they
would wait for the contract gate, and the release that needs them could not be deployed first).

What counts, on a table this revision did not create:

- contract (refused outside a contract revision): dropping or renaming a table or column,
  changing a column's type (widening a varchar excepted), setting NOT NULL on an existing
  column, dropping a default, a constraint or an index; the same statements in ``op.execute``;
- additions (refused in a contract revision): creating a table or index, adding a column or a
  constraint; the same in ``op.execute``.
"""

from __future__ import annotations

import re

from alembic.operations import ops

from agent_db.lint.rules.base import OperationContext, OperationRule
from agent_db.lint.rules.columns import is_widening

_LITERALS = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)
_IDENT = r'(?:"[^"]+"|[\w.]+)'
_TABLE = r"\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?" + _IDENT + r"\s+"


def _sql_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_REMOVES = (
    (_sql_pattern(r"\bDROP\s+(?:TABLE|VIEW|MATERIALIZED\s+VIEW)\b"), "drops a table or view"),
    (_sql_pattern(_TABLE + r"DROP\s+(?:COLUMN\s+)?(?!CONSTRAINT\b)" + _IDENT), "drops a column"),
    (_sql_pattern(r"\bDROP\s+CONSTRAINT\b"), "drops a constraint"),
    (_sql_pattern(r"\bDROP\s+DEFAULT\b"), "drops a default"),
    (_sql_pattern(r"\bDROP\s+INDEX\b"), "drops an index"),
    (_sql_pattern(r"\bRENAME\s+(?:COLUMN\s+|CONSTRAINT\s+)?(?:" + _IDENT + r"\s+)?TO\b"), "renames"),
    (_sql_pattern(r"\bALTER\s+(?:COLUMN\s+)?" + _IDENT + r"\s+(?:SET\s+DATA\s+)?TYPE\b"), "changes a type"),
    (_sql_pattern(r"\bSET\s+NOT\s+NULL\b"), "sets NOT NULL"),
)
_ADDS = (
    (
        _sql_pattern(
            r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+)?"
            r"(?:TABLE|INDEX|VIEW|MATERIALIZED\s+VIEW|SEQUENCE|TYPE)\b"
        ),
        "creates",
    ),
    (_sql_pattern(_TABLE + r"ADD\b"), "adds"),
)


def _sql(seen: OperationContext) -> str | None:
    operation = seen.operation
    if not isinstance(operation, ops.ExecuteSQLOp):
        return None
    return _LITERALS.sub("''", str(operation.sqltext))


def _first_line(sql: str) -> str:
    line = " ".join(sql.split())
    return line if len(line) <= 80 else f"{line[:77]}..."


def removal(seen: OperationContext) -> str | None:
    """What the operation removes or changes on an existing table, or None."""
    operation = seen.operation
    table = getattr(operation, "table_name", None)
    if table is not None and seen.is_new(table):
        return None  # created by this revision: no running code reads it
    if isinstance(operation, ops.DropTableOp):
        return f"drops table {operation.table_name}"
    if isinstance(operation, ops.RenameTableOp):
        return f"renames table {operation.table_name} to {operation.new_table_name}"
    if isinstance(operation, ops.DropColumnOp):
        return f"drops column {operation.table_name}.{operation.column_name}"
    if isinstance(operation, ops.DropConstraintOp):
        return f"drops constraint {operation.constraint_name} of {operation.table_name}"
    if isinstance(operation, ops.DropIndexOp):
        return f"drops index {operation.index_name}"
    if isinstance(operation, ops.AlterColumnOp):
        return _altered(operation)
    sql = _sql(seen)
    if sql is not None:
        for pattern, what in _REMOVES:
            if pattern.search(sql):
                return f"{what}: {_first_line(sql)}"
    return None


def _altered(operation: ops.AlterColumnOp) -> str | None:
    where = f"{operation.table_name}.{operation.column_name}"
    if operation.modify_name:
        return f"renames column {where} to {operation.modify_name}"
    if operation.modify_type is not None and not is_widening(operation.existing_type, operation.modify_type):
        return f"changes the type of {where} to {operation.modify_type!r}"
    if operation.modify_nullable is False and operation.existing_nullable is not False:
        return f"sets NOT NULL on {where}"
    if operation.modify_server_default is None and operation.existing_server_default is not None:
        return f"drops the default of {where}"
    return None


def addition(seen: OperationContext) -> str | None:
    """What the operation adds, or None."""
    operation = seen.operation
    if isinstance(operation, ops.CreateTableOp):
        return f"creates table {operation.table_name}"
    if isinstance(operation, ops.AddColumnOp):
        return f"adds column {operation.table_name}.{operation.column.name}"
    if isinstance(operation, ops.CreateIndexOp):
        return f"creates index {operation.index_name}"
    if isinstance(operation, ops.AddConstraintOp):
        return f"adds constraint {getattr(operation, 'constraint_name', None)} to {seen.subject_table}"
    sql = _sql(seen)
    if sql is not None:
        for pattern, what in _ADDS:
            if pattern.search(sql):
                return f"{what}: {_first_line(sql)}"
    return None


def _contract_in_expand(seen: OperationContext) -> str | None:
    return removal(seen) if seen.phase != "contract" else None


CONTRACT_IN_EXPAND = OperationRule(
    name="contract-in-expand",
    summary="removes or changes what the running release may read, in a revision not marked "
    'phase = "contract": expand revisions run while the previous release still serves '
    "(db.upgrade --phase expand, before the new API rolls out), so its queries would fail",
    safe_alternative='declare phase = "contract" in this revision (it then runs only once every '
    "live API knows it: db.upgrade --phase contract, after the rollout), and move any additions "
    "to an expand revision before it; a revision already applied somewhere gets its phase in "
    "versions/phases.toml instead",
    check=_contract_in_expand,
)


def _adds_in_contract(seen: OperationContext) -> str | None:
    return addition(seen) if seen.phase == "contract" else None


ADDS_IN_CONTRACT = OperationRule(
    name="contract-adds",
    summary='adds something in a revision marked phase = "contract": a contract revision waits '
    "until no older release runs, so the release that needs the addition could not be deployed "
    "before it; keep additions and removals in separate revisions",
    safe_alternative='move the addition to an expand revision (no phase, or phase = "expand") '
    "before this one, and keep this revision to what it removes or changes",
    check=_adds_in_contract,
)

RULES = (CONTRACT_IN_EXPAND, ADDS_IN_CONTRACT)
