"""One environment's database: its settings, its URL, and connections to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from agent_db.session import create_sync_engine, resolve_url, translate_connection_errors
from agent_db.settings import DatabaseSettings, load_settings
from agent_db.urls import describe_location, redact


@dataclass(frozen=True)
class Target:
    settings: DatabaseSettings
    url: URL

    @classmethod
    def open(cls, environment: str) -> Target:
        """Settings and URL of ``environment``; dev may start the embedded PostgreSQL."""
        settings = load_settings(environment)
        return cls(settings, resolve_url(settings))

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def location(self) -> str:
        return describe_location(self.url)

    @property
    def safe_url(self) -> str:
        return redact(self.url)

    @contextmanager
    def connect(self, *, purpose: str = "agent-db", autocommit: bool = False) -> Iterator[Connection]:
        """A connection, closed on exit; connection failures become one clear message."""
        engine = create_sync_engine(self.url, application_name=purpose)
        try:
            with translate_connection_errors(self.url, self.settings.database_url_env):
                connection = engine.connect()
            try:
                if autocommit:
                    connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                yield connection
            finally:
                connection.close()
        finally:
            engine.dispose()


def table_exists(connection: Connection, name: str) -> bool:
    query = text("SELECT to_regclass(:name) IS NOT NULL")
    return bool(connection.execute(query, {"name": name}).scalar_one())


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revisions in ``alembic_version`` (empty at base)."""
    if not table_exists(connection, "alembic_version"):
        return ()
    rows = connection.execute(text("SELECT version_num FROM alembic_version ORDER BY 1"))
    return tuple(row[0] for row in rows)
