"""``db.plan``: what ``db.upgrade`` (or ``db.downgrade``, for a revision below the live one)
would run against an environment's live state, and what a downgrade would destroy; runs nothing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agent_db.commands.guards import check_known, relative_steps
from agent_db.commands.positions import read_position
from agent_db.database.ledger_partial import partial_steps
from agent_db.database.target import Target
from agent_db.revisions.graph import RevisionGraph, default_graph
from agent_db.revisions.phases import phase_of

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from agent_db.commands.data_loss import DataLossReport


@dataclass(frozen=True)
class PlannedRevision:
    revision: str
    message: str
    file: str
    checksum: str
    lock_timeout: str
    statement_timeout: str
    sql: str
    phase: str = "expand"  # agent_db.revisions.phases
    resumes: str | None = None  # partly applied: what its stopped step committed (the run resumes it)

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def heading(self, direction: str) -> str:
        line = f"-- {self.revision} [{self.phase}]: {self.message} ({self.file})\n"
        if self.resumes is None:
            return line
        return line + (
            f"-- RESUMES this partly applied {direction}: its last {direction} left its transaction "
            f"and stopped, committed and kept: {self.resumes}. The run below skips each op.add_column "
            "whose column is already there and each constraint already added, and its autocommit "
            "block goes on with what is still to do\n"
        )


@dataclass
class Plan:
    environment: str
    current: tuple[str, ...]
    target: str | None
    revisions: list[PlannedRevision] = field(default_factory=list)
    direction: str = "upgrade"
    data_loss: DataLossReport | None = None  # downgrades: what they would destroy

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "direction": self.direction,
            "current": list(self.current),
            "target": self.target,
            "revisions": [r.as_json() for r in self.revisions],
            "data_loss": self.data_loss.as_json() if self.data_loss else None,
        }

    def as_sql(self) -> str:
        header = (
            f"-- {self.direction} plan for {self.environment}: {', '.join(self.current) or 'base'} -> "
            f"{self.target or 'base'} ({len(self.revisions)} revision(s)); nothing was run\n"
        )
        if self.data_loss is not None:
            lost = self.data_loss.lossy
            header += "".join(f"-- DESTROYS {loss.describe()}\n" for loss in lost) or "-- destroys no data\n"
            if lost:
                header += "-- db.downgrade refuses this without --accept-data-loss\n"
        contract = [r.revision for r in self.revisions if r.phase == "contract"]
        if contract and self.direction == "upgrade":
            header += (
                f"-- contract revision(s) {', '.join(contract)}: db.upgrade --phase expand stops "
                "before the first; --phase contract (or all) runs them once no older API needs them\n"
            )
        resumed = [r.revision for r in self.revisions if r.resumes is not None]
        if resumed:
            header += f"-- {', '.join(resumed)} partly applied: this {self.direction} resumes it\n"
        return header + "\n".join(f"{r.heading(self.direction)}{r.sql}" for r in self.revisions)


def build_plan(target: Target, to: str = "head", *, graph: RevisionGraph | None = None) -> Plan:
    """The revisions from the live revision of ``target`` to ``to``, with their SQL: an upgrade,
    or a downgrade (newest first, with what it would destroy) when ``to`` is below the live
    revision (an id, ``base``, or relative such as ``-1``)."""
    graph = graph or default_graph()
    relative = relative_steps(to)
    destination = None if relative is not None else graph.resolve(to)
    current = read_position(target)
    check_known(graph, current, target.name)
    if relative is not None:
        destination = graph.relative(current, relative)
    going_down = relative is not None or (
        destination not in current and (destination is None or destination in graph.ancestors(current))
    )
    if going_down and (current or destination is not None):
        return _downgrade_plan(target, graph, current, destination)
    plan = Plan(target.name, current, destination)
    for revision_id in graph.upgrade_path(current, destination):
        plan.revisions.append(_planned(target, graph, revision_id, "upgrade"))
    if plan.revisions:
        with target.connect(purpose="agent-db-plan") as connection:
            _mark_resumes(connection, plan)
    return plan


def _mark_resumes(connection: Connection, plan: Plan) -> None:
    """Each planned revision a stopped step left partly applied (``partial``, or ``running``
    with ``committed`` set: the run closes that row as ``partial`` first): the run resumes it."""
    committed = {(s.revision, s.direction): s.committed for s in partial_steps(connection)}
    plan.revisions = [replace(r, resumes=committed.get((r.revision, plan.direction))) for r in plan.revisions]


def _downgrade_plan(
    target: Target, graph: RevisionGraph, current: tuple[str, ...], destination: str | None
) -> Plan:
    from agent_db.commands.data_loss import assess_downgrade  # imports Alembic

    pending = graph.downgrade_path(current, destination)
    plan = Plan(target.name, current, destination, direction="downgrade")
    plan.revisions = [_planned(target, graph, revision_id, "downgrade") for revision_id in pending]
    with target.connect(purpose="agent-db-plan") as connection:
        plan.data_loss = assess_downgrade(connection, graph, pending, target.name)
        _mark_resumes(connection, plan)
    return plan


def _planned(target: Target, graph: RevisionGraph, revision_id: str, direction: str) -> PlannedRevision:
    from agent_db.revisions.render import render_downgrade, render_upgrade, timeout_preamble  # Alembic

    revision = graph[revision_id]
    settings = target.settings
    lock_timeout = revision.lock_timeout or settings.lock_timeout
    statement_timeout = revision.statement_timeout or settings.statement_timeout
    render = render_upgrade if direction == "upgrade" else render_downgrade
    return PlannedRevision(
        revision=revision_id,
        message=revision.message,
        file=revision.path.name,
        checksum=revision.checksum,
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
        sql=timeout_preamble(lock_timeout, statement_timeout)
        + render(graph, revision, environment=target.name),
        phase=phase_of(revision),
    )
