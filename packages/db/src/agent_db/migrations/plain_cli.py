"""Connection for the plain Alembic CLI (``alembic -c packages/db/alembic.ini ...``).

The toolkit passes its own connection; this path serves people who type Alembic commands.
Writing commands against a protected environment are refused here: those go through
``invoke db.upgrade`` / ``db.downgrade``, which hold the lock and keep the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script
from sqlalchemy import Connection

from agent_db.database.engines import create_sync_engine, translate_connection_errors
from agent_db.database.ledger import Direction, ensure_ledger, record_completed_step
from agent_db.database.target import resolve_url
from agent_db.errors import SafetyRefusal
from agent_db.revisions.phases import phase_of
from agent_db.revisions.revision_file import file_checksum
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
            translate_connection_errors(url, settings.toolkit_url_variable),
            engine.connect() as connection,
        ):
            yield connection
    finally:
        engine.dispose()


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
