"""Drift: what a hand-made change looks like to db.verify, across PostgreSQL versions, and
what happens when the reference server cannot be reached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.drift import REFERENCE_URL_VARIABLE, detect_drift, expected_snapshot
from agent_db.commands.verify import verify
from agent_db.database.engines import create_sync_engine
from agent_db.database.scratch import scratch_database
from agent_db.database.snapshot import Snapshot, compare, schema_snapshot
from agent_db.errors import DatabaseUnavailable
from agent_db.revisions.graph import default_graph
from agent_db.urls import sync_url
from tests.support.cli import run_invoke
from tests.support.databases import DatabaseFactory, target_for, url_text
from tests.support.inspection import position, query

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nowhere"

# Each hand-made change, and the (kind, name) db.verify must report for it.
CHANGES: list[tuple[str, str, str, str]] = [
    ("rls", "ALTER TABLE users ENABLE ROW LEVEL SECURITY", "row_security", "users"),
    ("policy", "CREATE POLICY own_rows ON agents USING (true)", "policy", "agents.own_rows"),
    ("fillfactor", "ALTER TABLE users SET (fillfactor = 70)", "storage", "users"),
    ("comment", "COMMENT ON COLUMN users.email IS 'login'", "comment", "users.email"),
    ("revoke", "REVOKE DELETE ON users FROM CURRENT_USER", "grant", "users to (owner)"),
    ("function", "CREATE FUNCTION by_hand() RETURNS int LANGUAGE sql AS 'SELECT 1'", "function", "by_hand()"),
    (
        "trigger",
        "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';"
        "CREATE TRIGGER touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch()",
        "trigger",
        "users.touch",
    ),
    ("sequence", "ALTER SEQUENCE agents_id_seq INCREMENT BY 10", "sequence", "agents_id_seq"),
    ("extension", "CREATE EXTENSION citext", "extension", "citext"),
    ("enum", "CREATE TYPE mood AS ENUM ('calm')", "enum", "mood"),
    ("view", "CREATE VIEW active AS SELECT id FROM users WHERE is_active", "view", "active"),
]


HAND_MADE = [pytest.param(*change, id=name) for name, *change in CHANGES]


@pytest.fixture(scope="module")
def at_head(databases: DatabaseFactory) -> URL:
    """A staging database at head: each test changes a copy of it."""
    url = databases.create("drift")
    migrate.upgrade(target_for("staging", url))
    return url


@pytest.fixture
def reference_here(server_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test server as the reference, a cache of this test's own."""
    monkeypatch.setenv(REFERENCE_URL_VARIABLE, url_text(server_url))
    monkeypatch.setenv("AGENT_DB_CACHE_DIR", str(tmp_path / "cache"))


def drift_of(url: URL, *, ignore_roles: tuple[str, ...] = ()) -> set[tuple[str, str]]:
    engine = create_sync_engine(url)
    try:
        with engine.connect() as connection:
            current = tuple(position(url))
            found = detect_drift(connection, default_graph(), current, ignore_roles=ignore_roles)
    finally:
        engine.dispose()
    return {(d.kind, d.name) for d in found}


@pytest.mark.usefixtures("reference_here")
@pytest.mark.parametrize(("statement", "kind", "name"), HAND_MADE)
def test_a_hand_made_change_is_reported(
    databases: DatabaseFactory, at_head: URL, statement: str, kind: str, name: str
) -> None:
    copy = databases.clone(at_head, "drift")
    assert drift_of(copy) == set()  # the clean copy: nothing to report
    query(copy, statement)
    assert (kind, name) in drift_of(copy)


@pytest.mark.usefixtures("reference_here")
def test_grants_to_a_role_the_environment_sets_up_can_be_ignored(
    databases: DatabaseFactory, at_head: URL
) -> None:
    copy = databases.clone(at_head, "drift")
    role = f"reporting_{copy.database}"
    query(copy, f'CREATE ROLE "{role}"')
    try:
        query(copy, f'GRANT SELECT ON users TO "{role}"')
        assert ("grant", f"users to {role}") in drift_of(copy)
        assert drift_of(copy, ignore_roles=(role,)) == set()
    finally:
        query(copy, f'DROP OWNED BY "{role}"')
        query(copy, f'DROP ROLE "{role}"')


@pytest.mark.slow
def test_a_reference_of_another_major_version_compares_like_with_like(
    at_head: URL, databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's default: dev (the reference) on the embedded PostgreSQL 18, staging on the
    machine's server (15 here). Clean: exit 0; every hand-made change: named, exit 3."""
    monkeypatch.delenv(REFERENCE_URL_VARIABLE, raising=False)
    monkeypatch.delenv("DEV_DATABASE_URL", raising=False)
    monkeypatch.setenv("AGENT_DB_CACHE_DIR", str(tmp_path / "cache"))
    copy = databases.clone(at_head, "drift")
    assert verify(target_for("staging", copy)).drift == []

    for _, statement, _, _ in CHANGES:
        query(copy, statement)
    reported = {(d.kind, d.name) for d in verify(target_for("staging", copy)).drift}
    assert {(kind, name) for _, _, kind, name in CHANGES} <= reported

    outcome = run_invoke("db.verify", "--env", "staging", env={"STAGING_DATABASE_URL": url_text(copy)})
    assert outcome.code == 3
    assert "policy agents.own_rows" in outcome.stderr


def test_a_cached_schema_is_not_reused_for_another_reference(
    reference_here: None, at_head: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph, current = default_graph(), tuple(position(at_head))
    assert expected_snapshot(graph, current)["table"]  # built and cached for this reference
    monkeypatch.setenv(REFERENCE_URL_VARIABLE, UNREACHABLE)
    with pytest.raises(DatabaseUnavailable, match=r"reference server for drift at 127\.0\.0\.1:1"):
        expected_snapshot(graph, current)


@pytest.mark.parametrize("command", [("db.verify", "--env", "staging"), ("db.status", "--json")])
def test_an_unreachable_reference_with_a_cold_cache_is_a_message(
    at_head: URL, tmp_path: Path, command: tuple[str, ...]
) -> None:
    outcome = run_invoke(
        *command,
        env={
            REFERENCE_URL_VARIABLE: UNREACHABLE,
            "AGENT_DB_CACHE_DIR": str(tmp_path / "cold"),
            "STAGING_DATABASE_URL": url_text(at_head),
        },
    )
    assert "Traceback" not in outcome.stderr
    if command[0] == "db.verify":
        assert outcome.code == 1
        assert "cannot reach the reference server for drift" in outcome.stderr
        assert "--no-drift" in outcome.stderr
    else:
        assert outcome.code == 0  # status reports, it never crashes
        staging = next(e for e in json.loads(outcome.stdout)["environments"] if e["name"] == "staging")
        assert "cannot reach the reference server for drift" in staging["drift_problem"]
        assert staging["reachable"] is True


def test_check_with_an_unreachable_dev_server_is_a_message(tmp_path: Path) -> None:
    outcome = run_invoke("db.check", env={"DEV_DATABASE_URL": UNREACHABLE})
    assert outcome.code == 1
    assert "Traceback" not in outcome.stderr
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in outcome.stderr
    assert "DEV_DATABASE_URL" in outcome.stderr


VERSION_DIFFERENCES = [
    pytest.param("CREATE TABLE t (a int NOT NULL)", "constraint", id="not-null-constraints-of-18"),
    pytest.param(
        "CREATE TABLE t (a int); CREATE VIEW v AS SELECT a FROM t", "view", id="view-qualifiers-of-16"
    ),
    pytest.param("CREATE TABLE t (a int); GRANT SELECT ON t TO PUBLIC", "grant", id="maintain-of-17"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("ddl", "kind"), VERSION_DIFFERENCES)
def test_catalogs_read_alike_on_the_embedded_and_the_test_server(
    server_url: URL, ddl: str, kind: str
) -> None:
    from agent_db.database.embedded import server_url as embedded_server

    def snapshot_on(server: URL) -> Snapshot:
        with scratch_database(server) as url:
            engine = create_sync_engine(url)
            try:
                with engine.connect() as connection:
                    connection.execute(text(ddl))
                    return schema_snapshot(connection)
            finally:
                engine.dispose()

    here, embedded = snapshot_on(server_url), snapshot_on(sync_url(embedded_server()))
    assert compare(here, embedded) == []
    assert here[kind] or kind == "constraint"  # NOT NULL: no constraint row on any version
