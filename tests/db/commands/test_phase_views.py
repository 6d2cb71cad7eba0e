"""db.plan, db.status and db.history show each revision's phase, in text and in JSON, on a real
database one expand and one contract revision behind (the project's own contract, 5aad52061418,
among them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoke.context import Context
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.plan import build_plan
from agent_db.commands.status import collect_status
from agent_db.revisions.graph import default_graph
from tests.support.databases import target_for, url_text
from tests.support.revisions import package_head, write_revision

CONTRACT, NEW = "5aad52061418", "dddd00000001"


@pytest.fixture
def behind(versions: Path, empty_url: URL, monkeypatch: pytest.MonkeyPatch) -> URL:
    """dev two revisions below the history's head: the project's contract, then a new expand."""
    write_revision(versions, NEW, package_head(), "op.add_column('users', sa.Column('nick', sa.Text()))")
    migrate.upgrade(target_for("dev", empty_url), default_graph()[CONTRACT].down_revisions[0])
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(empty_url))
    return empty_url


def test_plan_shows_each_pending_revisions_phase(behind: URL) -> None:
    plan = build_plan(target_for("dev", behind))
    assert [(r.revision, r.phase) for r in plan.revisions] == [(CONTRACT, "contract"), (NEW, "expand")]
    assert [r["phase"] for r in plan.as_json()["revisions"]] == ["contract", "expand"]
    text = plan.as_sql()
    assert f"-- {CONTRACT} [contract]: make message_count not null" in text
    assert f"-- {NEW} [expand]: test" in text
    assert f"-- contract revision(s) {CONTRACT}: db.upgrade --phase expand stops before the first" in text


def test_status_shows_the_pending_phases(behind: URL, capsys: pytest.CaptureFixture[str]) -> None:
    import tasks

    (dev, *_) = collect_status(drift=False).environments
    assert dev.pending_phases == {CONTRACT: "contract", NEW: "expand"}
    tasks.db_inspect.status(Context(), json=True, drift=False)
    document = json.loads(capsys.readouterr().out)
    assert document["environments"][0]["pending_phases"] == {CONTRACT: "contract", NEW: "expand"}
    tasks.db_inspect.status(Context(), markdown=True, drift=False)
    markdown = capsys.readouterr().out
    assert "| pending phases |" in markdown
    assert f"| 1 expand, 1 contract (first: {CONTRACT}; runs after the rollout) |" in markdown


def test_history_shows_every_phase(behind: URL, capsys: pytest.CaptureFixture[str]) -> None:
    import tasks

    tasks.db_inspect.history(Context(), json=True)
    revisions = json.loads(capsys.readouterr().out)["revisions"]
    assert [(r["revision"], r["phase"]) for r in revisions[:2]] == [(NEW, "expand"), (CONTRACT, "contract")]
    assert {r["phase"] for r in revisions[2:]} == {"expand"}
    assert "dev" in revisions[2]["environments"]
    tasks.db_inspect.history(Context())
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{CONTRACT} -> {NEW} (head), test [expand]"
    assert lines[1].endswith(", make message_count not null [contract]")
    tasks.db_inspect.history(Context(), verbose=True)
    assert "Phase: contract" in capsys.readouterr().out
