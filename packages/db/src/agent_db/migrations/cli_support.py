"""Connection for the plain Alembic CLI (``alembic -c packages/db/alembic.ini ...``).

The toolkit passes its own connection; this path serves people who type Alembic commands.
Writing commands against a protected environment are refused here: those go through
``invoke db.upgrade`` / ``db.downgrade``, which hold the lock and keep the ledger.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic.config import Config
from sqlalchemy import Connection

from agent_db.errors import SafetyRefusal
from agent_db.session import create_sync_engine, resolve_url, translate_connection_errors
from agent_db.settings import load_settings

WRITING_COMMANDS = frozenset({"upgrade", "downgrade", "stamp"})


def _command_name(config: Config) -> str | None:
    options = getattr(config, "cmd_opts", None)
    command = getattr(options, "cmd", None)
    if isinstance(command, tuple) and command:
        return getattr(command[0], "__name__", None)
    return None


@contextmanager
def connect_for_plain_cli(config: Config, environment: str) -> Iterator[Connection]:
    settings = load_settings(environment)
    command = _command_name(config)
    if settings.protected and command in WRITING_COMMANDS:
        raise SafetyRefusal(
            f"{environment} is protected: plain 'alembic {command}' is refused there; use "
            f"'uv run invoke db.{command} --env {environment}', which holds the migration lock "
            "and records the ledger"
        )
    url = resolve_url(settings)
    engine = create_sync_engine(url, application_name="alembic-cli")
    try:
        with (
            translate_connection_errors(url, settings.database_url_env),
            engine.connect() as connection,
        ):
            yield connection
    finally:
        engine.dispose()
