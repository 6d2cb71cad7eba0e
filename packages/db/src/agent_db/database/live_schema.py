"""What a live database says about its schema for the window check: ``alembic_version`` and,
per revision, the ledger's latest successful step (applied or reverted, with its phase).

Both are sync functions on a SQLAlchemy ``Connection``; the API runs them on its async engine
through ``AsyncConnection.run_sync``. Nothing here needs the migration lock: the rows read are
committed ones, and a step in flight is simply not counted yet.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from agent_db.database.catalog import current_revisions, table_exists
from agent_db.database.ledger_schema import LEDGER_TABLE, ledger_columns

__all__ = ["current_revisions", "ledger_records"]


def ledger_records(connection: Connection) -> dict[str, tuple[bool, str | None]]:
    """For each revision with a successful upgrade or downgrade: ``(applied, phase)`` from the
    latest such step, ``applied`` False when it was a downgrade. ``phase`` is the one the latest
    successful upgrade recorded (None before the ledger had phases)."""
    if not table_exists(connection, LEDGER_TABLE):
        return {}
    phase = "phase" if "phase" in ledger_columns(connection) else "NULL::text"
    rows = connection.execute(
        text(
            f"""
            SELECT latest.revision, latest.direction = 'upgrade', upgraded.phase
            FROM (
                SELECT DISTINCT ON (revision) revision, direction FROM schema_ledger
                WHERE outcome = 'success' AND direction IN ('upgrade', 'downgrade')
                ORDER BY revision, id DESC
            ) AS latest
            LEFT JOIN (
                SELECT DISTINCT ON (revision) revision, {phase} AS phase FROM schema_ledger
                WHERE outcome = 'success' AND direction = 'upgrade'
                ORDER BY revision, id DESC
            ) AS upgraded USING (revision)
            """
        )
    )
    return {row[0]: (bool(row[1]), row[2]) for row in rows}
