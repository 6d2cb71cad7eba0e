"""``db.plan`` on a database whose backfill step ``ece12879f6e3`` stopped after its columns
committed: the partial revision is pending and the plan says the run resumes it (what committed,
what is skipped), not as if its ``ADD COLUMN`` were still to run; once resumed, no such note."""

from __future__ import annotations

import json

from sqlalchemy.engine import URL

from agent_db.commands import migrate
from tests.support.backfill import BACKFILL_REVISION
from tests.support.cli import run_cli
from tests.support.databases import target_for

RESUMES = "-- RESUMES this partly applied upgrade: its last upgrade left its transaction and stopped"


def test_the_plan_shows_the_partial_revision_pending_and_resumed(
    partly_backfilled: URL, partial_env: dict[str, str]
) -> None:
    outcome = run_cli("db.plan", "--env", "dev", env=partial_env)
    assert outcome.code == 0, outcome.output
    sql = outcome.stdout
    assert f"-- {BACKFILL_REVISION} partly applied: this upgrade resumes it\n" in sql
    heading, resumes = sql.split(f"-- {BACKFILL_REVISION} [expand]: ", 1)[1].splitlines()[:2]
    assert heading.startswith("add message_count and last_message_at to conversations")
    assert resumes.startswith(RESUMES)
    assert "committed and kept: add column conversations.message_count" in resumes
    assert "skips each op.add_column whose column is already there" in resumes
    assert sql.count("-- RESUMES") == 1  # only the partial revision, not those after it

    plan = json.loads(run_cli("db.plan", "--env", "dev", "--json", env=partial_env).stdout)
    first, *later = plan["revisions"]
    assert first["revision"] == BACKFILL_REVISION
    assert "add column conversations.message_count" in first["resumes"]
    assert later
    assert all(r["resumes"] is None for r in later)


def test_after_the_resume_the_plan_resumes_nothing(
    partly_backfilled: URL, partial_env: dict[str, str]
) -> None:
    migrate.upgrade(target_for("dev", partly_backfilled), BACKFILL_REVISION)  # the resume
    outcome = run_cli("db.plan", "--env", "dev", env=partial_env)
    assert outcome.code == 0, outcome.output
    assert f"-- upgrade plan for dev: {BACKFILL_REVISION} -> " in outcome.stdout
    assert "RESUMES" not in outcome.stdout
    assert "partly applied" not in outcome.stdout
    plan = json.loads(run_cli("db.plan", "--env", "dev", "--json", env=partial_env).stdout)
    assert plan["revisions"]
    assert all(r["resumes"] is None for r in plan["revisions"])
