"""``api.compat --base REF``: does the previous release keep working on this commit's schema?

During a rollout the previous release serves while this commit's expand revisions are applied
(contract revisions wait until it is gone). This check plays that: a worktree of the base
commit (the release running now), a scratch database migrated to the base's head, then to each
of this commit's new expand revisions in turn; after each, the base's own API flows
(:mod:`agent_db.commands.compat_flows` as the base has it) run against the base's API, which
serves throughout, and its ``/ready`` must not turn 503. The first failure names the revision
that broke it (exit 3). Contract revisions are listed, not applied: the gate keeps them until
every process of the previous release has stopped.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.compat_build import (
    VERSIONS,
    Build,
    CompatSetupFailed,
    http_status,
    resolve_commit,
    run_build_flows,
    serving,
    worktree,
)
from agent_db.database.scratch import scratch_database
from agent_db.database.target import Target
from agent_db.errors import AgentDbError, SafetyRefusal
from agent_db.revisions.graph import RevisionGraph, default_graph
from agent_db.revisions.phases import graph_phases
from agent_db.settings import load_settings

NO_BASE = ("", "0" * 40)  # a push that created its branch has no previous commit


class CompatibilityBroken(AgentDbError):
    """A revision of this commit breaks the previous release (exit 3)."""

    exit_code = 3

    def __init__(self, message: str, report: CompatReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Check:
    """The previous release on one schema state."""

    revision: str | None  # the new revision just applied; None: the base's own head
    ready_status: int | None
    flows: dict[str, Any]

    @property
    def failed_step(self) -> dict[str, Any] | None:
        return next((s for s in self.flows.get("steps", []) if not s.get("ok")), None)

    def as_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "ready_status": self.ready_status, "flows": self.flows}


@dataclass
class CompatReport:
    base: str
    base_heads: tuple[str, ...] = ()
    expand: list[str] = field(default_factory=list)  # the new expand revisions checked, in order
    contract: list[str] = field(default_factory=list)  # new revisions left for after the rollout
    flows_from: str = "base"  # "base", or "this commit" when the base has no flows of its own
    checks: list[Check] = field(default_factory=list)
    broken_by: str | None = None
    skipped: str | None = None  # why nothing was checked

    @property
    def ok(self) -> bool:
        return self.broken_by is None

    def as_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "base_heads": list(self.base_heads),
            "expand": self.expand,
            "contract": self.contract,
            "flows_from": self.flows_from,
            "checks": [c.as_json() for c in self.checks],
            "ok": self.ok,
            "broken_by": self.broken_by,
            "skipped": self.skipped,
        }


def new_revisions(graph: RevisionGraph, base_heads: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """This commit's revisions above the base's heads: the expand ones up to the first contract
    one (what is applied while the previous release runs), and the rest."""
    unknown = [head for head in base_heads if head not in graph]
    if unknown:
        raise SafetyRefusal(
            f"the base's head {', '.join(unknown)} is not in this commit's history (was it "
            "reverted?): the previous release's schema cannot be built from these files; fix "
            "forward with a revision that undoes it instead of deleting it"
        )
    pending = graph.upgrade_path(base_heads, graph.single_head())
    phases = graph_phases(graph)
    first_contract = next((i for i, rev in enumerate(pending) if phases[rev] == "contract"), len(pending))
    return pending[:first_contract], pending[first_contract:]


def run_compat(
    base: str,
    *,
    server: URL,
    graph: RevisionGraph | None = None,
    on_step: Callable[[str], None] = lambda _: None,
) -> CompatReport:
    """Check the release at ``base`` against this commit's expand revisions, on a scratch
    database of ``server``; raises :class:`CompatibilityBroken` naming the revision that broke it."""
    if base.strip() in NO_BASE:
        return CompatReport(base, skipped="no previous commit to compare with (a new branch)")
    graph = graph or default_graph()
    commit = resolve_commit(base.strip())
    report = CompatReport(commit)
    with worktree(commit) as folder, tempfile.TemporaryDirectory(prefix="agent-compat-logs-") as logs:
        build = Build(folder, commit)
        report.base_heads = RevisionGraph.load(folder / VERSIONS, trust_cache=False).heads
        report.expand, report.contract = new_revisions(graph, report.base_heads)
        report.flows_from = "base" if build.has_own_flows else "this commit"
        with scratch_database(server) as url:
            target = Target(load_settings("dev"), url)
            for head in report.base_heads:
                migrate.upgrade(target, head, graph=graph)
            on_step(f"serving the previous release {commit[:12]} at {', '.join(report.base_heads)}")
            with serving(build, url, Path(logs)) as api:
                _check(report, build, api, url, None, on_step)
                for revision in report.expand:
                    migrate.upgrade(target, revision, graph=graph)
                    _check(report, build, api, url, revision, on_step)
    return report


def _check(
    report: CompatReport, build: Build, api: str, url: URL, revision: str | None,
    on_step: Callable[[str], None],
) -> None:  # fmt: skip
    check = Check(revision, http_status(api + "/ready"), run_build_flows(build, api, url))
    report.checks.append(check)
    where = f"after {revision}" if revision else "on its own schema"
    step = check.failed_step
    baseline = report.checks[0]
    newly_unready = revision is not None and baseline.ready_status == 200 and check.ready_status != 200
    if step is None and not newly_unready:
        on_step(f"the previous release works {where}")
        return
    problem = (
        f"{step['name']}: {step.get('detail', '')}"
        if step is not None
        else f"its /ready answers {check.ready_status} (200 before): balancers would take it out of rotation"
    )
    if revision is None:
        raise CompatSetupFailed(
            f"the previous release {build.commit[:12]} fails its own API flows on its own schema "
            f"({problem}); nothing of this commit was applied yet, so the check cannot blame a revision"
        )
    report.broken_by = revision
    raise CompatibilityBroken(
        f"revision {revision} breaks the previous release ({build.commit[:12]}), which still serves "
        f"while it is applied: {problem}. Make it additive (nullable or defaulted columns, new "
        'tables, concurrent indexes), or mark what removes or changes things phase = "contract" '
        "and ship it in a later release than the code that stops using them",
        report,
    )
