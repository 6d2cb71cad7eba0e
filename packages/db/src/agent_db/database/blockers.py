"""Who is blocking the migration: watched while a step runs, named when a lock wait times out.

PostgreSQL's lock-timeout error does not say who held the lock, so while each step runs a
thread asks ``pg_blocking_pids()`` about the migration session and keeps the last answer: every
25 ms for the first half second (a short ``lock_timeout`` must not end the wait unseen), then
every few hundred milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError


@dataclass(frozen=True)
class BlockingSession:
    pid: int
    application_name: str
    user: str | None
    state: str | None
    transaction_start: datetime | None
    query: str | None

    def describe(self) -> str:
        since = (
            f", in a transaction since {self.transaction_start:%H:%M:%S}" if self.transaction_start else ""
        )
        query = f", last query: {self.query!r}" if self.query else ""
        return (
            f"pid {self.pid} ({self.application_name or 'no application name'}, user {self.user}, "
            f"{self.state or 'unknown state'}{since}{query})"
        )


_QUERY = text(
    """
    SELECT pid, application_name, usename, state, xact_start, left(query, 160)
    FROM pg_stat_activity WHERE pid = ANY (pg_blocking_pids(:pid)) ORDER BY pid
    """
)


_FIRST_POLLS = 20
_FIRST_POLLS_INTERVAL = 0.025


class BlockerWatch:
    """Polls for sessions blocking ``pid`` on ``connection`` until stopped."""

    def __init__(self, connection: Connection, pid: int, interval: float = 0.2) -> None:
        self._connection = connection
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blocker-watch", daemon=True)
        self.last_seen: list[BlockingSession] = []

    def __enter__(self) -> BlockerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _delays(self) -> Iterator[float]:
        yield from [_FIRST_POLLS_INTERVAL] * _FIRST_POLLS
        while True:
            yield self._interval

    def _run(self) -> None:
        for delay in self._delays():
            if self._stop.wait(delay):
                return
            try:
                rows = self._connection.execute(_QUERY, {"pid": self._pid}).all()
            except DBAPIError:
                return
            if rows:
                self.last_seen = [BlockingSession(*row) for row in rows]

    def describe(self) -> str:
        if not self.last_seen:
            return "a session that let go before it could be named"
        return "; ".join(session.describe() for session in self.last_seen)
