"""db.lint: each revision on its own, squawk plus our operation checks, accepted findings, scope,
bad input. Everything here runs offline (no database) except the new-user walk at the end."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import psycopg
import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from sqlalchemy.engine import URL

from agent_db.errors import ConfigError
from agent_db.lint import LintReport, lint_revisions, rules, squawk_rules
from agent_db.lint.accept import MIN_REASON
from agent_db.lint.scope import changed_revisions
from agent_db.lint.squawk import config_path, run_squawk
from tests.support.cli import run_invoke
from tests.support.databases import conninfo, url_text
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
    assert rules_of(report) == {
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
    }
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
    assert rules_of(report) == {"create-index-blocking", "drop-mapped-column"}
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


@pytest.mark.parametrize(
    ("header", "upgrade", "expected"),
    [
        ("import no_such_module_anywhere", "pass", "does not import (ModuleNotFoundError"),
        (
            "",
            "if op.get_bind().execute(sa.text('SELECT count(*) FROM users')).scalar_one():\n    pass",
            "cannot render the SQL",
        ),
        ("", "def (:", "does not import (SyntaxError"),
    ],
)
def test_bad_revisions_are_named_with_exit_2(
    versions: Path, header: str, upgrade: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import tasks

    path = write_revision(versions, NEW, package_head(), upgrade, header=header)
    with pytest.raises(ConfigError) as caught:
        lint_revisions()
    assert expected in str(caught.value)
    assert path.name in str(caught.value)
    assert caught.value.exit_code == 2
    # Through the task: one message on stderr naming the file, exit 2, nothing on stdout.
    with pytest.raises(Exit) as exited:
        tasks.db.lint_migrations(Context())
    assert exited.value.code == 2
    output = capsys.readouterr()
    assert path.name in output.err
    assert output.out == ""


def test_two_heads_are_refused_naming_both_files(versions: Path) -> None:
    write_revision(versions, NEW, package_head(), 'op.execute("SELECT 1")')
    write_revision(versions, "bbbb00000001", package_head(), 'op.execute("SELECT 2")', message="other")
    with pytest.raises(ConfigError) as caught:
        lint_revisions()
    assert "2 heads" in str(caught.value)
    assert f"{NEW}_test.py" in str(caught.value)
    assert "bbbb00000001_other.py" in str(caught.value)


def test_json_is_one_document_and_exit_3(versions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tasks

    write_revision(versions, NEW, package_head(), 'op.drop_column("users", "hashed_password")')
    with pytest.raises(Exit) as caught:
        tasks.db.lint_migrations(Context(), json=True)
    assert caught.value.code == 3
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["ok"] is False
    assert document["unaccepted"] == 1
    (finding,) = document["revisions"][-1]["findings"]
    assert finding["rule"] == "drop-mapped-column"
    assert finding["statement"] == "ALTER TABLE users DROP COLUMN hashed_password;"
    assert "db.lint refused 1 finding" in captured.err


def _git(directory: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(directory), *args], check=True, capture_output=True)


def test_default_scope_is_what_the_branch_adds(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    versions = copy_history(repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".")
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "history")
    assert changed_revisions(versions).paths == frozenset()

    _git(repo, "checkout", "-q", "-b", "feature")
    committed = write_revision(versions, NEW, package_head(), 'op.execute("SELECT 1")')
    _git(repo, "add", ".")
    _git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "new")
    untracked = write_revision(versions, "aaaa00000002", NEW, 'op.execute("SELECT 2")')
    scope = changed_revisions(versions)
    assert scope.paths == frozenset({committed.resolve(), untracked.resolve()})
    assert scope.base is not None
    assert "merge-base" in scope.note

    _git(repo, "branch", "-q", "-m", "main", "trunk")
    assert changed_revisions(versions).paths is None  # no main: say so, lint everything
    assert "no main branch" in changed_revisions(versions).note


def test_new_user_plain_index_then_helper_then_upgrade_then_drop(
    tmp_path: Path,
    empty_url: URL,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """README walk: a plain index fails lint naming the file and the concurrent form; the helper
    passes and db.upgrade applies it under the lock; dropping a mapped column fails. The first
    lint runs as a person types it; the other steps call the same tasks in-process."""
    import tasks

    versions = copy_history(tmp_path)
    env = {"AGENT_DB_VERSIONS_DIR": str(versions), "DEV_DATABASE_URL": url_text(empty_url)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = write_revision(
        versions,
        NEW,
        package_head(),
        'op.create_index("ix_users_username_email", "users", ["username", "email"])',
        downgrade='op.drop_index("ix_users_username_email", table_name="users")',
        message="index users by username and email",
    )
    failed = run_invoke("db.lint", env=env)
    assert failed.code == 3, failed.stdout + failed.stderr
    assert path.name in failed.stdout
    assert "create-index-blocking" in failed.stdout
    assert "safe.create_index_concurrently('ix_users_username_email', 'users'" in failed.stdout
    assert "db.lint refused 1 finding(s)" in failed.stderr

    path.write_text(
        path.read_text()
        .replace(
            'op.create_index("ix_users_username_email", "users", ["username", "email"])',
            'safe.create_index_concurrently("ix_users_username_email", "users", ["username", "email"])',
        )
        .replace(
            'op.drop_index("ix_users_username_email", table_name="users")',
            'safe.drop_index_concurrently("ix_users_username_email", "users")',
        )
    )
    tasks.db.lint_migrations(Context())  # no Exit: passes
    assert "passed" in capsys.readouterr().out

    tasks.db.upgrade(Context())  # db.upgrade: under the lock, with the ledger
    assert "now at aaaa00000001" in capsys.readouterr().err
    with psycopg.connect(conninfo(empty_url)) as connection:
        row = connection.execute(
            "SELECT x.indisvalid, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid WHERE c.relname = 'ix_users_username_email'"
        ).fetchone()
        assert row is not None
        assert row[0] is True
        assert "(username, email)" in row[1]
        assert connection.execute(
            "SELECT outcome FROM schema_ledger WHERE revision = %s AND direction = 'upgrade'", (NEW,)
        ).fetchall() == [("success",)]

    write_revision(
        versions,
        "aaaa00000002",
        NEW,
        'op.drop_column("users", "hashed_password")',
        message="drop hashed password",
    )
    with pytest.raises(Exit) as refused:
        tasks.db.lint_migrations(Context())
    assert refused.value.code == 3
    out = capsys.readouterr().out
    assert "drop-mapped-column" in out
    assert "drop_hashed_password.py" in out
