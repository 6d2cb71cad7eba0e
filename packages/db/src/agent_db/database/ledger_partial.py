"""Steps that left their transaction: what the ledger records of them, and what a rerun resumes.

A revision with an autocommit block (``safe.backfill_in_batches``, a concurrent index build)
commits what it ran before the block when it enters it, and each statement of the block on its
own. The runner records that moment on the step's ``running`` row (``committed``: what was
committed). If the step then stops, its row ends ``partial`` instead of ``failed``: the
database holds part of the revision, and the next run of the same revision and direction runs
it as a resume (see :mod:`agent_db.revisions.resume`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from agent_db.database.catalog import table_exists
from agent_db.database.ledger_schema import LEDGER_TABLE, ledger_columns


def mark_committed(connection: Connection, row_id: int, committed: str) -> None:
    """Record on a ``running`` row what its step committed as it left its transaction (once)."""
    connection.execute(
        text(
            "UPDATE schema_ledger SET committed = :committed "
            "WHERE id = :id AND outcome = 'running' AND committed IS NULL"
        ),
        {"committed": committed[:4000], "id": row_id},
    )
    if connection.in_transaction():
        connection.commit()


def interrupted_commit(connection: Connection, revision: str, direction: str) -> str | None:
    """What the last step of ``revision`` in ``direction`` committed, when that step ended
    ``partial`` and no step of it has succeeded since: the revision is partly applied and the
    next step resumes it. None otherwise (also on a ledger without the column)."""
    if not table_exists(connection, LEDGER_TABLE) or "committed" not in ledger_columns(connection):
        return None
    row = connection.execute(
        text(
            "SELECT outcome, committed FROM schema_ledger WHERE revision = :revision "
            "AND direction = :direction AND outcome IN ('success', 'partial') "
            "ORDER BY id DESC LIMIT 1"
        ),
        {"revision": revision, "direction": direction},
    ).first()
    if row is None or row[0] != "partial":
        return None
    return str(row[1] or "nothing before its autocommit block")


@dataclass(frozen=True)
class PartialStep:
    """A revision partly applied: its last step in ``direction`` left its transaction and
    stopped (``partial``, or ``running`` with ``committed`` set: its runner stopped before the
    next run closed the row), and no step of it in that direction has succeeded since."""

    revision: str
    direction: str
    committed: str


def partial_steps(connection: Connection) -> list[PartialStep]:
    """Every partly applied revision step the ledger records, oldest first (empty on a ledger
    without the ``committed`` column)."""
    if not table_exists(connection, LEDGER_TABLE) or "committed" not in ledger_columns(connection):
        return []
    rows = connection.execute(
        text(
            "SELECT revision, direction, outcome, committed FROM ("
            "SELECT DISTINCT ON (revision, direction) id, revision, direction, outcome, committed "
            "FROM schema_ledger WHERE direction IN ('upgrade', 'downgrade') "
            "AND (outcome IN ('success', 'partial') OR (outcome = 'running' AND committed IS NOT NULL)) "
            "ORDER BY revision, direction, id DESC) latest "
            "WHERE outcome <> 'success' ORDER BY id"
        )
    )
    return [
        PartialStep(revision, direction, committed or "nothing before its autocommit block")
        for revision, direction, _, committed in rows
    ]
