"""Drift: the live schema compared with the schema the migration history produces there.

The expected schema is built by running the revision files up to the environment's revision in
a scratch database on a reference server, and cached by the checksums of those files, so it is
built once per history state. The reference server is ``AGENT_DB_REFERENCE_URL`` when set, else
dev's server (``DEV_DATABASE_URL``, or the embedded PostgreSQL): never the environment being
checked, so verifying prod creates nothing on prod.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.engine import URL

from agent_db.errors import AgentDbError, DatabaseUnavailable
from agent_db.pipeline.graph import RevisionGraph
from agent_db.pipeline.scratch import migrated_scratch
from agent_db.pipeline.snapshot import Difference, compare, schema_snapshot
from agent_db.settings import load_settings
from agent_db.urls import parse_url, sync_url

REFERENCE_URL_VARIABLE = "AGENT_DB_REFERENCE_URL"
CACHE_DIR_VARIABLE = "AGENT_DB_CACHE_DIR"
Snapshot = dict[str, dict[str, str]]


def reference_server_url() -> URL:
    """Where scratch databases for expected schemas are built."""
    raw = os.environ.get(REFERENCE_URL_VARIABLE, "").strip()
    if raw:
        return sync_url(parse_url(raw, source=REFERENCE_URL_VARIABLE))
    dev = load_settings("dev")
    configured = dev.configured_url()
    if configured is not None:
        return sync_url(configured)
    from agent_db.embedded import server_url

    return sync_url(server_url())


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    from agent_db.settings import project_root

    try:
        return project_root() / ".cache" / "agent-db"
    except AgentDbError:
        return Path.home() / ".cache" / "agent-db"


def history_key(graph: RevisionGraph, current: tuple[str, ...]) -> str:
    """Identifies the schema state: the revisions up to ``current`` and their file checksums."""
    digest = hashlib.sha256()
    for revision in sorted(graph.ancestors(current)):
        digest.update(f"{revision}:{graph[revision].checksum}\n".encode())
    return digest.hexdigest()


def expected_snapshot(graph: RevisionGraph, current: tuple[str, ...]) -> Snapshot:
    """The schema the history produces at ``current`` (cached on disk by history state)."""
    if not current:
        return {}
    path = cache_dir() / "snapshots" / f"{history_key(graph, current)}.json"
    if path.exists():
        cached: Snapshot = json.loads(path.read_text(encoding="utf-8"))
        return cached
    try:
        server = reference_server_url()
    except AgentDbError as error:
        raise DatabaseUnavailable(f"cannot build the expected schema: {error}") from None
    snapshot: Snapshot = {}
    for head in current:
        with migrated_scratch(server, head) as connection:
            for kind, items in schema_snapshot(connection).items():
                snapshot.setdefault(kind, {}).update(items)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(snapshot, sort_keys=True), encoding="utf-8")
    temporary.replace(path)
    return snapshot


def detect_drift(connection: Connection, graph: RevisionGraph, current: tuple[str, ...]) -> list[Difference]:
    """Differences between the live schema and the history's schema at ``current``."""
    return compare(schema_snapshot(connection), expected_snapshot(graph, current))
