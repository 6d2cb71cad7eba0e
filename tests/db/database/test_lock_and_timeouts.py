"""The migration lock, run-time timeouts with retries, and failures that leave nothing behind."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.database.target import Target
from agent_db.errors import MigrationFailed
from agent_db.settings import load_settings
from tests.support.cli import spawn
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import columns, position, query
from tests.support.protected import SETUP_OVERRIDE
from tests.support.revisions import configured_head, write_revision


def spawn_upgrade(env_url: URL, versions: Path) -> subprocess.Popen[str]:
    env = {"STAGING_DATABASE_URL": url_text(env_url), "AGENT_DB_VERSIONS_DIR": str(versions)}
    return spawn(["db.upgrade", "--env", "staging"], env)


@pytest.mark.slow
def test_eight_concurrent_runners_apply_each_revision_once(empty_url: URL, versions: Path) -> None:
    head = configured_head()
    write_revision(
        versions,
        "aa01",
        head,
        "op.execute('SELECT pg_sleep(1.5)')\nop.add_column('users', sa.Column('c1', sa.Integer()))",
        "op.drop_column('users', 'c1')",
    )
    write_revision(
        versions,
        "aa02",
        "aa01",
        "op.add_column('users', sa.Column('c2', sa.Integer()))",
        "op.drop_column('users', 'c2')",
    )
    runners = [spawn_upgrade(empty_url, versions) for _ in range(8)]
    results = [
        (p.wait(timeout=120), p.stdout.read() if p.stdout else "", p.stderr.read() if p.stderr else "")
        for p in runners
    ]
    assert [code for code, _, _ in results] == [0] * 8, results
    successes = query(
        empty_url,
        "SELECT revision, count(*) FROM schema_ledger WHERE outcome = 'success' AND direction = 'upgrade' GROUP BY revision",
    )
    assert all(count == 1 for _, count in successes)
    assert {str(rev) for rev, _ in successes} >= {"aa01", "aa02", head}
    assert position(empty_url) == ["aa02"]
    waited = [err for _, _, err in results if "waiting for the migration lock" in err]
    assert waited, "at least one runner should have reported waiting"
    assert "agent-db-migrate:staging" in waited[0]
    assert "pid " in waited[0]
    assert sum("nothing to do" in err for _, _, err in results) == 7


def _settings(environment: str, **changes: object) -> Target:
    return Target(load_settings(environment).model_copy(update=changes), URL.create("postgresql"))


def test_lock_timeout_names_the_blocker_retries_then_succeeds(empty_url: URL, versions: Path) -> None:
    base = load_settings("staging").model_copy(update={"lock_retries": 3, "retry_backoff_seconds": 0.3})
    target = Target(base, empty_url)
    migrate.upgrade(target)
    write_revision(
        versions,
        "bb01",
        configured_head(),
        "op.add_column('users', sa.Column('nickname', sa.String(40)))",
        "op.drop_column('users', 'nickname')",
        header='lock_timeout = "300ms"',
    )
    blocker = psycopg.connect(conninfo(empty_url), application_name="report-job")
    blocker.execute("SELECT count(*) FROM users")  # holds ACCESS SHARE until the transaction ends
    messages: list[str] = []

    class Collect:
        def __getattr__(self, name: str) -> object:
            return lambda *args, **kwargs: None

        def step_retrying(self, revision: object, message: str, delay: float) -> None:
            messages.append(message)
            if len(messages) == 2:
                blocker.rollback()  # the blocker goes away before the third attempt

    result = migrate.upgrade(target, reporter=Collect())  # type: ignore[arg-type]
    blocker.close()
    assert result.applied == ["bb01"]
    assert len(messages) == 2
    assert "bb01" in messages[0]
    assert "lock_timeout=300ms" in messages[0]
    assert "report-job" in messages[0]
    assert "pid " in messages[0]
    assert "Nothing of this revision was applied" in messages[0]
    failed = query(
        empty_url, "SELECT attempt, outcome, error FROM schema_ledger WHERE revision = 'bb01' ORDER BY id"
    )
    assert [(a, o) for a, o, _ in failed] == [(1, "failed"), (2, "failed"), (3, "success")]
    assert "report-job" in str(failed[0][2])


def test_lock_timeout_without_retries_left_leaves_nothing_applied(empty_url: URL, versions: Path) -> None:
    target = Target(
        load_settings("staging").model_copy(update={"lock_retries": 1, "retry_backoff_seconds": 0}), empty_url
    )
    migrate.upgrade(target)
    head = configured_head()
    write_revision(
        versions,
        "cc01",
        head,
        "op.create_table('notes', sa.Column('id', sa.Integer(), primary_key=True))\n"
        "op.add_column('users', sa.Column('nickname', sa.String(40)))",
        "op.drop_column('users', 'nickname')\nop.drop_table('notes')",
        header='lock_timeout = "1s"',
    )
    with psycopg.connect(conninfo(empty_url), application_name="long-report") as blocker:
        blocker.execute("SELECT count(*) FROM users")
        with pytest.raises(MigrationFailed) as raised:
            migrate.upgrade(target)
    message = str(raised.value)
    assert "cc01" in message
    assert "long-report" in message
    assert f"stays at {head}" in message
    assert position(empty_url) == [head]
    assert "notes" not in {str(r[0]) for r in query(empty_url, "SELECT tablename FROM pg_tables")}
    assert "nickname" not in columns(empty_url, "users")


def test_environment_timeouts_are_set_on_the_migration_connection(empty_url: URL, versions: Path) -> None:
    write_revision(
        versions,
        "dd01",
        configured_head(),
        "op.execute(\"CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS l, current_setting('statement_timeout') AS s\")",
        "op.drop_table('seen')",
    )
    write_revision(
        versions,
        "dd02",
        "dd01",
        "op.execute(\"INSERT INTO seen SELECT current_setting('lock_timeout'), current_setting('statement_timeout')\")",
        "pass",
        header='lock_timeout = "7s"\nstatement_timeout = "1min"',
    )
    migrate.upgrade(target_for("prod", empty_url), protected=SETUP_OVERRIDE)
    assert query(empty_url, "SELECT l, s FROM seen") == [("2s", "30min"), ("7s", "1min")]


def test_failing_revision_keeps_the_last_good_revision_and_records_why(
    empty_url: URL, versions: Path
) -> None:
    target = target_for("dev", empty_url)
    write_revision(
        versions,
        "ee01",
        configured_head(),
        "op.add_column('users', sa.Column('ok_col', sa.Integer()))",
        "op.drop_column('users', 'ok_col')",
    )
    write_revision(
        versions,
        "ee02",
        "ee01",
        "op.add_column('users', sa.Column('bad', sa.Integer()))\nop.execute('SELECT 1/0')",
        "pass",
    )
    with pytest.raises(MigrationFailed, match=r"ee02 .* failed: division by zero.*stays at ee01"):
        migrate.upgrade(target)
    assert position(empty_url) == ["ee01"]
    assert "bad" not in columns(empty_url, "users")
    row = query(empty_url, "SELECT outcome, error FROM schema_ledger WHERE revision = 'ee02'")
    assert row[0][0] == "failed"
    assert "division by zero" in str(row[0][1])


@pytest.mark.slow
def test_sigkill_mid_revision_leaves_previous_revision_and_rerun_completes(
    empty_url: URL, versions: Path
) -> None:
    head = configured_head()
    write_revision(
        versions,
        "ff01",
        head,
        "op.add_column('users', sa.Column('half', sa.Integer()))\nop.execute('SELECT pg_sleep(60)')",
        "op.drop_column('users', 'half')",
    )
    migrate.upgrade(target_for("staging", empty_url), head)
    process = spawn_upgrade(empty_url, versions)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if query(empty_url, "SELECT 1 FROM schema_ledger WHERE revision = 'ff01' AND outcome = 'running'"):
            break
        time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("the runner never started ff01")
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    # The server notices the dead client within client_connection_check_interval and rolls the
    # step back: the orphaned pg_sleep(60) does not run to its end.
    deadline = time.monotonic() + 10
    orphan = "SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()"
    while time.monotonic() < deadline and query(empty_url, orphan):
        time.sleep(0.2)
    assert not query(empty_url, orphan), "the killed runner's statement kept running"
    assert position(empty_url) == [head]
    assert "half" not in columns(empty_url, "users")
    # Rerun with a fast version of the revision: it completes and closes the abandoned row.
    path = next(versions.glob("*ff01*"))
    path.write_text(path.read_text().replace("op.execute('SELECT pg_sleep(60)')", "pass"))
    result = migrate.upgrade(target_for("staging", empty_url))
    assert result.applied == ["ff01"]
    outcomes = query(
        empty_url, "SELECT outcome, error FROM schema_ledger WHERE revision = 'ff01' ORDER BY id"
    )
    assert outcomes[0][0] == "failed"
    assert "interrupted" in str(outcomes[0][1])
    assert outcomes[-1][0] == "success"


def test_concurrent_index_is_safe_under_the_lock(empty_url: URL, versions: Path) -> None:
    head = configured_head()
    write_revision(
        versions,
        "gg01",
        head,
        "from agent_db.migrations.safe import create_index_concurrently\n"
        "create_index_concurrently('ix_users_username_email', 'users', ['username', 'email'])",
        "from agent_db.migrations.safe import drop_index_concurrently\n"
        "drop_index_concurrently('ix_users_username_email', 'users')",
    )
    target = target_for("staging", empty_url)
    # A concurrent reader in another session does not stop the build.
    stop = threading.Event()

    def reader() -> None:
        with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
            while not stop.is_set():
                connection.execute("SELECT count(*) FROM users")
                time.sleep(0.01)

    thread = threading.Thread(target=reader)
    migrate.upgrade(target, head)
    thread.start()
    try:
        result = migrate.upgrade(target)
    finally:
        stop.set()
        thread.join()
    assert result.applied == ["gg01"]
    valid = query(
        empty_url,
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'ix_users_username_email'",
    )
    assert valid == [(True,)]
