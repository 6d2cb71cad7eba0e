"""The ledger: one row per step, append-only, abandoned steps closed by the next run."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.revisions.graph import default_graph
from tests.support.databases import conninfo, target_for


def ledger_rows(url: URL) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo(url)) as connection:
        return connection.execute(
            "SELECT revision, direction, checksum, environment, started_at, finished_at, actor, "
            "git_commit, tool_version, outcome, error, reason FROM schema_ledger ORDER BY id"
        ).fetchall()


def test_each_step_is_one_row_with_every_column(empty_url: URL) -> None:
    graph = default_graph()
    result = migrate.upgrade(target_for("staging", empty_url))
    assert result.applied == graph.linear_order()
    rows = ledger_rows(empty_url)
    assert [r[0] for r in rows] == graph.linear_order()
    for row in rows:
        (
            revision,
            direction,
            checksum,
            environment,
            started,
            finished,
            actor,
            commit,
            tool,
            outcome,
            error,
            _,
        ) = row
        assert direction == "upgrade"
        assert checksum == graph[str(revision)].checksum
        assert environment == "staging"
        assert started is not None
        assert finished is not None
        assert finished >= started  # type: ignore[operator]
        assert actor
        assert tool
        assert "agent-db" in str(tool)
        assert outcome == "success"
        assert error is None
    assert commit is None or len(str(commit)) >= 7


def test_ledger_is_append_only(empty_url: URL) -> None:
    migrate.upgrade(target_for("dev", empty_url))
    with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            connection.execute("DELETE FROM schema_ledger")
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            connection.execute("TRUNCATE schema_ledger")
        with pytest.raises(psycopg.errors.RaiseException, match="running to a final outcome"):
            connection.execute("UPDATE schema_ledger SET outcome = 'failed'")
        with pytest.raises(psycopg.errors.RaiseException, match="running to a final outcome"):
            connection.execute("UPDATE schema_ledger SET checksum = 'forged'")
    assert len(ledger_rows(empty_url)) == len(default_graph())


def test_downgrade_and_upgrade_are_both_recorded(empty_url: URL) -> None:
    target = target_for("dev", empty_url)
    migrate.upgrade(target)
    migrate.downgrade(target, "-1")
    migrate.upgrade(target)
    directions = [(r[0], r[1]) for r in ledger_rows(empty_url)]
    head = default_graph().single_head()
    assert directions[-2:] == [(head, "downgrade"), (head, "upgrade")]


def test_stale_running_row_is_closed_as_failed_by_the_next_run(empty_url: URL) -> None:
    target = target_for("dev", empty_url)
    first = default_graph().linear_order()[0]
    migrate.upgrade(target, first)
    with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO schema_ledger (run_id, revision, direction, environment, actor, "
            "tool_version, backend_pid) VALUES (gen_random_uuid(), 'x', 'upgrade', 'dev', 'ghost', "
            "'t', 999999)"
        )
    migrate.upgrade(target)
    ghost = next(r for r in ledger_rows(empty_url) if r[6] == "ghost")
    assert ghost[9] == "failed"
    assert "interrupted" in str(ghost[10])


def test_a_running_row_takes_what_its_step_committed_once_and_nothing_else(empty_url: URL) -> None:
    migrate.upgrade(target_for("dev", empty_url), default_graph().linear_order()[0])
    with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO schema_ledger (run_id, revision, direction, environment, actor, "
            "tool_version, backend_pid) VALUES (gen_random_uuid(), 'y', 'upgrade', 'dev', 'me', 't', 1)"
        )
        connection.execute("UPDATE schema_ledger SET committed = 'add column t.c' WHERE revision = 'y'")
        with pytest.raises(psycopg.errors.RaiseException, match="running to a final outcome"):
            connection.execute("UPDATE schema_ledger SET committed = 'other' WHERE revision = 'y'")
        with pytest.raises(psycopg.errors.RaiseException, match="running to a final outcome"):
            connection.execute(
                "UPDATE schema_ledger SET committed = 'x', actor = 'forged' WHERE committed IS NULL"
            )
        connection.execute("UPDATE schema_ledger SET outcome = 'partial' WHERE revision = 'y'")
        with pytest.raises(psycopg.errors.CheckViolation):
            connection.execute(
                "INSERT INTO schema_ledger (run_id, revision, direction, environment, actor, "
                "tool_version, outcome) VALUES (gen_random_uuid(), 'z', 'upgrade', 'dev', 'me', 't', 'bogus')"
            )
        (row,) = connection.execute(
            "SELECT outcome, committed, actor FROM schema_ledger WHERE revision = 'y'"
        ).fetchall()
    assert row == ("partial", "add column t.c", "me")


def test_an_older_ledger_gains_the_partial_outcome_in_place(empty_url: URL) -> None:
    """A ledger from before 'partial' (its CHECK lists three outcomes, no committed column) is
    upgraded by the first run of this toolkit, its rows kept."""
    first, second = default_graph().linear_order()[:2]
    migrate.upgrade(target_for("dev", empty_url), first)
    with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
        connection.execute("ALTER TABLE schema_ledger DROP COLUMN committed")
        connection.execute(
            "ALTER TABLE schema_ledger DROP CONSTRAINT schema_ledger_outcome_check, ADD CONSTRAINT "
            "schema_ledger_outcome_check CHECK (outcome IN ('running', 'success', 'failed'))"
        )
    migrate.upgrade(target_for("dev", empty_url), second)
    with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
        (check,) = connection.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'schema_ledger_outcome_check'"
        ).fetchone() or ("",)
        has_column = connection.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = 'schema_ledger'::regclass AND attname = 'committed'"
        ).fetchall()
    assert "partial" in str(check)
    assert has_column
    assert [r[0] for r in ledger_rows(empty_url)] == [first, second]
