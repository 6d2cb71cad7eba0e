"""The one SQLSTATE classification, against real PostgreSQL errors from both drivers: psycopg
(the toolkit) and asyncpg (the API). Each statement provokes one kind of failure."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from agent_db.database.pg_errors import Failure, classify, constraint_name
from agent_db.urls import async_url, sync_url
from tests.support.databases import DatabaseFactory

SETUP = (
    "CREATE TABLE parent (id int CONSTRAINT parent_pkey PRIMARY KEY)",
    "CREATE TABLE child (parent_id int CONSTRAINT child_parent_fkey REFERENCES parent (id),"
    " n int CONSTRAINT child_n_positive CHECK (n > 0))",
    "INSERT INTO parent VALUES (1)",
)

# statement -> what it must be classified as, and the constraint it names (if any)
CASES = [
    ("INSERT INTO parent VALUES (1)", Failure.UNIQUE_VIOLATION, "parent_pkey"),
    ("INSERT INTO child VALUES (2, 1)", Failure.FOREIGN_KEY_VIOLATION, "child_parent_fkey"),
    ("INSERT INTO child VALUES (1, -1)", Failure.INVALID_VALUE, "child_n_positive"),
    ("SELECT 1 / 0", Failure.INVALID_VALUE, None),
    ("SELECT * FROM no_such_table", Failure.SCHEMA_MISSING, None),
    ("SELECT no_such_column FROM parent", Failure.SCHEMA_MISSING, None),
    ("SET LOCAL statement_timeout = '10ms'; SELECT pg_sleep(1)", Failure.CONTENTION, None),
    ("SELECT pg_terminate_backend(pg_backend_pid())", Failure.CONNECTION_LOST, None),
]


@pytest.fixture(scope="module")
def database(databases: DatabaseFactory) -> URL:
    url = databases.create("pg_errors")
    engine = create_engine(sync_url(url))
    with engine.begin() as connection:
        for statement in SETUP:
            connection.execute(text(statement))
    engine.dispose()
    return url


def _failure_of(engine: Engine, statement: str) -> DBAPIError:
    *before, failing = statement.split("; ")
    with engine.connect() as connection:
        for part in before:
            connection.execute(text(part))
        with pytest.raises(DBAPIError) as raised:
            connection.execute(text(failing))
    return raised.value


@pytest.mark.parametrize(("statement", "failure", "constraint"), CASES)
def test_psycopg_errors_are_classified(
    database: URL, statement: str, failure: Failure, constraint: str | None
) -> None:
    engine = create_engine(sync_url(database))
    try:
        error = _failure_of(engine, statement)
    finally:
        engine.dispose()
    assert classify(error) is failure, error
    assert constraint_name(error) == constraint


@pytest.mark.anyio
@pytest.mark.parametrize(("statement", "failure", "constraint"), CASES)
async def test_asyncpg_errors_are_classified(
    database: URL, statement: str, failure: Failure, constraint: str | None
) -> None:
    engine = create_async_engine(async_url(database))
    *before, failing = statement.split("; ")
    try:
        async with engine.connect() as connection:
            for part in before:
                await connection.execute(text(part))
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(text(failing))
    finally:
        await engine.dispose()
    assert classify(raised.value) is failure, raised.value
    assert constraint_name(raised.value) == constraint


@pytest.mark.anyio
async def test_a_missing_database_is_access_refused(database: URL) -> None:
    """asyncpg carries the server's 3D000; psycopg reports a failed connection without a
    SQLSTATE, which classifies as a lost connection (both mean: the database is unreachable)."""
    engine = create_async_engine(async_url(database.set(database="agent_test_no_such_database")))
    try:
        with pytest.raises(DBAPIError) as raised:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert classify(raised.value) is Failure.ACCESS_REFUSED


def test_a_connection_lost_inside_a_transaction_stays_lost_on_its_next_use(database: URL) -> None:
    """SQLAlchemy answers the next statement on it with ``PendingRollbackError``, which hides
    the lost connection; it is classified as what it is."""
    from sqlalchemy.exc import PendingRollbackError

    engine = create_engine(sync_url(database))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))  # a transaction is open
            with pytest.raises(DBAPIError) as lost:
                connection.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            with pytest.raises(PendingRollbackError) as pending:
                connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert classify(lost.value) is Failure.CONNECTION_LOST
    assert classify(pending.value) is Failure.CONNECTION_LOST
