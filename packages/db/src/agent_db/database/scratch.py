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


@contextmanager
def scratch_database(server_url: URL, *, variable: str | None = None) -> Iterator[URL]:
    """A new empty database on the server of ``server_url``, dropped on exit."""
    name = f"{SCRATCH_PREFIX}{secrets.token_hex(6)}"
    with (
        translate_connection_errors(server_url, variable),
        psycopg.connect(_admin_conninfo(server_url), autocommit=True, connect_timeout=5) as admin,
    ):
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server_url.set(database=name)
    finally:
        with psycopg.connect(_admin_conninfo(server_url), autocommit=True, connect_timeout=5) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
