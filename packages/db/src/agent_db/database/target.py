"""One environment's database: its settings, its URL, and connections to it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.engine import URL

from agent_db.database.engines import create_sync_engine, translate_connection_errors
from agent_db.errors import ConfigError
from agent_db.settings import DatabaseSettings, load_settings
from agent_db.urls import describe_location, redact, sync_url


def resolve_url(settings: DatabaseSettings, *, start_embedded: bool = True, api: bool = False) -> URL:
    """The environment's URL (toolkit driver); dev falls back to the embedded PostgreSQL.

    The toolkit's is the direct URL (``direct_url_env``) when that is set; the API's
    (``api=True``) is always ``database_url_env``'s, pooled or not.
    With ``start_embedded=False`` (status, history) the embedded server is only joined when it
    already runs; otherwise the error says how to start it.
    """
    url = None if api else settings.configured_direct_url()
    url = url or settings.configured_url()
    if url is None:
        if not settings.embedded_fallback:
            raise settings.missing_url_error()
        from agent_db.database.embedded import embedded_database_url, running_database_url

        if start_embedded:
            url = embedded_database_url()
        else:
            url = running_database_url()
            if url is None:
                raise ConfigError(
                    f"{settings.database_url_env} is not set and the embedded PostgreSQL is not "
                    "running; start it with 'uv run invoke dev'"
                )
    return sync_url(url)


@dataclass(frozen=True)
class Target:
    settings: DatabaseSettings
    url: URL
    # Where ``url`` came from, for messages, when not the environment's own variables (an
    # operator's --url-env); None: :attr:`DatabaseSettings.toolkit_url_variable`.
    url_source: str | None = None

    @classmethod
    def resolve(cls, environment: str, *, start_embedded: bool = True) -> Target:
        """Settings and URL of ``environment``; nothing connects, but dev may start the
        embedded PostgreSQL (unless ``start_embedded=False``)."""
        settings = load_settings(environment)
        return cls(settings, resolve_url(settings, start_embedded=start_embedded))

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
            with translate_connection_errors(self.url, self.url_source or self.settings.toolkit_url_variable):
                connection = engine.connect()
            try:
                if autocommit:
                    connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                yield connection
            finally:
                connection.close()
        finally:
            engine.dispose()
