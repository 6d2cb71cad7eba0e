"""``db.*``: the migration toolkit's verbs, one task each (logic in ``agent_db.commands``,
output in ``agent_db.cli``)."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from tasks._shared import ENV_HELP, OVERRIDE_HELP, ROOT, reporter, reports_errors, target


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


@task(help={"env": ENV_HELP, "verbose": "show parents, paths and full messages"})
@reports_errors
def history(c: Context, env: str = "dev", verbose: bool = False) -> None:
    """The revision history, newest first, marking where each reachable environment stands."""
    from agent_db.cli.results import print_history
    from agent_db.commands.history import history as read_history
    from agent_db.commands.positions import all_positions
    from agent_db.revisions.graph import default_graph
    from agent_db.settings import load_settings

    load_settings(env)  # an unknown --env is an error here too, not silently ignored
    print_history(read_history(default_graph(), all_positions()), verbose=verbose, root=ROOT)


@task(help={"env": ENV_HELP, "to": "target revision (default head)", "json": "print a JSON result"})
@reports_errors
def upgrade(c: Context, env: str = "dev", to: str = "head", json: bool = False) -> None:
    """Apply revisions up to --to under the migration lock, timeouts and ledger."""
    from agent_db.cli.results import print_run
    from agent_db.commands import migrate

    print_run(migrate.upgrade(target(env), to, reporter=reporter(env)), as_json=json)


@task(
    help={
        "env": ENV_HELP,
        "to": "target revision: an id, 'base', or relative such as -1 (write --to=-1)",
        "json": "print a JSON result",
        "accept_data_loss": "go on although the downgrade drops columns or tables that hold data",
        **OVERRIDE_HELP,
    }
)
@reports_errors
def downgrade(
    c: Context,
    to: str,
    env: str = "dev",
    allow_protected: bool = False,
    reason: str = "",
    accept_data_loss: bool = False,
    json: bool = False,
) -> None:
    """Revert revisions down to --to (refused on protected environments without override)."""
    from agent_db.cli.console import confirm_by_typing, err_console
    from agent_db.cli.results import print_run
    from agent_db.commands import migrate
    from agent_db.commands.data_loss import DataLossRefusal

    def run(accepted: bool) -> migrate.RunResult:
        return migrate.downgrade(
            target(env),
            to,
            allow_protected=allow_protected,
            reason=reason or None,
            accept_data_loss=accepted,
            reporter=reporter(env),
        )

    try:
        result = run(accept_data_loss)
    except DataLossRefusal as refusal:
        # A person at a terminal may accept here; a script must say --accept-data-loss.
        err_console.print(str(refusal), markup=False)
        if not confirm_by_typing(f"This destroys the data above in {env}.", env):
            raise
        result = run(True)
    print_run(result, as_json=json)


@task(help={"env": ENV_HELP, "to": "revision to record as current ('base' to clear)", **OVERRIDE_HELP})
@reports_errors
def stamp(c: Context, to: str, env: str = "dev", allow_protected: bool = False, reason: str = "") -> None:
    """Record --to as the current revision without running it (refused on protected envs)."""
    from agent_db.cli.results import print_run
    from agent_db.commands import migrate

    result = migrate.stamp(
        target(env), to, allow_protected=allow_protected, reason=reason or None, reporter=reporter(env)
    )
    print_run(result, as_json=False)


@task(
    help={
        "env": ENV_HELP,
        "message": "what the revision does, e.g. 'add agents table'",
        "autogenerate": "fill the revision from the difference between models and migrations",
    }
)
@reports_errors
def revision(c: Context, message: str, env: str = "dev", autogenerate: bool = False) -> None:
    """Write a new revision file into packages/db/src/agent_db/migrations/versions/."""
    import os

    from agent_db.commands.authoring import create_revision

    for path in create_revision(target(env), message, autogenerate=autogenerate):
        print(os.path.relpath(path, ROOT))


@task(help={"env": ENV_HELP})
@reports_errors
def check(c: Context, env: str = "dev") -> None:
    """Fail (exit 3) when the models and the migrations disagree."""
    from agent_db.cli.console import say
    from agent_db.commands.authoring import check_models_match

    check_models_match(target(env))
    say("models and migrations agree")


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
    help={
        "to": "the environment to promote (staging, prod)",
        "manifest": "the previous stage's manifest, instead of reading the source live",
        "manifest_out": "where to write this stage's manifest (default manifests/<env>.json)",
        "json": "print a JSON result",
    }
)
@reports_errors
def promote(
    c: Context, to: str, manifest: str | None = None, manifest_out: str | None = None, json: bool = False
) -> None:
    """Move --to to the revision its promote_from environment has verified, never further."""
    from agent_db.cli.results import print_promotion
    from agent_db.commands.promote import promote as run_promote
    from agent_db.inputs import check_path

    # None when the flag is absent; an empty value given on purpose is refused, not ignored.
    result = run_promote(
        to,
        manifest=check_path(manifest, "--manifest") if manifest is not None else None,
        manifest_out=check_path(manifest_out, "--manifest-out") if manifest_out is not None else None,
        reporter=reporter(to),
    )
    print_promotion(result, as_json=json)


@task(
    name="lint",
    help={
        "env": "environment whose lock_timeout/statement_timeout the runner would set (default dev)",
        "all": "lint every revision, not only those added or changed since the merge base with main",
        "json": "print one JSON document",
    },
)
@reports_errors
def lint_migrations(c: Context, env: str = "dev", all: bool = False, json: bool = False) -> None:
    """Safety lint of new (or --all) revisions, each on its own: exit 3 on an unaccepted finding."""
    from agent_db.cli.console import print_json
    from agent_db.lint import lint_revisions, refusal

    report = lint_revisions(all_revisions=all, environment=env)
    if json:
        print_json(report.as_json())
    else:
        from agent_db.cli.lint import print_report

        print_report(report)
    problem = refusal(report)
    if problem is not None:
        raise problem


@task(
    help={
        "env": ENV_HELP,
        "out": "where to write it (default manifests/<env>.json)",
        "json": "print a JSON result",
    }
)
@reports_errors
def manifest(c: Context, env: str = "dev", out: str = "", json: bool = False) -> None:
    """Write a manifest of the environment's live state, for the next stage's db.promote --manifest."""
    from agent_db.cli.results import print_manifest_written
    from agent_db.commands.manifest import write_environment_manifest

    print_manifest_written(write_environment_manifest(env, Path(out) if out else None), as_json=json)


collection = Collection(
    "db",
    current,
    heads,
    history,
    upgrade,
    downgrade,
    stamp,
    revision,
    check,
    status,
    plan,
    verify,
    promote,
    lint_migrations,
    manifest,
)
