"""Faults during a migration: the server restarted mid-revision, a runner SIGKILLed during a
concurrent index build, a table locked by someone else, every connection slot taken, a query
that needs more temporary disk than it may use. Each ends in one clear message and the
contract's exit code, with nothing half-applied, and a rerun completes.

Faults that would disturb the shared server (restart, connection limit, temp-file limit) run on
a server of the test's own (``tests.reliability.own_server``).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from tests.support.cli import call_task, run_cli, run_invoke, spawn
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import columns, ledger_rows, position, query
from tests.support.own_server import OwnServer
from tests.support.paths import ROOT
from tests.support.reliability import SECRET, assert_one_clear_message, wait_for
from tests.support.revisions import configured_head, write_revision

PASSWORD = SECRET


@pytest.fixture(scope="module")
def own_server() -> Iterator[OwnServer]:
    server = OwnServer.create(
        password=PASSWORD,
        settings={"max_connections": "8", "superuser_reserved_connections": "0"},
    )
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def own_database(own_server: OwnServer, request: pytest.FixtureRequest) -> URL:
    """A fresh database on the own server; its URL carries the password, as a deploy's would."""
    name = f"f_{request.node.name[:40].lower().replace('[', '_').replace(']', '').replace('-', '_')}"
    own_server.create_database(name)
    return own_server.tcp_url(name)


@pytest.mark.slow
def test_server_restart_mid_revision_is_one_message_and_the_rerun_completes(
    own_server: OwnServer, own_database: URL, versions: Path
) -> None:
    head = configured_head()
    revision = write_revision(
        versions,
        "fa01",
        head,
        "op.add_column('users', sa.Column('half', sa.Integer()))\nop.execute('SELECT pg_sleep(30)')",
        "op.drop_column('users', 'half')",
    )
    migrate.upgrade(target_for("staging", own_database), head)
    env = {"STAGING_DATABASE_URL": url_text(own_database), "AGENT_DB_VERSIONS_DIR": str(versions)}
    process = spawn(["db.upgrade", "--env", "staging"], env)
    running = "SELECT 1 FROM schema_ledger WHERE revision = 'fa01' AND outcome = 'running'"
    wait_for(lambda: own_server.execute(running, own_database.database or ""), what="fa01 to start")
    time.sleep(0.3)
    own_server.restart()
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 1, stderr
    assert_one_clear_message(stderr)
    assert "revision fa01" in stderr
    assert "connection to PostgreSQL" in stderr
    assert "run the command again" in stderr
    assert position(own_database) == [head]
    assert "half" not in columns(own_database, "users")

    revision.write_text(revision.read_text().replace("op.execute('SELECT pg_sleep(30)')", "pass"))
    rerun = run_cli("db.upgrade", "--env", "staging", env=env)
    assert rerun.code == 0, rerun.stderr
    assert position(own_database) == ["fa01"]
    steps = [(r["outcome"], r["error"]) for r in ledger_rows(own_database) if r["revision"] == "fa01"]
    assert [outcome for outcome, _ in steps] == ["failed", "success"]
    assert "interrupted" in str(steps[0][1])


def test_no_free_connection_slot_is_one_message_and_nothing_is_applied(
    own_server: OwnServer, own_database: URL, versions: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = configured_head()
    migrate.upgrade(target_for("staging", own_database), head)
    write_revision(versions, "fa02", head, "op.add_column('users', sa.Column('c2', sa.Integer()))")
    monkeypatch.setenv("STAGING_DATABASE_URL", url_text(own_database))
    hogs: list[psycopg.Connection[tuple[object, ...]]] = []
    try:
        while True:  # take every slot there is
            try:
                hogs.append(psycopg.connect(conninfo(own_server.socket_url()), autocommit=True))
            except psycopg.OperationalError:
                break
        all_taken = call_task("upgrade", env="staging")
        hogs.pop().close()  # one slot free: the lock session gets it, the step session does not
        one_short = call_task("upgrade", env="staging")
    finally:
        for hog in hogs:
            hog.close()
    for outcome in (all_taken, one_short):
        assert outcome.code == 1, outcome
        assert_one_clear_message(outcome.stderr)
        assert "every connection slot is taken" in outcome.stderr
    assert position(own_database) == [head]
    assert "c2" not in columns(own_database, "users")
    assert all(row["outcome"] != "running" for row in ledger_rows(own_database))
    assert call_task("upgrade", env="staging").code == 0
    assert position(own_database) == ["fa02"]


def test_a_database_connection_limit_is_named(own_server: OwnServer, versions: Path) -> None:
    """``ALTER DATABASE ... CONNECTION LIMIT 1``: the runner needs two sessions (lock, step)."""
    own_server.execute(f"CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'")
    own_server.execute("CREATE DATABASE limited OWNER app CONNECTION LIMIT 1")
    url = own_server.tcp_url("limited").set(username="app")
    outcome = run_cli("db.upgrade", "--env", "staging", env={"STAGING_DATABASE_URL": url_text(url)})
    assert outcome.code == 1, outcome.stderr
    assert_one_clear_message(outcome.stderr)
    assert "too many connections" in outcome.stderr
    assert not own_server.execute("SELECT to_regclass('users')", "limited")[0][0]
    own_server.execute("ALTER DATABASE limited CONNECTION LIMIT 2")
    assert run_cli("db.upgrade", "--env", "staging", env={"STAGING_DATABASE_URL": url_text(url)}).code == 0


def test_temp_file_limit_as_a_disk_full_stand_in(
    own_server: OwnServer, own_database: URL, versions: Path
) -> None:
    """A revision that needs more temporary disk than it may use fails cleanly and is rolled
    back. ``temp_file_limit`` is the portable stand-in for a full disk (the real one, a
    tablespace on a full filesystem, is in the chaos run: it needs root to mount)."""
    head = configured_head()
    target = target_for("staging", own_database)
    migrate.upgrade(target, head)
    own_server.execute(f"ALTER DATABASE \"{own_database.database}\" SET temp_file_limit = '1MB'")
    write_revision(
        versions,
        "fa03",
        head,
        "op.add_column('users', sa.Column('c3', sa.Integer()))\n"
        "op.execute('CREATE TABLE sorted AS SELECT g FROM generate_series(1, 2000000) g ORDER BY g DESC')",
    )
    env = {"STAGING_DATABASE_URL": url_text(own_database), "AGENT_DB_VERSIONS_DIR": str(versions)}
    result = run_cli("db.upgrade", "--env", "staging", env=env)
    assert result.code == 1, result.stderr
    assert_one_clear_message(result.stderr)
    assert "temp_file_limit" in result.stderr
    assert "ran out of a resource" in result.stderr
    assert f"stays at {head}" in result.stderr
    assert position(own_database) == [head]
    assert "c3" not in columns(own_database, "users")
    assert not query(own_database, "SELECT to_regclass('sorted')")[0][0]


def test_a_locked_table_times_out_names_the_blocker_and_the_retry_succeeds(
    empty_url: URL, versions: Path, tmp_path: Path
) -> None:
    """The command line: exit 1, the blocking session named, nothing applied; once the other
    session lets go, the same command succeeds."""
    environments = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", environments)
    staging = environments / "staging.toml"
    text = staging.read_text().replace("lock_retries = 5", "lock_retries = 1")
    staging.write_text(text.replace("retry_backoff_seconds = 2.0", "retry_backoff_seconds = 0.2"))
    head = configured_head()
    migrate.upgrade(target_for("staging", empty_url), head)
    write_revision(
        versions,
        "fa04",
        head,
        "op.add_column('users', sa.Column('nickname', sa.String(40)))",
        "op.drop_column('users', 'nickname')",
        header='lock_timeout = "300ms"',
        message="[wip] add nickname",
    )
    env = {
        "STAGING_DATABASE_URL": url_text(empty_url),
        "AGENT_DB_VERSIONS_DIR": str(versions),
        "AGENT_ENVIRONMENTS_DIR": str(environments),
    }
    # Another session's name and query are text the runner prints: "[/]" in them must not be
    # taken for Rich markup (it used to stop the run with a MarkupError).
    with psycopg.connect(conninfo(empty_url), application_name="nightly-report [/]") as blocker:
        blocker.execute("SELECT count(*), '[/red]' FROM users")  # ACCESS SHARE until it ends
        refused = run_invoke("db.upgrade", "--env", "staging", env=env)  # a real process: its exit code
    assert refused.code == 1, refused.stderr
    assert_one_clear_message(refused.stderr)
    assert "could not take a lock within lock_timeout=300ms" in refused.stderr
    assert "nightly-report [/]" in refused.stderr
    assert "'[/red]'" in refused.stderr
    assert "Nothing of this revision was applied" in refused.stderr
    assert "retry" in refused.stderr  # the first attempt was retried before giving up
    assert position(empty_url) == [head]
    assert "nickname" not in columns(empty_url, "users")

    retried = run_cli("db.upgrade", "--env", "staging", env=env)
    assert retried.code == 0, retried.stderr
    assert "fa04  [wip] add nickname" in retried.stderr  # shown as written, not eaten as markup
    assert "nickname" in columns(empty_url, "users")
