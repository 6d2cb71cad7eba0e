"""A revision that leaves its transaction, interrupted after it did: the project's own backfill
``ece12879f6e3`` adds two columns, then its autocommit block commits them and counts messages
in batches. Stopped after that (a batch that fails, the runner SIGKILLed, its session
terminated), the step is ``partial`` in the ledger with what committed, the message says so and
names the command that resumes it, and one rerun reaches head with every value counted.

The fault is a trigger on ``conversations`` that acts on one row of the second batch: the first
batch (1,000 rows) has committed by then, whatever the timing.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.errors import MigrationFailed
from agent_db.revisions.graph import default_graph
from tests.support.backfill import BACKFILL_REVISION, INDEX_REVISION, clear_fault, fault, seed_before_backfill
from tests.support.cli import run_cli, spawn
from tests.support.databases import target_for, url_text
from tests.support.inspection import ledger_rows, position, query
from tests.support.own_server import OwnServer
from tests.support.reliability import assert_one_clear_message, wait_for
from tests.support.revisions import configured_head, write_revision

CONVERSATIONS = 2_500  # three batches of 1,000


@pytest.fixture
def before_backfill(empty_url: URL) -> URL:
    """A database one revision before the backfill, with conversations and messages."""
    seed_before_backfill(empty_url, CONVERSATIONS)
    return empty_url


def _counted(url: URL) -> int:
    # Through jsonb: before the revision has run, the column does not exist.
    counted = "SELECT count(*) FROM conversations c WHERE to_jsonb(c) ->> 'message_count' IS NOT NULL"
    return int(str(query(url, counted)[0][0]))


def _assert_backfilled(url: URL) -> None:
    wrong = query(
        url,
        "SELECT count(*) FROM conversations c WHERE c.message_count IS DISTINCT FROM "
        "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) "
        "OR c.last_message_at IS DISTINCT FROM "
        "(SELECT max(created_at) FROM messages m WHERE m.conversation_id = c.id)",
    )
    assert wrong == [(0,)]


def _steps(url: URL) -> list[dict[str, object]]:
    return [row for row in ledger_rows(url) if row["revision"] == BACKFILL_REVISION]


def test_a_failed_batch_leaves_the_step_partial_and_the_rerun_resumes_it(before_backfill: URL) -> None:
    url = before_backfill
    target = target_for("dev", url)
    fault(url, "RAISE EXCEPTION 'injected fault in a batch'")

    with pytest.raises(MigrationFailed) as failure:
        migrate.upgrade(target)
    message = str(failure.value)
    assert "injected fault in a batch" in message
    assert "partly applied" in message
    assert "add column conversations.message_count" in message
    assert "'uv run invoke db.upgrade --env dev' resumes it" in message
    assert "Nothing of this revision was applied" not in message
    assert "rolled back" not in message
    assert f"stays at {INDEX_REVISION}, with {BACKFILL_REVISION} partly applied" in message
    assert 0 < _counted(url) < CONVERSATIONS  # the first batch committed
    [step] = _steps(url)
    assert step["outcome"] == "partial"
    assert "add column conversations.last_message_at" in str(step["committed"])

    clear_fault(url)
    migrate.upgrade(target)
    assert position(url) == [default_graph().linear_order()[-1]]
    _assert_backfilled(url)
    assert [step["outcome"] for step in _steps(url)] == ["partial", "success"]


def test_a_runner_killed_in_the_backfill_is_closed_partial_and_one_rerun_reaches_head(
    before_backfill: URL,
) -> None:
    url = before_backfill
    fault(url, "PERFORM pg_sleep(60)")
    env = {"DEV_DATABASE_URL": url_text(url)}
    runner = spawn(["db.upgrade", "--env", "dev"], env)
    try:
        wait_for(lambda: _counted(url) > 0, seconds=60, what="the first batch to commit")
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    finally:
        runner.kill()
        runner.wait(timeout=30)
    clear_fault(url)  # waits until the server has ended the orphaned step

    rerun = run_cli("db.upgrade", "--env", "dev", env=env)
    assert rerun.code == 0, rerun.stderr
    assert position(url) == [default_graph().linear_order()[-1]]
    _assert_backfilled(url)
    steps = _steps(url)
    assert [step["outcome"] for step in steps] == ["partial", "success"]
    assert "left its transaction" in str(steps[0]["error"])
    assert "Committed and kept: add column conversations.message_count" in str(steps[0]["error"])
    assert "rolled back" not in str(steps[0]["error"])


def test_a_terminated_step_session_is_one_message_naming_what_committed(before_backfill: URL) -> None:
    url = before_backfill
    fault(url, "PERFORM pg_sleep(60)")
    env = {"DEV_DATABASE_URL": url_text(url)}
    runner = spawn(["db.upgrade", "--env", "dev"], env)
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event = 'PgSleep'"
    )
    # The second batch sleeps on the victim row, after the first committed: end its session.
    wait_for(lambda: query(url, terminate), seconds=60, what="the second batch to reach the fault")
    _, stderr = runner.communicate(timeout=60)

    assert runner.returncode == 1, stderr
    assert_one_clear_message(stderr)
    assert "connection to PostgreSQL" in stderr
    assert "partly applied" in stderr
    assert "'uv run invoke db.upgrade --env dev' resumes it" in stderr
    assert "rolled back" not in stderr
    assert [step["outcome"] for step in _steps(url)] == ["partial"]  # recorded by the runner itself

    clear_fault(url)
    rerun = run_cli("db.upgrade", "--env", "dev", env=env)
    assert rerun.code == 0, rerun.stderr
    _assert_backfilled(url)
    assert [step["outcome"] for step in _steps(url)] == ["partial", "success"]


def test_the_safe_constraint_helpers_before_a_backfill_resume_too(empty_url: URL, versions: Path) -> None:
    """A new revision with a constraint of each safe helper and a column before its backfill:
    the first batch fails (until the table ``go`` exists), the rerun skips what committed."""
    head = configured_head()
    target = target_for("dev", empty_url)
    migrate.upgrade(target, head)
    query(empty_url, "INSERT INTO users (email, username, hashed_password) VALUES ('r@e.com', 'r', 'x')")
    write_revision(
        versions,
        "re01",
        head,
        "safe.add_check_not_valid('users_id_positive_check', 'users', 'id > 0')\n"
        "safe.add_foreign_key_not_valid('users_self_fkey', 'users', 'users', ['id'], ['id'])\n"
        "op.add_column('users', sa.Column('folded', sa.Text(), nullable=True))\n"
        "safe.backfill_in_batches('users', set_clause=\"folded = lower(username) || "
        "(1 / (SELECT count(*) FROM pg_class WHERE relname = 'go'))::text\", "
        "pending='folded IS NULL')",
    )
    with pytest.raises(MigrationFailed, match=r"division by zero.*partly applied"):
        migrate.upgrade(target)
    query(empty_url, "CREATE TABLE go ()")
    migrate.upgrade(target)
    assert position(empty_url) == ["re01"]
    assert query(empty_url, "SELECT folded FROM users") == [("r1",)]
    steps = [row["outcome"] for row in ledger_rows(empty_url) if row["revision"] == "re01"]
    assert steps == ["partial", "success"]


@pytest.mark.slow
def test_a_server_restart_in_the_backfill_is_one_message_and_one_rerun_reaches_head() -> None:
    """PostgreSQL restarted while the second batch runs: one message (no chained tracebacks),
    the step closed ``partial`` by the rerun, which reaches head."""
    server = OwnServer.create()
    server.start()
    try:
        server.create_database("restarted")
        url = server.socket_url("restarted")
        seed_before_backfill(url, CONVERSATIONS)
        fault(url, "PERFORM pg_sleep(60)")
        env = {"DEV_DATABASE_URL": url_text(url)}
        runner = spawn(["db.upgrade", "--env", "dev"], env)
        sleeping = "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
        wait_for(lambda: query(url, sleeping), seconds=60, what="the second batch to reach the fault")
        server.restart()
        _, stderr = runner.communicate(timeout=60)
        assert runner.returncode == 1, stderr
        assert_one_clear_message(stderr)
        assert "partly applied" in stderr
        assert "rolled back" not in stderr

        clear_fault(url)
        rerun = run_cli("db.upgrade", "--env", "dev", env=env)
        assert rerun.code == 0, rerun.stderr
        _assert_backfilled(url)
        assert [step["outcome"] for step in _steps(url)] == ["partial", "success"]
    finally:
        server.destroy()
