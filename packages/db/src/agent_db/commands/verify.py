"""``db.verify``: applied revisions against the files, the live schema against the history, the
ledger against its hash chain, and no step left partly applied (what such a step committed is
reported as the step, with the command that resumes it, not as drift)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent_db.commands.checksums import ChecksumReport, check_applied
from agent_db.commands.guards import check_known
from agent_db.commands.partial_drift import PartlyApplied, classify
from agent_db.database.catalog import current_revisions
from agent_db.database.ledger_chain import ChainBreak, chain_breaks
from agent_db.database.snapshot import Difference
from agent_db.database.target import Target
from agent_db.errors import SafetyRefusal
from agent_db.revisions.graph import RevisionGraph, default_graph


@dataclass
class Verification:
    environment: str
    current: tuple[str, ...]
    checksums: ChecksumReport
    drift: list[Difference] = field(default_factory=list)
    ledger: list[ChainBreak] = field(default_factory=list)
    partial: list[PartlyApplied] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.checksums.mismatches and not self.drift and not self.ledger and not self.partial

    def refusal(self) -> SafetyRefusal | None:
        """What ``db.verify`` refuses with (exit 3) when something does not match."""
        problems = [p.describe() for p in self.partial]
        problems += [m.describe() for m in self.checksums.mismatches]
        problems += [f"drift: {d.describe()}" for d in self.drift]
        problems += [f"ledger tampered: {b.describe()}" for b in self.ledger]
        if not problems:
            return None
        advice = []
        if self.partial:
            advice.append("finish each partly applied step with the command it names")
        if self.checksums.mismatches:
            advice.append("restore edited revision files from git")
        if self.drift:
            advice.append("undo hand-made schema changes or capture them in a new revision")
        if self.ledger:
            advice.append(
                "the ledger was changed outside the toolkit: treat its history as untrusted, "
                "find who changed it (the database's logs, the roles that own schema_ledger) and "
                "restore it from a backup"
            )
        todo = "; ".join(advice)
        return SafetyRefusal(
            f"{self.environment} failed verification:\n  - "
            + "\n  - ".join(problems)
            + f"\n{todo[:1].upper()}{todo[1:]}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "current": list(self.current),
            "ok": self.ok,
            "checksums": self.checksums.as_json(),
            "drift": [d.as_json() for d in self.drift],
            "ledger": [b.as_json() for b in self.ledger],
            "partial": [p.as_json() for p in self.partial],
        }


def verify(target: Target, *, graph: RevisionGraph | None = None, drift: bool = True) -> Verification:
    graph = graph or default_graph(trust_cache=False)
    with target.connect(purpose="agent-db-verify") as connection:
        current = current_revisions(connection)
        check_known(graph, current, target.name, connection)
        report = check_applied(connection, graph, current)
        partial, differences = classify(connection, graph, current, target, drift=drift)
        breaks = chain_breaks(connection)
    return Verification(target.name, current, report, differences, breaks, partial)
