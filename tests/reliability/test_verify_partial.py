"""``db.verify`` on a database whose backfill step ``ece12879f6e3`` stopped after its columns
committed: the columns are the partial step's own, reported as the step with the command that
resumes it (exit 3), never as hand-made drift; a hand-made change next to them still is drift,
and once the step is resumed verify passes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.drift import REFERENCE_URL_VARIABLE
from agent_db.errors import MigrationFailed
from tests.support.backfill import BACKFILL_REVISION, INDEX_REVISION, clear_fault, fault, seed_before_backfill
from tests.support.cli import run_cli
from tests.support.databases import target_for, url_text
from tests.support.inspection import position, query

RESUME = f"partial step {BACKFILL_REVISION}: resume with 'uv run invoke db.upgrade --env dev'"


@pytest.fixture
def partly_backfilled(empty_url: URL) -> URL:
    """The backfill's first batch committed, its second failed: the step is ``partial``."""
    seed_before_backfill(empty_url, 1_600)
    fault(empty_url, "RAISE EXCEPTION 'injected fault in a batch'")
    with pytest.raises(MigrationFailed, match="partly applied"):
        migrate.upgrade(target_for("dev", empty_url))
    clear_fault(empty_url)
    assert position(empty_url) == [INDEX_REVISION]
    return empty_url


@pytest.fixture
def verify_env(partly_backfilled: URL, server_url: URL, tmp_path: Path) -> dict[str, str]:
    return {
        "DEV_DATABASE_URL": url_text(partly_backfilled),
        REFERENCE_URL_VARIABLE: url_text(server_url),
        "AGENT_DB_CACHE_DIR": str(tmp_path / "cache"),
    }


def _drift_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip().startswith("- drift:")]


def test_the_committed_columns_are_the_partial_step_not_drift(
    partly_backfilled: URL, verify_env: dict[str, str]
) -> None:
    outcome = run_cli("db.verify", "--env", "dev", env=verify_env)
    assert outcome.code == 3, outcome.output
    assert RESUME in outcome.output
    assert "committed and kept: add column conversations.message_count" in outcome.output
    assert _drift_lines(outcome.output) == []
    assert "not in the migration history" not in outcome.output

    as_json = run_cli("db.verify", "--env", "dev", "--json", env=verify_env)
    assert '"drift": []' in as_json.stdout
    assert f'"revision": "{BACKFILL_REVISION}"' in as_json.stdout

    migrate.upgrade(target_for("dev", partly_backfilled))  # the resume
    resumed = run_cli("db.verify", "--env", "dev", env=verify_env)
    assert resumed.code == 0, resumed.output
    assert "no drift" in resumed.output


def test_a_hand_made_change_beside_the_partial_step_is_still_drift(
    partly_backfilled: URL, verify_env: dict[str, str]
) -> None:
    query(partly_backfilled, "CREATE INDEX by_hand ON conversations (created_at)")
    query(partly_backfilled, "ALTER TABLE conversations ADD COLUMN mood text")
    outcome = run_cli("db.verify", "--env", "dev", env=verify_env)
    assert outcome.code == 3, outcome.output
    assert RESUME in outcome.output
    drift = "\n".join(_drift_lines(outcome.output))
    assert "index by_hand" in drift
    assert "column conversations.mood" in drift
    assert "message_count" not in drift
    assert "last_message_at" not in drift


def test_without_drift_the_partial_step_is_still_reported(verify_env: dict[str, str]) -> None:
    outcome = run_cli("db.verify", "--env", "dev", "--no-drift", env=verify_env)
    assert outcome.code == 3, outcome.output
    assert RESUME in outcome.output
