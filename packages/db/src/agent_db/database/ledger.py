"""``schema_ledger``: the append-only audit of every revision step run against a database.

One row per step. A row is inserted as ``running`` (committed before the step starts, so a
killed runner leaves a trace) and moved once to ``success`` (in the step's own transaction,
atomically with ``alembic_version``) or ``failed`` (with the error). A trigger forbids deletes
and any other update, so the audit cannot be rewritten by accident.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, text

from agent_db.database.catalog import table_exists
from agent_db.database.ledger_schema import LEDGER_TABLE, ensure_ledger, ledger_columns

# Re-exported: callers read provenance through the ledger, as before it had a module of its own.
from agent_db.database.provenance import actor, ci_run, git_commit, provenance, tool_version

__all__ = [
    "LEDGER_TABLE",
    "Direction",
    "LedgerEntry",
    "Outcome",
    "actor",
    "ci_run",
    "ensure_ledger",
    "git_commit",
    "provenance",
    "tool_version",
]

Direction = Literal["upgrade", "downgrade", "stamp"]
Outcome = Literal["running", "success", "failed", "partial"]


def new_run_id() -> uuid.UUID:
    return uuid.uuid4()


def start_step(
    connection: Connection,
    *,
    run_id: uuid.UUID,
    revision: str,
    direction: Direction,
    checksum: str | None,
    environment: str,
    reason: str | None = None,
    attempt: int = 1,
    phase: str | None = None,
) -> int:
    """Insert a ``running`` row and commit it; return its id."""
    row_id = connection.execute(
        text(
            """
            INSERT INTO schema_ledger (run_id, revision, direction, checksum, environment,
                actor, git_commit, tool_version, reason, attempt, backend_pid, phase, ci_run)
            VALUES (:run_id, :revision, :direction, :checksum, :environment,
                :actor, :git_commit, :tool_version, :reason, :attempt, pg_backend_pid(), :phase,
                :ci_run)
            RETURNING id
            """
        ),
        {
            "run_id": run_id,
            "revision": revision,
            "direction": direction,
            "checksum": checksum,
            "environment": environment,
            "reason": reason,
            "attempt": attempt,
            "phase": phase,
            **provenance(),
        },
    ).scalar_one()
    if connection.in_transaction():
        connection.commit()
    return int(row_id)


def finish_step(connection: Connection, row_id: int, outcome: Outcome, error: str | None = None) -> None:
    """Move a ``running`` row to its final outcome. Inside a migration transaction it commits
    with that transaction; on an autocommit connection it is immediate."""
    connection.execute(
        text(
            "UPDATE schema_ledger SET outcome = :outcome, finished_at = clock_timestamp(), "
            "error = :error WHERE id = :id AND outcome = 'running'"
        ),
        {"outcome": outcome, "error": error[:4000] if error else None, "id": row_id},
    )


def record_completed_step(
    connection: Connection,
    *,
    revision: str,
    direction: Direction,
    checksum: str | None,
    environment: str,
    reason: str | None = None,
    phase: str | None = None,
) -> None:
    """One ``success`` row at once: for steps run by the plain Alembic CLI."""
    connection.execute(
        text(
            """
            INSERT INTO schema_ledger (run_id, revision, direction, checksum, environment,
                actor, git_commit, tool_version, outcome, finished_at, reason, backend_pid, phase,
                ci_run)
            VALUES (:run_id, :revision, :direction, :checksum, :environment, :actor,
                :git_commit, :tool_version, 'success', clock_timestamp(), :reason, pg_backend_pid(),
                :phase, :ci_run)
            """
        ),
        {
            "run_id": new_run_id(),
            "revision": revision,
            "direction": direction,
            "checksum": checksum,
            "environment": environment,
            "reason": reason,
            "phase": phase,
            **provenance(),
        },
    )


def close_abandoned_steps(connection: Connection) -> int:
    """Close the ``running`` rows left by a runner that died; callers hold the lock, so no live
    runner owns them. A step that had left its transaction (``committed`` set) is ``partial``:
    what it committed stays and the next run resumes it; any other was rolled back, ``failed``.
    Returns how many were closed."""
    result = connection.execute(
        text(
            "UPDATE schema_ledger SET finished_at = clock_timestamp(), "
            "outcome = CASE WHEN committed IS NULL THEN 'failed' ELSE 'partial' END, "
            "error = CASE WHEN committed IS NULL THEN 'interrupted: the runner stopped before "
            "recording an outcome (killed, or its connection was lost); the transaction of this "
            "step was rolled back' ELSE 'interrupted after the step left its transaction (an "
            "autocommit block): the runner stopped before recording an outcome (killed, or its "
            "connection was lost). Committed and kept: ' || committed || ', and the work the "
            "block finished; the next run of the revision resumes it from there' END "
            "WHERE outcome = 'running' AND backend_pid IS DISTINCT FROM pg_backend_pid() "
            "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a "
            "WHERE a.pid = schema_ledger.backend_pid AND a.application_name LIKE 'agent-db%')"
        )
    )
    if connection.in_transaction():
        connection.commit()
    return result.rowcount


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    run_id: str
    revision: str
    direction: str
    checksum: str | None
    environment: str
    started_at: datetime
    finished_at: datetime | None
    actor: str
    git_commit: str | None
    tool_version: str
    outcome: str
    error: str | None
    reason: str | None
    attempt: int
    phase: str | None = None  # None: recorded before the ledger had phases
    ci_run: str | None = None  # the CI run's address; None outside CI or before the column
    committed: str | None = None  # what the step had committed when it left its transaction

    def as_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data


_COLUMNS = (
    "id, run_id::text, revision, direction, checksum, environment, started_at, finished_at, "
    "actor, git_commit, tool_version, outcome, error, reason, attempt"
)


def _phase_column(connection: Connection) -> str:
    # A ledger an older toolkit created (and no newer one has run against yet) has no phase.
    return "phase" if "phase" in ledger_columns(connection) else "NULL"


def _later_columns(connection: Connection) -> str:
    """``phase, ci_run, committed`` as far as the live ledger has them (NULL in their place
    otherwise)."""
    present = ledger_columns(connection)
    return ", ".join(name if name in present else "NULL" for name in ("phase", "ci_run", "committed"))


def entries(connection: Connection, *, limit: int | None = None) -> list[LedgerEntry]:
    """Ledger rows, newest first (empty when the ledger does not exist yet)."""
    if not table_exists(connection, LEDGER_TABLE):
        return []
    query = f"SELECT {_COLUMNS}, {_later_columns(connection)} FROM schema_ledger ORDER BY id DESC"
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return [LedgerEntry(*row) for row in connection.execute(text(query))]


def last_entry(connection: Connection) -> LedgerEntry | None:
    found = entries(connection, limit=1)
    return found[0] if found else None


def successful_checksums(connection: Connection) -> dict[str, str | None]:
    """For each revision whose latest upgrade step succeeded, the checksum it ran with."""
    if not table_exists(connection, LEDGER_TABLE):
        return {}
    rows = connection.execute(
        text(
            "SELECT DISTINCT ON (revision) revision, checksum FROM schema_ledger "
            "WHERE direction = 'upgrade' AND outcome = 'success' ORDER BY revision, id DESC"
        )
    )
    return {row[0]: row[1] for row in rows}


def applied_phases(connection: Connection, revisions: Iterable[str]) -> dict[str, str | None]:
    """For each of ``revisions`` whose latest upgrade step succeeded, the phase it was recorded
    with (None when the step predates phases); revisions never applied are absent."""
    wanted = sorted(set(revisions))
    if not wanted or not table_exists(connection, LEDGER_TABLE):
        return {}
    rows = connection.execute(
        text(
            f"SELECT DISTINCT ON (revision) revision, {_phase_column(connection)} FROM schema_ledger "
            "WHERE direction = 'upgrade' AND outcome = 'success' AND revision = ANY(:wanted) "
            "ORDER BY revision, id DESC"
        ),
        {"wanted": wanted},
    )
    return {row[0]: row[1] for row in rows}


def applied_commits(connection: Connection, revisions: Iterable[str]) -> dict[str, str | None]:
    """For each of ``revisions`` whose latest upgrade step succeeded, the commit its files came
    from (None when unknown); revisions never applied are absent."""
    wanted = sorted(set(revisions))
    if not wanted or not table_exists(connection, LEDGER_TABLE):
        return {}
    rows = connection.execute(
        text(
            "SELECT DISTINCT ON (revision) revision, git_commit FROM schema_ledger "
            "WHERE direction = 'upgrade' AND outcome = 'success' AND revision = ANY(:wanted) "
            "ORDER BY revision, id DESC"
        ),
        {"wanted": wanted},
    )
    return {row[0]: row[1] for row in rows}
