"""Reading a database's state from outside the toolkit: rows, its revision, a table's columns,
its ledger, and one fingerprint that proves a command changed nothing."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import URL

from tests.support.databases import conninfo


def query(url: URL, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        cursor = connection.execute(sql)
        return cursor.fetchall() if cursor.description else []


def position(url: URL) -> list[str]:
    """The revisions ``alembic_version`` holds; none for a database never migrated."""
    if query(url, "SELECT to_regclass('alembic_version')") == [(None,)]:
        return []
    return [str(row[0]) for row in query(url, "SELECT version_num FROM alembic_version")]


def columns(url: URL, table: str) -> set[str]:
    sql = f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'"
    return {str(row[0]) for row in query(url, sql)}


_FINGERPRINT = """
SELECT md5(concat_ws(' | ',
    (SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version),
    (SELECT md5(string_agg(l::text, ',' ORDER BY l.id)) FROM schema_ledger l),
    (SELECT md5(string_agg(c.relname || ':' || c.relkind::text || ':' || a.attname || ':'
                           || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull::text,
                           ',' ORDER BY c.relname, a.attnum))
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
       WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped),
    (SELECT md5(string_agg(conname || ':' || convalidated::text, ',' ORDER BY conname))
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace),
    (SELECT md5(string_agg(indexrelid::regclass::text || ':' || indisvalid::text, ','
                           ORDER BY indexrelid::regclass::text))
       FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class
                                        WHERE relnamespace = 'public'::regnamespace))
))
"""


def fingerprint(url: URL | psycopg.Connection[tuple[object, ...]]) -> str:
    """One hash of the database's revision, ledger rows, tables, columns, constraints and
    indexes: equal before and after means the command changed nothing that matters.
    Pass an open autocommit connection when fingerprinting often."""
    if isinstance(url, psycopg.Connection):
        row = url.execute(_FINGERPRINT).fetchone()
    else:
        with psycopg.connect(conninfo(url), autocommit=True) as connection:
            row = connection.execute(_FINGERPRINT).fetchone()
    assert row is not None
    return str(row[0])


def ledger_rows(url: URL) -> list[dict[str, object]]:
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        cursor = connection.execute("SELECT * FROM schema_ledger ORDER BY id")
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
