"""Lock waits in one database, sampled every few milliseconds from ``pg_locks``.

``pg_locks.waitstart`` (PostgreSQL 14+) says since when each waiting lock request has waited,
so a sample gives the exact length of every wait in progress; the longest value seen per
waiting session is the wait it ended with (to within the sampling interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from bench.background import Sampler

QUERY = """
SELECT a.pid, a.application_name, l.locktype, l.mode,
       CASE WHEN l.relation IS NOT NULL THEN l.relation::regclass::text ELSE '' END,
       extract(epoch FROM now() - coalesce(l.waitstart, a.query_start)),
       extract(epoch FROM coalesce(l.waitstart, a.query_start)),
       left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120),
       pg_blocking_pids(a.pid)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE NOT l.granted AND a.datname = current_database()
"""


@dataclass
class Wait:
    pid: int
    application: str
    lock: str
    relation: str
    seconds: float
    query: str
    blockers: list[int]
    started: float

    @property
    def ended(self) -> float:
        return self.started + self.seconds


@dataclass
class LockSampler(Sampler):
    url: str
    interval: float = 0.02
    waits: dict[tuple[int, float], Wait] = field(default_factory=dict)
    samples: int = 0
    name = "lock-sampler"

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="bench-lock-sampler") as connection:
            while not self._stop.is_set():
                rows = connection.execute(QUERY).fetchall()
                for pid, app, locktype, mode, relation, seconds, started, query, blockers in rows:
                    # One entry per wait (session and start): the longest value seen is its length.
                    key = (pid, round(float(started), 3))
                    previous = self.waits.get(key)
                    if previous is None or seconds > previous.seconds:
                        self.waits[key] = Wait(
                            pid,
                            app,
                            f"{locktype} {mode}",
                            relation,
                            float(seconds),
                            query,
                            list(blockers),
                            float(started),
                        )
                self.samples += 1
                self._stop.wait(self.interval)

    def longest(
        self, since: float = 0.0, until: float = float("inf"), application: str | None = None
    ) -> Wait | None:
        """The longest wait that was in progress at some time between ``since`` and ``until``."""
        candidates = [
            w
            for w in self.waits.values()
            if w.started <= until
            and w.ended >= since
            and (application is None or w.application.startswith(application))
        ]
        return max(candidates, key=lambda w: w.seconds, default=None)
