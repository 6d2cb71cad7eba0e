"""Consumers in a database's census, as a running API process would register them, and a
release with a contract revision to gate: one helper for the gate's and the API's tests."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from sqlalchemy.engine import URL

from agent_db.database import consumers
from agent_db.database.consumers import ConsumerIdentity
from agent_db.database.engines import create_sync_engine
from agent_db.revisions.graph import RevisionGraph
from agent_db.versions import VERSIONS_DIR
from tests.support.inspection import query
from tests.support.revisions import copy_history, package_head, write_revision

# The release under test: an expand revision, a contract revision that drops a column, and an
# expand revision after it.
EXPAND, CONTRACT, LATER = "e1e1e1e1e1e1", "c1c1c1c1c1c1", "e2e2e2e2e2e2"


def write_release(folder: Path) -> Path:
    """A copy of the history with the release's three revisions on top of the package head."""
    versions = copy_history(folder)
    write_revision(
        versions,
        EXPAND,
        package_head(),
        'op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))',
        'op.drop_column("users", "nickname")',
        message="add nickname",
    )
    write_revision(
        versions,
        CONTRACT,
        EXPAND,
        'op.drop_column("users", "nickname")',
        'op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))',
        message="drop nickname",
        header='phase = "contract"',
    )
    write_revision(
        versions,
        LATER,
        CONTRACT,
        'op.add_column("users", sa.Column("bio", sa.Text(), nullable=True))',
        'op.drop_column("users", "bio")',
        message="add bio",
    )
    return versions


def register(url: URL, *, graph: RevisionGraph | None = None, **changes: object) -> ConsumerIdentity:
    """Register a consumer whose build is ``graph`` (default: the package's own history, i.e.
    the release before the one :func:`write_release` writes)."""
    graph = graph or RevisionGraph.load(VERSIONS_DIR)
    base = ConsumerIdentity.of_this_process(
        "staging", revisions=graph.linear_order(), heads=graph.heads, heartbeat_seconds=10
    )
    consumer = replace(base, id=uuid.uuid4(), **changes)  # type: ignore[arg-type]
    engine = create_sync_engine(url)
    try:
        with engine.connect() as connection:
            consumers.register(connection, consumer)
    finally:
        engine.dispose()
    return consumer


def expire(url: URL, consumer: ConsumerIdentity) -> None:
    """What three missed heartbeats look like: the row's last heartbeat far in the past."""
    query(
        url, f"UPDATE schema_consumers SET last_seen = now() - interval '1 hour' WHERE id = '{consumer.id}'"
    )
