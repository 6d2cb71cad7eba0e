"""Throwaway databases: where ``db.check``, autogenerate and drift build the schema that the
migration history produces, away from any environment's real data."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from agent_db.database.engines import create_sync_engine, translate_connection_errors
from agent_db.errors import MigrationFailed

SCRATCH_PREFIX = "agent_scratch_"


def _admin_conninfo(url: URL) -> str:
    return url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


def create_database(server_url: URL, name: str) -> URL:
    """Create the empty database ``name`` on the server of ``server_url``; returns its URL.
    The one way the toolkit, the tests and the benchmarks make a throwaway database."""
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server_url.set(database=name)


def drop_database(server_url: URL, name: str) -> None:
    """Drop ``name`` if it exists, ending its sessions first (``WITH (FORCE)``): a throwaway
    database must go even when a test or a benchmark left a connection open."""
    with psycopg.connect(_admin_conninfo(server_url), autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_database(server_url: URL, *, variable: str | None = None) -> Iterator[URL]:
    """A new empty database on the server of ``server_url``, dropped on exit."""
    name = f"{SCRATCH_PREFIX}{secrets.token_hex(6)}"
    with translate_connection_errors(server_url, variable):
        url = create_database(server_url, name)
    try:
        yield url
    finally:
        drop_database(server_url, name)


@contextmanager
def migrated_scratch(
    server_url: URL, revision: str = "head", *, environment: str = "dev"
) -> Iterator[Connection]:
    """A connection to a scratch database upgraded to ``revision`` by the real migrations."""
    from alembic import command

    from agent_db.revisions.alembic_config import alembic_config

    with scratch_database(server_url) as url:
        engine = create_sync_engine(url, application_name="agent-db-scratch")
        try:
            with engine.connect() as connection:
                if revision != "base":
                    try:
                        command.upgrade(alembic_config(environment, connection=connection), revision)
                    except Exception as error:
                        first_line = (str(error).splitlines() or [""])[0]
                        raise MigrationFailed(
                            "the migration history does not apply to an empty database "
                            f"(up to {revision}): {type(error).__name__}: {first_line}; run "
                            "'uv run invoke db.upgrade' on a scratch database to see which revision fails"
                        ) from None
                    connection.commit()
                yield connection
        finally:
            engine.dispose()
