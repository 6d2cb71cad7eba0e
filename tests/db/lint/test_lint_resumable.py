"""db.lint's ``ddl-before-autocommit``: what runs before an autocommit block is committed when
the block starts, so it must resume; the project's own revisions (the backfill adds two columns
first) pass. Offline, like the other lint tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_db.lint import LintReport, lint_revisions
from tests.support.revisions import copy_history, package_head, write_revision

NEW = "aaaa00000009"
RULE = "ddl-before-autocommit"
BACKFILL = "safe.backfill_in_batches('users', set_clause='username = lower(username)', pending='username <> lower(username)')"


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = copy_history(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(directory))
    return directory


def _findings(report: LintReport) -> list[str]:
    return [f.message for f in report.findings if f.revision == NEW and f.rule == RULE and not f.accepted]


def test_the_applied_revisions_pass() -> None:
    report = lint_revisions(all_revisions=True)
    assert not [f for f in report.findings if f.rule == RULE]


@pytest.mark.parametrize(
    ("before", "named"),
    [
        ("op.create_table('notes', sa.Column('id', sa.Integer(), primary_key=True))", "create table notes"),
        ("op.execute('CREATE TABLE notes (id int)')", "execute sql"),
        ("op.create_index('ix_users_lower', 'users', ['username'])", "create index ix_users_lower on users"),
    ],
)
def test_other_ddl_before_an_autocommit_block_is_refused(versions: Path, before: str, named: str) -> None:
    write_revision(versions, NEW, package_head(), f"{before}\n{BACKFILL}")
    report = lint_revisions()
    assert not report.ok
    [message] = _findings(report)
    assert message.startswith(named)
    assert "rerun" in message


def test_between_two_blocks_counts_too_and_after_the_last_does_not(versions: Path) -> None:
    index = "safe.create_index_concurrently('ix_users_username_email', 'users', ['username', 'email'])"
    later = "op.create_table('notes', sa.Column('id', sa.Integer(), primary_key=True))"
    write_revision(versions, NEW, package_head(), f"{index}\n{later}\n{BACKFILL}")
    assert _findings(lint_revisions())[0].startswith("create table notes")

    write_revision(versions, NEW, package_head(), f"{index}\n{BACKFILL}\n{later}")
    assert _findings(lint_revisions()) == []


def test_add_and_alter_column_before_the_block_resume_and_pass(versions: Path) -> None:
    write_revision(
        versions,
        NEW,
        package_head(),
        "op.add_column('users', sa.Column('folded', sa.Text(), nullable=True))\n"
        "op.alter_column('users', 'folded', server_default=sa.text(\"''\"))\n"
        "safe.backfill_in_batches('users', set_clause='folded = lower(username)', pending='folded IS NULL')",
    )
    assert _findings(lint_revisions()) == []
