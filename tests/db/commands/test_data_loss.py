"""Downgrades say what they destroy: a downgrade that drops data needs --accept-data-loss on every
environment, exits 3 without it after saying what would be lost, and changes nothing."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.data_loss import DataLossRefusal, dropped_objects
from agent_db.commands.guards import is_real_reason
from agent_db.errors import SafetyRefusal
from agent_db.revisions.graph import default_graph
from tests.support.cli import run_invoke
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import columns, ledger_rows, position, query
from tests.support.protected import SETUP_OVERRIDE

TUTORIAL_FIRST, TUTORIAL_SECOND = "3f1a2b9c4d5e", "7c2e8d1f0a6b"


def _tutorial_users(url: URL) -> None:
    """The tutorial's second revision, with one deactivated account and one superuser."""
    migrate.upgrade(target_for("staging", url), TUTORIAL_SECOND)
    with psycopg.connect(conninfo(url)) as connection:
        for name, active, superuser in (("ada", True, True), ("bob", False, False), ("cy", True, False)):
            connection.execute(
                "INSERT INTO users (email, username, hashed_password, is_active, is_superuser) "
                "VALUES (%s, %s, 'x', %s, %s)",
                (f"{name}@example.com", name, active, superuser),
            )


def test_dropping_columns_that_hold_data_is_refused_and_changes_nothing(empty_url: URL) -> None:
    _tutorial_users(empty_url)
    before = ledger_rows(empty_url)
    with pytest.raises(DataLossRefusal) as refused:
        migrate.downgrade(target_for("staging", empty_url), "-1")
    message = str(refused.value)
    # is_active defaults to true: bob's false is what an upgrade back would lose (re-enabled).
    assert "column users.is_active: 3 row(s) hold a value, 1 differ from its default true" in message
    assert "column users.is_superuser: 3 row(s) hold a value, 1 differ from its default false" in message
    assert "--accept-data-loss" in message
    assert refused.value.exit_code == 3
    assert position(empty_url) == [TUTORIAL_SECOND]
    assert {"is_active", "is_superuser"} <= columns(empty_url, "users")
    assert ledger_rows(empty_url) == before, "a refusal writes nothing, not even a ledger row"


def test_accepted_loss_runs_and_is_recorded_in_the_ledger(empty_url: URL) -> None:
    _tutorial_users(empty_url)
    result = migrate.downgrade(target_for("staging", empty_url), "-1", accept_data_loss=True)
    assert result.after == (TUTORIAL_FIRST,)
    assert "is_active" not in columns(empty_url, "users")
    reason = str(ledger_rows(empty_url)[-1]["reason"])
    assert reason.startswith("accepted data loss (--accept-data-loss): column users.is_superuser")


def test_an_empty_database_downgrades_without_the_flag(empty_url: URL) -> None:
    """No rows, nothing lost: the tutorial's `downgrade -1` works as it always did."""
    migrate.upgrade(target_for("staging", empty_url), TUTORIAL_SECOND)
    assert migrate.downgrade(target_for("staging", empty_url), "-1").after == (TUTORIAL_FIRST,)


def test_to_base_names_every_table_with_rows(empty_url: URL) -> None:
    migrate.upgrade(target_for("staging", empty_url))
    with psycopg.connect(conninfo(empty_url)) as connection:
        connection.execute("INSERT INTO users (email, username, hashed_password) VALUES ('a@b.co', 'a', 'x')")
        connection.execute("INSERT INTO tools (name, description) VALUES ('search', 'web search')")
    with pytest.raises(DataLossRefusal) as refused:
        migrate.downgrade(target_for("staging", empty_url), "base")
    lossy = {(loss.table, loss.column) for loss in refused.value.report.lossy}
    assert lossy == {("users", None), ("tools", None)}  # empty tables are not data loss
    assert position(empty_url) == [default_graph().single_head()]


def test_the_cli_exits_3_without_a_terminal_and_names_the_flag(empty_url: URL) -> None:
    _tutorial_users(empty_url)
    env = {"STAGING_DATABASE_URL": url_text(empty_url)}
    refused = run_invoke("db.downgrade", "--env", "staging", "--to=-1", env=env)
    assert refused.code == 3, refused
    assert "would destroy data" in refused.stderr
    assert "Type staging" not in refused.stderr, "no prompt when stdin is not a terminal"
    assert position(empty_url) == [TUTORIAL_SECOND]
    accepted = run_invoke("db.downgrade", "--env", "staging", "--to=-1", "--accept-data-loss", env=env)
    assert accepted.code == 0, accepted
    assert position(empty_url) == [TUTORIAL_FIRST]


def test_protected_environments_need_a_real_reason(empty_url: URL) -> None:
    migrate.upgrade(target_for("prod", empty_url), TUTORIAL_SECOND, protected=SETUP_OVERRIDE)
    for weak in ("aaaaaaaaaaaaaaaaaaaaaaaa", "because reasons", "x y z w v u t s"):
        with pytest.raises(SafetyRefusal, match="a real explanation"):
            migrate.downgrade(target_for("prod", empty_url), "-1", allow_protected=True, reason=weak)
    assert query(empty_url, "SELECT version_num FROM alembic_version") == [(TUTORIAL_SECOND,)]
    assert is_real_reason("INC-42: roll back the flags column")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("DROP TABLE users;", [("users", None)]),
        ('DROP TABLE IF EXISTS public."Odd ""name""", b;', [('Odd "name"', None), ("b", None)]),
        ("ALTER TABLE users DROP COLUMN is_active, DROP COLUMN x;", [("users", "is_active"), ("users", "x")]),
        ("ALTER TABLE users DROP CONSTRAINT users_ck;", []),
        ("ALTER TABLE users ALTER COLUMN a DROP NOT NULL;", []),
        ("ALTER TABLE users ALTER COLUMN a DROP DEFAULT;", []),
        (
            "TRUNCATE TABLE messages; DELETE FROM ONLY tools WHERE id > 3;",
            [("messages", None), ("tools", None)],
        ),
        ("-- DROP TABLE commented\nSELECT 1;", []),
    ],
)
def test_what_a_script_drops(sql: str, expected: list[tuple[str, str | None]]) -> None:
    assert dropped_objects(sql) == expected


def test_plan_covers_downgrades_and_what_they_destroy(empty_url: URL) -> None:
    from agent_db.commands.plan import build_plan

    _tutorial_users(empty_url)
    plan = build_plan(target_for("staging", empty_url), "-1")
    assert plan.direction == "downgrade"
    assert [r.revision for r in plan.revisions] == [TUTORIAL_SECOND]
    assert "ALTER TABLE users DROP COLUMN is_active;" in plan.revisions[0].sql
    assert plan.data_loss is not None
    assert {loss.column for loss in plan.data_loss.lossy} == {"is_active", "is_superuser"}
    assert "-- DESTROYS column users.is_active" in plan.as_sql()
    assert position(empty_url) == [TUTORIAL_SECOND], "a plan runs nothing"
    env = {"STAGING_DATABASE_URL": url_text(empty_url)}
    cli = run_invoke("db.plan", "--env", "staging", "--to", TUTORIAL_FIRST, "--json", env=env)
    assert cli.code == 0, cli
    assert '"direction": "downgrade"' in cli.stdout
    assert build_plan(target_for("staging", empty_url), "head").direction == "upgrade"
