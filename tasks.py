"""Invoke tasks: the one command surface for people and CI (``uv run invoke --list``).

Tasks stay thin: they parse arguments, call ``agent_db`` / ``agent_api``, and print. Errors
become one message and the exit code of the command contract (1 failure, 2 bad usage or
configuration, 3 refused by a safety rule).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent
F = TypeVar("F", bound=Callable[..., Any])

ENV_HELP = "environment: dev, staging or prod (files in environments/); default dev"


def reports_errors[F: Callable[..., Any]](function: F) -> F:
    """Turn toolkit errors into a one-line message and the contract's exit code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent_db.errors import AgentDbError

        try:
            return function(*args, **kwargs)
        except AgentDbError as error:
            from rich.markup import escape

            from agent_db.cli.console import err_console

            # Messages quote what they were given (a flag, another session's query): escaped,
            # or Rich would read "[...]" in them as markup.
            err_console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
            raise Exit(code=error.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# --------------------------------------------------------------------------- db


@task(help={"env": ENV_HELP})
@reports_errors
def current(c: Context, env: str = "dev") -> None:
    """Print the environment's revision(s), marked (head) when at head."""
    from agent_db.commands.positions import read_position
    from agent_db.database.target import Target
    from agent_db.revisions.graph import default_graph

    graph = default_graph()
    revisions = read_position(Target.resolve(env))
    if not revisions:
        print("base (no revision applied)")
    for revision in revisions:
        mark = " (head)" if revision in graph.heads else ""
        known = "" if revision in graph else "  [unknown to this checkout]"
        print(f"{revision}{mark}{known}")


@task(help={"env": ENV_HELP})
@reports_errors
def heads(c: Context, env: str = "dev") -> None:
    """Print the head revision(s) of the migration history."""
    from agent_db.revisions.graph import default_graph
    from agent_db.settings import load_settings

    load_settings(env)  # an unknown --env is an error here too, not silently ignored

    graph = default_graph()
    for head in graph.heads:
        print(f"{head} (head)  {graph[head].message}")


@task(help={"env": ENV_HELP, "verbose": "show parents, paths and full messages"})
@reports_errors
def history(c: Context, env: str = "dev", verbose: bool = False) -> None:
    """The revision history, newest first, marking where each reachable environment stands."""
    from agent_db.commands import history as history_module
    from agent_db.commands.positions import all_positions
    from agent_db.revisions.graph import default_graph
    from agent_db.settings import load_settings

    load_settings(env)  # an unknown --env is an error here too, not silently ignored
    graph = default_graph()
    for entry in history_module.history(graph, all_positions()):
        head = " (head)" if entry.is_head else ""
        envs = f"  <- {', '.join(entry.environments)}" if entry.environments else ""
        parents = ", ".join(entry.parents) or "<base>"
        if not verbose:
            print(f"{parents} -> {entry.revision}{head}, {entry.message}{envs}")
            continue
        print(f"Rev: {entry.revision}{head}{envs}")
        print(f"Parent: {parents}")
        print(f"Path: {os.path.relpath(entry.path, ROOT)}")
        print()
        for line in history_module.docstring(entry.path).splitlines():
            print(f"    {line}".rstrip())
        print()


def _target(env: str) -> Any:
    from agent_db.database.target import Target

    return Target.resolve(env)


def _reporter(env: str) -> Any:
    from agent_db.cli.console import RichReporter

    return RichReporter(env)


def _print_result(result: Any, as_json: bool) -> None:
    if as_json:
        _print_json(result.as_json())
        return
    from agent_db.cli.console import err_console

    after = ", ".join(result.after) or "base"
    if result.nothing_to_do:
        err_console.print(f"{result.environment}: nothing to do; at {after}", markup=False)
    else:
        err_console.print(f"{result.environment}: now at {after}", markup=False)


@task(help={"env": ENV_HELP, "to": "target revision (default head)", "json": "print a JSON result"})
@reports_errors
def upgrade(c: Context, env: str = "dev", to: str = "head", json: bool = False) -> None:
    """Apply revisions up to --to under the migration lock, timeouts and ledger."""
    from agent_db.commands import migrate

    _print_result(migrate.upgrade(_target(env), to, reporter=_reporter(env)), json)


OVERRIDE_HELP = {
    "allow_protected": "required to do this on a protected environment (prod)",
    "reason": "why, recorded in the ledger (required with --allow-protected)",
}


@task(
    help={
        "env": ENV_HELP,
        "to": "target revision: an id, 'base', or relative such as -1 (write --to=-1)",
        "json": "print a JSON result",
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
    json: bool = False,
) -> None:
    """Revert revisions down to --to (refused on protected environments without override)."""
    from agent_db.commands import migrate

    result = migrate.downgrade(
        _target(env),
        to,
        allow_protected=allow_protected,
        reason=reason or None,
        reporter=_reporter(env),
    )
    _print_result(result, json)


@task(help={"env": ENV_HELP, "to": "revision to record as current ('base' to clear)", **OVERRIDE_HELP})
@reports_errors
def stamp(c: Context, to: str, env: str = "dev", allow_protected: bool = False, reason: str = "") -> None:
    """Record --to as the current revision without running it (refused on protected envs)."""
    from agent_db.commands import migrate

    result = migrate.stamp(
        _target(env),
        to,
        allow_protected=allow_protected,
        reason=reason or None,
        reporter=_reporter(env),
    )
    _print_result(result, False)


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
    from agent_db.commands.authoring import create_revision

    for path in create_revision(_target(env), message, autogenerate=autogenerate):
        print(os.path.relpath(path, ROOT))


@task(help={"env": ENV_HELP})
@reports_errors
def check(c: Context, env: str = "dev") -> None:
    """Fail (exit 3) when the models and the migrations disagree."""
    from agent_db.cli.console import err_console
    from agent_db.commands.authoring import check_models_match

    check_models_match(_target(env))
    err_console.print("models and migrations agree")


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
    from agent_db.commands.status import collect_status
    from agent_db.revisions.graph import default_graph

    graph = default_graph()
    result = collect_status(drift=drift, graph=graph)
    if json:
        _print_json(result.as_json())
        return
    if markdown:
        from agent_db.cli.status_markdown import render_markdown

        print(render_markdown(result, graph), end="")
        return
    from agent_db.cli.console import print_status

    print_status(result)


@task(help={"env": ENV_HELP, "to": "target revision (default head)", "json": "print JSON"})
@reports_errors
def plan(c: Context, env: str = "dev", to: str = "head", json: bool = False) -> None:
    """The revisions and the exact SQL that db.upgrade would run now; runs nothing."""
    from agent_db.commands.plan import build_plan

    result = build_plan(_target(env), to)
    if json:
        _print_json(result.as_json())
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
    from agent_db.commands.verify import verify as run_verify
    from agent_db.errors import SafetyRefusal

    result = run_verify(_target(env), drift=drift)
    if json:
        _print_json(result.as_json())
    problems = [m.describe() for m in result.checksums.mismatches]
    problems += [f"drift: {d.describe()}" for d in result.drift]
    if problems:
        raise SafetyRefusal(
            f"{env} failed verification:\n  - "
            + "\n  - ".join(problems)
            + "\nRestore edited revision files from git; undo hand-made schema changes or "
            "capture them in a new revision"
        )
    if not json:
        from agent_db.cli.console import err_console

        unrecorded = result.checksums.unrecorded
        note = f" ({len(unrecorded)} applied revision(s) have no ledger record)" if unrecorded else ""
        err_console.print(f"{env}: checksums match the files and no drift{note}", markup=False)


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
    from agent_db.cli.console import err_console
    from agent_db.commands.promote import promote as run_promote
    from agent_db.inputs import check_path

    # None when the flag is absent; an empty value given on purpose is refused, not ignored.
    result = run_promote(
        to,
        manifest=check_path(manifest, "--manifest") if manifest is not None else None,
        manifest_out=check_path(manifest_out, "--manifest-out") if manifest_out is not None else None,
        reporter=_reporter(to),
    )
    if json:
        _print_json(result.as_json())
        return
    after = ", ".join(result.run.after) or "base"
    done = "nothing to do" if not result.run.applied else f"applied {len(result.run.applied)}"
    err_console.print(
        f"{to}: {done}; at {after} (= {result.source.environment}, read {result.source.origin}); "
        f"manifest written to {result.manifest_path}",
        markup=False,
    )


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
    from agent_db.lint import lint_revisions, refusal

    report = lint_revisions(all_revisions=all, environment=env)
    if json:
        _print_json(report.as_json())
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
    from agent_db.cli.console import err_console
    from agent_db.commands.manifest import write_environment_manifest

    result = write_environment_manifest(env, Path(out) if out else None)
    if json:
        _print_json(result.as_json())
        return
    at = ", ".join(result.manifest.position) or "base"
    err_console.print(f"{env}: at {at}; manifest written to {result.path}")


db = Collection(
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


# --------------------------------------------------------------------------- api


@task(help={"env": ENV_HELP, "host": "interface to bind", "port": "port", "workers": "processes"})
@reports_errors
def serve(c: Context, env: str = "dev", host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the API against that environment's database."""
    _serve(env, host, port, workers)


def _serve(env: str, host: str, port: int, workers: int) -> None:
    import signal

    import uvicorn

    # uvicorn re-raises SIGTERM after its graceful shutdown; with the default handler that kills
    # the process before atexit runs, and the embedded PostgreSQL would be left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from agent_db.database.target import resolve_url
    from agent_db.settings import load_settings

    settings = load_settings(env)
    # Resolve once here (starting the embedded server for dev), and hand the URL to workers.
    url = resolve_url(settings)
    os.environ[settings.database_url_env] = url.render_as_string(hide_password=False)
    os.environ["AGENT_ENV"] = env
    uvicorn.run(
        "agent_api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@task(help={"env": ENV_HELP, "username": "the registered account to make a superuser"})
@reports_errors
def grant_superuser(c: Context, username: str, env: str = "dev") -> None:
    """Make a registered account a superuser (there is no endpoint for the first one)."""
    from agent_db.cli.console import err_console
    from agent_db.commands.accounts import grant_superuser as grant

    grant(_target(env), username)
    err_console.print(f"{username} is now a superuser in {env}")


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
    from agent_db.cli.console import err_console
    from agent_db.cli.github import annotation, in_github_actions
    from agent_db.commands import rollout as rollout_module

    result = rollout_module.rollout(env, command=command or None, timeout=timeout)
    if not result.configured:
        message = rollout_module.not_configured_message(env)
        err_console.print(f"[yellow]skipped:[/] {message}", soft_wrap=True)
        if in_github_actions():
            print(annotation("warning", f"{env}: no API rollout", message))
        return
    err_console.print(f"{env}: rollout with {result.program} finished in {result.seconds:.0f}s")


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
    """Retry /ready until the API serves this release on the environment's live schema."""
    from agent_db.cli.console import err_console
    from agent_db.cli.github import annotation, in_github_actions
    from agent_db.commands.smoke import expectation_for, smoke_check

    if not url.strip():
        message = (
            f"no API URL for {env}, so nothing was checked; set the API_URL variable of the GitHub "
            "environment (or pass --url) once the API runs somewhere"
        )
        err_console.print(f"[yellow]skipped:[/] {message}", soft_wrap=True)
        if in_github_actions():
            print(annotation("warning", f"{env}: no smoke check", message))
        return
    expected = expectation_for(env)
    ready = smoke_check(
        url,
        expected,
        environment=env,
        timeout=timeout,
        interval=interval,
        on_wait=lambda problem: err_console.print(f"waiting: {problem}", soft_wrap=True),
    )
    err_console.print(
        f"{env}: the API serves this release (code and database at {', '.join(ready.schema_revision)})"
    )


api = Collection("api", serve, grant_superuser, rollout, smoke)


# --------------------------------------------------------------------------- top level


@task(help={"host": "interface to bind", "port": "port"})
@reports_errors
def dev(c: Context, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Start (or reuse) the embedded PostgreSQL when dev has no URL, upgrade dev, serve the API."""
    from agent_db.cli.console import err_console
    from agent_db.commands import migrate
    from agent_db.database.target import Target

    target = Target.resolve("dev")
    err_console.print(f"dev database: {target.safe_url}", markup=False)
    migrate.upgrade(target, "head", reporter=_reporter("dev"))
    _serve("dev", host, port, 1)


@task(
    help={
        "embedded": "ignore TEST_DATABASE_URL and run against the embedded PostgreSQL",
        "k": "only tests matching this expression (pytest -k)",
        "marker": "only tests with this marker (pytest -m)",
        "args": "extra pytest arguments",
        "workers": "parallel pytest workers (default: one per CPU; 0 runs in one process)",
    }
)
def test(
    c: Context, embedded: bool = False, k: str = "", marker: str = "", args: str = "", workers: int = -1
) -> None:
    """Run the test suite against real PostgreSQL (TEST_DATABASE_URL, else embedded)."""
    env = dict(os.environ)
    if embedded:
        env.pop("TEST_DATABASE_URL", None)
    command = [sys.executable, "-m", "pytest"]
    if workers != 0:
        command += ["-n", "auto" if workers < 0 else str(workers)]
    if k:
        command += ["-k", k]
    if marker:
        command += ["-m", marker]
    import shlex

    command += shlex.split(args)
    result = c.run(shlex.join(command), env=env, warn=True, pty=False)
    if result is None or result.exited != 0:
        raise Exit(code=result.exited if result is not None else 1)


@task(
    help={
        "k": "only scenarios matching this expression (pytest -k)",
        "args": "extra pytest arguments",
    }
)
def chaos(c: Context, k: str = "", args: str = "") -> None:
    """Slow fault and concurrency scenarios (tests marked chaos), each ending in PASS or FAIL."""
    import shlex

    command = [sys.executable, "-m", "pytest", "tests/chaos", "-m", "chaos", "-q", "-p", "no:xdist"]
    if k:
        command += ["-k", k]
    command += shlex.split(args)
    result = c.run(shlex.join(command), warn=True, pty=False)
    if result is None or result.exited != 0:
        raise Exit(code=result.exited if result is not None else 1)


@task(help={"args": "extra pip-audit arguments (e.g. --vulnerability-service osv)"})
def audit(c: Context, args: str = "") -> None:
    """Known vulnerabilities in the locked dependencies (pip-audit; needs network)."""
    import shlex
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "requirements.txt"
        # Exactly what uv.lock pins (all groups), with hashes; the workspace's own packages
        # are not on PyPI and are left out.
        c.run(
            f"uv export --frozen --all-groups --no-emit-workspace --format requirements-txt "
            f"--output-file {shlex.quote(str(requirements))} --quiet",
            pty=False,
        )
        command = [sys.executable, "-m", "pip_audit", "--requirement", str(requirements)]
        # --strict: a dependency that could not be checked is a failure, not a silent pass.
        command += ["--require-hashes", "--disable-pip", "--strict", "--progress-spinner", "off"]
        command += shlex.split(args)
        result = c.run(shlex.join(command), warn=True, pty=False)
    if result is None or result.exited != 0:
        raise Exit(code=result.exited if result is not None else 1)


@task
def lint(c: Context) -> None:
    """ruff, format check, mypy, migration lint, workflow lint."""
    c.run("ruff check .", echo=True)
    c.run("ruff format --check .", echo=True)
    c.run("mypy packages/db/src services/api/src tasks.py tests bench", echo=True)
    print("db.lint", flush=True)
    lint_migrations(c)
    lint_workflows(c)


def lint_workflows(c: Context) -> None:
    """zizmor (offline unless GH_TOKEN is set), the workflow schema, the Dockerfile."""
    import shlex

    workflows = sorted(str(p.relative_to(ROOT)) for p in (ROOT / ".github" / "workflows").glob("*.y*ml"))
    online = bool(os.environ.get("GH_TOKEN"))  # online audits: impostor commits, vulnerable actions
    c.run(f"zizmor {'' if online else '--offline '}.github/", echo=True)
    c.run("check-jsonschema --builtin-schema vendor.github-workflows " + shlex.join(workflows), echo=True)
    c.run("check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml", echo=True)
    c.run("hadolint Dockerfile", echo=True)


# --------------------------------------------------------------------------- bench


@task(
    help={
        "sizes": "comma-separated history lengths (default 1000,5000,10000)",
        "repeat": "timed runs per command (the slow Alembic ones run at most 3 times)",
    }
)
def graph(c: Context, sizes: str = "1000,5000,10000", repeat: int = 5) -> None:
    """Revision-graph scale: our commands against plain Alembic on long histories."""
    c.run(f"{sys.executable} -m bench.graph_scale --sizes {sizes} --repeat {int(repeat)}", pty=False)


@task(
    name="api",
    help={
        "rounds": "rounds; every configuration runs once per round, interleaved (default 3)",
        "seconds": "measured seconds per run (default 10)",
        "connections": "wrk connections (default 32)",
        "workers": "comma-separated uvicorn worker counts (default 1,2)",
        "scenarios": "comma-separated: me, agent, messages, post (default all)",
        "baseline": "also serve the API as it was at this git revision, in the same rounds",
        "profile": "instead, profile this scenario on a 1-worker API with py-spy",
    },
)
def api_bench(
    c: Context,
    rounds: int = 3,
    seconds: float = 10,
    connections: int = 32,
    workers: str = "1,2",
    scenarios: str = "me,agent,messages,post",
    baseline: str = "",
    profile: str = "",
) -> None:
    """API throughput and latency (wrk) beside pgbench -S and a bare asyncpg endpoint."""
    command = [
        sys.executable, "-m", "bench.api", "--rounds", str(int(rounds)), "--seconds", str(seconds),
        "--connections", str(int(connections)), "--workers", workers, "--scenarios", scenarios,
    ]  # fmt: skip
    if baseline:
        command += ["--baseline", baseline]
    if profile:
        command += ["--profile", profile]
    _bench(c, command)


@task(
    name="migrations",
    help={
        "rate": "requests per second of the live traffic (default 100)",
        "before": "seconds of baseline traffic before the promotion (default 20)",
        "passes": "comma-separated: safe, naive (default both)",
    },
)
def migrations_bench(c: Context, rate: float = 100, before: float = 20, passes: str = "safe,naive") -> None:
    """A promotion to staging under live read and write load: safe revisions against naive ones."""
    command = [sys.executable, "-m", "bench.migrations_load", "--rate", str(rate), "--before", str(before)]
    _bench(c, [*command, "--passes", passes])


def _bench(c: Context, command: list[str]) -> None:
    import shlex

    result = c.run(shlex.join(command), warn=True, pty=False)
    if result is None or result.exited != 0:
        raise Exit(code=result.exited if result is not None else 1)


bench = Collection("bench", graph, api_bench, migrations_bench)

ns = Collection(dev, test, chaos, audit, lint, db, api, bench)
