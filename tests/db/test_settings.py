"""Environment settings and URLs: clear errors for bad input, no password in any message."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.database.target import resolve_url
from agent_db.errors import ConfigError
from agent_db.settings import environment_names, load_settings
from agent_db.urls import parse_url, redact, sync_url
from tests.support.cli import run_invoke
from tests.support.databases import conninfo, url_text
from tests.support.paths import ROOT


def test_environments_are_in_promotion_order() -> None:
    assert environment_names() == ["dev", "staging", "prod"]
    assert load_settings("staging").promote_from == "dev"
    assert load_settings("prod").promote_from == "staging"
    assert load_settings("prod").protected is True
    assert load_settings("dev").embedded_fallback is True
    assert load_settings("staging").embedded_fallback is False


@pytest.mark.parametrize("name", ["nope", "PROD", "../prod", "'; drop table users; --", "x" * 500])
def test_unknown_environment_lists_the_valid_names(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(name)
    message = str(raised.value)
    assert "valid environments: dev, staging, prod" in message
    assert raised.value.exit_code == 2
    assert len(message) < 400


def test_non_dev_environment_without_url_names_the_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_url(load_settings("staging"))
    assert "STAGING_DATABASE_URL is not set" in str(raised.value)
    assert raised.value.exit_code == 2


def test_cli_wrong_environment_exits_2_with_valid_names() -> None:
    result = run_invoke("db.current", "--env", "qa")
    assert result.code == 2
    assert "unknown environment 'qa'" in result.stderr
    assert "dev, staging, prod" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_missing_url_exits_2_naming_the_variable() -> None:
    result = run_invoke("db.upgrade", "--env", "prod")
    assert result.code == 2
    assert "PROD_DATABASE_URL is not set" in result.stderr


def test_cli_unreachable_database_names_host_port_and_variable_without_password() -> None:
    result = run_invoke(
        "db.current",
        "--env",
        "staging",
        env={"STAGING_DATABASE_URL": "postgresql://deploy:s3cret-pw@127.0.0.1:1/app"},
    )
    assert result.code == 1
    assert "127.0.0.1:1" in result.stderr
    assert "STAGING_DATABASE_URL" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://u:p@h:5432/d",
        "postgres://u:p@h:5432/d",
        "postgresql+psycopg2://u:p@h:5432/d",
        "postgresql+asyncpg://u:p@h:5432/d",
    ],
)
def test_urls_are_normalised_to_psycopg(raw: str) -> None:
    url = sync_url(parse_url(raw, source="X"))
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username) == ("h", 5432, "d", "u")


def test_non_postgres_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL only"):
        parse_url("mysql://u:p@h/d", source="DEV_DATABASE_URL")


def test_garbage_url_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="STAGING_DATABASE_URL is not a valid database URL"):
        parse_url("not a url", source="STAGING_DATABASE_URL")


def test_redact_hides_the_password() -> None:
    assert "hunter2" not in redact("postgresql://app:hunter2@db:5432/prod")
    assert "***" in redact("postgresql://app:hunter2@db:5432/prod")


def _copy_environments(tmp_path: Path) -> Path:
    folder = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", folder)
    return folder


def test_malformed_environment_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_environments(tmp_path)
    (folder / "staging.toml").write_text("database_url_env = [unclosed\n")
    monkeypatch.setenv("AGENT_ENVIRONMENTS_DIR", str(folder))
    with pytest.raises(ConfigError, match=r"staging\.toml is not valid TOML"):
        load_settings("staging")


def test_invalid_setting_value_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_environments(tmp_path)
    text = (folder / "prod.toml").read_text().replace('lock_timeout = "2s"', 'lock_timeout = "soon"')
    (folder / "prod.toml").write_text(text)
    monkeypatch.setenv("AGENT_ENVIRONMENTS_DIR", str(folder))
    with pytest.raises(ConfigError, match=r"prod\.toml has invalid settings: lock_timeout"):
        load_settings("prod")


def test_a_misspelt_key_fails_every_task_on_that_environment_and_runs_nothing(
    tmp_path: Path, empty_url: URL
) -> None:
    """``protectd = true`` in prod.toml was once dropped without a word: prod downgraded with no
    override. Now every task on prod refuses the file (exit 2), naming the key and the valid
    ones, before it connects."""
    folder = _copy_environments(tmp_path)
    text = (folder / "prod.toml").read_text().replace("protected = true", "protectd = true")
    (folder / "prod.toml").write_text(text)
    env = {"AGENT_ENVIRONMENTS_DIR": str(folder), "PROD_DATABASE_URL": url_text(empty_url)}
    for argv in (
        ["db.upgrade", "--env", "prod"],
        ["db.downgrade", "--env", "prod", "--to=-1"],
        ["db.stamp", "--env", "prod", "--to", "head"],
        ["db.current", "--env", "prod"],
        ["db.plan", "--env", "prod"],
        ["db.verify", "--env", "prod"],
        ["db.promote", "--to", "prod"],
        ["db.status", "--no-drift"],
        ["api.serve", "--env", "prod"],
    ):
        result = run_invoke(*argv, env=env)
        assert result.code == 2, (argv, result.stdout, result.stderr)
        assert "unknown setting 'protectd'" in result.stderr, argv
        assert "did you mean 'protected'" in result.stderr, argv
        assert "prod.toml" in result.stderr, argv
    with psycopg.connect(conninfo(empty_url)) as connection:
        tables = connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,), "a refused command created something"


def test_an_unknown_table_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _copy_environments(tmp_path)
    (folder / "staging.toml").write_text((folder / "staging.toml").read_text() + "\n[apii]\ndebug = true\n")
    monkeypatch.setenv("AGENT_ENVIRONMENTS_DIR", str(folder))
    with pytest.raises(
        ConfigError, match=r"staging\.toml has an unknown table \[apii\]; valid tables: \[api\]"
    ):
        load_settings("staging")
