"""The SQL a revision runs, rendered offline exactly as ``alembic upgrade PARENT:REV --sql``
would (and for the first revision, ``base:REV``), one revision at a time."""

from __future__ import annotations

import io
from typing import Any

from alembic.runtime.environment import EnvironmentContext

from agent_db.errors import ConfigError
from agent_db.revisions.alembic_bridge import scripts_for
from agent_db.revisions.alembic_config import alembic_config
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

    def steps(rev: Any, context: Any) -> Any:
        return script._upgrade_revs(revision.id, parents)  # type: ignore[arg-type]

    try:
        with EnvironmentContext(
            config,
            script,
            fn=steps,
            as_sql=True,
            starting_rev=starting,
            destination_rev=revision.id,
            tag=None,
        ):
            script.run_env()
    except Exception as error:
        raise ConfigError(
            f"{revision.path.name}: cannot render the SQL of {start_label} -> {revision.id} "
            f"offline: {type(error).__name__}: {error}"
        ) from None
    return buffer.getvalue()


def timeout_preamble(lock_timeout: str, statement_timeout: str) -> str:
    """What the runner sets on the migration connection before each revision."""
    return f"SET lock_timeout = '{lock_timeout}';\nSET statement_timeout = '{statement_timeout}';\n"
