"""Alembic environment: the toolkit hands us a connection; the plain CLI gets one from settings.

Online runs use one transaction per revision, so a failure leaves the database at the last good
revision and ``autocommit_block()`` (for ``CREATE INDEX CONCURRENTLY``) works.
"""

from __future__ import annotations

import logging
import os
from logging.config import fileConfig
from pathlib import Path
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine

from agent_db.errors import AgentDbError
from agent_db.migrations.support import include_name
from agent_db.models import Base

config = context.config
if config.config_file_name is not None and Path(config.config_file_name).exists():
    fileConfig(config.config_file_name, disable_existing_loggers=False)
else:  # configured by [tool.alembic] in pyproject.toml (the repository root): no logging section
    logging.basicConfig(format="%(levelname)-5.5s [%(name)s] %(message)s")
    logging.getLogger("alembic").setLevel(logging.INFO)

target_metadata = Base.metadata


def environment_name() -> str:
    """The environment: set by the toolkit, or ``-x env=NAME``, or ``AGENT_ENV``, or dev."""
    chosen = config.attributes.get("environment") or context.get_x_argument(as_dictionary=True).get("env")
    return str(chosen or os.environ.get("AGENT_ENV") or "dev")


def common_options() -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "compare_server_default": True,
        "include_name": include_name,
    }


def run_migrations_offline() -> None:
    """Render SQL without a database (``--sql``); only the dialect matters here."""
    context.configure(
        url=config.attributes.get("offline_url", "postgresql+psycopg://"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **common_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def migrate(connection: Connection, on_version_apply: Any = None) -> None:
    context.configure(
        connection=connection,
        transaction_per_migration=True,
        on_version_apply=on_version_apply or config.attributes.get("on_version_apply"),
        **common_options(),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Engine):  # pytest-alembic hands over an engine
        with given.connect() as connection:
            migrate(connection)
        return
    if given is not None:
        migrate(given)
        return
    from agent_db.migrations.plain_cli import (
        connect_for_plain_cli,
        fail,
        ledger_recorder,
        refuse_unregistered_models_for_plain_cli,
    )

    try:
        refuse_unregistered_models_for_plain_cli(config)
        with connect_for_plain_cli(config, environment_name()) as connection:
            migrate(connection, ledger_recorder(environment_name()))
    except AgentDbError as error:
        fail(config, error)


if context.is_offline_mode():
    from agent_db.migrations.plain_cli import closed_stdout_ends_quietly

    with closed_stdout_ends_quietly():
        run_migrations_offline()
else:
    run_migrations_online()
