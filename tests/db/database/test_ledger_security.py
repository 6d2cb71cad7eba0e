"""``db.secure-ledger``: after it, the migrator still runs every migration and writes the ledger
(inserts, a partial step's ``committed``, running rows moved to their outcome, the chain trigger
moving the sequence past the last row), but every way of rewriting the ledger fails with a
permission error; db.verify still passes; a second run changes nothing; a setup that would leave
the migrator a way in is refused and changes nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.drift import REFERENCE_URL_VARIABLE
from agent_db.errors import MigrationFailed
from agent_db.revisions.graph import default_graph
from tests.support.backfill import BACKFILL_REVISION, INDEX_REVISION, clear_fault, fault, insert_conversations
from tests.support.cli import Outcome, run_cli
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import ledger_rows, position, query

ADMIN_VARIABLE = "SECURE_LEDGER_TEST_ADMIN_URL"
# Each way an owner could rewrite the ledger; as the migrator, each is a permission error.
ATTACKS = [
    "UPDATE schema_ledger SET checksum = 'forged' WHERE id = (SELECT min(id) FROM schema_ledger)",
    "UPDATE schema_ledger SET actor = 'someone-else'",
    "DELETE FROM schema_ledger WHERE id = (SELECT max(id) FROM schema_ledger)",
    "ALTER TABLE schema_ledger DISABLE TRIGGER schema_ledger_append_only",
    "ALTER TABLE schema_ledger DISABLE TRIGGER USER",
    "TRUNCATE schema_ledger",
    "DROP TABLE schema_ledger",
    "ALTER TABLE schema_ledger OWNER TO CURRENT_USER",
    "CREATE OR REPLACE FUNCTION schema_ledger_append_only() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RETURN NEW; END $$",
    "CREATE TRIGGER sneak BEFORE UPDATE ON schema_ledger FOR EACH ROW "
    "EXECUTE FUNCTION schema_ledger_hash_chain()",
]


@pytest.fixture
def roles(empty_url: URL) -> Iterator[tuple[str, str]]:
    """A migrator (LOGIN, may create in public) and the name of the ledger's owner role, both
    unique; dropped with what they own afterwards."""
    token = secrets.token_hex(4)
    migrator, owner = f"migrator_{token}", f"ledger_owner_{token}"
    query(empty_url, f"CREATE ROLE {migrator} LOGIN")
    query(empty_url, f"GRANT USAGE, CREATE ON SCHEMA public TO {migrator}")
    yield migrator, owner
    with psycopg.connect(conninfo(empty_url), autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{empty_url.database}" OWNER TO CURRENT_USER')
        for role in (migrator, owner):
            if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                connection.execute(f"DROP OWNED BY {role}")
                connection.execute(f"DROP ROLE {role}")


def secure(admin: URL, migrator: str, owner: str, *extra: str, through: URL | None = None) -> Outcome:
    env = {"DEV_DATABASE_URL": url_text(through or admin), ADMIN_VARIABLE: url_text(admin)}
    url_env = () if through else ("--url-env", ADMIN_VARIABLE)
    return run_cli(
        "db.secure-ledger",
        "--env",
        "dev",
        "--migrator",
        migrator,
        "--owner",
        owner,
        *url_env,
        *extra,
        env=env,
    )


def owner_of_ledger(url: URL) -> object:
    return query(url, "SELECT relowner::regrole::text FROM pg_class WHERE oid = to_regclass('schema_ledger')")


def test_the_migrator_writes_the_ledger_but_cannot_rewrite_it(
    empty_url: URL, roles: tuple[str, str], server_url: URL, tmp_path: Path
) -> None:
    migrator, owner = roles
    as_migrator = empty_url.set(username=migrator)
    target = target_for("dev", as_migrator)
    migrate.upgrade(target, INDEX_REVISION)  # the migrator created, and owns, the ledger
    assert owner_of_ledger(empty_url) == [(migrator,)]

    done = secure(empty_url, migrator, owner)
    assert done.code == 0, done.output
    assert "schema_ledger secured" in done.output
    assert "already: schema_ledger present and current" in done.output
    assert f"changed: created role {owner} (NOLOGIN)" in done.output
    assert owner_of_ledger(empty_url) == [(owner,)]
    assert query(empty_url, f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{owner}'") == [(False,)]
    functions = "SELECT DISTINCT proowner::regrole::text FROM pg_proc WHERE proname LIKE 'schema_ledger%'"
    assert query(empty_url, functions) == [(owner,)]

    # A crash can set the sequence back: the chain trigger moves it on, as the migrator.
    query(empty_url, "SELECT setval(pg_get_serial_sequence('schema_ledger', 'id'), 1)")
    insert_conversations(as_migrator, 1_600)
    fault(as_migrator, "RAISE EXCEPTION 'injected fault in a batch'")
    with pytest.raises(MigrationFailed, match="partly applied"):
        migrate.upgrade(target)
    clear_fault(as_migrator)
    migrate.upgrade(target)
    assert position(empty_url) == [default_graph().linear_order()[-1]]
    rows = ledger_rows(empty_url)
    backfill = [row for row in rows if row["revision"] == BACKFILL_REVISION]
    assert [row["outcome"] for row in backfill] == ["partial", "success"]
    assert "add column conversations.message_count" in str(backfill[0]["committed"])
    assert {row["outcome"] for row in rows if row["revision"] != BACKFILL_REVISION} == {"success"}
    ids = [int(str(row["id"])) for row in rows]
    assert ids == sorted(set(ids))

    with psycopg.connect(conninfo(as_migrator), autocommit=True) as connection:
        for attack in ATTACKS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(attack)
        # The privileges let it finish running rows; the trigger still refuses the rest.
        with pytest.raises(psycopg.errors.RaiseException, match="only move from running"):
            connection.execute("UPDATE schema_ledger SET outcome = 'failed' WHERE outcome = 'success'")
    assert ledger_rows(empty_url) == rows

    env = {
        "DEV_DATABASE_URL": url_text(as_migrator),
        REFERENCE_URL_VARIABLE: url_text(server_url),
        "AGENT_DB_CACHE_DIR": str(tmp_path / "cache"),
    }
    verified = run_cli("db.verify", "--env", "dev", env=env)
    assert verified.code == 0, verified.output
    assert "no drift, ledger chain intact" in verified.output

    again = secure(empty_url, migrator, owner)
    assert again.code == 0, again.output
    assert "already secured, nothing changed" in again.output
    assert "changed:" not in again.output


def test_a_fresh_database_gets_a_secured_ledger_the_migrator_then_fills(
    empty_url: URL, roles: tuple[str, str]
) -> None:
    migrator, owner = roles
    done = secure(empty_url, migrator, owner, "--json")
    assert done.code == 0, done.output
    assert '"changed": true' in done.stdout
    assert '"what": "schema_ledger created"' in done.stdout
    assert owner_of_ledger(empty_url) == [(owner,)]
    as_migrator = empty_url.set(username=migrator)
    migrate.upgrade(target_for("dev", as_migrator))
    assert len(ledger_rows(empty_url)) == len(default_graph())

    # A newer toolkit's column (here: one taken away): the migrator may not add it, and says who may.
    query(empty_url, "ALTER TABLE schema_ledger DROP COLUMN ci_run")
    stopped = run_cli("db.upgrade", "--env", "dev", env={"DEV_DATABASE_URL": url_text(as_migrator)})
    assert stopped.code == 2, stopped.output
    assert "lacks this toolkit's columns (ci_run)" in stopped.output
    assert "db.secure-ledger" in stopped.output
    upgraded = secure(empty_url, migrator, owner)
    assert upgraded.code == 0, upgraded.output
    assert "changed: schema_ledger upgraded to this toolkit's columns" in upgraded.output
    again = run_cli("db.upgrade", "--env", "dev", env={"DEV_DATABASE_URL": url_text(as_migrator)})
    assert again.code == 0, again.output


def _unchanged(url: URL, owner: str) -> None:
    assert query(url, "SELECT to_regclass('schema_ledger')") == [(None,)]
    assert query(url, f"SELECT 1 FROM pg_roles WHERE rolname = '{owner}'") == []


def test_connected_as_the_migrator_it_refuses_and_changes_nothing(
    empty_url: URL, roles: tuple[str, str]
) -> None:
    migrator, owner = roles
    refused = secure(empty_url, migrator, owner, through=empty_url.set(username=migrator))
    assert refused.code == 2, refused.output
    assert "connected as the migrator" in refused.output
    assert "--url-env" in refused.output
    _unchanged(empty_url, owner)


def test_a_migrator_that_owns_the_schema_is_refused_and_nothing_changes(
    empty_url: URL, roles: tuple[str, str]
) -> None:
    migrator, owner = roles
    query(empty_url, f'ALTER DATABASE "{empty_url.database}" OWNER TO {migrator}')
    refused = secure(empty_url, migrator, owner)
    assert refused.code == 2, refused.output
    assert f"{migrator} owns schema public" in refused.output
    assert "nothing was changed" in refused.output
    _unchanged(empty_url, owner)


@pytest.mark.parametrize(
    ("migrator", "problem"),
    [("nobody_here_at_all", "no role nobody_here_at_all"), ("Robert'); DROP", "is not a role name")],
)
def test_a_bad_migrator_is_refused(
    empty_url: URL, roles: tuple[str, str], migrator: str, problem: str
) -> None:
    refused = secure(empty_url, migrator, roles[1])
    assert refused.code == 2, refused.output
    assert problem in refused.output
    _unchanged(empty_url, roles[1])


def test_an_unreachable_admin_url_names_its_own_variable(empty_url: URL, roles: tuple[str, str]) -> None:
    """The failure names --url-env's variable (the one to fix), not the environment's URL."""
    migrator, owner = roles
    env = {
        "DEV_DATABASE_URL": url_text(empty_url),
        ADMIN_VARIABLE: url_text(empty_url.set(host="127.0.0.1", port=1)),
    }
    refused = run_cli(
        "db.secure-ledger", "--env", "dev", "--migrator", migrator, "--owner", owner,
        "--url-env", ADMIN_VARIABLE, env=env,
    )  # fmt: skip
    assert refused.code == 1, refused.output
    assert f"check {ADMIN_VARIABLE}" in refused.output
    assert "DEV_DATABASE_URL" not in refused.output
    _unchanged(empty_url, owner)
