"""A database at a revision this checkout lacks: the message says which way out is right. A
revision reverted after it reached staging gets "fix forward" (restore the file, write a revision
that undoes it), never "update your checkout", which points the wrong way; a database migrated
by newer code gets "update your checkout"; when git cannot tell, both, each with its case."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.unknown_revisions import UnknownRevision, explain
from agent_db.database import ledger
from agent_db.database.target import Target
from tests.support.cli import run_invoke
from tests.support.databases import DatabaseFactory, url_text
from tests.support.inspection import position
from tests.support.paths import ROOT
from tests.support.revisions import configured_head, copy_history, write_revision

REVERTED = "c0ffee00dead"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def staging_at_reverted(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[URL, dict[str, str]]]:
    """Staging upgraded to a new revision, whose file is then deleted (what `git revert` of the
    commit that added it does). The commit recorded for the step comes from GITHUB_SHA, which
    each test sets first."""
    versions = copy_history(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(versions))
    staging = databases.create("staging")
    monkeypatch.setenv("STAGING_DATABASE_URL", url_text(staging))
    env = {"STAGING_DATABASE_URL": url_text(staging), "AGENT_DB_VERSIONS_DIR": str(versions)}
    path = write_revision(
        versions, REVERTED, configured_head(), "op.add_column('users', sa.Column('nickname', sa.Text()))"
    )
    ledger.git_commit.cache_clear()
    yield staging, env
    ledger.git_commit.cache_clear()
    assert not path.exists()


def migrate_then_revert(staging: URL, monkeypatch: pytest.MonkeyPatch, commit: str) -> None:
    """Upgrade staging with ``commit`` recorded in the ledger, then delete the revision's file."""
    monkeypatch.setenv("GITHUB_SHA", commit)
    ledger.git_commit.cache_clear()
    migrate.upgrade(Target.resolve("staging"))
    assert position(staging) == [REVERTED]
    versions = Path(os.environ["AGENT_DB_VERSIONS_DIR"])
    next(versions.glob(f"*_{REVERTED}_*.py")).unlink()


def test_a_revision_reverted_after_it_reached_staging_says_fix_forward(
    staging_at_reverted: tuple[URL, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    staging, env = staging_at_reverted
    migrate_then_revert(staging, monkeypatch, git("rev-parse", "HEAD"))  # applied from this history
    for command in (("db.upgrade", "--env", "staging"), ("db.verify", "--env", "staging")):
        cli = run_invoke(*command, env=env)
        assert cli.code == 3, cli.output
        assert f"staging is at revision {REVERTED}" in cli.stderr
        assert "removed from the history after it ran there" in cli.stderr
        assert "fix forward" in cli.stderr
        assert "write a new revision on top of it that undoes its changes" in cli.stderr
        assert "db.revision" in cli.stderr
        assert "update your checkout" not in cli.stderr
    assert position(staging) == [REVERTED]  # refused: nothing changed


def test_a_database_migrated_by_newer_code_says_update_the_checkout(
    staging_at_reverted: tuple[URL, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    staging, env = staging_at_reverted
    # A commit git knows that is not in this checkout's history: a newer release elsewhere.
    newer = git("commit-tree", "HEAD^{tree}", "-m", "a newer release, not merged here")
    migrate_then_revert(staging, monkeypatch, newer)
    cli = run_invoke("db.upgrade", "--env", "staging", env=env)
    assert cli.code == 3, cli.output
    assert "it was applied from newer code by commit " + newer[:12] in cli.stderr
    assert "update your checkout" in cli.stderr
    assert "fix forward" not in cli.stderr


def test_when_git_cannot_tell_both_ways_are_given(
    staging_at_reverted: tuple[URL, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    staging, env = staging_at_reverted
    migrate_then_revert(staging, monkeypatch, "f" * 40)  # e.g. a shallow clone never saw it
    cli = run_invoke("db.upgrade", "--env", "staging", env=env)
    assert cli.code == 3, cli.output
    assert "update your checkout" in cli.stderr
    assert "git cannot tell here" in cli.stderr
    assert "fix forward" in cli.stderr


def test_the_commit_that_deleted_the_file_gives_the_restore_command() -> None:
    item = UnknownRevision(
        REVERTED, "a" * 40, "reverted", "b" * 40, "packages/db/src/agent_db/migrations/versions/x.py"
    )
    message = explain([item], "staging")
    assert "its file was deleted by commit bbbbbbbbbbbb" in message
    assert f"git checkout {'b' * 12}^ -- packages/db/src/agent_db/migrations/versions/x.py" in message
    assert "deployment.md" in message
