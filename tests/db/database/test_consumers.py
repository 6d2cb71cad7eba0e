"""The census table (``schema_consumers``): register, heartbeat, expire, deregister, prune, and
the toolkit's drift checks never counting it as part of the schema."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.database import consumers
from agent_db.database.consumers import ConsumerIdentity
from agent_db.database.engines import create_sync_engine
from agent_db.database.snapshot import schema_snapshot
from agent_db.migrations.support import include_name
from agent_db.revisions.graph import default_graph
from tests.support.databases import DatabaseFactory, target_for
from tests.support.inspection import query


def identity(**changes: object) -> ConsumerIdentity:
    graph = default_graph()
    base = ConsumerIdentity.of_this_process(
        "staging", revisions=graph.linear_order(), heads=graph.heads, heartbeat_seconds=10
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def connection(empty_url: URL) -> Iterator[Connection]:
    engine = create_sync_engine(empty_url)
    with engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")
    engine.dispose()


def backdate(connection: Connection, consumer: ConsumerIdentity, seconds: float) -> None:
    connection.execute(
        text(
            "UPDATE schema_consumers SET last_seen = clock_timestamp() - make_interval(secs => :s) WHERE id = :id"
        ),
        {"s": seconds, "id": consumer.id},
    )


def test_register_creates_the_table_and_the_row_says_who_runs_what(connection: Connection) -> None:
    me = identity(build_commit="abc123")
    consumers.register(connection, me)
    [live] = consumers.live_consumers(connection)
    assert live.id == str(me.id)
    assert (live.environment, live.host, live.pid) == ("staging", me.host, me.pid)
    assert live.build_revisions == me.build_revisions
    assert set(live.build_revisions) == set(default_graph().linear_order())
    assert live.build_heads == default_graph().heads
    assert live.build.startswith("abc123 (head ")
    assert live.knows(default_graph().single_head())
    assert not live.knows("f00f00f00f00")
    assert live.as_json()["build_commit"] == "abc123"


def test_a_row_missing_three_heartbeats_is_gone_and_a_heartbeat_brings_it_back(
    connection: Connection,
) -> None:
    me = identity(heartbeat_seconds=10)
    consumers.register(connection, me)
    backdate(connection, me, 25)  # two and a half intervals: still live
    assert [c.id for c in consumers.live_consumers(connection)] == [str(me.id)]
    backdate(connection, me, 31)
    assert consumers.live_consumers(connection) == []
    consumers.heartbeat(connection, me)
    [back] = consumers.live_consumers(connection)
    assert back.seconds_since_seen < 10


def test_heartbeat_keeps_started_at_and_recreates_a_removed_row(connection: Connection) -> None:
    me = identity()
    consumers.register(connection, me)
    [first] = consumers.live_consumers(connection)
    consumers.heartbeat(connection, me)
    [second] = consumers.live_consumers(connection)
    assert second.started_at == first.started_at
    assert second.last_seen >= first.last_seen
    connection.execute(text("DELETE FROM schema_consumers"))
    consumers.heartbeat(connection, me)
    assert [c.id for c in consumers.live_consumers(connection)] == [str(me.id)]


def test_deregister_removes_only_its_own_row(connection: Connection) -> None:
    me, other = identity(), identity(id=uuid.uuid4(), pid=1)
    consumers.register(connection, me)
    consumers.register(connection, other)
    consumers.deregister(connection, me.id)
    assert [c.id for c in consumers.live_consumers(connection)] == [str(other.id)]


def test_deregister_and_reading_without_the_table_do_nothing(connection: Connection) -> None:
    consumers.deregister(connection, uuid.uuid4())
    assert consumers.live_consumers(connection) == []
    assert query_tables(connection) == set()


def query_tables(connection: Connection) -> set[str]:
    rows = connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    return {row[0] for row in rows}


def test_registering_forgets_rows_gone_for_a_day(connection: Connection) -> None:
    old, recent = identity(id=uuid.uuid4()), identity(id=uuid.uuid4())
    consumers.register(connection, old)
    consumers.register(connection, recent)
    backdate(connection, old, 86_400 + 60)
    backdate(connection, recent, 3_600)
    consumers.register(connection, identity())
    ids = {row[0] for row in connection.execute(text("SELECT id FROM schema_consumers"))}
    assert old.id not in ids
    assert recent.id in ids


def test_blocking_consumers_are_the_live_ones_whose_build_lacks_the_revision(connection: Connection) -> None:
    new, old = identity(id=uuid.uuid4()), identity(id=uuid.uuid4(), build_revisions=("3f1a2b9c4d5e",))
    gone = identity(id=uuid.uuid4(), build_revisions=())
    for consumer in (new, old, gone):
        consumers.register(connection, consumer)
    backdate(connection, gone, 3600)
    head = default_graph().single_head()
    assert [c.id for c in consumers.blocking_consumers(connection, head)] == [str(old.id)]
    assert consumers.blocking_consumers(connection, "3f1a2b9c4d5e") == []


def test_concurrent_creators_of_the_table_all_succeed(empty_url: URL) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def create() -> None:
        engine = create_sync_engine(empty_url)
        try:
            with engine.connect() as connection:
                barrier.wait()
                consumers.register(connection.execution_options(isolation_level="AUTOCOMMIT"), identity())
        except BaseException as error:  # collected and asserted below
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert query(empty_url, "SELECT count(*) FROM schema_consumers") == [(6,)]


def test_the_migrations_create_the_census_and_drift_ignores_it(databases: DatabaseFactory) -> None:
    url = databases.create("census")
    migrate.upgrade(target_for("staging", url))
    assert query(url, "SELECT to_regclass('schema_consumers') IS NOT NULL") == [(True,)]
    engine = create_sync_engine(url)
    with engine.connect() as connection:
        consumers.register(connection, identity())
        snapshot = schema_snapshot(connection)
    engine.dispose()
    named = [name for items in snapshot.values() for name in items if "schema_consumers" in name]
    assert named == []
    assert snapshot["table"]  # the application's tables are there
    assert not include_name("schema_consumers", "table", {})
