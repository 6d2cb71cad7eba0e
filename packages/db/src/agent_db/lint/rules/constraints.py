"""Rules on constraints added to existing tables: foreign keys and CHECKs validated at once (a
scan while writes wait), UNIQUE constraints (an index built under an exclusive lock)."""

from __future__ import annotations

from alembic.operations import ops
from alembic.operations.ops import MigrateOperation

from agent_db.lint.rules.base import SAFE, OperationContext, OperationRule


def _validated_at_once(seen: OperationContext) -> str | None:
    operation = seen.operation
    if not isinstance(operation, (ops.CreateForeignKeyOp, ops.CreateCheckConstraintOp)):
        return None
    source = seen.subject_table
    if source is not None and not seen.is_new(source) and not seen.option("postgresql_not_valid"):
        return f"{operation.constraint_name} on {source}"
    return None


def _not_valid_call(operation: MigrateOperation) -> str | None:
    """The helper calls that add this foreign key NOT VALID and validate it a revision later."""
    if not isinstance(operation, ops.CreateForeignKeyOp):
        return None
    return (
        f"safe.add_foreign_key_not_valid({operation.constraint_name!r}, "
        f"{operation.source_table!r}, {operation.referent_table!r}, "
        f"{list(operation.local_cols)!r}, {list(operation.remote_cols)!r}), then "
        f"safe.validate_constraint({operation.source_table!r}, "
        f"{operation.constraint_name!r}) in the next revision"
    )


CONSTRAINT_WITHOUT_NOT_VALID = OperationRule(
    name="constraint-without-not-valid",
    summary="adds a foreign key or CHECK to an existing table without NOT VALID: the table is "
    "scanned while writes (and, for a foreign key, writes to the referenced table) wait",
    safe_alternative=f"{SAFE}.add_foreign_key_not_valid / {SAFE}.add_check_not_valid now, and "
    f"{SAFE}.validate_constraint in the next revision (it takes a lock that lets reads "
    "and writes go on)",
    squawk_equivalents=("constraint-missing-not-valid", "adding-foreign-key-constraint"),
    check=_validated_at_once,
    suggest=_not_valid_call,
)


def _unique_constraint(seen: OperationContext) -> str | None:
    operation = seen.operation
    if isinstance(operation, ops.CreateUniqueConstraintOp) and seen.on_existing_table:
        return f"{operation.constraint_name} on {operation.table_name}"
    return None


UNIQUE_CONSTRAINT_BLOCKING = OperationRule(
    name="unique-constraint-blocking",
    summary="adds a UNIQUE constraint to an existing table: the index is built under an ACCESS "
    "EXCLUSIVE lock",
    safe_alternative=f"{SAFE}.create_index_concurrently(name, table, columns, unique=True), then "
    "op.execute('ALTER TABLE t ADD CONSTRAINT name UNIQUE USING INDEX name')",
    squawk_equivalents=("disallowed-unique-constraint", "constraint-missing-not-valid"),
    check=_unique_constraint,
)

RULES = (CONSTRAINT_WITHOUT_NOT_VALID, UNIQUE_CONSTRAINT_BLOCKING)
