"""Fixtures: a real PostgreSQL (TEST_DATABASE_URL, else the embedded one), fresh databases
built by the migrations, and per-test isolation in a rolled-back transaction."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from agent_db.commands import migrate
from agent_db.database.engines import create_sync_engine
from agent_db.database.target import Target
from agent_db.settings import load_settings
from agent_db.urls import parse_url, sync_url
from tests.support import DatabaseFactory

ENVIRONMENT_URL_VARIABLES = ("DEV_DATABASE_URL", "STAGING_DATABASE_URL", "PROD_DATABASE_URL")


def _test_server() -> URL:
    raw = os.environ.get("TEST_DATABASE_URL")
    if raw:
        return sync_url(parse_url(raw, source="TEST_DATABASE_URL"))
    from agent_db.database.embedded import server_url

    return sync_url(server_url())


@pytest.fixture(scope="session")
def server_url() -> URL:
    """Admin URL of the PostgreSQL server the tests run against."""
    return _test_server()


@pytest.fixture(scope="session")
def databases(server_url: URL) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(server_url)
    yield factory
    factory.drop_all()


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches a database through a variable it did not set itself."""
    for variable in ENVIRONMENT_URL_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("AGENT_DB_VERSIONS_DIR", raising=False)
    monkeypatch.delenv("AGENT_ENV", raising=False)


def target_for(environment: str, url: URL) -> Target:
    return Target(load_settings(environment), url)


@pytest.fixture(scope="session")
def migrated_url(databases: DatabaseFactory) -> URL:
    """A database of this session upgraded to head by the real migrations (via the pipeline)."""
    url = databases.create("head")
    migrate.upgrade(target_for("dev", url))
    return url


@pytest.fixture(scope="session")
def migrated_engine(migrated_url: URL) -> Iterator[Engine]:
    engine = create_sync_engine(migrated_url, pooled=True)
    yield engine
    engine.dispose()


@pytest.fixture
def db_connection(migrated_engine: Engine) -> Iterator[Connection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    with migrated_engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@pytest.fixture
def db_session(db_connection: Connection) -> Iterator[Session]:
    """An ORM session whose commits are savepoints inside the test's transaction."""
    session = Session(bind=db_connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def empty_url(databases: DatabaseFactory) -> URL:
    """A new empty database for tests that migrate it themselves."""
    return databases.create("empty")
