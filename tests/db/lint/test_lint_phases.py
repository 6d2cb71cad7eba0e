"""db.lint and phases: an expand revision (the default) must not remove or change what the
running release reads; a contract revision must not add. Offline, like every lint test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent_db.errors import SafetyRefusal
from agent_db.lint import LintReport, lint_revisions, refusal
from agent_db.lint.scope import changed_revisions
from agent_db.revisions.phases import MAP_FILE
from tests.support.revisions import copy_history, package_head, write_revision

NEW = "bbbb00000001"
CONTRACT = 'phase = "contract"'


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = copy_history(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(directory))
    return directory


def findings(report: LintReport, rule: str, revision: str = NEW) -> list[str]:
    return [
        f.message for f in report.findings if f.revision == revision and f.rule == rule and not f.accepted
    ]


def test_the_project_history_passes_and_needs_its_phase_map(versions: Path) -> None:
    assert lint_revisions(all_revisions=True).ok
    (versions / MAP_FILE).unlink()
    report = lint_revisions(all_revisions=True)
    assert findings(report, "contract-in-expand", "5aad52061418") == [
        "sets NOT NULL on conversations.message_count: removes or changes what the running release "
        'may read, in a revision not marked phase = "contract": expand revisions run while the '
        "previous release still serves (db.upgrade --phase expand, before the new API rolls out), "
        "so its queries would fail",
        "drops constraint conversations_message_count_not_null_check of conversations: removes or "
        'changes what the running release may read, in a revision not marked phase = "contract": '
        "expand revisions run while the previous release still serves (db.upgrade --phase expand, "
        "before the new API rolls out), so its queries would fail",
    ]
    assert isinstance(refusal(report), SafetyRefusal)


DROP_A_COLUMN = (
    "op.drop_column('conversations', 'last_message_at')",
    "op.add_column('conversations', sa.Column('last_message_at', sa.DateTime(timezone=True)))",
)


def test_a_drop_is_refused_in_an_expand_revision_and_accepted_in_a_contract_one(versions: Path) -> None:
    # conversations.last_message_at is mapped: write the drop on an unmapped column first.
    write_revision(
        versions, "bbbb00000000", package_head(), "op.add_column('users', sa.Column('old', sa.Text()))"
    )
    path = write_revision(versions, NEW, "bbbb00000000", "op.drop_column('users', 'old')")
    report = lint_revisions()
    (found,) = [f for f in report.findings if f.rule == "contract-in-expand"]
    assert found.message.startswith("drops column users.old: removes or changes what the running")
    assert found.code == "op.drop_column('users', 'old')"
    assert 'declare phase = "contract"' in found.safe_alternative
    assert not report.ok

    path.unlink()
    write_revision(versions, NEW, "bbbb00000000", "op.drop_column('users', 'old')", header=CONTRACT)
    report = lint_revisions()
    assert [f for f in report.findings if f.revision == NEW and not f.accepted] == []
    assert report.ok


def test_every_removal_is_contract(versions: Path) -> None:
    write_revision(
        versions,
        NEW,
        package_head(),
        """
        op.drop_table('agent_tools')
        op.rename_table('tools', 'catalogue')
        op.alter_column('users', 'email', type_=sa.String(100), existing_type=sa.String(255))
        op.alter_column('agents', 'system_prompt', server_default=None, existing_server_default=sa.text("''"))
        op.drop_index('ix_users_id', table_name='users')
        op.execute('ALTER TABLE messages DROP COLUMN prompt_tokens')
        op.execute('ALTER TABLE agents RENAME COLUMN model TO engine')
        op.execute('ALTER TABLE agents ALTER COLUMN name TYPE text')
        op.execute('ALTER TABLE conversations ALTER COLUMN title SET NOT NULL')
        op.execute("UPDATE agents SET system_prompt = 'drop table users' WHERE false")
        """,
    )
    messages = findings(lint_revisions(), "contract-in-expand")
    assert [m.split(":")[0] for m in messages] == [
        "drops table agent_tools",
        "renames table tools to catalogue",
        "changes the type of users.email to String(length=100)",
        "drops the default of agents.system_prompt",
        "drops index ix_users_id",
        "drops a column",
        "renames",
        "changes a type",
        "sets NOT NULL",
    ]  # the UPDATE's string literal is not read as SQL


def test_what_is_not_a_removal_passes_in_an_expand_revision(versions: Path) -> None:
    write_revision(
        versions,
        NEW,
        package_head(),
        """
        op.alter_column('users', 'username', type_=sa.String(80), existing_type=sa.String(50))
        op.alter_column('conversations', 'title', nullable=True, existing_nullable=True)
        op.create_table('notes', sa.Column('id', sa.BigInteger(), sa.Identity(), primary_key=True))
        op.add_column('notes', sa.Column('body', sa.Text()))
        op.alter_column('notes', 'body', nullable=False)
        op.drop_column('notes', 'body')
        op.drop_table('notes')
        safe.add_check_not_valid('users_email_check', 'users', "email <> ''")
        """,
    )
    assert findings(lint_revisions(), "contract-in-expand") == []


def test_a_contract_revision_that_adds_is_refused(versions: Path) -> None:
    write_revision(
        versions,
        NEW,
        package_head(),
        """
        op.drop_column('conversations', 'title')
        op.add_column('users', sa.Column('nickname', sa.Text()))
        op.create_table('notes', sa.Column('id', sa.BigInteger(), sa.Identity(), primary_key=True))
        safe.create_index_concurrently('ix_users_created_at', 'users', ['created_at'])
        safe.add_check_not_valid('users_email_check', 'users', "email <> ''")
        op.create_foreign_key('agents_owner_fkey2', 'agents', 'users', ['owner_id'], ['id'], postgresql_not_valid=True)
        op.execute('CREATE TABLE audit (id bigint)')
        """,
        header=CONTRACT,
    )
    report = lint_revisions()
    assert [m.split(":")[0] for m in findings(report, "contract-adds")] == [
        "adds column users.nickname",
        "creates table notes",
        "creates index ix_users_created_at",
        "adds",
        "adds constraint agents_owner_fkey2 to agents",
        "creates",
    ]
    assert findings(report, "contract-in-expand") == []
    assert "keep additions and removals in separate revisions" in findings(report, "contract-adds")[0]


def test_a_changed_phase_map_brings_its_revisions_into_the_default_scope(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    versions = copy_history(repo)
    who = ("-c", "user.email=t@example.com", "-c", "user.name=t")
    for args in (("init", "-q", "-b", "main"), ("add", "."), (*who, "commit", "-qm", "history")):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "-b", "feature"], check=True)
    assert changed_revisions(versions).paths == frozenset()
    (versions / MAP_FILE).write_text('[phases]\n5aad52061418 = "contract"\nb1b42e3a4647 = "contract"\n')
    scope = changed_revisions(versions)
    assert {p.name.split("_")[2] for p in scope.paths or ()} == {"5aad52061418", "b1b42e3a4647"}
    assert f"those {MAP_FILE} names (it changed)" in scope.note
