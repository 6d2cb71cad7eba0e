"""``db.verify`` on a database whose backfill step ``ece12879f6e3`` stopped after its columns
committed: the columns are the partial step's own, reported as the step with the command that
resumes it (exit 3), never as hand-made drift; a hand-made change next to them still is drift,
and once the step is resumed verify passes."""

from __future__ import annotations

from sqlalchemy.engine import URL

from agent_db.commands import migrate
from tests.support.backfill import BACKFILL_REVISION, DEV_RESUME
from tests.support.cli import run_cli
from tests.support.databases import target_for
from tests.support.inspection import query


def _drift_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip().startswith("- drift:")]


def test_the_committed_columns_are_the_partial_step_not_drift(
    partly_backfilled: URL, partial_env: dict[str, str]
) -> None:
    outcome = run_cli("db.verify", "--env", "dev", env=partial_env)
    assert outcome.code == 3, outcome.output
    assert DEV_RESUME in outcome.output
    assert "committed and kept: add column conversations.message_count" in outcome.output
    assert _drift_lines(outcome.output) == []
    assert "not in the migration history" not in outcome.output

    as_json = run_cli("db.verify", "--env", "dev", "--json", env=partial_env)
    assert '"drift": []' in as_json.stdout
    assert f'"revision": "{BACKFILL_REVISION}"' in as_json.stdout

    migrate.upgrade(target_for("dev", partly_backfilled))  # the resume
    resumed = run_cli("db.verify", "--env", "dev", env=partial_env)
    assert resumed.code == 0, resumed.output
    assert "no drift" in resumed.output


def test_a_hand_made_change_beside_the_partial_step_is_still_drift(
    partly_backfilled: URL, partial_env: dict[str, str]
) -> None:
    query(partly_backfilled, "CREATE INDEX by_hand ON conversations (created_at)")
    query(partly_backfilled, "ALTER TABLE conversations ADD COLUMN mood text")
    outcome = run_cli("db.verify", "--env", "dev", env=partial_env)
    assert outcome.code == 3, outcome.output
    assert DEV_RESUME in outcome.output
    drift = "\n".join(_drift_lines(outcome.output))
    assert "index by_hand" in drift
    assert "column conversations.mood" in drift
    assert "message_count" not in drift
    assert "last_message_at" not in drift


def test_without_drift_the_partial_step_is_still_reported(partial_env: dict[str, str]) -> None:
    outcome = run_cli("db.verify", "--env", "dev", "--no-drift", env=partial_env)
    assert outcome.code == 3, outcome.output
    assert DEV_RESUME in outcome.output
