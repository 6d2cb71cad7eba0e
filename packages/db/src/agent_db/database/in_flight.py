"""The long work a migration run is doing right now, as ``db.status`` shows it: read from the
``application_name`` that :class:`~agent_db.migrations.work_progress.WorkProgress` gives the
step's session (``agent-db | backfill conversations 42% eta 12s``)."""

from __future__ import annotations

from sqlalchemy import Connection, text

PUBLISHED_PREFIX = "agent-db | "  # the application_name of a session reporting progress

_QUERY = text(
    "SELECT application_name FROM pg_stat_activity "
    "WHERE datname = current_database() AND starts_with(application_name, :prefix) "
    "ORDER BY backend_start"
)


def work_in_flight(connection: Connection) -> list[str]:
    """What each running migration step reports (empty when none runs long work)."""
    rows = connection.execute(_QUERY, {"prefix": PUBLISHED_PREFIX}).scalars()
    return [str(name).removeprefix(PUBLISHED_PREFIX) for name in rows]
