"""``db.consumers``: the live consumers of an environment's schema (the census), grouped by
build for ``db.status``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_db.database.consumers import MISSED_HEARTBEATS, LiveConsumer, live_consumers
from agent_db.database.target import Target


@dataclass(frozen=True)
class BuildGroup:
    """The live consumers of one build: how many, and the oldest heartbeat among them."""

    build: str
    build_commit: str | None
    build_heads: tuple[str, ...]
    count: int
    oldest_heartbeat_seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "build": self.build,
            "build_commit": self.build_commit,
            "build_heads": list(self.build_heads),
            "count": self.count,
            "oldest_heartbeat_seconds": round(self.oldest_heartbeat_seconds, 3),
        }


def by_build(consumers: list[LiveConsumer]) -> list[BuildGroup]:
    """One group per build (commit and the revisions it knows), largest first."""
    groups: dict[tuple[str | None, tuple[str, ...]], list[LiveConsumer]] = {}
    for consumer in consumers:
        groups.setdefault((consumer.build_commit, consumer.build_revisions), []).append(consumer)
    found = [
        BuildGroup(
            build=members[0].build,
            build_commit=members[0].build_commit,
            build_heads=members[0].build_heads,
            count=len(members),
            oldest_heartbeat_seconds=max(m.seconds_since_seen for m in members),
        )
        for members in groups.values()
    ]
    return sorted(found, key=lambda group: (-group.count, group.build))


@dataclass(frozen=True)
class CensusReport:
    environment: str
    consumers: list[LiveConsumer]

    @property
    def builds(self) -> list[BuildGroup]:
        return by_build(self.consumers)

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "live_after_missed_heartbeats": MISSED_HEARTBEATS,
            "count": len(self.consumers),
            "builds": [group.as_json() for group in self.builds],
            "consumers": [consumer.as_json() for consumer in self.consumers],
        }


def read_census(target: Target) -> CensusReport:
    """The live consumers of ``target``'s database (none when no process ever registered)."""
    with target.connect(purpose="agent-db-consumers", autocommit=True) as connection:
        return CensusReport(target.name, live_consumers(connection))
