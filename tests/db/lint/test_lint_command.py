"""db.lint as a command: bad revisions and two heads refused, JSON, the default scope, and a new
user's walk from a plain index to the helper to an upgrade (the one part with a database)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from sqlalchemy.engine import URL

from agent_db.errors import ConfigError
from agent_db.lint import lint_revisions
from agent_db.lint.scope import changed_revisions
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

    write_revision(
        versions,
        NEW,
        package_head(),
        'op.drop_column("users", "hashed_password")',
        header='phase = "contract"',
    )
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
