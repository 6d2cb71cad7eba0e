"""Rules on indexes: built or dropped without CONCURRENTLY on an existing table, or with
CONCURRENTLY inside the revision's transaction (where PostgreSQL refuses it)."""

from __future__ import annotations

from alembic.operations import ops
from alembic.operations.ops import MigrateOperation

from agent_db.lint.rules.base import SAFE, OperationContext, OperationRule


def _concurrent_call(operation: MigrateOperation) -> str | None:
    """The helper call that builds or drops this index concurrently, in an autocommit block."""
    if isinstance(operation, ops.CreateIndexOp):
        columns = [str(c) for c in operation.columns]
        unique = ", unique=True" if operation.unique else ""
        return (
            f"safe.create_index_concurrently({operation.index_name!r}, "
            f"{operation.table_name!r}, {columns!r}{unique})"
        )
    if isinstance(operation, ops.DropIndexOp):
        return f"safe.drop_index_concurrently({operation.index_name!r}, {operation.table_name!r})"
    return None


def _subject(operation: ops.CreateIndexOp | ops.DropIndexOp) -> str:
    return f"{operation.index_name} on {operation.table_name}"


def _blocking(kind: type[ops.CreateIndexOp] | type[ops.DropIndexOp], seen: OperationContext) -> str | None:
    operation = seen.operation
    if isinstance(operation, kind) and seen.on_existing_table and not seen.option("postgresql_concurrently"):
        return _subject(operation)
    return None


def _created_blocking(seen: OperationContext) -> str | None:
    return _blocking(ops.CreateIndexOp, seen)


def _dropped_blocking(seen: OperationContext) -> str | None:
    return _blocking(ops.DropIndexOp, seen)


def _concurrent_in_transaction(seen: OperationContext) -> str | None:
    operation = seen.operation
    if (
        isinstance(operation, (ops.CreateIndexOp, ops.DropIndexOp))
        and seen.option("postgresql_concurrently")
        and not seen.in_autocommit
    ):
        return _subject(operation)
    return None


CREATE_INDEX_BLOCKING = OperationRule(
    name="create-index-blocking",
    summary="creates an index on an existing table without CONCURRENTLY: every write to the "
    "table waits for the whole build",
    safe_alternative=f"{SAFE}.create_index_concurrently(name, table, columns) (an autocommit "
    "block with postgresql_concurrently=True; it rebuilds an INVALID leftover)",
    squawk_equivalents=("require-concurrent-index-creation",),
    check=_created_blocking,
    suggest=_concurrent_call,
)

DROP_INDEX_BLOCKING = OperationRule(
    name="drop-index-blocking",
    summary="drops an index of an existing table without CONCURRENTLY: ACCESS EXCLUSIVE lock, "
    "reads and writes wait",
    safe_alternative=f"{SAFE}.drop_index_concurrently(name, table)",
    squawk_equivalents=("require-concurrent-index-deletion",),
    check=_dropped_blocking,
    suggest=_concurrent_call,
)

CONCURRENT_INDEX_IN_TRANSACTION = OperationRule(
    name="concurrent-index-in-transaction",
    summary="uses postgresql_concurrently=True outside op.get_context().autocommit_block(): "
    "PostgreSQL refuses CONCURRENTLY inside a transaction, so the revision fails",
    safe_alternative=f"{SAFE}.create_index_concurrently / {SAFE}.drop_index_concurrently, which "
    "open the autocommit block (the migration lock stays held on its own connection)",
    squawk_equivalents=("ban-concurrent-index-creation-in-transaction",),
    check=_concurrent_in_transaction,
    suggest=_concurrent_call,
)

RULES = (CREATE_INDEX_BLOCKING, DROP_INDEX_BLOCKING, CONCURRENT_INDEX_IN_TRANSACTION)
