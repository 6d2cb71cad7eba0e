"""``db.plan``: what ``db.upgrade`` would run against an environment's live state, run nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_db.commands.guards import check_known
from agent_db.commands.positions import read_position
from agent_db.database.target import Target
from agent_db.errors import ConfigError
from agent_db.revisions.graph import RevisionGraph, default_graph


@dataclass(frozen=True)
class PlannedRevision:
    revision: str
    message: str
    file: str
    checksum: str
    lock_timeout: str
    statement_timeout: str
    sql: str

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Plan:
    environment: str
    current: tuple[str, ...]
    target: str | None
    revisions: list[PlannedRevision] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "current": list(self.current),
            "target": self.target,
            "revisions": [r.as_json() for r in self.revisions],
        }

    def as_sql(self) -> str:
        header = (
            f"-- plan for {self.environment}: {', '.join(self.current) or 'base'} -> "
            f"{self.target or 'base'} ({len(self.revisions)} revision(s)); nothing was run\n"
        )
        return header + "\n".join(f"-- {r.revision}: {r.message} ({r.file})\n{r.sql}" for r in self.revisions)


def build_plan(target: Target, to: str = "head", *, graph: RevisionGraph | None = None) -> Plan:
    """The revisions from the live revision of ``target`` up to ``to``, with their SQL."""
    graph = graph or default_graph()
    destination = graph.resolve(to)
    current = read_position(target)
    check_known(graph, current, target.name)
    if destination is not None and destination in graph.ancestors(current) and destination not in current:
        raise ConfigError(
            f"{target.name} is already past {destination}; a plan only goes forward "
            f"(to go back: uv run invoke db.downgrade --env {target.name} --to {destination})"
        )
    plan = Plan(target.name, current, destination)
    pending = graph.upgrade_path(current, destination)
    if not pending:
        return plan
    from agent_db.revisions.render import render_upgrade, timeout_preamble  # imports Alembic

    settings = target.settings
    for revision_id in pending:
        revision = graph[revision_id]
        lock_timeout = revision.lock_timeout or settings.lock_timeout
        statement_timeout = revision.statement_timeout or settings.statement_timeout
        sql = timeout_preamble(lock_timeout, statement_timeout) + render_upgrade(
            graph, revision, environment=target.name
        )
        plan.revisions.append(
            PlannedRevision(
                revision=revision_id,
                message=revision.message,
                file=revision.path.name,
                checksum=revision.checksum,
                lock_timeout=lock_timeout,
                statement_timeout=statement_timeout,
                sql=sql,
            )
        )
    return plan
