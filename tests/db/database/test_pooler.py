"""The toolkit behind a real PgBouncer (tests/support/pgbouncer.py): the migration lock is
refused through a transaction-mode pooler, with the way through (the direct URL); a
session-mode pooler and a direct connection are fine; the direct URL takes the migrations
while the pooled one stays the API's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.database.target import Target
from agent_db.errors import ConfigError
from agent_db.revisions.graph import default_graph
from agent_db.settings import load_settings
from tests.support.cli import run_invoke
from tests.support.databases import DatabaseFactory, target_for, url_text
from tests.support.inspection import query
from tests.support.paths import ROOT
from tests.support.pgbouncer import PgBouncer


def _nothing_ran(url: URL) -> bool:
    tables = query(url, "SELECT to_regclass('alembic_version'), to_regclass('schema_ledger')")
    return tables == [(None, None)]


def test_the_lock_is_refused_through_a_transaction_pooler(
    pgbouncer: PgBouncer, databases: DatabaseFactory
) -> None:
    direct = databases.create("pooled")
    pooled = pgbouncer.url(direct.database or "")
    with pytest.raises(ConfigError) as refused:
        migrate.upgrade(target_for("staging", pooled))
    message = str(refused.value)
    assert (
        "STAGING_DATABASE_URL reaches PostgreSQL through a connection pooler in transaction mode" in message
    )
    assert "session-level advisory lock" in message
    assert "export STAGING_DIRECT_DATABASE_URL" in message
    assert "Nothing was run" in message
    assert _nothing_ran(direct)


def test_the_command_line_says_what_to_set_and_the_direct_url_migrates(
    pgbouncer: PgBouncer, databases: DatabaseFactory
) -> None:
    direct = databases.create("direct")
    pooled = url_text(pgbouncer.url(direct.database or ""))
    refused = run_invoke("db.upgrade", "--env", "staging", env={"STAGING_DATABASE_URL": pooled})
    assert refused.code == 2, refused.output
    assert "STAGING_DIRECT_DATABASE_URL" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _nothing_ran(direct)
    both = {"STAGING_DATABASE_URL": pooled, "STAGING_DIRECT_DATABASE_URL": url_text(direct)}
    migrated = run_invoke("db.upgrade", "--env", "staging", env=both)
    assert migrated.code == 0, migrated.output
    assert query(direct, "SELECT version_num FROM alembic_version") == [(default_graph().single_head(),)]


def test_the_toolkit_takes_the_direct_url_and_the_api_the_pooled_one(
    monkeypatch: pytest.MonkeyPatch, pgbouncer: PgBouncer, databases: DatabaseFactory
) -> None:
    from agent_db.database.target import resolve_url

    direct = databases.create("both")
    monkeypatch.setenv("STAGING_DATABASE_URL", url_text(pgbouncer.url(direct.database or "")))
    monkeypatch.setenv("STAGING_DIRECT_DATABASE_URL", url_text(direct))
    settings = load_settings("staging")
    assert Target.resolve("staging").url.port == direct.port
    assert resolve_url(settings, api=True).port == pgbouncer.port
    assert settings.toolkit_url_variable == "STAGING_DIRECT_DATABASE_URL"


def test_a_direct_url_through_the_pooler_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, pgbouncer: PgBouncer, databases: DatabaseFactory
) -> None:
    direct = databases.create("wrongdirect")
    pooled = url_text(pgbouncer.url(direct.database or ""))
    monkeypatch.setenv("STAGING_DATABASE_URL", pooled)
    monkeypatch.setenv("STAGING_DIRECT_DATABASE_URL", pooled)
    with pytest.raises(
        ConfigError, match="STAGING_DIRECT_DATABASE_URL reaches PostgreSQL through a connection pooler"
    ):
        migrate.upgrade(Target.resolve("staging"))
    assert _nothing_ran(direct)


def test_a_session_pooler_keeps_the_lock_meaningful(
    pgbouncer_session_mode: PgBouncer, databases: DatabaseFactory
) -> None:
    direct = databases.create("session")
    migrate.upgrade(target_for("staging", pgbouncer_session_mode.url(direct.database or "")))
    assert query(direct, "SELECT version_num FROM alembic_version") == [(default_graph().single_head(),)]


def test_a_declared_transaction_pooler_is_refused_without_probing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, databases: DatabaseFactory
) -> None:
    """Even a URL that happens to reach PostgreSQL directly: the environment file said the
    variable is a transaction pooler's, so the lock must not trust it."""
    folder = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", folder)
    dev = folder / "dev.toml"
    dev.write_text(
        dev.read_text().replace("protected = false", 'protected = false\npooler_mode = "transaction"')
    )
    monkeypatch.setenv("AGENT_ENVIRONMENTS_DIR", str(folder))
    direct = databases.create("declared")
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(direct))
    with pytest.raises(
        ConfigError, match=r"dev\.toml says DEV_DATABASE_URL goes through a transaction-mode pooler"
    ):
        migrate.upgrade(Target.resolve("dev"))
    assert _nothing_ran(direct)
