"""The ledger's hash chain: an edited or deleted row is reported by db.verify (exit 3), an intact
ledger passes, and a ledger an older toolkit wrote is chained when a newer one first runs."""

from __future__ import annotations

import itertools

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.database import ledger
from agent_db.database.engines import create_sync_engine
from agent_db.database.ledger_chain import ChainBreak, chain_breaks
from agent_db.revisions.graph import default_graph
from tests.support.cli import run_cli
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import query


def breaks(url: URL) -> list[ChainBreak]:
    engine = create_sync_engine(url)
    try:
        with engine.connect() as connection:
            return chain_breaks(connection)
    finally:
        engine.dispose()


def verify_cli(url: URL) -> tuple[int, str]:
    outcome = run_cli(
        "db.verify", "--env", "staging", "--no-drift", env={"STAGING_DATABASE_URL": url_text(url)}
    )
    return outcome.code, outcome.output


def tamper(url: URL, statement: str) -> None:
    """What an owner of the ledger (or a superuser) can do: switch the append-only rule off."""
    with psycopg.connect(conninfo(url), autocommit=True) as connection, connection.transaction():
        connection.execute("ALTER TABLE schema_ledger DISABLE TRIGGER USER")
        connection.execute(statement)
        connection.execute("ALTER TABLE schema_ledger ENABLE TRIGGER USER")


def row_ids(url: URL) -> list[int]:
    return [int(str(r[0])) for r in query(url, "SELECT id FROM schema_ledger ORDER BY id")]


def test_every_row_is_chained_to_the_one_before(empty_url: URL) -> None:
    target = target_for("staging", empty_url)
    migrate.upgrade(target)
    migrate.downgrade(target, "-1")
    migrate.upgrade(target)
    rows = query(empty_url, "SELECT prev_hash, entry_hash, row_hash FROM schema_ledger ORDER BY id")
    assert len(rows) == len(default_graph()) + 2
    assert rows[0][0] is None
    for before, row in itertools.pairwise(rows):
        assert row[0] == before[1]
    assert all(len(str(r[1])) == 64 and len(str(r[2])) == 64 for r in rows)
    assert breaks(empty_url) == []
    code, output = verify_cli(empty_url)
    assert code == 0, output
    assert "ledger chain intact" in output


def test_an_edited_row_is_reported_by_verify(empty_url: URL) -> None:
    migrate.upgrade(target_for("staging", empty_url))
    edited = row_ids(empty_url)[1]
    tamper(empty_url, f"UPDATE schema_ledger SET actor = 'someone-else' WHERE id = {edited}")
    found = breaks(empty_url)
    assert [(b.row_id, "edited" in b.problem) for b in found] == [(edited, True)]
    code, output = verify_cli(empty_url)
    assert code == 3
    assert f"ledger row {edited} (" in output
    assert "edited after it was written" in output


def test_an_edited_outcome_is_reported(empty_url: URL) -> None:
    migrate.upgrade(target_for("staging", empty_url))
    last = row_ids(empty_url)[-1]
    tamper(empty_url, f"UPDATE schema_ledger SET outcome = 'failed', error = 'x' WHERE id = {last}")
    assert [b.row_id for b in breaks(empty_url)] == [last]
    assert verify_cli(empty_url)[0] == 3


def test_a_deleted_row_is_reported_by_verify(empty_url: URL) -> None:
    migrate.upgrade(target_for("staging", empty_url))
    ids = row_ids(empty_url)
    tamper(empty_url, f"DELETE FROM schema_ledger WHERE id = {ids[1]}")
    found = breaks(empty_url)
    assert [b.row_id for b in found] == [ids[2]]
    assert f"after row {ids[0]} was deleted" in found[0].problem
    code, output = verify_cli(empty_url)
    assert code == 3
    assert f"ledger row {ids[2]} (" in output


def test_deleting_the_first_row_is_reported(empty_url: URL) -> None:
    migrate.upgrade(target_for("staging", empty_url))
    ids = row_ids(empty_url)
    tamper(empty_url, f"DELETE FROM schema_ledger WHERE id = {ids[0]}")
    assert [b.row_id for b in breaks(empty_url)] == [ids[1]]


def test_a_row_inserted_with_the_trigger_off_is_reported(empty_url: URL) -> None:
    migrate.upgrade(target_for("staging", empty_url))
    tamper(
        empty_url,
        "INSERT INTO schema_ledger (run_id, revision, direction, environment, actor, tool_version, "
        "outcome) VALUES (gen_random_uuid(), 'x', 'upgrade', 'staging', 'ghost', 't', 'success')",
    )
    found = breaks(empty_url)
    assert len(found) == 2  # not linked, and no hash of its own
    assert {b.revision for b in found} == {"x"}


def test_a_ledger_written_before_the_chain_is_chained_on_the_next_run(empty_url: URL) -> None:
    graph = default_graph()
    first, second = graph.linear_order()[:2]
    target = target_for("staging", empty_url)
    migrate.upgrade(target, first)
    with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
        # What an older toolkit's ledger looks like.
        connection.execute("DROP TRIGGER schema_ledger_hash_chain ON schema_ledger")
        connection.execute("ALTER TABLE schema_ledger DISABLE TRIGGER USER")
        connection.execute(
            "ALTER TABLE schema_ledger DROP COLUMN prev_hash, DROP COLUMN entry_hash, DROP COLUMN row_hash"
        )
        connection.execute("ALTER TABLE schema_ledger ENABLE TRIGGER USER")
    assert "no hash chain" in breaks(empty_url)[0].problem
    migrate.upgrade(target, second)
    rows = query(empty_url, "SELECT revision, prev_hash, entry_hash FROM schema_ledger ORDER BY id")
    assert [r[0] for r in rows] == [first, second]
    assert rows[0][1] is None
    assert rows[1][1] == rows[0][2]
    assert breaks(empty_url) == []
    # The append-only rule is back on after the chaining.
    with (
        psycopg.connect(conninfo(empty_url), autocommit=True) as connection,
        pytest.raises(psycopg.errors.RaiseException, match="append-only"),
    ):
        connection.execute("DELETE FROM schema_ledger")
    assert len(row_ids(empty_url)) == 2


def test_a_step_that_records_what_it_committed_stays_chained(empty_url: URL) -> None:
    migrate.upgrade(target_for("staging", empty_url), default_graph().linear_order()[0])
    engine = create_sync_engine(empty_url)
    try:
        with engine.connect() as connection:
            row_id = ledger.start_step(
                connection,
                run_id=ledger.new_run_id(),
                revision="r1",
                direction="upgrade",
                checksum=None,
                environment="staging",
            )
            connection.execute(
                text("UPDATE schema_ledger SET committed = 'add column t.c' WHERE id = :id"), {"id": row_id}
            )
            ledger.finish_step(connection, row_id, "partial", "stopped")
            connection.commit()
    finally:
        engine.dispose()
    assert breaks(empty_url) == []
    tamper(empty_url, f"UPDATE schema_ledger SET committed = 'nothing' WHERE id = {row_id}")
    assert [b.row_id for b in breaks(empty_url)] == [row_id]
