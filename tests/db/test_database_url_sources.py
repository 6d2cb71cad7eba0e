"""The tutorial's ``DATABASE_URL`` and ``.env`` file: they feed dev (toolkit tasks and the plain
Alembic CLI alike), the real environment wins over the file, and staging or prod never take a
generic variable for their own (refused, exit 2, nothing changed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.settings import load_settings
from tests.support.cli import PLAIN_OUTPUT, Outcome, run_invoke
from tests.support.databases import conninfo, url_text
from tests.support.paths import ROOT

FIRST = "3f1a2b9c4d5e"  # the tutorial's create users table
SECOND = "7c2e8d1f0a6b"  # is_active and is_superuser


def alembic_version(url: URL) -> list[str]:
    """The database's recorded revisions; [] when no migration ever ran there."""
    with psycopg.connect(conninfo(url)) as connection:
        exists = connection.execute("SELECT to_regclass('public.alembic_version')").fetchone()
        if exists is None or exists[0] is None:
            return []
        return [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]


def plain_alembic(*args: str, env: dict[str, str]) -> Outcome:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=ROOT,
        env={**os.environ, **env, **PLAIN_OUTPUT},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def no_embedded(tmp_path: Path) -> dict[str, str]:
    """Where an embedded server would keep its data: a test checks nothing was started there."""
    return {"AGENT_EMBEDDED_PGDATA": str(tmp_path / "embedded" / "data")}


def test_database_url_feeds_dev_and_says_so(
    empty_url: URL, no_embedded: dict[str, str], tmp_path: Path
) -> None:
    env = {"DATABASE_URL": url_text(empty_url), **no_embedded}
    upgraded = run_invoke("db.upgrade", "--env", "dev", "--to", FIRST, env=env)
    assert upgraded.code == 0, upgraded.output
    assert alembic_version(empty_url) == [FIRST]
    assert "dev: DEV_DATABASE_URL is not set; using DATABASE_URL" in upgraded.stderr
    assert upgraded.stderr.count("using DATABASE_URL") == 1

    current = run_invoke("db.current", env=env)
    assert current.code == 0, current.output
    assert FIRST in current.stdout
    assert not (tmp_path / "embedded").exists(), "the embedded PostgreSQL was started"


def test_the_plain_alembic_cli_reads_database_url_too(empty_url: URL, no_embedded: dict[str, str]) -> None:
    env = {"DATABASE_URL": url_text(empty_url), **no_embedded}
    upgraded = plain_alembic("upgrade", SECOND, env=env)
    assert upgraded.code == 0, upgraded.output
    assert alembic_version(empty_url) == [SECOND]
    assert "DEV_DATABASE_URL is not set; using DATABASE_URL" in upgraded.stderr
    current = plain_alembic("current", env=env)
    assert SECOND in current.stdout


def test_dev_database_url_wins_over_database_url_and_says_which(
    empty_url: URL, no_embedded: dict[str, str]
) -> None:
    other = empty_url.set(database="agent_test_not_a_database_anyone_made")
    env = {"DEV_DATABASE_URL": url_text(empty_url), "DATABASE_URL": url_text(other), **no_embedded}
    result = run_invoke("db.upgrade", "--to", FIRST, env=env)
    assert result.code == 0, result.output
    assert alembic_version(empty_url) == [FIRST]
    assert "dev: using DEV_DATABASE_URL; DATABASE_URL is set too and is not used" in result.stderr


def checkout_with_dotenv(tmp_path: Path, text: str) -> dict[str, str]:
    """A checkout root of its own (the environments/ files, a .env beside them): what a person
    gets after writing the tutorial's .env at the repository root."""
    root = tmp_path / "checkout"
    shutil.copytree(ROOT / "environments", root / "environments")
    (root / ".env").write_text(text, encoding="utf-8")
    return {"AGENT_ENVIRONMENTS_DIR": str(root / "environments")}


def without_dotenv_override() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "AGENT_DOTENV_FILE"}
    return {**environment, **PLAIN_OUTPUT}


def run_in_checkout(args: list[str], env: dict[str, str]) -> Outcome:
    """``invoke ARGS`` reading the .env at the checkout root (AGENT_DOTENV_FILE not set)."""
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env={**without_dotenv_override(), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


def test_dotenv_at_the_checkout_root_feeds_dev(
    empty_url: URL, no_embedded: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **checkout_with_dotenv(tmp_path, f"# the tutorial's\nDATABASE_URL={url_text(empty_url)}\n"),
        **no_embedded,
    }
    result = run_in_checkout(["db.upgrade", "--to", FIRST], env)
    assert result.code == 0, result.output
    assert alembic_version(empty_url) == [FIRST]
    assert "DEV_DATABASE_URL is not set; using DATABASE_URL (from .env)" in result.stderr
    assert not (tmp_path / "embedded").exists()


def test_the_real_environment_wins_over_dotenv(
    empty_url: URL, no_embedded: dict[str, str], tmp_path: Path
) -> None:
    elsewhere = empty_url.set(database="agent_test_never_created")
    env = {
        **checkout_with_dotenv(tmp_path, f"DATABASE_URL={url_text(elsewhere)}\n"),
        "DATABASE_URL": url_text(empty_url),
        **no_embedded,
    }
    result = run_in_checkout(["db.upgrade", "--to", FIRST], env)
    assert result.code == 0, result.output
    assert alembic_version(empty_url) == [FIRST]
    assert "(from .env)" not in result.stderr


def test_an_empty_variable_in_the_environment_hides_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("STAGING_DATABASE_URL=postgresql://u@db.example:5432/staging\n", encoding="utf-8")
    monkeypatch.setenv("AGENT_DOTENV_FILE", str(dotenv))
    staging = load_settings("staging")
    url = staging.configured_url()
    assert url is not None
    assert url.host == "db.example"
    monkeypatch.setenv("STAGING_DATABASE_URL", "")
    assert staging.configured_url() is None


@pytest.mark.parametrize("env_name", ["staging", "prod"])
def test_database_url_alone_is_refused_for_staging_and_prod(
    env_name: str, empty_url: URL, no_embedded: dict[str, str]
) -> None:
    variable = f"{env_name.upper()}_DATABASE_URL"
    env = {"DATABASE_URL": url_text(empty_url), **no_embedded}
    # prod's plain CLI refuses any writing command before it looks for a URL: ask it to read
    plain = ["current"] if env_name == "prod" else ["upgrade", "head"]
    outcomes = (
        run_invoke("db.upgrade", "--env", env_name, env=env),
        plain_alembic("-x", f"env={env_name}", *plain, env=env),
    )
    for outcome in outcomes:
        assert outcome.code == 2, outcome.output
        assert f"{variable} is not set; DATABASE_URL is, but only dev reads DATABASE_URL" in outcome.stderr
        assert f"export {variable}=" in outcome.stderr
        assert "Traceback" not in outcome.stderr
    assert alembic_version(empty_url) == []


def test_dotenv_database_url_is_refused_for_staging_naming_the_file(
    empty_url: URL, no_embedded: dict[str, str], tmp_path: Path
) -> None:
    env = {**checkout_with_dotenv(tmp_path, f"DATABASE_URL={url_text(empty_url)}\n"), **no_embedded}
    result = run_in_checkout(["db.upgrade", "--env", "staging"], env)
    assert result.code == 2, result.output
    assert "DATABASE_URL (from .env) is, but only dev reads DATABASE_URL" in result.stderr
    assert alembic_version(empty_url) == []


def test_an_environment_file_naming_database_url_beside_dev_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", folder)
    staging = folder / "staging.toml"
    staging.write_text(
        staging.read_text(encoding="utf-8").replace('"STAGING_DATABASE_URL"', '"DATABASE_URL"'),
        encoding="utf-8",
    )
    result = run_invoke("db.current", "--env", "staging", env={"AGENT_ENVIRONMENTS_DIR": str(folder)})
    assert result.code == 2
    assert "staging.toml and dev.toml both read DATABASE_URL" in result.stderr
