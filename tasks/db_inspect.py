"""``db.*`` verbs that only read: where environments stand, the history, the plan, verification,
and a psql session (logic in ``agent_db.commands``, output in ``agent_db.cli``)."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from tasks._shared import ENV_HELP, ROOT, reports_errors, target


@task(help={"env": ENV_HELP})
@reports_errors
def current(c: Context, env: str = "dev") -> None:
    """Print the environment's revision(s), marked (head) when at head."""
    from agent_db.cli.results import print_current
    from agent_db.commands.positions import read_position
    from agent_db.revisions.graph import default_graph

    graph = default_graph()
    print_current(read_position(target(env)), graph)


@task(help={"env": ENV_HELP})
@reports_errors
def heads(c: Context, env: str = "dev") -> None:
    """Print the head revision(s) of the migration history."""
    from agent_db.cli.results import print_heads
    from agent_db.revisions.graph import default_graph
    from agent_db.settings import load_settings

    load_settings(env)  # an unknown --env is an error here too, not silently ignored
    print_heads(default_graph())


@task(
    help={
        "env": ENV_HELP,
        "verbose": "show parents, paths and full messages",
        "json": "print one JSON document",
    }
)
@reports_errors
def history(c: Context, env: str = "dev", verbose: bool = False, json: bool = False) -> None:
    """The revision history, newest first, with each revision's phase, marking where each
    reachable environment stands."""
    from agent_db.cli.console import print_json
    from agent_db.cli.results import print_history
    from agent_db.commands.history import history as read_history
    from agent_db.commands.positions import all_positions
    from agent_db.revisions.graph import default_graph
    from agent_db.settings import load_settings

    load_settings(env)  # an unknown --env is an error here too, not silently ignored
    entries = read_history(default_graph(), all_positions())
    if json:
        print_json({"revisions": [entry.as_json() for entry in entries]})
    else:
        print_history(entries, verbose=verbose, root=ROOT)


@task(
    help={
        "json": "print one JSON document",
        "markdown": "print a Markdown table and a Mermaid graph (for a GitHub job summary)",
        "drift": "compare each live schema with the history (default on; --no-drift skips it)",
    }
)
@reports_errors
def status(c: Context, json: bool = False, markdown: bool = False, drift: bool = True) -> None:
    """Every environment side by side: current, pending, checksums, drift, last deployment."""
    from agent_db.cli.console import print_json
    from agent_db.cli.status import print_status, render_markdown
    from agent_db.commands.status import collect_status
    from agent_db.revisions.graph import default_graph

    graph = default_graph()
    result = collect_status(drift=drift, graph=graph)
    if json:
        print_json(result.as_json())
    elif markdown:
        print(render_markdown(result, graph), end="")
    else:
        print_status(result)


@task(help={"env": ENV_HELP, "to": "target revision (default head)", "json": "print JSON"})
@reports_errors
def plan(c: Context, env: str = "dev", to: str = "head", json: bool = False) -> None:
    """The revisions and the exact SQL that db.upgrade would run now; runs nothing."""
    from agent_db.cli.console import print_json
    from agent_db.commands.plan import build_plan

    result = build_plan(target(env), to)
    if json:
        print_json(result.as_json())
    else:
        print(result.as_sql(), end="")


@task(
    help={
        "env": ENV_HELP,
        "json": "print one JSON document",
        "drift": "compare the live schema with the history (default on)",
    }
)
@reports_errors
def verify(c: Context, env: str = "dev", json: bool = False, drift: bool = True) -> None:
    """Applied revisions' checksums against the files, and the live schema against the history."""
    from agent_db.cli.results import print_verification
    from agent_db.commands.verify import verify as run_verify

    result = run_verify(target(env), drift=drift)
    print_verification(result, as_json=json)
    refusal = result.refusal()
    if refusal is not None:
        raise refusal


@task(
    iterable=["command"],
    help={
        "env": ENV_HELP,
        "command": "SQL or a psql meta-command such as '\\dt' to run instead of the prompt "
        "(repeatable, run in order; stops at the first error)",
        "file": "a SQL script to run instead of the prompt",
        "write": "on a protected environment (prod), open the session writable (default read-only)",
    },
)
@reports_errors
def psql(
    c: Context, env: str = "dev", command: list[str] | None = None, file: str = "", write: bool = False
) -> None:
    """Open psql on the environment's database, the embedded one included (no URL or socket to
    know); exit code psql's. A protected environment's session is read-only unless --write."""
    import os

    from invoke.exceptions import Exit

    from agent_db.cli.console import say
    from agent_db.commands.psql import psql_session, run_psql
    from agent_db.settings import load_settings

    settings = load_settings(env)
    embedded = settings.embedded_fallback and settings.url_variable() is None
    session = psql_session(
        target(env), commands=command or (), file=file or None, write=write, embedded=embedded
    )
    note = " (read-only: --write to change data)" if session.read_only else ""
    say(f"{env}: psql on {session.location}{note}")
    code = run_psql(session, os.environ)
    if code:
        raise Exit(code=code)
