"""``db.*``: the migration toolkit's verbs, one task each (logic in ``agent_db.commands``,
output in ``agent_db.cli``). The verbs that change a database or write files live here; those
that only read live in :mod:`tasks.db_inspect`; the ``db`` collection holds both."""

from __future__ import annotations

from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from tasks import db_inspect
from tasks._shared import (
    CONSUMER_OVERRIDE_HELP,
    ENV_HELP,
    OVERRIDE_HELP,
    ROOT,
    UPGRADE_OVERRIDE_HELP,
    json_refusals,
    reporter,
    reports_errors,
    target,
)
from tasks.db_census import consumers


@task(
    help={
        "env": ENV_HELP,
        "to": "target revision (default head)",
        "json": "print a JSON result",
        **UPGRADE_OVERRIDE_HELP,
    }
)
@reports_errors
def upgrade(
    c: Context,
    env: str = "dev",
    to: str = "head",
    json: bool = False,
    phase: str = "all",
    allow_live_consumers: bool = False,
    allow_protected: bool = False,
    reason: str = "",
) -> None:
    """Apply revisions up to --to under the migration lock, timeouts and ledger; a contract
    revision runs only once every live consumer's build knows it (exit 3 otherwise). Refused on
    a protected environment (use db.promote there) unless --allow-protected --reason."""
    from agent_db.cli.results import print_run
    from agent_db.commands import migrate
    from agent_db.commands.overrides import upgrade_overrides
    from agent_db.commands.phase_gate import check_phase_selection

    selected = check_phase_selection(phase)
    environment = target(env)
    overrides = upgrade_overrides(environment, allow_live_consumers, allow_protected, reason or None)
    protected, override = overrides
    with json_refusals(json):
        result = migrate.upgrade(
            environment, to, reporter=reporter(env), phase=selected, override=override, protected=protected
        )
    print_run(result, as_json=json)


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
        "to": "the environment to promote (staging, prod)",
        "manifest": "the previous stage's manifest, instead of reading the source live",
        "manifest_out": "where to write this stage's manifest (default manifests/<env>.json)",
        "json": "print a JSON result",
        **CONSUMER_OVERRIDE_HELP,
    }
)
@reports_errors
def promote(
    c: Context,
    to: str,
    manifest: str | None = None,
    manifest_out: str | None = None,
    json: bool = False,
    phase: str = "all",
    allow_live_consumers: bool = False,
    allow_protected: bool = False,
    reason: str = "",
) -> None:
    """Move --to to the revision its promote_from environment has verified, never further;
    contract revisions gated on the census as in db.upgrade."""
    from agent_db.cli.results import print_promotion
    from agent_db.commands.phase_gate import ConsumerOverride, check_phase_selection
    from agent_db.commands.promote import promote as run_promote
    from agent_db.inputs import check_path

    selected = check_phase_selection(phase)
    override = (
        ConsumerOverride.checked(target(to), allow_live_consumers, reason or None, allow_protected)
        if allow_live_consumers or reason or allow_protected
        else None
    )
    # None when the flag is absent; an empty value given on purpose is refused, not ignored.
    with json_refusals(json):
        result = run_promote(
            to,
            manifest=check_path(manifest, "--manifest") if manifest is not None else None,
            manifest_out=check_path(manifest_out, "--manifest-out") if manifest_out is not None else None,
            reporter=reporter(to),
            phase=selected,
            override=override,
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


@task(
    name="secure-ledger",
    help={
        "env": ENV_HELP,
        "migrator": "the role migrations connect as: it may then only insert ledger rows and "
        "finish running ones",
        "owner": "the NOLOGIN role to own the ledger (created when missing; default agent_ledger_owner)",
        "url_env": "variable holding a superuser's URL of ENV's database (default: ENV's URL)",
        "json": "print a JSON result",
    },
)
@reports_errors
def secure_ledger(
    c: Context,
    migrator: str,
    env: str = "dev",
    owner: str | None = None,
    url_env: str | None = None,
    json: bool = False,
) -> None:
    """Give schema_ledger to a role of its own so the migrator cannot rewrite or delete rows nor
    disable its triggers (idempotent; needs a superuser connection)."""
    from agent_db.cli.results import print_secured
    from agent_db.commands import secure_ledger as secure

    # None when a flag is absent; an empty value given on purpose is refused, not ignored.
    environment = secure.admin_target(env, url_env)
    result = secure.secure_ledger(
        environment, migrator=migrator, owner=secure.DEFAULT_OWNER if owner is None else owner
    )
    print_secured(result, as_json=json)


collection = Collection(
    "db",
    db_inspect.current,
    db_inspect.heads,
    db_inspect.history,
    upgrade,
    downgrade,
    stamp,
    revision,
    check,
    db_inspect.status,
    db_inspect.plan,
    db_inspect.verify,
    promote,
    lint_migrations,
    manifest,
    secure_ledger,
    consumers,
    db_inspect.psql,
)
