"""The schema the migration history produces, built by the real migrations in a throwaway
database: what ``db.check``, autogenerate and drift compare against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.engine import URL

from agent_db.database.engines import create_sync_engine
from agent_db.database.scratch import scratch_database
from agent_db.errors import ConfigError, MigrationFailed
from agent_db.revisions.import_blame import import_failure


@contextmanager
def migrated_scratch(
    server_url: URL, revision: str = "head", *, environment: str = "dev", variable: str | None = None
) -> Iterator[Connection]:
    """A connection to a scratch database upgraded to ``revision`` by the real migrations."""
    from alembic import command

    from agent_db.revisions.alembic_config import alembic_config

    with scratch_database(server_url, variable=variable) as url:
        engine = create_sync_engine(url, application_name="agent-db-scratch")
        try:
            with engine.connect() as connection:
                if revision != "base":
                    try:
                        command.upgrade(alembic_config(environment, connection=connection), revision)
                    except Exception as error:
                        failure = import_failure(error)
                        if failure is not None:
                            raise ConfigError(f"the code does not import: {failure.describe()}") from None
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
