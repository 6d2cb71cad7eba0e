"""What the toolkit reads from a live database's catalog: its tables, its revision, and which
tables belong to the migration machinery rather than to the application."""

from __future__ import annotations

from sqlalchemy import Connection, text

# Tables the migration machinery owns; no revision creates them and autogenerate ignores them
# (the ledger, and the census of consumers: agent_db.database.consumers).
BOOKKEEPING_TABLES = frozenset({"alembic_version", "schema_ledger", "schema_consumers"})


def table_exists(connection: Connection, name: str) -> bool:
    query = text("SELECT to_regclass(:name) IS NOT NULL")
    return bool(connection.execute(query, {"name": name}).scalar_one())


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions in ``alembic_version`` (empty at base)."""
    if not table_exists(connection, "alembic_version"):
        return ()
    rows = connection.execute(text("SELECT version_num FROM alembic_version ORDER BY 1"))
    return tuple(row[0] for row in rows)
