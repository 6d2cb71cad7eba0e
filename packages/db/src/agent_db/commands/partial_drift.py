"""A partly applied revision in ``db.verify``: what its step committed is the toolkit's own work,
not hand-made drift.

A step that left its transaction (an autocommit block) and stopped leaves ``alembic_version``
where it was, while the database holds what the step committed (the backfill's columns). Drift
compares the live schema with the history at ``alembic_version``, so those objects would read as
hand-made. Here each difference whose live state is exactly what the partial revision produces
(the history's schema with that revision applied) is the partial step's own: it is reported as
the step, with the command that resumes it; every other difference stays drift.
``db.verify`` and ``db.status`` both classify through :func:`classify`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from agent_db.commands.drift import detect_drift, expected_snapshot
from agent_db.commands.failures import resume_command
from agent_db.database.ledger_partial import PartialStep, partial_steps
from agent_db.database.snapshot import Difference, Snapshot
from agent_db.database.target import Target
from agent_db.revisions.graph import RevisionGraph


@dataclass(frozen=True)
class PartlyApplied:
    """A partial step, the command that resumes it, and the differences it explains."""

    step: PartialStep
    resume: str
    explains: list[Difference] = field(default_factory=list)

    def summary(self) -> str:
        """The step and the command that resumes it (a ``db.status`` cell)."""
        return f"partial step {self.step.revision}: resume with {self.resume}"

    def describe(self) -> str:
        where = ""
        if self.explains:
            objects = ", ".join(f"{d.kind} {d.name}" for d in self.explains)
            where = f"; in the database, as the step left them: {objects}"
        return (
            f"{self.summary()} (its {self.step.direction} left its transaction and stopped; "
            f"committed and kept: {self.step.committed}{where})"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.step.revision,
            "direction": self.step.direction,
            "committed": self.step.committed,
            "resume": self.resume,
            "summary": self.summary(),
            "explains": [d.as_json() for d in self.explains],
        }


def position_after(graph: RevisionGraph, current: Sequence[str], step: PartialStep) -> tuple[str, ...] | None:
    """Where ``current`` would be had ``step`` finished; None when the step is not the next one
    from ``current`` (a stale record: the database moved on by other means)."""
    if step.revision not in graph:
        return None
    applied = graph.ancestors(current)
    parents = set(graph[step.revision].down_revisions)
    if step.direction == "upgrade":
        if step.revision in applied or not parents <= applied:
            return None
        heads = (set(current) - parents) | {step.revision}
    else:
        if step.revision not in current:
            return None
        heads = (set(current) - {step.revision}) | parents
    below = graph.ancestors(heads, inclusive=False)
    return tuple(sorted(heads - below))


def attribute(
    graph: RevisionGraph,
    current: Sequence[str],
    steps: Sequence[PartialStep],
    drift: list[Difference],
    expected_at: Callable[[tuple[str, ...]], Snapshot] | None,
    resume: Callable[[str], str],
) -> tuple[list[PartlyApplied], list[Difference]]:
    """The partial steps (each with the differences it explains) and the drift left over.
    ``expected_at`` builds the history's schema at a position (None: drift was not checked)."""
    reports: list[PartlyApplied] = []
    remaining = list(drift)
    for step in steps:
        after = position_after(graph, current, step)
        if after is None:
            continue
        explains: list[Difference] = []
        if expected_at is not None and remaining:
            finished = expected_at(after)
            explains = [d for d in remaining if finished.get(d.kind, {}).get(d.name) == d.live]
            remaining = [d for d in remaining if d not in explains]
        reports.append(PartlyApplied(step, resume(step.direction), explains))
    return reports, remaining


def classify(
    connection: Connection, graph: RevisionGraph, current: tuple[str, ...], target: Target, *, drift: bool
) -> tuple[list[PartlyApplied], list[Difference]]:
    """The partial steps of ``target`` and its drift (none unless ``drift``) apart from what
    those steps explain. Raises what building the history's schema raises (no reference)."""
    steps = partial_steps(connection)
    ignored = target.settings.drift_ignore_roles
    differences = detect_drift(connection, graph, current, ignore_roles=ignored) if drift else []
    return attribute(
        graph,
        current,
        steps,
        differences,
        (lambda position: expected_snapshot(graph, position)) if drift else None,
        lambda direction: resume_command(target, direction),
    )
