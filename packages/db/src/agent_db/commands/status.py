"""``db.status``: every environment side by side, and never a crash for an unreachable one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from agent_db.commands.checksums import ChecksumReport, check_applied
from agent_db.commands.consumers import BuildGroup, by_build
from agent_db.commands.partial_drift import PartlyApplied, classify
from agent_db.commands.positions import try_open
from agent_db.database import ledger
from agent_db.database.catalog import current_revisions
from agent_db.database.consumers import live_consumers
from agent_db.database.in_flight import work_in_flight
from agent_db.database.target import Target
from agent_db.errors import AgentDbError
from agent_db.revisions.graph import RevisionGraph, default_graph
from agent_db.revisions.phases import phase_of
from agent_db.settings import DatabaseSettings, load_all_settings


@dataclass
class EnvironmentStatus:
    name: str
    promote_from: str | None
    protected: bool
    reachable: bool = False
    problem: str | None = None
    location: str | None = None
    current: list[str] = field(default_factory=list)
    at_head: bool = False
    pending: list[str] = field(default_factory=list)
    pending_phases: dict[str, str] = field(default_factory=dict)  # each pending revision's phase
    unknown: list[str] = field(default_factory=list)
    checksums: ChecksumReport | None = None
    drift: list[str] | None = None  # None: not checked; never what a partial step committed
    partial: list[PartlyApplied] | None = None  # steps left partly applied; None: not read
    drift_problem: str | None = None
    last_deployment: dict[str, Any] | None = None
    in_flight: list[str] | None = None  # the progress of long work a run is doing now
    consumers: list[BuildGroup] | None = None  # the census by build; None: not read
    contract_held_by: dict[str, int] = field(
        default_factory=dict
    )  # pending contract -> live consumers not knowing it

    def as_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["checksums"] = self.checksums.as_json() if self.checksums else None
        data["partial"] = [p.as_json() for p in self.partial] if self.partial is not None else None
        data["consumers"] = (
            [group.as_json() for group in self.consumers] if self.consumers is not None else None
        )
        return data


@dataclass
class Status:
    heads: list[str]
    revision_count: int
    environments: list[EnvironmentStatus]

    def as_json(self) -> dict[str, Any]:
        return {
            "heads": self.heads,
            "revision_count": self.revision_count,
            "environments": [e.as_json() for e in self.environments],
        }


def _last_deployment(entry: ledger.LedgerEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "revision": entry.revision,
        "direction": entry.direction,
        "outcome": entry.outcome,
        "actor": entry.actor,
        "started_at": entry.started_at.isoformat(),
        "finished_at": entry.finished_at.isoformat() if entry.finished_at else None,
        "git_commit": entry.git_commit,
        "error": entry.error,
    }


def _read_census(connection: Connection, status: EnvironmentStatus) -> None:
    """The live consumers by build, and which pending contract revisions they hold back
    (the census is read last: a role that may not read it leaves the column unread, nothing else)."""
    try:
        live = live_consumers(connection)
    except DBAPIError:
        return
    status.consumers = by_build(live)
    for rev, phase in status.pending_phases.items():
        holding = sum(1 for consumer in live if not consumer.knows(rev))
        if phase == "contract" and holding:
            status.contract_held_by[rev] = holding


def _read_partial_and_drift(
    connection: Connection, graph: RevisionGraph, target: Target, status: EnvironmentStatus, *, drift: bool
) -> None:
    """The partial steps, and the drift apart from what they committed; a drift check that
    cannot run (no reference) leaves the partial steps read and the reason in ``drift_problem``."""
    current = tuple(status.current)
    try:
        status.partial, found = classify(connection, graph, current, target, drift=drift)
    except AgentDbError as error:
        status.drift_problem = str(error)
        status.partial, _ = classify(connection, graph, current, target, drift=False)
        return
    if drift:
        status.drift = [d.describe() for d in found]


def environment_status(settings: DatabaseSettings, graph: RevisionGraph, *, drift: bool) -> EnvironmentStatus:
    status = EnvironmentStatus(settings.name, settings.promote_from, settings.protected)
    target, problem = try_open(settings)
    if target is None:
        status.problem = problem
        return status
    status.location = target.location
    try:
        with target.connect(purpose="agent-db-status") as connection:
            current = current_revisions(connection)
            status.reachable = True
            status.current = list(current)
            status.unknown = [rev for rev in current if rev not in graph]
            known = tuple(rev for rev in current if rev in graph)
            status.at_head = set(current) == set(graph.heads)
            status.pending = graph.upgrade_path(known, graph.single_head()) if len(graph.heads) == 1 else []
            status.pending_phases = {rev: phase_of(graph[rev]) for rev in status.pending}
            status.checksums = check_applied(connection, graph, known)
            status.last_deployment = _last_deployment(ledger.last_entry(connection))
            status.in_flight = work_in_flight(connection)
            if not status.unknown:
                _read_partial_and_drift(connection, graph, target, status, drift=drift)
            _read_census(connection, status)
    except AgentDbError as error:
        status.problem = str(error)
    except DBAPIError as error:
        status.problem = f"query failed: {str(error.orig or error).splitlines()[0]}"
    return status


def collect_status(*, drift: bool = True, graph: RevisionGraph | None = None) -> Status:
    graph = graph or default_graph()
    environments = [environment_status(s, graph, drift=drift) for s in load_all_settings()]
    return Status(list(graph.heads), len(graph), environments)
