"""``db.consumers``: the census of the processes running on an environment's schema (the
other ``db.*`` verbs are in :mod:`tasks.db`)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from tasks._shared import ENV_HELP, reports_errors, target


@task(help={"env": ENV_HELP, "json": "print one JSON document"})
@reports_errors
def consumers(c: Context, env: str = "dev", json: bool = False) -> None:
    """The live consumers of the environment's schema: host, pid, build, started, last seen."""
    from agent_db.cli.consumers import print_census
    from agent_db.commands.consumers import read_census

    print_census(read_census(target(env)), as_json=json)
