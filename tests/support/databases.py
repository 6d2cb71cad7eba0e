"""Databases on the test server: which server, throwaway databases on it, and their URLs."""

from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from agent_db.database.scratch import create_database, drop_database
from agent_db.database.target import Target
from agent_db.settings import load_settings
from agent_db.urls import parse_url, sync_url

TEST_DATABASE_PREFIX = "agent_test_"


def server_under_test() -> URL:
    """The server the tests run against: TEST_DATABASE_URL, else the embedded PostgreSQL
    (started on first use, as on a fresh machine)."""
    raw = os.environ.get("TEST_DATABASE_URL")
    if raw:
        return sync_url(parse_url(raw, source="TEST_DATABASE_URL"))
    from agent_db.database.embedded import server_url

    return sync_url(server_url())


def conninfo(url: URL) -> str:
    """``url`` as psycopg takes it (no SQLAlchemy driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def url_text(url: URL) -> str:
    """``url`` as an environment variable holds it, password included."""
    return url.render_as_string(hide_password=False)


def target_for(environment: str, url: URL) -> Target:
    """The environment's settings pointed at ``url``, as the toolkit's commands take them."""
    return Target(load_settings(environment), url)


@dataclass
class DatabaseFactory:
    """Creates databases on the test server and drops them all at the end of the session."""

    server: URL
    created: list[str] = field(default_factory=list)

    def create(self, label: str = "db") -> URL:
        name = f"{TEST_DATABASE_PREFIX}{label}_{secrets.token_hex(4)}"
        url = create_database(self.server, name)
        self.created.append(name)
        return url

    def clone(self, template: URL, label: str = "copy") -> URL:
        """A new database copied from ``template`` (nobody may be connected to it)."""
        name = f"{TEST_DATABASE_PREFIX}{label}_{secrets.token_hex(4)}"
        with psycopg.connect(conninfo(self.server), autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(str(template.database))
                )
            )
        self.created.append(name)
        return self.server.set(database=name)

    def drop_all(self) -> None:
        """Drop in parallel: each DROP DATABASE waits for a checkpoint, and concurrent requests
        share one, so this takes about one checkpoint instead of one per database."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda name: drop_database(self.server, name), self.created))
        self.created.clear()
