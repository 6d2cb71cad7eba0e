"""The contract gate: ``--phase expand|contract|all`` and a contract revision that runs only
once every live consumer's build knows it (exit 3 naming the consumers otherwise)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.revisions.graph import RevisionGraph, default_graph
from tests.support.census import CONTRACT, EXPAND, LATER, expire, register, write_release
from tests.support.cli import run_cli
from tests.support.databases import DatabaseFactory, target_for, url_text
from tests.support.inspection import columns, ledger_rows, position, query
from tests.support.protected import SETUP_OVERRIDE
from tests.support.revisions import package_head


@pytest.fixture
def release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_url: URL) -> dict[str, str]:
    """staging at the package head (the running release), the next release's files checked out."""
    migrate.upgrade(target_for("staging", empty_url))
    versions = write_release(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(versions))
    return {"STAGING_DATABASE_URL": url_text(empty_url)}


def new_build() -> RevisionGraph:
    """The history the next release's build ships (the checked-out copy)."""
    return RevisionGraph.load(Path(os.environ["AGENT_DB_VERSIONS_DIR"]))


def ran(url: URL, revision: str) -> list[dict[str, object]]:
    return [row for row in ledger_rows(url) if row["revision"] == revision]


def test_all_stops_before_a_contract_an_old_consumer_does_not_know(
    release: dict[str, str], empty_url: URL
) -> None:
    old = register(empty_url, host="web-old", pid=4001, build_commit="0ld" + "0" * 37)
    outcome = run_cli("db.upgrade", "--env", "staging", env=release)
    assert outcome.code == 3, outcome.output
    message = " ".join(outcome.stderr.split())
    assert f"contract revision {CONTRACT}" in message
    assert "web-old pid 4001" in message
    assert "build 0ld000000000 (head " in message
    assert "last seen" in message
    assert "--allow-live-consumers" in message
    assert f"applied ({EXPAND})" in message
    assert position(empty_url) == [EXPAND]  # the expand revision before it stays applied
    assert "nickname" in columns(empty_url, "users")
    assert ran(empty_url, CONTRACT) == []

    expire(empty_url, old)  # three missed heartbeats: gone
    again = run_cli("db.upgrade", "--env", "staging", env=release)
    assert again.code == 0, again.output
    assert position(empty_url) == [LATER]
    assert "nickname" not in columns(empty_url, "users")


def test_a_consumer_that_stops_cleanly_unblocks_the_same_command(
    release: dict[str, str], empty_url: URL
) -> None:
    register(empty_url, host="web-new", graph=new_build())
    old = register(empty_url, host="web-old")
    assert run_cli("db.upgrade", "--env", "staging", env=release).code == 3
    query(empty_url, f"DELETE FROM schema_consumers WHERE id = '{old.id}'")  # what a clean stop does
    assert run_cli("db.upgrade", "--env", "staging", env=release).code == 0
    assert position(empty_url) == [LATER]


def test_consumers_whose_build_knows_the_contract_do_not_block(
    release: dict[str, str], empty_url: URL
) -> None:
    register(empty_url, graph=new_build())
    outcome = run_cli("db.upgrade", "--env", "staging", "--json", env=release)
    assert outcome.code == 0, outcome.output
    assert json.loads(outcome.stdout)["applied"] == [EXPAND, CONTRACT, LATER]


def test_expand_then_contract_is_the_release_order(release: dict[str, str], empty_url: URL) -> None:
    old = register(empty_url)
    expand = run_cli("db.upgrade", "--env", "staging", "--phase", "expand", "--json", env=release)
    assert expand.code == 0, expand.output
    result = json.loads(expand.stdout)
    assert (result["phase"], result["applied"]) == ("expand", [EXPAND])
    assert (result["stopped_before"], result["held_back"]) == (CONTRACT, [CONTRACT, LATER])
    assert (
        "stopped before contract revision"
        in run_cli("db.upgrade", "--env", "staging", "--phase", "expand", env=release).stderr
    )

    blocked = run_cli("db.upgrade", "--env", "staging", "--phase", "contract", "--json", env=release)
    assert blocked.code == 3
    refusal = json.loads(blocked.stdout)
    assert refusal["refused"] == "contract_gate"
    assert refusal["revision"] == CONTRACT
    assert [c["id"] for c in refusal["blocking_consumers"]] == [str(old.id)]
    assert (refusal["applied"], refusal["after"]) == ([], [EXPAND])

    expire(empty_url, old)
    contract = run_cli("db.upgrade", "--env", "staging", "--phase", "contract", "--json", env=release)
    assert contract.code == 0, contract.output
    assert json.loads(contract.stdout)["applied"] == [CONTRACT, LATER]


def test_contract_before_the_expand_phase_is_refused_and_changes_nothing(
    release: dict[str, str], empty_url: URL
) -> None:
    outcome = run_cli("db.upgrade", "--env", "staging", "--phase", "contract", env=release)
    assert outcome.code == 3
    assert f"expand revision(s) {EXPAND} are pending" in " ".join(outcome.stderr.split())
    assert "--phase expand" in outcome.stderr
    assert position(empty_url) == [package_head()]


def test_the_override_runs_the_contract_and_the_ledger_says_why_and_past_whom(
    release: dict[str, str], empty_url: URL
) -> None:
    register(empty_url, host="web-stuck", pid=77)
    reason = "INC-7: web-stuck is drained and cannot be stopped"
    outcome = run_cli(
        "db.upgrade", "--env", "staging", "--allow-live-consumers", "--reason", reason, env=release
    )
    assert outcome.code == 0, outcome.output
    assert position(empty_url) == [LATER]
    [step] = ran(empty_url, CONTRACT)
    assert str(step["reason"]).endswith(reason)
    assert "--allow-live-consumers" in str(step["reason"])
    assert "web-stuck pid 77" in str(step["reason"])
    assert [row["reason"] for row in ran(empty_url, EXPAND) + ran(empty_url, LATER)] == [None, None]


@pytest.mark.parametrize(
    ("flags", "code", "says"),
    [
        (["--allow-live-consumers"], 3, "needs --reason"),
        (["--allow-live-consumers", "--reason", "because"], 3, "real explanation"),
        (["--reason", "INC-7: the old workers are drained already"], 2, "go with --allow-live-consumers"),
        (["--phase", "contracts"], 2, "is not a phase"),
    ],
)
def test_bad_flags_are_refused_before_anything_runs(
    release: dict[str, str], empty_url: URL, flags: list[str], code: int, says: str
) -> None:
    register(empty_url)
    outcome = run_cli("db.upgrade", "--env", "staging", *flags, env=release)
    assert outcome.code == code, outcome.output
    assert says in " ".join(outcome.stderr.split())
    assert position(empty_url) == [package_head()]


def test_promote_is_gated_and_a_protected_environment_needs_allow_protected_for_the_override(
    release: dict[str, str], databases: DatabaseFactory, tmp_path: Path
) -> None:
    prod = databases.create("prod")
    migrate.upgrade(target_for("prod", prod), package_head(), protected=SETUP_OVERRIDE)
    register(prod, environment="prod")
    env = {**release, "PROD_DATABASE_URL": url_text(prod)}
    assert run_cli("db.upgrade", "--env", "staging", env=env).code == 0  # staging: no consumer
    reason = "INC-8: the old release is drained everywhere"
    promote = ("db.promote", "--to", "prod", "--manifest-out", str(tmp_path / "prod.json"))
    blocked = run_cli(*promote, env=env)
    assert blocked.code == 3, blocked.output
    assert f"contract revision {CONTRACT}" in blocked.stderr
    assert position(prod) == [EXPAND]  # the promotion stopped before the contract revision
    refused = run_cli(*promote, "--allow-live-consumers", "--reason", reason, env=env)
    assert refused.code == 3
    assert "--allow-protected" in refused.stderr
    assert position(prod) == [EXPAND]
    passed = run_cli(*promote, "--allow-live-consumers", "--allow-protected", "--reason", reason, env=env)
    assert passed.code == 0, passed.output
    assert position(prod) == [LATER]
    assert str(ran(prod, CONTRACT)[0]["reason"]).endswith(reason)


OLD_CONTRACT = "5aad52061418"  # the project's own contract revision, from an older release


def test_expand_on_a_new_environment_runs_the_whole_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_url: URL
) -> None:
    """An empty database has nothing to protect: the expand phase is everything, so the new
    build's window (every expand revision of its history applied) is reached before it rolls out."""
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(write_release(tmp_path)))
    env = {"STAGING_DATABASE_URL": url_text(empty_url)}
    expand = run_cli("db.upgrade", "--env", "staging", "--phase", "expand", "--json", env=env)
    assert expand.code == 0, expand.output
    result = json.loads(expand.stdout)
    assert result["applied"][-3:] == [EXPAND, CONTRACT, LATER]
    assert OLD_CONTRACT in result["applied"]
    assert result["held_back"] == []
    assert position(empty_url) == [LATER]


@pytest.fixture
def far_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_url: URL) -> dict[str, str]:
    """staging missed a release: it stands below the older release's contract revision."""
    migrate.upgrade(target_for("staging", empty_url), default_graph()[OLD_CONTRACT].down_revisions[0])
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(write_release(tmp_path)))
    return {"STAGING_DATABASE_URL": url_text(empty_url)}


def test_expand_on_a_database_with_tables_stops_at_any_contract_even_an_older_releases(
    far_behind: dict[str, str], empty_url: URL
) -> None:
    """Which release a contract revision belongs to is not recorded, and a live consumer that
    knows it may be the new build started early: the expand phase stops there."""
    register(empty_url)  # the running release knows OLD_CONTRACT: still not enough
    expand = run_cli("db.upgrade", "--env", "staging", "--phase", "expand", "--json", env=far_behind)
    assert expand.code == 0, expand.output
    result = json.loads(expand.stdout)
    assert (result["applied"], result["stopped_before"]) == ([], OLD_CONTRACT)
    assert position(empty_url) == list(default_graph()[OLD_CONTRACT].down_revisions)
