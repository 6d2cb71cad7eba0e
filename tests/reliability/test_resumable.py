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

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.errors import MigrationFailed
from agent_db.revisions.graph import default_graph
from tests.support.cli import run_cli, spawn
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import ledger_rows, position, query
from tests.support.reliability import assert_one_clear_message, wait_for

INDEX_REVISION = "65b5f9d89277"  # the revision before the backfill
BACKFILL_REVISION = "ece12879f6e3"
CONVERSATIONS = 2_500  # three batches of 1,000


@pytest.fixture
def before_backfill(empty_url: URL) -> URL:
    """A database one revision before the backfill, with conversations and messages, and a
    trigger ready to act on a row of the backfill's second batch (``fault`` picks how)."""
    migrate.upgrade(target_for("dev", empty_url), INDEX_REVISION)
    with psycopg.connect(conninfo(empty_url)) as connection:
        connection.execute(
            "INSERT INTO users (email, username, hashed_password) VALUES ('s@e.com', 's', 'x')"
        )
        connection.execute("INSERT INTO agents (owner_id, name, model) SELECT id, 'a', 'm' FROM users")
        connection.execute(
            "INSERT INTO conversations (agent_id, user_id) "
            "SELECT a.id, a.owner_id FROM agents a, generate_series(1, %s)",
            (CONVERSATIONS,),
        )
        connection.execute(
            "INSERT INTO messages (conversation_id, role, content, created_at) "
            "SELECT c.id, 'user', 'hi', now() - make_interval(secs => c.id * 10 + g) "
            "FROM conversations c, generate_series(1, 3) g WHERE g <= c.id % 4"
        )
    return empty_url


def _fault(url: URL, action: str) -> None:
    """Run ``action`` (plpgsql) when the backfill counts the 1,500th conversation."""
    with psycopg.connect(conninfo(url)) as connection:
        (victim,) = connection.execute("SELECT min(id) + 1500 FROM conversations").fetchone() or (0,)
        connection.execute(
            "CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.id = {int(victim)} AND (to_jsonb(NEW) ->> 'message_count') IS NOT NULL THEN "
            f"{action}; END IF; RETURN NEW; END $$"
        )
        connection.execute(
            "CREATE TRIGGER fault BEFORE UPDATE ON conversations FOR EACH ROW EXECUTE FUNCTION fault()"
        )


def _clear_fault(url: URL) -> None:
    with psycopg.connect(conninfo(url)) as connection:
        connection.execute("DROP TRIGGER fault ON conversations")
        connection.execute("DROP FUNCTION fault()")


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
    _fault(url, "RAISE EXCEPTION 'injected fault in a batch'")

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

    _clear_fault(url)
    migrate.upgrade(target)
    assert position(url) == [default_graph().linear_order()[-1]]
    _assert_backfilled(url)
    assert [step["outcome"] for step in _steps(url)] == ["partial", "success"]


def test_a_runner_killed_in_the_backfill_is_closed_partial_and_one_rerun_reaches_head(
    before_backfill: URL,
) -> None:
    url = before_backfill
    _fault(url, "PERFORM pg_sleep(60)")
    env = {"DEV_DATABASE_URL": url_text(url)}
    runner = spawn(["db.upgrade", "--env", "dev"], env)
    try:
        wait_for(lambda: _counted(url) > 0, seconds=60, what="the first batch to commit")
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    finally:
        runner.kill()
        runner.wait(timeout=30)
    _clear_fault(url)  # waits until the server has ended the orphaned step

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
    _fault(url, "PERFORM pg_sleep(60)")
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

    _clear_fault(url)
    rerun = run_cli("db.upgrade", "--env", "dev", env=env)
    assert rerun.code == 0, rerun.stderr
    _assert_backfilled(url)
    assert [step["outcome"] for step in _steps(url)] == ["partial", "success"]
