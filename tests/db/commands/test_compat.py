"""``api.compat``: the previous release (a worktree of a commit, its API served by uvicorn) on a
database migrated by this commit's expand revisions, one at a time, with its own API flows run
after each. A revision that breaks it is named (exit 3); contract revisions are not applied;
harmless expand revisions pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from agent_db.commands.compat import new_revisions, run_compat
from agent_db.errors import ConfigError, SafetyRefusal
from agent_db.revisions.graph import default_graph
from tests.support.cli import run_invoke
from tests.support.databases import url_text
from tests.support.revisions import copy_history, package_head, write_revision

HARMLESS, BREAKING, CONTRACT = "c0ffee00c001", "c0ffee00c002", "c0ffee00c003"


def history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, breaking: bool) -> Path:
    """This commit's history: the base's (HEAD's) plus a harmless expand revision, optionally an
    'expand' revision that renames a column the previous release reads, and a contract one."""
    versions = copy_history(tmp_path)
    parent = write_revision(
        versions, HARMLESS, package_head(), "op.add_column('users', sa.Column('bio', sa.Text()))",
        message="add bio to users",
    )  # fmt: skip
    last = HARMLESS
    if breaking:
        write_revision(
            versions, BREAKING, HARMLESS,
            "op.alter_column('agents', 'system_prompt', new_column_name='instructions')",
            message="rename system_prompt",
        )  # fmt: skip
        last = BREAKING
    write_revision(
        versions, CONTRACT, last, "op.drop_column('users', 'bio')", message="drop bio",
        header='phase = "contract"',
    )  # fmt: skip
    assert parent.exists()
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(versions))
    return versions


@pytest.mark.slow
def test_an_expand_revision_that_breaks_the_previous_release_is_named(
    server_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = history(tmp_path, monkeypatch, breaking=True)
    env = {"AGENT_DB_VERSIONS_DIR": str(versions), "AGENT_DB_REFERENCE_URL": url_text(server_url)}
    cli = run_invoke("api.compat", "--base", "HEAD", "--json", env=env, timeout=600)
    assert cli.code == 3, cli.output
    assert f"revision {BREAKING} breaks the previous release" in cli.stderr
    assert "agents:" in cli.stderr  # the failing flow
    report = json.loads(cli.stdout[cli.stdout.index("{") :])
    assert report["broken_by"] == BREAKING
    assert report["expand"] == [HARMLESS, BREAKING]
    assert report["contract"] == [CONTRACT]
    checks = report["checks"]
    assert [c["revision"] for c in checks] == [None, HARMLESS, BREAKING]
    assert [c["flows"]["ok"] for c in checks] == [True, True, False]
    assert [s["name"] for s in checks[-1]["flows"]["steps"] if not s["ok"]] == ["agents"]


@pytest.mark.slow
def test_harmless_expand_revisions_pass_and_contract_ones_wait(
    server_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(tmp_path, monkeypatch, breaking=False)
    steps: list[str] = []
    report = run_compat("HEAD", server=server_url, on_step=steps.append)
    assert report.ok
    assert report.expand == [HARMLESS]
    assert report.contract == [CONTRACT]
    assert [c.revision for c in report.checks] == [None, HARMLESS]
    assert all(c.flows["ok"] for c in report.checks)
    assert [c.ready_status for c in report.checks] == [200, 200]  # ready inside its schema window
    assert any(f"works after {HARMLESS}" in step for step in steps)


def test_without_a_previous_commit_nothing_is_checked(server_url: URL) -> None:
    for base in ("", "0" * 40):
        report = run_compat(base, server=server_url)
        assert report.ok
        assert report.skipped is not None
        assert report.checks == []


def test_a_base_that_is_not_a_commit_is_a_usage_error(server_url: URL) -> None:
    with pytest.raises(ConfigError, match="is not a commit of this repository; fetch it first"):
        run_compat("no-such-branch-anywhere", server=server_url)


def test_a_base_head_missing_from_this_history_is_refused() -> None:
    with pytest.raises(SafetyRefusal, match="not in this commit's history"):
        new_revisions(default_graph(), ("feedfacecafe",))
