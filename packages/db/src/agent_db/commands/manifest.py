"""``db.manifest``: a manifest of where an environment stands now, for the next stage to promote from.

``db.promote`` writes a manifest after it moves an environment. The first environment of the
chain (dev) is not promoted but upgraded, so nothing writes one for it; yet the next stage may not
be able to reach it (the deploy workflow's staging job cannot reach a developer's database). This
writes the same document from the environment's live state: its position and the checksums its
ledger recorded as successful, so staging's gates check exactly what dev ran.

A manifest is a promise that these files ran there; an environment whose applied revisions no
longer match the files (edited after they ran) gets none, the same refusal ``db.verify`` gives.
With ``AGENT_DB_MANIFEST_KEY`` set it is signed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_db.commands.checksums import check_applied
from agent_db.commands.guards import check_known
from agent_db.commands.handoff import Manifest, build_manifest, default_manifest_path, write_manifest
from agent_db.commands.signing import manifest_key
from agent_db.database import ledger
from agent_db.database.catalog import current_revisions
from agent_db.database.target import Target
from agent_db.errors import SafetyRefusal
from agent_db.revisions.graph import RevisionGraph, default_graph


@dataclass(frozen=True)
class ManifestWritten:
    environment: str
    manifest: Manifest
    path: Path
    signed: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "position": list(self.manifest.position),
            "revisions": len(self.manifest.checksums),
            "manifest": str(self.path),
            "signed": self.signed,
        }


def write_environment_manifest(
    environment: str, out: Path | None = None, *, graph: RevisionGraph | None = None
) -> ManifestWritten:
    """Write the manifest of ``environment``'s live state to ``out`` (default manifests/<env>.json)."""
    graph = graph or default_graph()
    key = manifest_key()
    target = Target.resolve(environment)
    with target.connect(purpose="agent-db-manifest") as connection:
        position = current_revisions(connection)
        check_known(graph, position, environment, connection)
        report = check_applied(connection, graph, position)
        checksums = ledger.successful_checksums(connection)
    if report.mismatches:
        raise SafetyRefusal(
            f"no manifest written for {environment}: its applied revisions no longer match the "
            "files: "
            + "; ".join(m.describe() for m in report.mismatches)
            + ". Restore the files from the commit that applied them; change an applied revision "
            "only by writing a new one"
        )
    manifest = build_manifest(
        source=target.settings.promote_from or "",
        target=environment,
        position=position,
        checksums=checksums,
        applied=[],
        graph=graph,
    )
    path = write_manifest(manifest, out or default_manifest_path(environment), key)
    return ManifestWritten(environment, manifest, path, key is not None)
