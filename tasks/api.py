"""``api.*`` and ``dev``: serve the API, and the operator actions around a release."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from tasks._shared import ENV_HELP, reporter, reports_errors, target


@task(help={"env": ENV_HELP, "host": "interface to bind", "port": "port", "workers": "processes"})
@reports_errors
def serve(c: Context, env: str = "dev", host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the API against that environment's database."""
    from agent_api.serve import serve as serve_api

    serve_api(env, host, port, workers)


@task(help={"env": ENV_HELP, "username": "the registered account to make a superuser"})
@reports_errors
def grant_superuser(c: Context, username: str, env: str = "dev") -> None:
    """Make a registered account a superuser (there is no endpoint for the first one)."""
    from agent_db.cli.console import say
    from agent_db.commands.accounts import grant_superuser as grant

    grant(target(env), username)
    say(f"{username} is now a superuser in {env}")


@task(
    help={
        "env": ENV_HELP,
        "command": "run this instead of $API_ROLLOUT_COMMAND",
        "timeout": "seconds before the command is stopped (default 900)",
    }
)
@reports_errors
def rollout(c: Context, env: str = "dev", command: str = "", timeout: float = 900.0) -> None:
    """Deploy the API's new release with $API_ROLLOUT_COMMAND (says so when none is set)."""
    from agent_db.cli.console import say, warn_skipped
    from agent_db.cli.github import print_annotation
    from agent_db.commands import rollout as rollout_module

    result = rollout_module.rollout(env, command=command or None, timeout=timeout)
    if not result.configured:
        message = rollout_module.not_configured_message(env)
        warn_skipped(message)
        print_annotation("warning", f"{env}: no API rollout", message)
        return
    say(f"{env}: rollout with {result.program} finished in {result.seconds:.0f}s")


@task(
    help={
        "env": ENV_HELP,
        "url": "the API's base URL, e.g. https://api.example.com (empty: skip, with a warning)",
        "timeout": "seconds to keep retrying (default 300)",
        "interval": "seconds between attempts (default 5)",
    }
)
@reports_errors
def smoke(c: Context, env: str = "dev", url: str = "", timeout: float = 300.0, interval: float = 5.0) -> None:
    """Retry /ready until the API serves this release on the environment's live schema and the
    environment's census shows a live process of it."""
    from agent_db.cli.console import say, warn_skipped
    from agent_db.cli.github import print_annotation
    from agent_db.commands.smoke import expectation_for, smoke_check
    from agent_db.commands.smoke_census import ReleaseBuild, census_check
    from agent_db.database.ledger import git_commit
    from agent_db.settings import load_settings

    if not url.strip():
        message = (
            f"no API URL for {env}, so nothing was checked; set the API_URL variable of the GitHub "
            "environment (or pass --url) once the API runs somewhere"
        )
        warn_skipped(message)
        print_annotation("warning", f"{env}: no smoke check", message)
        return
    expected = expectation_for(env)
    release = ReleaseBuild(expected.code_heads, git_commit())
    # The census is read where the environment's database is reachable (the deploy job).
    census = census_check(target(env), release) if expected.live_revision is not None else None
    ready = smoke_check(
        url,
        expected,
        environment=env,
        timeout=timeout,
        interval=interval,
        on_wait=lambda problem: say(f"waiting: {problem}"),
        census=census,
    )
    say(f"{env}: the API serves this release (code and database at {', '.join(ready.schema_revision)})")
    if census is not None:
        say(f"{env}: the census shows a live process of this release ({release.describe()})")
    else:
        say(f"{env}: census not checked ({load_settings(env).database_url_env} is not set here)")


@task(
    help={
        "base": "the previous release: a commit, tag or branch (CI: the pull request's base)",
        "json": "print one JSON document",
    }
)
@reports_errors
def compat(c: Context, base: str, json: bool = False) -> None:
    """Serve the --base release's API on a scratch database migrated by this commit's expand
    revisions, one at a time, and run its own API flows after each (exit 3 names the revision
    that breaks it). Scratch databases go to AGENT_DB_REFERENCE_URL's server."""
    from agent_db.cli.compat import print_compat
    from agent_db.cli.console import say
    from agent_db.commands.compat import CompatibilityBroken, run_compat
    from agent_db.commands.drift import reference

    try:
        report = run_compat(base, server=reference().server(), on_step=say)
    except CompatibilityBroken as broken:
        print_compat(broken.report, as_json=json)
        raise
    print_compat(report, as_json=json)


@task(help={"host": "interface to bind", "port": "port"})
@reports_errors
def dev(c: Context, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Start (or reuse) the embedded PostgreSQL when dev has no URL, upgrade dev, serve the API."""
    from agent_api.serve import serve as serve_api
    from agent_db.cli.console import say
    from agent_db.commands import migrate

    dev_target = target("dev")
    say(f"dev database: {dev_target.safe_url}")
    migrate.upgrade(dev_target, "head", reporter=reporter("dev"))
    serve_api("dev", host, port, 1)


collection = Collection("api", serve, grant_superuser, rollout, smoke, compat)
