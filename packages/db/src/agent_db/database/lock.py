"""The migration lock: a session-level advisory lock on a connection of its own.

Held on a dedicated connection for the whole run, it survives the commits that
``autocommit_block()`` makes (``CREATE INDEX CONCURRENTLY``), unlike a transaction-level lock,
and the idle lock connection holds no snapshot that a concurrent index build would wait for.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from agent_db.errors import DatabaseUnavailable


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


MIGRATION_LOCK_KEY = _lock_key("agent-db:migrations")


@dataclass(frozen=True)
class LockHolder:
    pid: int
    application_name: str
    user: str | None
    client: str | None
    since: datetime | None
    state: str | None

    def describe(self) -> str:
        since = self.since.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if self.since else "unknown"
        where = f" from {self.client}" if self.client else ""
        return (
            f"pid {self.pid} ({self.application_name or 'no application name'}, "
            f"user {self.user}{where}, connected since {since})"
        )


def lock_holder(connection: Connection, key: int = MIGRATION_LOCK_KEY) -> LockHolder | None:
    """The session holding the migration lock on this database, if any."""
    classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    row = connection.execute(
        text(
            """
            SELECT a.pid, a.application_name, a.usename, a.client_addr::text, a.backend_start,
                   a.state
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND l.classid = :classid AND l.objid = :objid
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            LIMIT 1
            """
        ),
        {"classid": classid, "objid": objid},
    ).first()
    return LockHolder(*row) if row else None


def try_lock(connection: Connection, key: int = MIGRATION_LOCK_KEY) -> bool:
    return bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one())


def unlock(connection: Connection, key: int = MIGRATION_LOCK_KEY) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def acquire(
    connection: Connection,
    *,
    wait_seconds: float,
    on_wait: Callable[[LockHolder | None, float], None] | None = None,
    key: int = MIGRATION_LOCK_KEY,
    poll_seconds: float = 0.25,
) -> None:
    """Take the lock, waiting up to ``wait_seconds``; ``on_wait`` hears who holds it.

    ``connection`` must be in autocommit mode: the lock belongs to its session.
    """
    deadline = time.monotonic() + wait_seconds
    last_report = float("-inf")
    while not try_lock(connection, key):
        now = time.monotonic()
        if now >= deadline:
            holder = lock_holder(connection, key)
            who = holder.describe() if holder else "a session that has since let go"
            raise DatabaseUnavailable(
                f"gave up waiting for the migration lock after {wait_seconds:g}s: it is held by "
                f"{who}; wait for that run to finish (or raise lock_wait_seconds in "
                "environments/<env>.toml) and run again"
            )
        if on_wait is not None and now - last_report >= 10:
            on_wait(lock_holder(connection, key), max(0.0, deadline - now))
            last_report = now
        time.sleep(poll_seconds)
