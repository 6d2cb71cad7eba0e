"""db.lint's rules: each fires on existing tables and not on new ones, batches count, the safe
helpers pass, accepted findings need a real reason. Everything here runs offline."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent_db.lint import LintReport, lint_revisions, rules, squawk_rules
from agent_db.lint.accept import MIN_REASON
from agent_db.lint.squawk import config_path, run_squawk
from tests.support.revisions import copy_history, package_head, write_revision

NEW = "aaaa00000001"


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the real history that AGENT_DB_VERSIONS_DIR points at."""
    directory = copy_history(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(directory))
    return directory


def test_every_rule_squawk_reports_is_a_known_name() -> None:
    """lint_accept refuses unknown names; a squawk upgrade with new rules must extend the list."""
    statements = [
        "ALTER TABLE users DROP CONSTRAINT users_ck",
        "DROP VIEW v",
        "DROP FUNCTION f()",
        "DROP TYPE t",
        "DROP SEQUENCE s",
        "ALTER TABLE users ALTER COLUMN email DROP DEFAULT",
        "ALTER TYPE mood ADD VALUE 'x'",
        "ALTER TABLE users SET SCHEMA other",
        "ALTER INDEX ix RENAME TO ix2",
        "ALTER TABLE users ALTER COLUMN id DROP IDENTITY",
        "TRUNCATE users CASCADE",
        "DROP EXTENSION e",
        "DROP SCHEMA sc",
        "ALTER TABLE users ADD COLUMN g int GENERATED ALWAYS AS (id) STORED",
        "ALTER TABLE users ALTER COLUMN g DROP EXPRESSION",
        "REINDEX INDEX ix",
        "CREATE INDEX ix ON users (a)",
        "DROP INDEX ix",
        "ALTER TABLE users ADD COLUMN c varchar(10) NOT NULL",
        "ALTER TABLE users ADD COLUMN t timestamp",
        "ALTER TABLE users ALTER COLUMN c TYPE text",
        "ALTER TABLE users ALTER COLUMN c SET NOT NULL",
        "ALTER TABLE users ALTER COLUMN c DROP NOT NULL",
        "ALTER TABLE users ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES b (id)",
        "ALTER TABLE users ADD CONSTRAINT u UNIQUE (a)",
        "ALTER TABLE users RENAME COLUMN a TO b",
        "ALTER TABLE users RENAME TO people",
    ]
    violations = run_squawk(
        {
            "probe": "BEGIN;\n" + ";\n".join(statements) + ";\nCOMMIT;\n",
            "broken": "SELECT FROM WHERE;\n",
        }
    )
    reported = {v.rule for v in violations}
    assert len(reported) > 20
    assert reported <= squawk_rules.SQUAWK_RULES, reported - squawk_rules.SQUAWK_RULES
    for rule in rules.OUR_RULES.values():
        assert set(rule.squawk_equivalents) <= squawk_rules.SQUAWK_RULES
    assert set(squawk_rules.SQUAWK_ALTERNATIVES) <= squawk_rules.SQUAWK_RULES
    excluded = tomllib.loads(config_path().read_text())["excluded_rules"]
    assert set(excluded) <= squawk_rules.SQUAWK_RULES


def rules_of(report: LintReport, revision: str = NEW, *, accepted: bool = False) -> set[str]:
    return {f.rule for f in report.findings if f.revision == revision and f.accepted == accepted}


def test_each_rule_fires_on_existing_tables_and_not_on_new_ones(versions: Path) -> None:
    write_revision(
        versions,
        NEW,
        package_head(),
        """
        op.create_index("ix_users_username_email", "users", ["username", "email"])
        op.drop_index("ix_users_id", table_name="users")
        op.drop_column("users", "hashed_password")
        op.add_column("users", sa.Column("nick", sa.String(20), nullable=False))
        op.alter_column("users", "email", type_=sa.String(100), existing_type=sa.String(255))
        op.alter_column("users", "is_active", nullable=True, existing_nullable=False)
        op.alter_column("users", "is_superuser", nullable=False, existing_nullable=True)
        op.create_foreign_key("users_self_fkey", "users", "users", ["id"], ["id"])
        op.create_check_constraint("positive", "users", "id > 0")
        op.create_unique_constraint("users_nick_key", "users", ["nick"])
        op.execute("UPDATE users SET is_active = true")
        op.create_index("ix_c", "users", ["email"], postgresql_concurrently=True)
        op.alter_column("users", "username", new_column_name="login")
        op.create_table(
            "notes",
            sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
            sa.Column("user_id", sa.Integer(), nullable=False),
        )
        op.create_index("ix_notes_user_id", "notes", ["user_id"])
        op.create_foreign_key("notes_user_id_fkey", "notes", "users", ["user_id"], ["id"])
        op.add_column("notes", sa.Column("body", sa.Text(), nullable=False))
        op.execute("UPDATE notes SET body = ''")
        op.drop_table("notes")
        """,
    )
    report = lint_revisions()
    assert "not in a git checkout" in report.scope_note
    assert (
        rules_of(report)
        == {
            "create-index-blocking",
            "drop-index-blocking",
            "drop-mapped-column",
            "add-required-column",
            "column-type-change",
            "ban-drop-not-null",  # squawk's, on is_active
            "set-not-null",
            "constraint-without-not-valid",
            "unique-constraint-blocking",
            "unbatched-update",
            "concurrent-index-in-transaction",
            "prefer-robust-stmts",  # squawk's, on the bare CONCURRENTLY
            "rename-column",
            "contract-in-expand",  # the drops, the type change, NOT NULL, the rename (tests/db/lint/test_lint_phases.py)
        }
    )
    by_rule = {f.rule: f for f in report.findings if f.revision == NEW}
    index = by_rule["create-index-blocking"]
    assert index.file.endswith(f"_{NEW}_test.py")
    assert index.line is not None
    assert index.code is not None
    assert index.code.startswith('op.create_index("ix_users_username_email"')
    assert index.statement == "CREATE INDEX ix_users_username_email ON users (username, email);"
    assert "safe.create_index_concurrently('ix_users_username_email', 'users'" in (index.safe_alternative)
    assert index.also == ["require-concurrent-index-creation"]  # reported once, not twice
    assert "the models still map" in by_rule["rename-column"].message
    # The table created in this revision is new: its index, foreign key, NOT NULL column, update
    # and drop are not findings (notes is not mapped by a model either).
    assert not [f for f in report.findings if "notes" in f.statement and f.rule != "prefer-robust-stmts"]


def test_batch_operations_are_checked_too(versions: Path) -> None:
    write_revision(
        versions,
        NEW,
        package_head(),
        """
        with op.batch_alter_table("users") as batch:
            batch.create_index("ix_users_mail", ["email"])
            batch.drop_column("hashed_password")
        """,
    )
    report = lint_revisions()
    assert rules_of(report) == {"create-index-blocking", "drop-mapped-column", "contract-in-expand"}
    index = next(f for f in report.findings if f.rule == "create-index-blocking")
    assert index.also == ["require-concurrent-index-creation"]
    assert "CREATE INDEX ix_users_mail ON users (email);" in index.statement


def test_safe_helpers_pass_and_validate_in_the_same_revision_does_not(versions: Path) -> None:
    write_revision(
        versions,
        NEW,
        package_head(),
        """
        safe.create_index_concurrently("ix_users_username_email", "users", ["username", "email"])
        safe.add_check_not_valid("users_id_positive_check", "users", "id > 0")
        safe.add_foreign_key_not_valid("users_self_fkey", "users", "users", ["id"], ["id"])
        op.add_column("users", sa.Column("nickname", sa.String(40), nullable=True))
        safe.backfill_in_batches("users", set_clause="nickname = username", pending="nickname IS NULL")
        """,
        downgrade='safe.drop_index_concurrently("ix_users_username_email", "users")',
    )
    write_revision(
        versions,
        "aaaa00000002",
        NEW,
        """
        safe.validate_constraint("users", "users_id_positive_check")
        safe.validate_constraint("users", "users_self_fkey")
        """,
    )
    report = lint_revisions()
    assert report.ok, [f"{f.rule}: {f.statement}" for f in report.unaccepted]

    write_revision(
        versions,
        "aaaa00000003",
        "aaaa00000002",
        """
        safe.add_check_not_valid("users_id_small_check", "users", "id < 1000000000")
        safe.validate_constraint("users", "users_id_small_check")
        """,
    )
    report = lint_revisions()
    assert rules_of(report, "aaaa00000003") == {"constraint-missing-not-valid"}


def test_findings_are_accepted_only_with_a_real_reason(versions: Path) -> None:
    index = 'op.create_index("ix_users_username_email", "users", ["username", "email"])'
    path = write_revision(
        versions,
        NEW,
        package_head(),
        index,
        header=(
            'lint_accept = {"create-index-blocking": "users holds forty rows in every environment",'
            ' "drop-index-blocking": "no index is dropped here, so this matches nothing"}'
        ),
    )
    report = lint_revisions()
    assert report.ok
    assert report.revisions[-1].unused_accepts == ["drop-index-blocking"]
    (finding,) = [f for f in report.findings if f.revision == NEW]
    assert finding.accepted
    assert finding.accepted_as == "create-index-blocking"
    assert finding.reason == "users holds forty rows in every environment"

    # squawk's name for the same statement accepts it too
    path.write_text(
        path.read_text().replace('"create-index-blocking"', '"require-concurrent-index-creation"')
    )
    assert lint_revisions().ok

    short = "x" * (MIN_REASON - 1)
    write_revision(
        versions,
        NEW,
        package_head(),
        index,
        header=f'lint_accept = {{"create-index-blocking": "{short}", "no-such-rule": "{"y" * 40}"}}',
    )
    report = lint_revisions()
    assert not report.ok
    assert rules_of(report) == {"create-index-blocking", "lint-accept"}
    problems = " ".join(f.message for f in report.findings if f.rule == "lint-accept")
    assert "does not count" in problems
    assert "'no-such-rule'" in problems


def test_a_disabled_lock_timeout_is_a_finding(versions: Path) -> None:
    write_revision(versions, NEW, package_head(), 'op.execute("SELECT 1")', header='lock_timeout = "0"')
    report = lint_revisions()
    assert rules_of(report) == {"lock-timeout-disabled"}
    assert report.revisions[-1].lock_timeout == "0"
