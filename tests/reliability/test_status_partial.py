"""``db.status`` on a database whose backfill step ``ece12879f6e3`` stopped after its columns
committed: the drift cell (table and JSON) shows the partial step with the command that resumes
it, as ``db.verify`` does, never its columns as drift; a hand-made change next to it still is
drift, and once the step is resumed the cell reads ``none``."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy.engine import URL

from agent_db.cli.status import print_status
from agent_db.commands import migrate
from agent_db.commands.status import collect_status
from tests.support.backfill import BACKFILL_REVISION, DEV_RESUME
from tests.support.cli import run_cli
from tests.support.databases import target_for
from tests.support.inspection import query


def _dev(env: dict[str, str]) -> dict[str, Any]:
    outcome = run_cli("db.status", "--json", env=env)
    assert outcome.code == 0, outcome.output
    environments = json.loads(outcome.stdout)["environments"]
    dev: dict[str, Any] = next(e for e in environments if e["name"] == "dev")
    return dev


def _drift_cell(env: dict[str, str], *flags: str) -> str:
    """dev's drift cell in the Rich table (wide enough not to fold) and in the Markdown one."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        buffer = io.StringIO()
        print_status(collect_status(drift="--no-drift" not in flags), Console(file=buffer, width=1000))
    row = next(line for line in buffer.getvalue().splitlines() if line.strip("│┃ ").startswith("dev "))
    cell = row.split("│")[6].strip()  # environment, state, current, pending phases, checksums, drift

    markdown = run_cli("db.status", "--markdown", *flags, env=env)
    assert markdown.code == 0, markdown.output
    line = next(line for line in markdown.stdout.splitlines() if line.startswith("| dev |"))
    assert line.split(" | ")[5] == cell.replace("|", "\\|")
    return cell


def test_the_drift_cell_is_the_partial_step_with_its_resume(
    partly_backfilled: URL, partial_env: dict[str, str]
) -> None:
    dev = _dev(partial_env)
    assert dev["drift"] == []
    assert dev["drift_problem"] is None
    [step] = dev["partial"]
    assert step["revision"] == BACKFILL_REVISION
    assert step["summary"] == DEV_RESUME
    assert "add column conversations.message_count" in step["committed"]
    assert {d["name"] for d in step["explains"]} >= {"conversations.message_count"}

    cell = _drift_cell(partial_env)
    assert cell == DEV_RESUME
    assert "DRIFT" not in cell

    migrate.upgrade(target_for("dev", partly_backfilled))  # the resume
    resumed = _dev(partial_env)
    assert (resumed["partial"], resumed["drift"], resumed["at_head"]) == ([], [], True)
    assert _drift_cell(partial_env) == "none"


def test_a_hand_made_change_beside_the_partial_step_is_still_drift(
    partly_backfilled: URL, partial_env: dict[str, str]
) -> None:
    query(partly_backfilled, "ALTER TABLE conversations ADD COLUMN mood text")
    dev = _dev(partial_env)
    assert [step["revision"] for step in dev["partial"]] == [BACKFILL_REVISION]
    assert len(dev["drift"]) == 1
    assert "column conversations.mood" in dev["drift"][0]

    cell = _drift_cell(partial_env)
    assert cell.startswith(f"{DEV_RESUME}; DRIFT (1): ")
    assert "conversations.mood" in cell
    assert "message_count" not in cell


def test_without_drift_the_partial_step_is_still_shown(partial_env: dict[str, str]) -> None:
    outcome = run_cli("db.status", "--json", "--no-drift", env=partial_env)
    dev = next(e for e in json.loads(outcome.stdout)["environments"] if e["name"] == "dev")
    assert dev["drift"] is None
    assert [step["summary"] for step in dev["partial"]] == [DEV_RESUME]
    assert _drift_cell(partial_env, "--no-drift") == DEV_RESUME
