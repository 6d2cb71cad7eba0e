"""``db.promote``: move an environment to where its ``promote_from`` environment stands.

Never further, and only with revisions the source recorded as successful with the same checksum
as the files here. The source's position is read live, or from the manifest the previous stage
wrote (prod's job has no staging credentials) when its signature verifies
(agent_db.commands.promotion_source). The gates run under the target's migration lock,
against its live state, before anything is applied; a refusal changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from agent_db.commands import migrate
from agent_db.commands.checksums import check_applied
from agent_db.commands.handoff import (
    build_manifest,
    check_writable,
    default_manifest_path,
    write_manifest,
)
from agent_db.commands.phase_gate import ConsumerOverride, PhaseSelection
from agent_db.commands.progress import Reporter
from agent_db.commands.promotion_source import SourceState, read_source
from agent_db.commands.signing import manifest_key
from agent_db.database import ledger
from agent_db.database.target import Target
from agent_db.errors import AgentDbError, ConfigError, SafetyRefusal
from agent_db.revisions.graph import RevisionGraph, default_graph
from agent_db.settings import load_settings


@dataclass
class PromotionResult:
    source: SourceState
    run: migrate.RunResult
    manifest_path: Path
    manifest_signed: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source.environment,
            "source_position": list(self.source.position),
            "source_origin": self.source.origin,
            "source_note": self.source.note,
            "target": self.run.environment,
            "before": list(self.run.before),
            "after": list(self.run.after),
            "applied": self.run.applied,
            "phase": self.run.phase,
            "stopped_before": self.run.held_back[0] if self.run.held_back else None,
            "held_back": self.run.held_back,
            "manifest": str(self.manifest_path),
            "manifest_signed": self.manifest_signed,
        }


def _refuse(message: str) -> SafetyRefusal:
    return SafetyRefusal(f"promotion refused, nothing changed: {message}")


def promotion_gate(source: SourceState, target_name: str, graph: RevisionGraph) -> migrate.Gate:
    """The rules, checked against the target's live state under its lock."""

    def gate(connection: Connection, before: tuple[str, ...], pending: list[str]) -> None:
        extra = graph.ancestors(before) - graph.ancestors(source.position)
        if extra:
            names = ", ".join(graph.ordered(extra))
            raise _refuse(
                f"{target_name} has revision(s) {names} that {source.environment} lacks "
                f"({target_name} is ahead of its source); bring {source.environment} forward "
                f"first, or downgrade {target_name}"
            )
        report = check_applied(connection, graph, before)
        if report.mismatches:
            raise _refuse(
                f"{target_name}'s applied revisions no longer match the files: "
                + "; ".join(m.describe() for m in report.mismatches)
                + ". Restore the file from the commit that applied it; change an applied "
                "revision only by writing a new one"
            )
        for revision in pending:
            recorded = source.checksums.get(revision)
            file = graph[revision].path.name
            if recorded is None:
                raise _refuse(
                    f"revision {revision} ({file}) was not recorded as successful in "
                    f"{source.environment}; apply it there first"
                )
            if recorded != graph[revision].checksum:
                raise _refuse(
                    f"revision {revision} ({file}) succeeded in {source.environment} with checksum "
                    f"{recorded[:12]}..., but the file here has {graph[revision].checksum[:12]}...: "
                    f"it was edited after {source.environment} ran it. Restore it, or write a new "
                    "revision and promote that"
                )

    return gate


def promote(
    to: str,
    *,
    manifest: Path | None = None,
    manifest_out: Path | None = None,
    reporter: Reporter | None = None,
    graph: RevisionGraph | None = None,
    phase: PhaseSelection = "all",
    override: ConsumerOverride | None = None,
) -> PromotionResult:
    """Promote ``to``; ``phase`` and ``override`` as for :func:`agent_db.commands.migrate.upgrade`
    (a contract revision the census blocks stops the promotion before it, exit 3)."""
    settings = load_settings(to)
    out = check_writable(manifest_out or default_manifest_path(to))
    key = manifest_key()  # a bad key is refused before anything is applied
    graph = graph or default_graph(trust_cache=False)
    if not settings.promote_from:
        raise ConfigError(
            f"{to} is not promoted from another environment (promote_from is empty in "
            f"environments/{to}.toml); "
            + (
                f"a protected environment takes revisions only by promotion: set promote_from to "
                f"the environment whose revisions reach {to}"
                if settings.protected
                else f"use 'uv run invoke db.upgrade --env {to}'"
            )
        )
    source = read_source(settings.promote_from, manifest, graph, target=settings, key=key)
    if len(source.position) > 1:
        raise ConfigError(
            f"{source.environment} stands on several heads ({', '.join(source.position)}); "
            "merge them before promoting"
        )
    if not source.position:
        raise SafetyRefusal(
            f"promotion refused, nothing changed: {source.environment} has no revision applied; "
            f"there is nothing to promote to {to}"
        )
    target = Target.resolve(to)
    run = migrate.upgrade(
        target,
        source.position[0],
        reporter=reporter,
        graph=graph,
        gate=promotion_gate(source, to, graph),
        phase=phase,
        override=override,
    )
    with target.connect(purpose="agent-db-promote") as connection:
        recorded = ledger.successful_checksums(connection)
    written = build_manifest(
        source=source.environment,
        target=to,
        position=run.after,
        checksums=recorded,
        applied=run.applied,
        graph=graph,
    )
    try:
        path = write_manifest(written, out, key)
    except OSError as error:
        raise AgentDbError(
            f"{to} was promoted to {', '.join(run.after) or 'base'}, but its manifest could not be "
            f"written to {out}: {error.strerror or error}; free the space or fix the folder, then "
            f"run 'db.promote --to {to}' again (nothing is left to apply; it writes the manifest)"
        ) from None
    return PromotionResult(source, run, path, key is not None)
