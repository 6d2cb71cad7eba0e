"""The SQL a revision runs, rendered offline exactly as ``alembic upgrade PARENT:REV --sql``
would (and for the first revision, ``base:REV``), one revision at a time."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from agent_db.errors import ConfigError
from agent_db.revisions.alembic_bridge import run_environment, scripts_for, steps_to
from agent_db.revisions.alembic_config import alembic_config
from agent_db.revisions.import_blame import import_failure

if TYPE_CHECKING:
    from agent_db.revisions.graph import Revision, RevisionGraph


def render_upgrade(graph: RevisionGraph, revision: Revision, *, environment: str = "dev") -> str:
    """The SQL that upgrading from ``revision``'s parent(s) to ``revision`` emits."""
    # Offline, Alembic takes the starting point as the current heads; a merge starts from all
    # of its parents.
    parents = revision.down_revisions
    starting = parents[0] if len(parents) == 1 else None
    start_label = "+".join(parents) or "base"
    buffer = io.StringIO()
    config = alembic_config(environment, output_buffer=buffer, stdout=io.StringIO())
    script = scripts_for(config, graph, [revision.id])
    try:
        run_environment(
            config,
            script,
            steps_to(script, "upgrade", revision.id, start=parents),
            destination=revision.id,
            as_sql=True,
            starting_rev=starting,
        )
    except Exception as error:
        raise cannot_render(revision, start_label, revision.id, error) from None
    return buffer.getvalue()


def render_downgrade(graph: RevisionGraph, revision: Revision, *, environment: str = "dev") -> str:
    """The SQL that reverting ``revision`` to its parent emits, as ``alembic downgrade
    REV:PARENT --sql`` would (a merge is not reverted automatically: see commands/steps)."""
    parents = revision.down_revisions
    destination = parents[0] if len(parents) == 1 else "base"
    buffer = io.StringIO()
    config = alembic_config(environment, output_buffer=buffer, stdout=io.StringIO())
    script = scripts_for(config, graph, [revision.id])
    try:
        run_environment(
            config,
            script,
            steps_to(script, "downgrade", destination, start=[revision.id]),
            destination=destination,
            as_sql=True,
            starting_rev=revision.id,
        )
    except Exception as error:
        raise cannot_render(revision, revision.id, destination, error) from None
    return buffer.getvalue()


def cannot_render(revision: Revision, start: str, destination: str, error: Exception) -> ConfigError:
    """An import failure names the file and line that raised (a model: env.py imports them
    first, so the revision file is not at fault); anything else is the revision's own."""
    failure = import_failure(error)
    if failure is not None:
        return ConfigError(f"cannot render the SQL of {start} -> {destination}: {failure.describe()}")
    return ConfigError(
        f"{revision.path.name}: cannot render the SQL of {start} -> {destination} "
        f"offline: {type(error).__name__}: {error}"
    )


def timeout_preamble(lock_timeout: str, statement_timeout: str) -> str:
    """What the runner sets on the migration connection before each revision."""
    return f"SET lock_timeout = '{lock_timeout}';\nSET statement_timeout = '{statement_timeout}';\n"
