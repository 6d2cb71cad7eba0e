"""Manifests for the hand-off tests: the test signing keys, and the forged manifest of the
attack (right checksums, a position staging never reached)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent_db.commands.signing import sign
from agent_db.revisions.graph import default_graph

# Test values, not secrets: the deploy jobs' key lives in GitHub environment secrets only.
MANIFEST_KEY = "test-manifest-key-not-a-secret-0123456789"
OTHER_KEY = "another-manifest-key-not-a-secret-9876543210"


def forged_manifest() -> dict[str, Any]:
    """What staging's promotion would have written with staging at head, checksum for checksum:
    a forger needs only the files. Unsigned."""
    graph = default_graph()
    return {
        "kind": "agent-db-promotion-manifest",
        "format_version": 1,
        "project": "ai-agent-platform",
        "base_revisions": list(graph.bases),
        "source": "dev",
        "target": "staging",
        "position": [graph.single_head()],
        "applied": [graph.single_head()],
        "revisions": [{"revision": r, "checksum": graph[r].checksum} for r in graph.linear_order()],
        "git_commit": "0" * 40,
        "created_at": "2026-11-25T00:00:00+00:00",
        "actor": "deploy",
    }


def write_manifest_file(path: Path, document: dict[str, Any], *, key: str | None = None) -> Path:
    """Write ``document`` to ``path``, signed with ``key`` when given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    signed = sign(document, key.encode()) if key is not None else document
    path.write_text(json.dumps(signed, indent=2))
    return path
