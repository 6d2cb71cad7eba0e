"""``schema_consumers``: the census of the processes that run on a database's schema.

Each API process keeps one row here (its environment, its build: the git commit and the
revisions its code knows, host, pid, when it started, when it was last seen) and refreshes it
every ``heartbeat_seconds``. A row not refreshed for :data:`MISSED_HEARTBEATS` of its own
intervals counts as gone; a process that stops cleanly deletes its row. The contract gate reads
the live rows: a contract revision runs only when every live consumer's build knows it.

A table, not ``pg_stat_activity`` or ``application_name``: behind a connection pooler the
server sees the pooler's sessions, not the processes, and a row says what a session cannot
(which revisions a build knows). Every statement here is a single autocommit statement, so it
works through a pooler in transaction mode. Times come from the database's clock, so the
hosts' clocks never matter.

The toolkit owns the table (like the ledger): no revision creates it, drift and autogenerate
ignore it (:data:`agent_db.database.catalog.BOOKKEEPING_TABLES`).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from agent_db.database.catalog import table_exists

CONSUMERS_TABLE = "schema_consumers"
MISSED_HEARTBEATS = 3  # a row older than this many of its own intervals is gone
PRUNE_AFTER = "1 day"  # rows gone this long are deleted when a process registers
BUILD_COMMIT_VARIABLE = "AGENT_BUILD_COMMIT"

_DDL = (
    """
    CREATE TABLE IF NOT EXISTS schema_consumers (
        id uuid PRIMARY KEY,
        environment text NOT NULL,
        build_commit text,
        build_revisions text[] NOT NULL,
        build_heads text[] NOT NULL,
        host text NOT NULL,
        pid integer NOT NULL,
        heartbeat_seconds double precision NOT NULL CHECK (heartbeat_seconds > 0),
        started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        last_seen timestamptz NOT NULL DEFAULT clock_timestamp()
    )
    """,
    "CREATE INDEX IF NOT EXISTS schema_consumers_last_seen_idx ON schema_consumers (last_seen)",
)

# "Already exists" from two creators racing on CREATE TABLE IF NOT EXISTS (the catalog's
# unique index, or the relation itself).
_RACE_SQLSTATES = frozenset({"23505", "42P07"})

_LIVE = f"last_seen > clock_timestamp() - make_interval(secs => {MISSED_HEARTBEATS} * heartbeat_seconds)"


def ensure_consumers_table(connection: Connection) -> None:
    """Create the census table when missing (idempotent, safe against a concurrent creator).

    The toolkit calls it with the ledger, under the migration lock; an API process calls it when
    it registers, so a database migrated by an older toolkit still gets its census."""
    if table_exists(connection, CONSUMERS_TABLE):
        return
    try:
        for statement in _DDL:
            connection.execute(text(statement))
        if connection.in_transaction():
            connection.commit()
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) not in _RACE_SQLSTATES:
            raise
        if connection.in_transaction():
            connection.rollback()


def build_commit() -> str | None:
    """The commit a running build was made from: ``AGENT_BUILD_COMMIT`` (set it in images,
    which carry no ``.git``), else the checkout's commit as the ledger records it."""
    explicit = os.environ.get(BUILD_COMMIT_VARIABLE, "").strip()
    if explicit:
        return explicit[:200]
    from agent_db.database.ledger import git_commit

    return git_commit()


@dataclass(frozen=True)
class ConsumerIdentity:
    """What one process says about itself; ``id`` is new for every process start."""

    id: uuid.UUID
    environment: str
    build_commit: str | None
    build_revisions: tuple[str, ...]
    build_heads: tuple[str, ...]
    host: str
    pid: int
    heartbeat_seconds: float

    @classmethod
    def of_this_process(
        cls,
        environment: str,
        *,
        revisions: Iterable[str],
        heads: Sequence[str],
        heartbeat_seconds: float,
    ) -> ConsumerIdentity:
        return cls(
            id=uuid.uuid4(),
            environment=environment,
            build_commit=build_commit(),
            build_revisions=tuple(sorted(revisions)),
            build_heads=tuple(heads),
            host=socket.gethostname(),
            pid=os.getpid(),
            heartbeat_seconds=heartbeat_seconds,
        )


def register(connection: Connection, consumer: ConsumerIdentity) -> None:
    """Create the table if needed, forget rows gone for a day, and insert (or refresh) this
    process's row."""
    ensure_consumers_table(connection)
    connection.execute(
        text(f"DELETE FROM schema_consumers WHERE last_seen < clock_timestamp() - interval '{PRUNE_AFTER}'")
    )
    heartbeat(connection, consumer)


def heartbeat(connection: Connection, consumer: ConsumerIdentity) -> None:
    """Refresh this process's row; one statement that also re-creates the row when it was
    removed meanwhile (expired and pruned, or deleted by hand), so a process that was cut off
    for a while comes back into the census with its first heartbeat."""
    connection.execute(
        text(
            """
            INSERT INTO schema_consumers (id, environment, build_commit, build_revisions,
                build_heads, host, pid, heartbeat_seconds)
            VALUES (:id, :environment, :build_commit, :build_revisions, :build_heads, :host,
                :pid, :heartbeat_seconds)
            ON CONFLICT (id) DO UPDATE SET last_seen = clock_timestamp()
            """
        ),
        {
            "id": consumer.id,
            "environment": consumer.environment,
            "build_commit": consumer.build_commit,
            "build_revisions": list(consumer.build_revisions),
            "build_heads": list(consumer.build_heads),
            "host": consumer.host,
            "pid": consumer.pid,
            "heartbeat_seconds": consumer.heartbeat_seconds,
        },
    )
    if connection.in_transaction():
        connection.commit()


def deregister(connection: Connection, consumer_id: uuid.UUID) -> None:
    """Remove this process's row (a clean shutdown)."""
    if not table_exists(connection, CONSUMERS_TABLE):
        return
    connection.execute(text("DELETE FROM schema_consumers WHERE id = :id"), {"id": consumer_id})
    if connection.in_transaction():
        connection.commit()


@dataclass(frozen=True)
class LiveConsumer:
    """One live row of the census, with its age by the database's clock."""

    id: str
    environment: str
    build_commit: str | None
    build_revisions: tuple[str, ...]
    build_heads: tuple[str, ...]
    host: str
    pid: int
    heartbeat_seconds: float
    started_at: datetime
    last_seen: datetime
    seconds_since_seen: float

    def knows(self, revision: str) -> bool:
        return revision in self.build_revisions

    @property
    def build(self) -> str:
        """The build as people read it: its short commit and the head(s) its code expects."""
        commit = (self.build_commit or "unknown commit")[:12]
        heads = ", ".join(head[:12] for head in self.build_heads) or "base"
        return f"{commit} (head {heads})"

    def describe(self) -> str:
        return (
            f"{self.host} pid {self.pid} ({self.environment}), build {self.build}, "
            f"last seen {self.seconds_since_seen:.1f}s ago"
        )

    def as_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["build_revisions"] = list(self.build_revisions)
        data["build_heads"] = list(self.build_heads)
        data["started_at"] = self.started_at.isoformat()
        data["last_seen"] = self.last_seen.isoformat()
        data["seconds_since_seen"] = round(self.seconds_since_seen, 3)
        return data


def live_consumers(connection: Connection) -> list[LiveConsumer]:
    """The live rows, oldest heartbeat first (empty when the table does not exist yet)."""
    if not table_exists(connection, CONSUMERS_TABLE):
        return []
    rows = connection.execute(
        text(
            "SELECT id::text, environment, build_commit, build_revisions, build_heads, host, pid, "
            "heartbeat_seconds, started_at, last_seen, "
            "extract(epoch FROM clock_timestamp() - last_seen)::float8 "
            f"FROM schema_consumers WHERE {_LIVE} ORDER BY last_seen, started_at, id"
        )
    )
    return [
        LiveConsumer(
            id=row[0],
            environment=row[1],
            build_commit=row[2],
            build_revisions=tuple(row[3]),
            build_heads=tuple(row[4]),
            host=row[5],
            pid=int(row[6]),
            heartbeat_seconds=float(row[7]),
            started_at=row[8],
            last_seen=row[9],
            seconds_since_seen=max(0.0, float(row[10])),
        )
        for row in rows
    ]


def blocking_consumers(connection: Connection, revision: str) -> list[LiveConsumer]:
    """The live consumers whose build does not know ``revision``."""
    return [consumer for consumer in live_consumers(connection) if not consumer.knows(revision)]
