"""The tutorial's walkthrough, per environment, through the commands people type."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.revisions.graph import default_graph
from agent_db.versions import VERSIONS_DIR
from tests.support.cli import run_invoke
from tests.support.databases import conninfo, url_text
from tests.support.paths import ROOT

FIRST, SECOND = "3f1a2b9c4d5e", "7c2e8d1f0a6b"
pytestmark = pytest.mark.smoke


def columns(url: URL) -> dict[str, tuple[str, str, str | None]]:
    with psycopg.connect(conninfo(url)) as connection:
        rows = connection.execute(
            "SELECT column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_name = 'users'"
        ).fetchall()
    return {name: (kind, nullable, default) for name, kind, nullable, default in rows}


def indexes(url: URL) -> dict[str, str]:
    with psycopg.connect(conninfo(url)) as connection:
        rows = connection.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'users'"
        ).fetchall()
    return dict(rows)


def tables(url: URL) -> set[str]:
    with psycopg.connect(conninfo(url)) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {row[0] for row in rows}


def test_tutorial_walkthrough_on_staging(empty_url: URL) -> None:
    env = {"STAGING_DATABASE_URL": url_text(empty_url)}
    head = default_graph().single_head()

    upgraded = run_invoke("db.upgrade", "--env", "staging", "--to", SECOND, env=env)
    assert upgraded.code == 0, upgraded.stderr
    cols = columns(empty_url)
    assert set(cols) == {
        "id",
        "email",
        "username",
        "hashed_password",
        "is_active",
        "is_superuser",
        "created_at",
        "updated_at",
    }
    assert cols["is_active"] == ("boolean", "NO", "true")
    assert cols["is_superuser"] == ("boolean", "NO", "false")
    assert cols["created_at"][0] == "timestamp with time zone"
    assert cols["updated_at"][2] == "now()"
    assert str(cols["id"][2]).startswith("nextval(")
    idx = indexes(empty_url)
    assert set(idx) >= {"users_pkey", "ix_users_email", "ix_users_username", "ix_users_id"}
    assert "UNIQUE" in idx["ix_users_email"]
    assert "UNIQUE" in idx["ix_users_username"]
    assert "UNIQUE" not in idx["ix_users_id"]

    current = run_invoke("db.current", "--env", "staging", env=env)
    assert current.code == 0
    expected_mark = f"{SECOND} (head)" if head == SECOND else SECOND
    assert current.stdout.strip() == expected_mark

    down = run_invoke("db.downgrade", "--env", "staging", "--to", "-1", env=env)
    assert down.code == 0, down.stderr
    assert set(columns(empty_url)) == {
        "id",
        "email",
        "username",
        "hashed_password",
        "created_at",
        "updated_at",
    }
    assert run_invoke("db.current", "--env", "staging", env=env).stdout.strip() == FIRST

    again = run_invoke("db.upgrade", "--env", "staging", "--to", SECOND, env=env)
    assert again.code == 0, again.stderr
    assert {"is_active", "is_superuser"} <= set(columns(empty_url))

    history = run_invoke("db.history", "--verbose", env=env)
    assert history.code == 0, history.stderr
    assert f"Rev: {SECOND}" in history.stdout
    assert f"Rev: {FIRST}" in history.stdout
    assert f"Parent: {FIRST}" in history.stdout
    assert "Parent: <base>" in history.stdout
    assert "20261125_0400_3f1a2b9c4d5e_create_users_table.py" in history.stdout
    marked = [line for line in history.stdout.splitlines() if line.startswith(f"Rev: {SECOND}")]
    assert "staging" in marked[0].split("<-", 1)[1]

    base = run_invoke("db.downgrade", "--env", "staging", "--to", "base", env=env)
    assert base.code == 0, base.stderr
    assert tables(empty_url) == {"alembic_version", "schema_ledger", "schema_consumers"}


def test_unknown_revision_is_named_and_nothing_changes(empty_url: URL) -> None:
    env = {"STAGING_DATABASE_URL": url_text(empty_url)}
    result = run_invoke("db.upgrade", "--env", "staging", "--to", "abc999", env=env)
    assert result.code == 2
    assert "unknown revision 'abc999'" in result.stderr
    assert tables(empty_url) == set()


def test_plain_alembic_cli_works_per_environment(empty_url: URL) -> None:
    env = {"STAGING_DATABASE_URL": url_text(empty_url)}

    def alembic(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "alembic",
                "-c",
                "packages/db/alembic.ini",
                "-x",
                "env=staging",
                *args,
            ],
            cwd=ROOT,
            env={**__import__("os").environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )

    assert alembic("upgrade", "head").returncode == 0
    current = alembic("current")
    assert f"{default_graph().single_head()} (head)" in current.stdout
    assert alembic("downgrade", "-1").returncode == 0
    assert "is_active" not in columns(empty_url) or default_graph().single_head() != SECOND
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            "packages/db/alembic.ini",
            "-x",
            "env=prod",
            "upgrade",
            "head",
        ],
        cwd=ROOT,
        env={**__import__("os").environ, "PROD_DATABASE_URL": url_text(empty_url)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode != 0
    assert "prod is protected" in refused.stderr


CHANGE_MODEL = textwrap.dedent(
    """
    import sys
    import sqlalchemy as sa
    from agent_db.models import User
    User.__table__.append_column(sa.Column("nickname", sa.String(40), nullable=True))
    from agent_db.errors import AgentDbError
    from agent_db.commands.authoring import check_models_match, create_revision
    from agent_db.database.target import Target
    target = Target.resolve("dev")
    if sys.argv[1] == "check":
        try:
            check_models_match(target)
        except AgentDbError as error:
            print(error)
            sys.exit(error.exit_code)
    else:
        for path in create_revision(target, "add nickname to users", autogenerate=True):
            print(path)
    """
)


def test_model_change_fails_check_until_autogenerate_writes_it(tmp_path: Path, server_url: URL) -> None:
    versions = tmp_path / "versions"
    shutil.copytree(VERSIONS_DIR, versions, ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        **__import__("os").environ,
        "AGENT_DB_VERSIONS_DIR": str(versions),
        "DEV_DATABASE_URL": url_text(server_url.set(database="postgres")),
    }

    def run(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", CHANGE_MODEL, mode],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    assert (
        run_invoke(
            "db.check",
            env={
                "DEV_DATABASE_URL": env["DEV_DATABASE_URL"],
                "AGENT_DB_VERSIONS_DIR": str(versions),
            },
        ).code
        == 0
    )
    failed = run("check")
    assert failed.returncode == 3, failed.stdout + failed.stderr
    assert "nickname" in failed.stdout
    written = run("revision")
    assert written.returncode == 0, written.stderr
    new_file = Path(written.stdout.strip().splitlines()[-1])
    assert new_file.parent == versions
    text = new_file.read_text()
    assert "op.add_column" in text
    assert "nickname" in text
    assert "op.drop_column" in text
    assert run("check").returncode == 0
