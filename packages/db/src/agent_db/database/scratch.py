"""Throwaway databases on a server: created with a random name, dropped on exit, away from any
environment's real data."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from agent_db.database.engines import translate_connection_errors

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
