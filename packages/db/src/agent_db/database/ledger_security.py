"""Who may change ``schema_ledger``: the setup ``db.secure-ledger`` applies, and what a role can
still do to the ledger after it.

The ledger (its table, the table's identity sequence and both trigger functions) belongs to a
role of its own, NOLOGIN, so nobody connects as it. The migrator keeps ``SELECT``, ``INSERT`` and
``UPDATE`` of the columns a ``running`` row may still change (``outcome``, ``finished_at``,
``error``, ``committed``), and ``USAGE, UPDATE`` on the sequence (the chain trigger moves it past
the last row after a crash set it back). The append-only trigger still decides which of those
updates pass: only from ``running``, once. Without ownership the migrator can neither disable a
trigger, truncate, drop or alter the table, nor replace a trigger function; without the
privileges it can neither delete a row nor rewrite a checksum or an actor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, text

from agent_db.database.ledger_chain import OUTCOME_COLUMNS, TRIGGER_FUNCTION
from agent_db.database.ledger_schema import APPEND_ONLY_FUNCTION, LEDGER_TABLE

MUTABLE_COLUMNS = OUTCOME_COLUMNS  # what a running row may still change
FUNCTIONS = {"schema_ledger_append_only": APPEND_ONLY_FUNCTION, "schema_ledger_hash_chain": TRIGGER_FUNCTION}
_FORBIDDEN_TABLE_PRIVILEGES = ("DELETE", "TRUNCATE", "TRIGGER")


@dataclass(frozen=True)
class Action:
    """One part of the setup, and whether this run changed it (False: it was so already)."""

    what: str
    changed: bool


def _scalar(connection: Connection, sql: str, **params: object) -> object:
    return connection.execute(text(sql), params).scalar()


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(name)


def _step(connection: Connection, what: str, state_sql: str, statements: list[str]) -> Action:
    """Run ``statements`` and say whether ``state_sql`` reads differently afterwards."""
    before = _scalar(connection, state_sql)
    for statement in statements:
        connection.execute(text(statement))
    return Action(what, _scalar(connection, state_sql) != before)


def _owner_role(connection: Connection, owner: str) -> Action:
    can_login = _scalar(connection, "SELECT rolcanlogin FROM pg_roles WHERE rolname = :r", r=owner)
    q = _quote(connection, owner)
    if can_login is None:
        connection.execute(text(f"CREATE ROLE {q} NOLOGIN"))
        return Action(f"created role {owner} (NOLOGIN) to own the ledger", True)
    if can_login:
        connection.execute(text(f"ALTER ROLE {q} NOLOGIN"))
        return Action(f"role {owner} could log in: made it NOLOGIN", True)
    return Action(f"role {owner} exists, NOLOGIN", False)


def apply(connection: Connection, owner: str, migrator: str) -> list[Action]:
    """Apply the setup in the caller's transaction (the ledger exists and is current)."""
    q_owner, q_migrator = _quote(connection, owner), _quote(connection, migrator)
    table = f"'{LEDGER_TABLE}'::regclass"
    sequence = _scalar(connection, f"SELECT pg_get_serial_sequence('{LEDGER_TABLE}', 'id')")
    actions = [
        _owner_role(connection, owner),
        _step(
            connection,
            f"{LEDGER_TABLE} and its sequence owned by {owner}",
            f"SELECT relowner FROM pg_class WHERE oid = {table}",
            [f"ALTER TABLE {LEDGER_TABLE} OWNER TO {q_owner}"],
        ),
    ]
    for name, definition in FUNCTIONS.items():
        state = (
            "SELECT proowner::text || md5(prosrc) || coalesce(proconfig::text, '') FROM pg_proc "
            f"WHERE oid = '{name}()'::regprocedure"
        )
        actions.append(
            _step(
                connection,
                f"trigger function {name}() owned by {owner}, search_path pg_catalog",
                state,
                [definition, f"ALTER FUNCTION {name}() OWNER TO {q_owner}"],
            )
        )
    columns = ", ".join(MUTABLE_COLUMNS)
    acl = (
        f"SELECT concat_ws(' ', (SELECT relacl::text FROM pg_class WHERE oid = {table}), "
        f"(SELECT relacl::text FROM pg_class WHERE oid = '{sequence}'::regclass), "
        f"(SELECT string_agg(attname || attacl::text, ' ' ORDER BY attnum) FROM pg_attribute "
        f"WHERE attrelid = {table} AND attacl IS NOT NULL))"
    )
    actions.append(
        _step(
            connection,
            f"{migrator} may SELECT and INSERT, UPDATE only ({columns}), and use the sequence; "
            "nothing else (PUBLIC: nothing)",
            acl,
            [
                f"REVOKE ALL ON TABLE {LEDGER_TABLE} FROM PUBLIC, {q_migrator}",
                f"GRANT SELECT, INSERT ON TABLE {LEDGER_TABLE} TO {q_migrator}",
                f"GRANT UPDATE ({columns}) ON TABLE {LEDGER_TABLE} TO {q_migrator}",
                f"REVOKE ALL ON SEQUENCE {sequence} FROM PUBLIC, {q_migrator}",
                f"GRANT USAGE, UPDATE ON SEQUENCE {sequence} TO {q_migrator}",
            ],
        )
    )
    return actions


def remaining_powers(connection: Connection, migrator: str) -> list[str]:
    """What ``migrator`` can still do to the ledger beyond inserting rows and finishing running
    ones, each with its fix (empty: nothing)."""
    found: list[str] = []

    def check(sql: str, problem: Callable[[str], str]) -> None:
        for (subject,) in connection.execute(text(sql), {"m": migrator}):
            found.append(problem(str(subject)))

    check(
        "SELECT rolname FROM pg_roles WHERE rolname = :m AND rolsuper",
        lambda _: (
            f"{migrator} is a superuser: no owner or privilege stops it; run migrations as "
            "a role without SUPERUSER"
        ),
    )
    check(
        f"SELECT relowner::regrole FROM pg_class WHERE oid = '{LEDGER_TABLE}'::regclass "
        "AND pg_has_role(:m, relowner, 'MEMBER') UNION ALL "
        "SELECT proowner::regrole FROM pg_proc WHERE proname = ANY(:functions) "
        "AND pg_has_role(:m, proowner, 'MEMBER')".replace(":functions", _array(FUNCTIONS)),
        lambda role: (
            f"{migrator} is (or is a member of) {role}, which owns the ledger or a trigger "
            f"function: REVOKE {role} FROM {migrator}"
        ),
    )
    check(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE c.oid = '{LEDGER_TABLE}'::regclass AND pg_has_role(:m, n.nspowner, 'MEMBER')",
        lambda schema: (
            f"{migrator} owns schema {schema} (directly, or as the database's owner: "
            "the public schema belongs to pg_database_owner), so it may drop any table in it: make "
            f"another role own the database and the schema (ALTER DATABASE ... OWNER TO admin; ALTER "
            f"SCHEMA {schema} OWNER TO admin) and GRANT USAGE, CREATE ON SCHEMA {schema} TO {migrator}"
        ),
    )
    for privilege in _FORBIDDEN_TABLE_PRIVILEGES:
        check(
            f"SELECT '{privilege}' WHERE has_table_privilege(:m, '{LEDGER_TABLE}', '{privilege}')",
            lambda what: (
                f"{migrator} has {what} on {LEDGER_TABLE} through a role it belongs to "
                "(pg_write_all_data, or a role granted it): revoke that membership or that grant"
            ),
        )
    check(
        f"SELECT attname FROM pg_attribute WHERE attrelid = '{LEDGER_TABLE}'::regclass "
        f"AND attnum > 0 AND NOT attisdropped AND NOT attname = ANY({_array(MUTABLE_COLUMNS)}) "
        f"AND has_column_privilege(:m, attrelid, attnum, 'UPDATE')",
        lambda column: (
            f"{migrator} may UPDATE {LEDGER_TABLE}.{column} through a role it belongs to "
            "(pg_write_all_data, or a role granted it): revoke that membership or that grant"
        ),
    )
    return found


def _array(names: Iterable[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{name}'" for name in names) + "]::name[]"
