"""db.plan, db.status and db.history show each revision's phase, in text and in JSON, on a real
database behind by the project's own contract (5aad52061418), the expand revisions shipped after
it, and one new expand revision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoke.context import Context
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.plan import build_plan
from agent_db.commands.status import collect_status
from agent_db.revisions.graph import RevisionGraph, default_graph
from agent_db.versions import VERSIONS_DIR
from tests.support.census import register
from tests.support.databases import target_for, url_text
from tests.support.revisions import package_head, write_revision

CONTRACT, NEW = "5aad52061418", "dddd00000001"
# The project's own expand revisions after its contract (the login throttle's table...).
_ORDER = RevisionGraph.load(VERSIONS_DIR).linear_order()
SHIPPED = tuple(_ORDER[_ORDER.index(CONTRACT) + 1 :])


@pytest.fixture
def behind(versions: Path, empty_url: URL, monkeypatch: pytest.MonkeyPatch) -> URL:
    """dev below the history's head: the project's contract, its later expands, a new expand."""
    write_revision(versions, NEW, package_head(), "op.add_column('users', sa.Column('nick', sa.Text()))")
    migrate.upgrade(target_for("dev", empty_url), default_graph()[CONTRACT].down_revisions[0])
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(empty_url))
    return empty_url


def test_plan_shows_each_pending_revisions_phase(behind: URL) -> None:
    plan = build_plan(target_for("dev", behind))
    expected = [(CONTRACT, "contract"), *((rev, "expand") for rev in SHIPPED), (NEW, "expand")]
    assert [(r.revision, r.phase) for r in plan.revisions] == expected
    assert [r["phase"] for r in plan.as_json()["revisions"]] == [phase for _, phase in expected]
    text = plan.as_sql()
    assert f"-- {CONTRACT} [contract]: make message_count not null" in text
    assert f"-- {NEW} [expand]: test" in text
    assert f"-- contract revision(s) {CONTRACT}: db.upgrade --phase expand stops before the first" in text


def test_status_shows_the_pending_phases(behind: URL, capsys: pytest.CaptureFixture[str]) -> None:
    import tasks

    (dev, *_) = collect_status(drift=False).environments
    pending = {CONTRACT: "contract", **dict.fromkeys(SHIPPED, "expand"), NEW: "expand"}
    assert dev.pending_phases == pending
    tasks.db_inspect.status(Context(), json=True, drift=False)
    document = json.loads(capsys.readouterr().out)
    assert document["environments"][0]["pending_phases"] == pending
    tasks.db_inspect.status(Context(), markdown=True, drift=False)
    markdown = capsys.readouterr().out
    assert "| pending phases |" in markdown
    expands = 1 + len(SHIPPED)
    assert f"| {expands} expand, 1 contract (first: {CONTRACT}; runs after the rollout) |" in markdown


def test_history_shows_every_phase(behind: URL, capsys: pytest.CaptureFixture[str]) -> None:
    import tasks

    tasks.db_inspect.history(Context(), json=True)
    revisions = json.loads(capsys.readouterr().out)["revisions"]
    newest = [(NEW, "expand"), *((rev, "expand") for rev in reversed(SHIPPED)), (CONTRACT, "contract")]
    count = len(newest)
    assert [(r["revision"], r["phase"]) for r in revisions[:count]] == newest
    assert {r["phase"] for r in revisions[count:]} == {"expand"}
    assert "dev" in revisions[count]["environments"]
    tasks.db_inspect.history(Context())
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{(SHIPPED or (CONTRACT,))[-1]} -> {NEW} (head), test [expand]"
    assert lines[count - 1].endswith(", make message_count not null [contract]")
    tasks.db_inspect.history(Context(), verbose=True)
    assert "Phase: contract" in capsys.readouterr().out


def test_status_shows_the_census_by_build_and_the_contract_it_holds_back(
    behind: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two builds serve dev: the older one predates the pending contract revision, so db.status
    says which contract the gate would hold back and by how many processes."""
    import tasks

    (dev, *_) = collect_status(drift=False).environments
    assert dev.consumers == []  # reachable, nobody registered yet: read, and empty
    old_revisions = tuple(rev for rev in default_graph().linear_order() if rev != CONTRACT)
    old_heads = default_graph()[CONTRACT].down_revisions
    for pid in (11, 12):
        register(behind, environment="dev", pid=pid, build_commit="01d" * 13 + "0",
                 build_revisions=old_revisions, build_heads=old_heads)  # fmt: skip
    register(behind, environment="dev", pid=13, build_commit="9e3" * 13 + "0")

    (dev, *_) = collect_status(drift=False).environments
    assert [(group.build_commit, group.count) for group in dev.consumers or []] == [
        ("01d" * 13 + "0", 2),
        ("9e3" * 13 + "0", 1),
    ]
    assert dev.contract_held_by == {CONTRACT: 2}
    tasks.db_inspect.status(Context(), json=True, drift=False)
    document = json.loads(capsys.readouterr().out)["environments"][0]
    assert [group["count"] for group in document["consumers"]] == [2, 1]
    assert document["contract_held_by"] == {CONTRACT: 2}
    tasks.db_inspect.status(Context(), markdown=True, drift=False)
    markdown = capsys.readouterr().out
    assert "| live consumers |" in markdown
    assert f"holds back contract {CONTRACT} (by 2)" in markdown
    assert "2 x 01d01d01d01d (head" in markdown
