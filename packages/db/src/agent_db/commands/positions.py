"""Where environments stand: the current revision of one, or of every reachable one."""

from __future__ import annotations

from dataclasses import dataclass

from agent_db.database.catalog import current_revisions
from agent_db.database.target import Target, resolve_url
from agent_db.errors import AgentDbError
from agent_db.revisions.graph import RevisionGraph
from agent_db.settings import DatabaseSettings, load_all_settings


@dataclass(frozen=True)
class Position:
    environment: str
    revisions: tuple[str, ...] | None  # None: unreachable or not configured
    problem: str | None = None

    def at_head(self, graph: RevisionGraph) -> bool:
        return self.revisions is not None and set(self.revisions) == set(graph.heads)


def read_position(target: Target) -> tuple[str, ...]:
    with target.connect(purpose="agent-db-status") as connection:
        return current_revisions(connection)


def try_open(settings: DatabaseSettings) -> tuple[Target | None, str | None]:
    """The environment's target, or why it cannot be reached; never raises, never starts the
    embedded server."""
    try:
        return Target(settings, resolve_url(settings, start_embedded=False)), None
    except AgentDbError as error:
        return None, str(error)


def all_positions() -> list[Position]:
    """Every environment's current revision, skipping (not failing on) unreachable ones."""
    positions = []
    for settings in load_all_settings():
        target, problem = try_open(settings)
        if target is None:
            positions.append(Position(settings.name, None, problem))
            continue
        try:
            positions.append(Position(settings.name, read_position(target)))
        except AgentDbError as error:
            positions.append(Position(settings.name, None, str(error)))
    return positions
