"""agent_db.migrations.safe on real PostgreSQL, applied by the runner (lock, timeouts, ledger),
from temporary revisions on top of the project's history."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.plan import build_plan
from agent_db.errors import MigrationFailed
from agent_db.lint import lint_revisions
from tests.support.databases import conninfo, target_for
from tests.support.inspection import query
from tests.support.revisions import copy_history, package_head, write_revision

TABLE = "revision_under_test"


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = copy_history(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(directory))
    write_revision(
        directory,
        "cafe00000001",
        package_head(),
        f"""
        op.create_table(
            "{TABLE}",
            sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
            sa.Column("v", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=True),
        )
        op.execute("INSERT INTO {TABLE} (v) SELECT g % 7 FROM generate_series(1, 350) AS g")
        """,
        downgrade=f'op.drop_table("{TABLE}")',
        message="table",
    )
    return directory


def index_state(url: URL, name: str) -> list[tuple[object, ...]]:
    return query(
        url,
        "SELECT x.indisvalid, x.indisunique FROM pg_index x "
        f"JOIN pg_class c ON c.oid = x.indexrelid WHERE c.relname = '{name}'",
    )


def test_concurrent_index_runs_in_autocommit_while_the_runner_holds_the_lock(
    versions: Path, empty_url: URL
) -> None:
    # The revision records, from inside its autocommit block, which other sessions hold an
    # advisory lock on this database: the runner's lock connection must be one.
    write_revision(
        versions,
        "cafe00000002",
        "cafe00000001",
        f"""
        safe.create_index_concurrently("ix_{TABLE}_v", "{TABLE}", ["v"])
        with op.get_context().autocommit_block():
            op.execute(
                "CREATE TABLE lock_seen AS SELECT count(*) AS holders FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        """,
        downgrade=f'safe.drop_index_concurrently("ix_{TABLE}_v", "{TABLE}")',
        message="index",
    )
    target = target_for("dev", empty_url)
    migrate.upgrade(target, "cafe00000001")
    # The build runs in one process (parallel workers would take the traffic's cores).
    sql = build_plan(target).as_sql()
    assert (
        sql.index("SET max_parallel_maintenance_workers = 0")
        < sql.index(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_{TABLE}_v")
        < sql.index("RESET max_parallel_maintenance_workers")
    )
    result = migrate.upgrade(target)  # incremental: only the index revision
    assert result.applied == ["cafe00000002"]
    assert index_state(empty_url, f"ix_{TABLE}_v") == [(True, False)]
    assert query(empty_url, "SELECT holders FROM lock_seen") == [(1,)]
    released = (
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    assert query(empty_url, released) == [(0,)]

    migrate.downgrade(target, "cafe00000001")
    assert index_state(empty_url, f"ix_{TABLE}_v") == []


def test_an_invalid_leftover_index_is_dropped_and_rebuilt(versions: Path, empty_url: URL) -> None:
    write_revision(
        versions,
        "cafe00000002",
        "cafe00000001",
        f'safe.create_index_concurrently("ix_{TABLE}_v", "{TABLE}", ["v"])',
        message="index",
    )
    target = target_for("dev", empty_url)
    migrate.upgrade(target, "cafe00000001")
    # An interrupted build: a unique build over duplicates fails and leaves an INVALID index.
    with pytest.raises(psycopg.errors.UniqueViolation):
        query(empty_url, f"CREATE UNIQUE INDEX CONCURRENTLY ix_{TABLE}_v ON {TABLE} (v)")
    assert index_state(empty_url, f"ix_{TABLE}_v") == [(False, True)]

    migrate.upgrade(target)
    assert index_state(empty_url, f"ix_{TABLE}_v") == [(True, False)]


def test_not_valid_constraints_then_validate_in_the_next_revision(versions: Path, empty_url: URL) -> None:
    write_revision(
        versions,
        "cafe00000002",
        "cafe00000001",
        f"""
        safe.add_check_not_valid("{TABLE}_v_small_check", "{TABLE}", "v < 7")
        safe.add_foreign_key_not_valid(
            "{TABLE}_user_id_fkey", "{TABLE}", "users", ["user_id"], ["id"], ondelete="CASCADE"
        )
        """,
        downgrade=f"""
        op.drop_constraint("{TABLE}_user_id_fkey", "{TABLE}")
        op.drop_constraint("{TABLE}_v_small_check", "{TABLE}")
        """,
        message="not valid",
    )
    write_revision(
        versions,
        "cafe00000003",
        "cafe00000002",
        f"""
        safe.validate_constraint("{TABLE}", "{TABLE}_v_small_check")
        safe.validate_constraint("{TABLE}", "{TABLE}_user_id_fkey")
        """,
        message="validate",
    )
    assert lint_revisions().ok
    target = target_for("dev", empty_url)
    migrate.upgrade(target, "cafe00000002")
    constraints = f"""
        SELECT conname, convalidated FROM pg_constraint
        WHERE conrelid = '{TABLE}'::regclass AND contype IN ('c', 'f') ORDER BY conname
    """
    assert query(empty_url, constraints) == [
        (f"{TABLE}_user_id_fkey", False),
        (f"{TABLE}_v_small_check", False),
    ]
    # New rows are checked at once, even before validation.
    with pytest.raises(psycopg.errors.CheckViolation):
        query(empty_url, f"INSERT INTO {TABLE} (v) VALUES (9)")
    migrate.upgrade(target)
    assert query(empty_url, constraints) == [
        (f"{TABLE}_user_id_fkey", True),
        (f"{TABLE}_v_small_check", True),
    ]


def add_doubled_column_and_backfill(versions: Path) -> None:
    """cafe00000002 adds a nullable column; cafe00000003 backfills it in batches of 100."""
    write_revision(
        versions,
        "cafe00000002",
        "cafe00000001",
        f'op.add_column("{TABLE}", sa.Column("doubled", sa.Integer(), nullable=True))',
        downgrade=f'op.drop_column("{TABLE}", "doubled")',
        message="add column",
    )
    write_revision(
        versions,
        "cafe00000003",
        "cafe00000002",
        f"""
        safe.backfill_in_batches(
            "{TABLE}", set_clause="doubled = v * 2", pending="doubled IS NULL", batch_size=100
        )
        """,
        message="backfill",
    )


def test_backfill_in_batches_resumes_after_an_interruption(
    versions: Path, empty_url: URL, capfd: pytest.CaptureFixture[str]
) -> None:
    add_doubled_column_and_backfill(versions)
    assert lint_revisions().ok
    target = target_for("dev", empty_url)
    migrate.upgrade(target, "cafe00000002")
    # Interrupt the third batch (the row with id 250) while the switch table holds a row.
    query(
        empty_url,
        f"""
        CREATE TABLE interrupt (on_id bigint);
        INSERT INTO interrupt VALUES (250);
        CREATE FUNCTION interrupt_backfill() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM interrupt WHERE on_id = NEW.id) THEN
                RAISE EXCEPTION 'backfill interrupted at %', NEW.id;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER interrupt_backfill BEFORE UPDATE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION interrupt_backfill();
        """,
    )
    with pytest.raises(MigrationFailed) as failed:
        migrate.upgrade(target)
    assert "backfill interrupted at 250" in str(failed.value)
    assert "stays at cafe00000002" in str(failed.value)
    done = f"SELECT count(*) FILTER (WHERE doubled IS NOT NULL), count(*) FROM {TABLE}"
    assert query(empty_url, done) == [(200, 350)]  # two batches committed before the failure
    first = capfd.readouterr().err
    assert f"backfill {TABLE}: 100 rows" in first
    assert f"backfill {TABLE}: 200 rows" in first

    query(empty_url, "DELETE FROM interrupt")
    result = migrate.upgrade(target)
    assert result.applied == ["cafe00000003"]
    assert query(empty_url, done) == [(350, 350)]
    assert query(empty_url, f"SELECT count(*) FROM {TABLE} WHERE doubled <> v * 2") == [(0,)]
    second = capfd.readouterr().err
    assert f"backfill {TABLE}: 100 rows" in second
    assert f"backfill {TABLE}: 150 rows" in second  # only the 150 rows still to do
    assert f"backfill {TABLE}: 250" not in second


def test_backfill_sweeps_up_rows_that_live_traffic_held_or_added_behind_it(
    versions: Path, empty_url: URL, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches go forward by key; at the end of the table, rows passed over because a client
    held them (SKIP LOCKED) and rows inserted behind the last key are done in a sweep."""
    monkeypatch.setenv("AGENT_PROGRESS_SECONDS", "0.000001")  # a progress line per batch
    add_doubled_column_and_backfill(versions)
    target = target_for("dev", empty_url)
    migrate.upgrade(target, "cafe00000002")
    # A trigger plays the live client: when the batch reaches row 300, the row 5 (done long
    # before) is made pending again, as a row arriving behind the backfill would be.
    query(
        empty_url,
        f"""
        CREATE FUNCTION behind() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.id = 300 THEN
                UPDATE {TABLE} SET doubled = NULL WHERE id = 5;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER behind AFTER UPDATE OF doubled ON {TABLE}
            FOR EACH ROW WHEN (NEW.doubled IS NOT NULL) EXECUTE FUNCTION behind();
        """,
    )
    with psycopg.connect(conninfo(empty_url)) as client:
        # Row 150 is held by a client's open transaction until every other row is done (the
        # first pass, and row 5 in the sweep): the backfill must come back for it.
        client.execute(f"SELECT 1 FROM {TABLE} WHERE id = 150 FOR UPDATE")
        first_pass_over = threading.Event()

        def release_after_the_first_pass() -> None:
            done = f"SELECT count(*) FROM {TABLE} WHERE doubled IS NOT NULL"
            while not first_pass_over.wait(0.02):
                if query(empty_url, done) == [(349,)]:
                    break
            client.commit()

        releaser = threading.Thread(target=release_after_the_first_pass)
        releaser.start()
        try:
            migrate.upgrade(target)
        finally:
            first_pass_over.set()
            releaser.join()
    assert query(empty_url, f"SELECT count(*) FROM {TABLE} WHERE doubled IS DISTINCT FROM v * 2") == [(0,)]
    # The new column had statistics before the first batch was planned.
    analyzed = f"SELECT count(*) FROM pg_stats WHERE tablename = '{TABLE}' AND attname = 'doubled'"
    assert query(empty_url, analyzed) == [(1,)]
    err = capfd.readouterr().err
    assert f"backfill {TABLE}: 349 rows" in err  # the first pass, without the held row
    assert f"backfill {TABLE}: 351 rows" in err  # the sweep: the held row and the one behind
