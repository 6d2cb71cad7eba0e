"""A protected environment (prod) moves forward only through the promotion gate: db.upgrade and
the plain Alembic CLI are refused there (exit 3, nothing changed, naming db.promote), unless
db.upgrade gets --allow-protected with a real --reason, which the ledger records."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.promote import promote
from agent_db.database.target import Target
from agent_db.errors import SafetyRefusal
from tests.support.census import CONTRACT, EXPAND, LATER, register, write_release
from tests.support.cli import Outcome, run_cli
from tests.support.databases import DatabaseFactory, target_for, url_text
from tests.support.inspection import columns, fingerprint, ledger_rows, position
from tests.support.paths import ROOT
from tests.support.protected import SETUP_OVERRIDE
from tests.support.revisions import configured_head, copy_history, package_head, write_revision

UNPROMOTED = "c0ffee0000a1"
REASON = "INC-77: the bio column is needed before staging is rebuilt"


@dataclass
class Stages:
    """dev at UNPROMOTED (a revision staging never ran), staging and prod one revision behind."""

    dev: URL
    staging: URL
    prod: URL
    before: str

    def env(self) -> dict[str, str]:
        return {
            "DEV_DATABASE_URL": url_text(self.dev),
            "STAGING_DATABASE_URL": url_text(self.staging),
            "PROD_DATABASE_URL": url_text(self.prod),
        }


@pytest.fixture
def stages(databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stages:
    result = Stages(databases.create("dev"), databases.create("staging"), databases.create("prod"), "")
    for name, value in result.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(copy_history(tmp_path)))
    monkeypatch.setenv("AGENT_DB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # promotions write manifests/<env>.json here
    result.before = configured_head()
    migrate.upgrade(Target.resolve("dev"))
    promote("staging")
    promote("prod")
    write_revision(
        Path(os.environ["AGENT_DB_VERSIONS_DIR"]),
        UNPROMOTED,
        result.before,
        "op.add_column('users', sa.Column('bio', sa.Text()))",
        "op.drop_column('users', 'bio')",
        message="add bio to users",
    )
    migrate.upgrade(Target.resolve("dev"))
    return result


def upgrade_prod(stages: Stages, *flags: str) -> Outcome:
    return run_cli("db.upgrade", "--env", "prod", "--to", UNPROMOTED, *flags, env=stages.env())


def said(outcome: Outcome) -> str:
    return " ".join(outcome.stderr.split())


def test_upgrade_of_a_revision_staging_never_ran_is_refused_naming_db_promote(stages: Stages) -> None:
    untouched = fingerprint(stages.prod)
    refused = upgrade_prod(stages)
    assert refused.code == 3, refused.output
    assert "prod is a protected environment" in said(refused)
    assert "'uv run invoke db.promote --to prod'" in said(refused)
    assert "--allow-protected --reason" in said(refused)
    assert fingerprint(stages.prod) == untouched
    assert "bio" not in columns(stages.prod, "users")
    # Head (the default) is refused the same way, and so is the Python API.
    assert run_cli("db.upgrade", "--env", "prod", env=stages.env()).code == 3
    with pytest.raises(SafetyRefusal, match=r"db\.promote --to prod"):
        migrate.upgrade(Target.resolve("prod"))
    assert fingerprint(stages.prod) == untouched


def test_the_way_through_is_staging_then_db_promote(stages: Stages) -> None:
    assert upgrade_prod(stages).code == 3
    blocked = run_cli("db.promote", "--to", "prod", env=stages.env())
    assert blocked.code == 0, blocked.output  # nothing staging has verified is pending
    assert position(stages.prod) == [stages.before]
    assert run_cli("db.upgrade", "--env", "staging", "--to", UNPROMOTED, env=stages.env()).code == 0
    promoted = run_cli("db.promote", "--to", "prod", env=stages.env())
    assert promoted.code == 0, promoted.output
    assert position(stages.prod) == [UNPROMOTED]
    step = [row for row in ledger_rows(stages.prod) if row["revision"] == UNPROMOTED]
    assert [(row["outcome"], row["reason"]) for row in step] == [("success", None)]


@pytest.mark.parametrize(
    ("flags", "code", "says"),
    [
        (["--allow-protected"], 3, "--allow-protected needs --reason"),
        (["--allow-protected", "--reason", "hotfix"], 3, "at least 20 characters"),
        (["--allow-protected", "--reason", "a" * 30], 3, "at least 20 characters"),
        (["--reason", REASON], 2, "--allow-protected (upgrade a protected environment outside"),
    ],
    ids=["no-reason", "short-reason", "meaningless-reason", "reason-without-override"],
)
def test_an_override_without_a_real_reason_is_refused(
    stages: Stages, flags: list[str], code: int, says: str
) -> None:
    untouched = fingerprint(stages.prod)
    refused = upgrade_prod(stages, *flags)
    assert refused.code == code, refused.output
    assert says in said(refused)
    assert fingerprint(stages.prod) == untouched


def test_the_override_with_a_reason_applies_and_the_ledger_records_it(stages: Stages) -> None:
    allowed = upgrade_prod(stages, "--allow-protected", "--reason", REASON)
    assert allowed.code == 0, allowed.output
    assert position(stages.prod) == [UNPROMOTED]
    assert "bio" in columns(stages.prod, "users")
    step = [row for row in ledger_rows(stages.prod) if row["revision"] == UNPROMOTED]
    assert [row["outcome"] for row in step] == ["success"]
    assert step[0]["reason"] == f"--allow-protected (upgrade outside promotion): {REASON}"
    assert step[0]["environment"] == "prod"
    # Staging has still not run it: promotion refuses until it has.
    ahead = run_cli("db.promote", "--to", "prod", env=stages.env())
    assert ahead.code == 3, ahead.output
    assert "prod is ahead of its source" in said(ahead)
    assert run_cli("db.upgrade", "--env", "staging", env=stages.env()).code == 0
    assert run_cli("db.promote", "--to", "prod", env=stages.env()).code == 0


def test_dev_and_staging_upgrade_without_any_override(stages: Stages) -> None:
    assert run_cli("db.upgrade", "--env", "staging", "--to", UNPROMOTED, env=stages.env()).code == 0
    assert position(stages.staging) == [UNPROMOTED]
    assert run_cli("db.downgrade", "--env", "dev", "--to=-1", env=stages.env()).code == 0
    assert run_cli("db.upgrade", "--env", "dev", env=stages.env()).code == 0
    assert position(stages.dev) == [UNPROMOTED]


def alembic(env: str, *args: str, stages: Stages) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", "packages/db/alembic.ini", "-x", f"env={env}", *args],
        cwd=ROOT,
        env={**os.environ, **stages.env()},
        capture_output=True,
        text=True,
        check=False,
    )


def test_plain_alembic_cli_refuses_to_write_prod_and_points_at_db_promote(stages: Stages) -> None:
    untouched = fingerprint(stages.prod)
    upgrade = alembic("prod", "upgrade", "head", stages=stages)
    assert upgrade.returncode == 3, upgrade.stderr
    message = " ".join(upgrade.stderr.split())
    assert "prod is protected: plain 'alembic upgrade' is refused" in message
    assert "'uv run invoke db.promote --to prod'" in message
    assert "db.upgrade" not in message
    downgrade = alembic("prod", "downgrade", "-1", stages=stages)
    assert downgrade.returncode == 3, downgrade.stderr
    assert "db.downgrade --env prod --to REV --allow-protected --reason" in " ".join(downgrade.stderr.split())
    stamp = alembic("prod", "stamp", "base", stages=stages)
    assert stamp.returncode == 3, stamp.stderr
    assert fingerprint(stages.prod) == untouched
    current = alembic("prod", "current", stages=stages)
    assert current.returncode == 0, current.stderr
    assert stages.before in current.stdout
    # The plain CLI reads the package's own history: staging is at its head.
    down = alembic("staging", "downgrade", "-1", stages=stages)
    assert down.returncode == 0, down.stderr
    assert position(stages.staging) != [stages.before]
    up = alembic("staging", "upgrade", "head", stages=stages)
    assert up.returncode == 0, up.stderr
    assert position(stages.staging) == [stages.before]


def test_alembic_called_from_code_on_prod_is_refused_too(stages: Stages) -> None:
    """A script calling alembic.command.upgrade has no command line to name: still refused."""
    untouched = fingerprint(stages.prod)
    script = (
        "from alembic import command; from alembic.config import Config; "
        "command.upgrade(Config('packages/db/alembic.ini'), 'head')"
    )
    called = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **stages.env(), "AGENT_ENV": "prod"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert called.returncode != 0
    assert "CommandError: prod is protected" in called.stderr
    assert "'uv run invoke db.promote --to prod'" in called.stderr
    assert fingerprint(stages.prod) == untouched


def test_on_prod_a_contract_past_live_consumers_needs_both_overrides_and_records_both(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prod = databases.create("prod")
    migrate.upgrade(target_for("prod", prod), package_head(), protected=SETUP_OVERRIDE)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(write_release(tmp_path)))
    register(prod, environment="prod")  # a live process of the release before: it reads nickname
    env = {"PROD_DATABASE_URL": url_text(prod)}

    consumers_only = run_cli(
        "db.upgrade", "--env", "prod", "--allow-live-consumers", "--reason", REASON, env=env
    )
    assert consumers_only.code == 3, consumers_only.output
    assert "--allow-protected" in said(consumers_only)
    assert position(prod) == [package_head()]

    protected_only = run_cli("db.upgrade", "--env", "prod", "--allow-protected", "--reason", REASON, env=env)
    assert protected_only.code == 3, protected_only.output
    assert f"contract revision {CONTRACT}" in said(protected_only)
    assert position(prod) == [EXPAND]  # the expand revision before it ran, under the override

    both = ("--allow-protected", "--allow-live-consumers", "--reason", REASON)
    passed = run_cli("db.upgrade", "--env", "prod", *both, env=env)
    assert passed.code == 0, passed.output
    assert position(prod) == [LATER]
    reasons = {
        row["revision"]: str(row["reason"]) for row in ledger_rows(prod) if row["outcome"] == "success"
    }
    assert reasons[EXPAND] == reasons[LATER] == f"--allow-protected (upgrade outside promotion): {REASON}"
    assert reasons[CONTRACT].startswith(f"--allow-protected (upgrade outside promotion): {REASON}; ")
    assert "--allow-live-consumers (1 live consumer(s) past" in reasons[CONTRACT]
    assert reasons[CONTRACT].endswith(REASON)


def test_hints_on_prod_name_commands_prod_accepts(stages: Stages) -> None:
    """Every way forward a refusal on prod suggests is one prod takes: db.promote, never the
    db.upgrade that the gate refuses there."""
    assert run_cli("db.promote", "--to", "staging", env=stages.env()).code == 0
    early = run_cli("db.promote", "--to", "prod", "--phase", "contract", env=stages.env())
    assert early.code == 3, early.stderr
    assert "'uv run invoke db.promote --to prod --phase expand'" in said(early)
    assert "db.upgrade" not in said(early)
    assert position(stages.prod) == [stages.before]
    nothing = run_cli(
        "db.downgrade", "--env", "prod", "--to", UNPROMOTED, "--allow-protected", "--reason", REASON,
        env=stages.env(),
    )  # fmt: skip
    assert nothing.code != 0
    assert "to go forward use 'uv run invoke db.promote --to prod'" in said(nothing)
