"""``db.upgrade``, ``db.downgrade`` and ``db.stamp``: revisions applied, reverted or recorded
under the migration lock, with timeouts and the ledger.

Each revision runs in its own transaction (Alembic's ``transaction_per_migration``); its
``alembic_version`` update and its ledger ``success`` commit together, so a failure or a kill
leaves the database at the last good revision and the ledger saying which step did not finish.
A lock wait that times out is retried with backoff and names the blocking session
(:mod:`.steps`); the connections and the lock are :mod:`.run_session`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from agent_db.commands.data_loss import accept_or_refuse_data_loss
from agent_db.commands.failures import resume_command
from agent_db.commands.guards import check_known, relative_steps, require_override
from agent_db.commands.phase_gate import (
    ConsumerOverride,
    PhaseSelection,
    gate_contract,
    select_phase,
    settled_contracts,
)
from agent_db.commands.progress import Reporter, SilentReporter
from agent_db.commands.protected import ProtectedOverride, refuse_unpromoted_upgrade
from agent_db.commands.run_session import open_run
from agent_db.commands.steps import BASE, run_one, run_steps
from agent_db.database.catalog import current_revisions
from agent_db.database.ledger import Direction
from agent_db.database.target import Target
from agent_db.errors import ConfigError
from agent_db.inputs import check_reason
from agent_db.revisions.graph import RevisionGraph, default_graph

# Runs under the lock with the live position and the pending revisions, before anything is
# applied; refuses by raising (promotion checks its rules there).
Gate = Callable[[Connection, tuple[str, ...], list[str]], None]


@dataclass
class RunResult:
    environment: str
    direction: Direction
    before: tuple[str, ...]
    after: tuple[str, ...]
    applied: list[str] = field(default_factory=list)
    run_id: str | None = None
    phase: PhaseSelection = "all"
    # Pending revisions the phase left for later (--phase expand stops before a contract).
    held_back: list[str] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return not self.applied and self.direction != "stamp"

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "direction": self.direction,
            "before": list(self.before),
            "after": list(self.after),
            "applied": self.applied,
            "run_id": self.run_id,
            "phase": self.phase,
            "stopped_before": self.held_back[0] if self.held_back else None,
            "held_back": self.held_back,
        }


def upgrade(
    target: Target,
    to: str = "head",
    *,
    reporter: Reporter | None = None,
    graph: RevisionGraph | None = None,
    gate: Gate | None = None,
    phase: PhaseSelection = "all",
    override: ConsumerOverride | None = None,
    protected: ProtectedOverride | None = None,
) -> RunResult:
    """Upgrade ``target`` to ``to`` (default: head), after ``gate`` allows it: the revisions
    ``phase`` selects, each contract revision past the contract gate
    (:mod:`~agent_db.commands.phase_gate`) unless ``override``.

    A protected environment is upgraded only under the promotion gate (``db.promote`` passes
    it as ``gate``) or with ``protected``, whose reason the ledger records on every step;
    otherwise refused before anything connects (:mod:`~agent_db.commands.protected`)."""
    graph = graph or default_graph()
    destination = graph.resolve(to)
    if target.settings.protected and gate is None and protected is None:
        raise refuse_unpromoted_upgrade(target.settings)
    reporter = reporter or SilentReporter()
    run_reason = protected.ledger_reason if protected is not None else None
    with open_run(target, graph, reporter, run_reason) as run:
        before = current_revisions(run.lock)
        check_known(graph, before, target.name, run.lock)
        pending = graph.upgrade_path(before, destination)
        if gate is not None:
            gate(run.lock, before, pending)
        if destination is not None and destination in graph.ancestors(before) and destination not in before:
            raise ConfigError(
                f"{target.name} is already past {destination}; to go back use "
                f"'uv run invoke db.downgrade --env {target.name} --to {destination}'"
                + (" --allow-protected --reason '...'" if target.settings.protected else "")
            )
        settled = settled_contracts(run.lock, graph, before, pending) if phase == "expand" else set()
        plan = select_phase(graph, pending, phase, target.name, settled, target.settings.protected)

        def contract_gate(revision: str, done: list[str]) -> str | None:
            position = current_revisions(run.lock) if done else before
            step = gate_contract(run.lock, graph, revision, target.name, override, list(done), position)
            return f"{run_reason}; {step}" if step and run_reason else step

        applied = run_steps(run, "upgrade", plan.selected, contract_gate) if plan.selected else []
        after = current_revisions(run.lock)
        return RunResult(
            target.name, "upgrade", before, after, applied, str(run.run_id), phase, plan.held_back
        )


def downgrade(
    target: Target,
    to: str,
    *,
    allow_protected: bool = False,
    reason: str | None = None,
    accept_data_loss: bool = False,
    reporter: Reporter | None = None,
    graph: RevisionGraph | None = None,
) -> RunResult:
    """Revert ``target`` down to ``to`` (an id, ``base``, or relative like ``-1``).

    What the revisions' downgrades would destroy is measured first, under the lock; any loss of
    data is refused (:class:`~agent_db.commands.data_loss.DataLossRefusal`) unless
    ``accept_data_loss``, and an accepted loss is recorded in the ledger with the reason."""
    reason = check_reason(reason)
    require_override(target, "downgrade", allow_protected, reason)
    graph = graph or default_graph()
    relative = relative_steps(to)
    destination = None if relative is not None else graph.resolve(to)
    reporter = reporter or SilentReporter()
    with open_run(target, graph, reporter, reason) as run:
        before = current_revisions(run.lock)
        check_known(graph, before, target.name, run.lock)
        if relative is not None:
            destination = graph.relative(before, relative)
        if destination is not None and destination not in graph.ancestors(before):
            raise ConfigError(
                f"{target.name} is at {', '.join(before) or 'base'}, which is not above "
                f"{destination}; nothing to downgrade (to go forward use "
                f"{resume_command(target, 'upgrade')})"
            )
        pending = graph.downgrade_path(before, destination)
        run.reason = accept_or_refuse_data_loss(
            run.lock, graph, pending, target.name, accept_data_loss, reason
        )
        applied = run_steps(run, "downgrade", pending) if pending else []
        after = current_revisions(run.lock)
        return RunResult(target.name, "downgrade", before, after, applied, str(run.run_id))


def stamp(
    target: Target,
    to: str,
    *,
    allow_protected: bool = False,
    reason: str | None = None,
    reporter: Reporter | None = None,
    graph: RevisionGraph | None = None,
) -> RunResult:
    """Set ``alembic_version`` to ``to`` without running anything (recorded in the ledger)."""
    reason = check_reason(reason)
    require_override(target, "stamp", allow_protected, reason)
    graph = graph or default_graph()
    destination = graph.resolve(to)
    reporter = reporter or SilentReporter()
    with open_run(target, graph, reporter, reason) as run:
        before = current_revisions(run.lock)
        label = destination or "base"
        revision = graph[destination] if destination else BASE
        run.telemetry.run_planned("stamp", [label])
        run_one(run, "stamp", revision, label, 1, 1)
        after = current_revisions(run.lock)
        return RunResult(target.name, "stamp", before, after, [label], str(run.run_id))
