"""Connection for the plain Alembic CLI (``alembic -c packages/db/alembic.ini ...``).

The toolkit passes its own connection; this path serves people who type Alembic commands.
On a protected environment only the commands that read are served: revisions reach it through
``invoke db.promote`` (the promotion gate), and a downgrade or stamp through the task with
``--allow-protected --reason``; the refusal says which (exit 3).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script
from alembic.util import CommandError
from sqlalchemy import Connection

from agent_db.database.engines import create_sync_engine, translate_connection_errors
from agent_db.database.ledger import Direction, ensure_ledger, record_completed_step
from agent_db.database.target import resolve_url
from agent_db.errors import AgentDbError, SafetyRefusal
from agent_db.revisions.phases import phase_of
from agent_db.revisions.revision_file import file_checksum
from agent_db.settings import DatabaseSettings, load_settings

# What may run against a protected environment: these only read it (revision --autogenerate
# compares, then writes a file here). Anything else, or a command this cannot name, is refused.
READING_COMMANDS = frozenset({"current", "check", "history", "heads", "branches", "show", "revision"})


def _command_name(config: Config) -> str | None:
    options = getattr(config, "cmd_opts", None)
    command = getattr(options, "cmd", None)
    if isinstance(command, tuple) and command:
        return getattr(command[0], "__name__", None)
    return None


def protected_refusal(settings: DatabaseSettings, command: str | None) -> str:
    """Why plain ``alembic COMMAND`` may not write to ``settings``' environment, and the way through."""
    name = settings.name
    refused = f"{name} is protected: plain 'alembic {command or '(this command)'}' is refused there"
    if command in ("downgrade", "stamp"):
        return (
            f"{refused}; run 'uv run invoke db.{command} --env {name} --to REV --allow-protected "
            '--reason "why"\', which holds the migration lock and records the reason in the ledger'
        )
    if not settings.promote_from:
        return f"{refused}; use the 'uv run invoke db.*' tasks, which hold the migration lock and the ledger"
    return (
        f"{refused}; revisions reach {name} only by promotion from {settings.promote_from}: run "
        f"'uv run invoke db.promote --to {name}', which applies what {settings.promote_from} has "
        "run successfully, never further, under the migration lock and the ledger"
    )


@contextmanager
def connect_for_plain_cli(config: Config, environment: str) -> Iterator[Connection]:
    settings = load_settings(environment)
    command = _command_name(config)
    if settings.protected and command not in READING_COMMANDS:
        raise SafetyRefusal(protected_refusal(settings, command))
    url = resolve_url(settings)
    engine = create_sync_engine(url, application_name="alembic-cli")
    try:
        with (
            translate_connection_errors(url, settings.toolkit_url_variable),
            engine.connect() as connection,
        ):
            yield connection
    finally:
        engine.dispose()


def refuse_unregistered_models_for_plain_cli(config: Config) -> None:
    """``alembic check`` and ``alembic revision --autogenerate`` compare with ``Base.metadata``:
    a model the registry does not import would be invisible to them (exit 3, as db.check)."""
    command = _command_name(config)
    autogenerate = bool(getattr(getattr(config, "cmd_opts", None), "autogenerate", False))
    if command == "check" or (command == "revision" and autogenerate):
        from agent_db.models.registry_check import refuse_unregistered  # env.py imported them

        refuse_unregistered()


@contextmanager
def closed_stdout_ends_quietly() -> Iterator[None]:
    """``alembic upgrade head --sql | head``: the SQL meets a closed pipe; end like the tasks do
    (agent_db/cli/pipes.py, which this layer may not import): the rest to /dev/null, exit 141."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise SystemExit(141) from None


def fail(config: Config, error: AgentDbError) -> NoReturn:
    """Stop the command over ``error``: typed at a shell, ``FAILED: ...`` on stderr and the
    contract's exit code (3 for a refusal; Alembic's own would be 255); called from code, the
    ``CommandError`` Alembic's API raises."""
    if getattr(config, "cmd_opts", None) is None:
        raise CommandError(str(error)) from None
    sys.stderr.write(f"FAILED: {error}\n")
    raise SystemExit(error.exit_code)


def ledger_recorder(environment: str) -> Callable[..., None]:
    """An ``on_version_apply`` callback that records plain-CLI steps in the ledger, in the
    step's own transaction, so status, verify and promote see them too."""

    def record(*, ctx: MigrationContext, step: MigrationInfo, **_: object) -> None:
        connection = ctx.connection
        assert connection is not None
        ensure_ledger(connection, commit=False)
        direction: Direction
        if step.is_stamp:
            revisions, direction = step.destination_revision_ids, "stamp"
        elif step.is_upgrade:
            revisions, direction = step.up_revision_ids, "upgrade"
        else:
            revisions, direction = step.up_revision_ids, "downgrade"
        for revision in revisions:
            script = step.revision_map.get_revision(revision)
            path = Path(script.path) if isinstance(script, Script) else None
            record_completed_step(
                connection,
                revision=revision,
                direction=direction,
                checksum=file_checksum(path.read_bytes()) if path and path.exists() else None,
                environment=environment,
                reason="plain alembic CLI",
                phase=phase_of(script) if isinstance(script, Script) else None,
            )

    return record
