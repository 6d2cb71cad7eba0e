"""Drift: the live schema compared with the schema the migration history produces there.

The expected schema is built by running the revision files up to the environment's revision in
a scratch database on a reference server, and cached by the checksums of those files, so it is
built once per history state. The reference server is ``AGENT_DB_REFERENCE_URL`` when set, else
dev's server (``DEV_DATABASE_URL``, or the embedded PostgreSQL): never the environment being
checked, so verifying prod creates nothing on prod.
"""

from __future__ import annotations

import hashlib
import os

from sqlalchemy import Connection
from sqlalchemy.engine import URL

from agent_db.cache import cache_dir, read_json, write_json
from agent_db.commands.scratch_history import migrated_scratch
from agent_db.database.snapshot import Difference, compare, schema_snapshot
from agent_db.errors import AgentDbError, DatabaseUnavailable
from agent_db.revisions.graph import RevisionGraph
from agent_db.settings import load_settings
from agent_db.urls import parse_url, sync_url

REFERENCE_URL_VARIABLE = "AGENT_DB_REFERENCE_URL"
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
    from agent_db.database.embedded import server_url

    return sync_url(server_url())


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
    cached = read_json(path)
    if isinstance(cached, dict):
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
    write_json(path, snapshot)
    return snapshot


def detect_drift(connection: Connection, graph: RevisionGraph, current: tuple[str, ...]) -> list[Difference]:
    """Differences between the live schema and the history's schema at ``current``."""
    return compare(schema_snapshot(connection), expected_snapshot(graph, current))
