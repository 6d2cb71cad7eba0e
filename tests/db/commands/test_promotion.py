"""Status, plan, verify and promotion across three environments (dev, staging, prod)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.plan import build_plan
from agent_db.commands.promote import promote
from agent_db.commands.status import collect_status
from agent_db.commands.verify import verify
from agent_db.database.target import Target
from agent_db.errors import ConfigError, SafetyRefusal
from tests.support.cli import run_invoke
from tests.support.databases import DatabaseFactory, conninfo, url_text
from tests.support.inspection import position, query
from tests.support.paths import ROOT
from tests.support.protected import SETUP_OVERRIDE
from tests.support.revisions import configured_head, copy_history, write_revision


@dataclass
class Stages:
    dev: URL
    staging: URL
    prod: URL
    versions: Path
    manifests: Path

    def env(self) -> dict[str, str]:
        return {
            "DEV_DATABASE_URL": url_text(self.dev),
            "STAGING_DATABASE_URL": url_text(self.staging),
            "PROD_DATABASE_URL": url_text(self.prod),
            "AGENT_DB_VERSIONS_DIR": str(self.versions),
        }


@pytest.fixture
def stages(databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stages:
    result = Stages(
        databases.create("dev"),
        databases.create("staging"),
        databases.create("prod"),
        copy_history(tmp_path),
        tmp_path / "manifests",
    )
    for name, value in result.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AGENT_DB_CACHE_DIR", str(tmp_path / "cache"))
    # Promotions without --manifest-out write manifests/<env>.json under the working directory.
    monkeypatch.setenv("AGENT_ENVIRONMENTS_DIR", str(ROOT / "environments"))
    monkeypatch.chdir(tmp_path)
    return result


def third_revision(versions: Path) -> Path:
    return write_revision(
        versions,
        "c0ffee000001",
        configured_head(),
        "op.add_column('users', sa.Column('bio', sa.Text()))",
        "op.drop_column('users', 'bio')",
        message="add bio to users",
    )


def test_dev_to_staging_to_prod_with_a_manifest(stages: Stages) -> None:
    head = configured_head()
    migrate.upgrade(Target.resolve("dev"))
    to_staging = promote("staging", manifest_out=stages.manifests / "staging.json")
    assert to_staging.run.after == (head,)
    assert to_staging.source.origin == "live"
    manifest = json.loads((stages.manifests / "staging.json").read_text())
    assert manifest["source"] == "dev"
    assert manifest["target"] == "staging"
    assert manifest["position"] == [head]
    assert {r["revision"] for r in manifest["revisions"]} >= {head}
    assert manifest["created_at"]
    assert "git_commit" in manifest

    to_prod = promote(
        "prod", manifest=stages.manifests / "staging.json", manifest_out=stages.manifests / "prod.json"
    )
    assert to_prod.run.after == (head,)
    status = collect_status()
    assert [(e.name, e.at_head, e.reachable) for e in status.environments] == [
        ("dev", True, True),
        ("staging", True, True),
        ("prod", True, True),
    ]
    assert all(e.drift == [] for e in status.environments)
    assert all(e.last_deployment and e.last_deployment["outcome"] == "success" for e in status.environments)


def test_prod_waits_until_staging_has_the_new_revision(stages: Stages) -> None:
    head = configured_head()
    migrate.upgrade(Target.resolve("dev"))
    promote("staging", manifest_out=stages.manifests / "staging.json")
    promote("prod", manifest=stages.manifests / "staging.json", manifest_out=stages.manifests / "prod.json")
    third_revision(stages.versions)
    migrate.upgrade(Target.resolve("dev"))

    unchanged = promote("prod", manifest_out=stages.manifests / "prod.json")  # reads staging live
    assert unchanged.run.applied == []
    assert position(stages.prod) == [head]

    promote("staging", manifest_out=stages.manifests / "staging.json")
    moved = promote(
        "prod", manifest=stages.manifests / "staging.json", manifest_out=stages.manifests / "prod.json"
    )
    assert moved.run.applied == ["c0ffee000001"]
    assert position(stages.prod) == ["c0ffee000001"]


def test_edited_revision_is_refused_by_verify_and_promote(stages: Stages) -> None:
    migrate.upgrade(Target.resolve("dev"))
    path = third_revision(stages.versions)
    migrate.upgrade(Target.resolve("dev"))
    promote("staging", manifest_out=stages.manifests / "staging.json")
    path.write_text(path.read_text().replace("sa.Text()", "sa.String(500)"))

    verification = verify(Target.resolve("staging"))
    assert [m.revision for m in verification.checksums.mismatches] == ["c0ffee000001"]
    assert verification.checksums.mismatches[0].file == path.name

    with pytest.raises(SafetyRefusal) as raised:
        promote("prod", manifest=stages.manifests / "staging.json")
    assert "c0ffee000001" in str(raised.value)
    assert path.name in str(raised.value)
    assert "edited" in str(raised.value)
    assert position(stages.prod) == []

    cli = run_invoke("db.verify", "--env", "staging", env=stages.env())
    assert cli.code == 3
    assert "c0ffee000001" in cli.stderr
    assert path.name in cli.stderr


def test_hand_made_column_is_reported_as_drift(stages: Stages) -> None:
    migrate.upgrade(Target.resolve("dev"))
    promote("staging")
    query(stages.staging, "ALTER TABLE users ADD COLUMN added_by_hand integer")
    query(stages.staging, "DROP INDEX ix_users_id")
    result = verify(Target.resolve("staging"))
    described = [d.describe() for d in result.drift]
    assert any("users.added_by_hand" in d and "not in the migration history" in d for d in described)
    assert any("ix_users_id" in d and "missing" in d for d in described)
    assert verify(Target.resolve("dev")).drift == []


def test_target_ahead_of_source_is_refused(stages: Stages) -> None:
    second = configured_head()
    third_revision(stages.versions)
    migrate.upgrade(Target.resolve("dev"), second)
    promote("staging")
    migrate.upgrade(
        Target.resolve("prod"), protected=SETUP_OVERRIDE
    )  # someone upgraded prod past staging by hand
    with pytest.raises(SafetyRefusal, match=r"prod has revision.* c0ffee000001 that staging lacks"):
        promote("prod")
    assert position(stages.prod) == ["c0ffee000001"]


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        ("{not json", 2, "malformed"),
        ('{"kind": "something-else"}', 2, "malformed"),
        (
            '{"kind": "agent-db-promotion-manifest", "format_version": 1, "project": "other", '
            '"base_revisions": ["abc"], "source": "dev", "target": "staging", "position": [], '
            '"revisions": [], "created_at": "x"}',
            3,
            "another project",
        ),
    ],
)
def test_malformed_or_foreign_manifest_is_refused(
    stages: Stages, content: str, code: int, words: str
) -> None:
    manifest = stages.manifests / "bad.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(content)
    result = run_invoke("db.promote", "--to", "prod", "--manifest", str(manifest), env=stages.env())
    assert result.code == code, result.stderr
    assert words in result.stderr
    assert position(stages.prod) == []


def test_promote_edges_exit_codes(stages: Stages) -> None:
    env = stages.env()
    dev = run_invoke("db.promote", "--to", "dev", env=env)
    assert dev.code == 2
    assert "not promoted from another environment" in dev.stderr
    empty = run_invoke("db.promote", "--to", "staging", env=env)
    assert empty.code == 3
    assert "nothing to promote" in empty.stderr
    unreachable = run_invoke(
        "db.promote", "--to", "staging", env={**env, "DEV_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"}
    )
    assert unreachable.code == 1
    assert "127.0.0.1:1" in unreachable.stderr
    assert "pw@" not in unreachable.stderr
    assert position(stages.staging) == []


def test_protected_environment_refuses_downgrade_and_stamp_without_reason(stages: Stages) -> None:
    migrate.upgrade(Target.resolve("dev"))
    promote("staging")
    promote("prod")
    env = stages.env()
    refused = run_invoke("db.downgrade", "--env", "prod", "--to", "-1", env=env)
    assert refused.code == 3
    assert "--allow-protected" in refused.stderr
    assert run_invoke("db.stamp", "--env", "prod", "--to", "base", env=env).code == 3
    no_reason = run_invoke("db.downgrade", "--env", "prod", "--to", "-1", "--allow-protected", env=env)
    assert no_reason.code == 3
    assert position(stages.prod) == [configured_head()]
    allowed = run_invoke(
        "db.downgrade",
        "--env",
        "prod",
        "--to",
        "-1",
        "--allow-protected",
        "--reason",
        "INC-42: roll back the flags column",
        env=env,
    )
    assert allowed.code == 0, allowed.stderr
    with psycopg.connect(conninfo(stages.prod)) as connection:
        reason = connection.execute(
            "SELECT reason FROM schema_ledger WHERE direction = 'downgrade' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert reason == ("INC-42: roll back the flags column",)


def test_plan_shows_the_sql_from_the_live_revision_and_runs_nothing(stages: Stages) -> None:
    first, second = configured_head(), "c0ffee000001"
    third_revision(stages.versions)
    migrate.upgrade(Target.resolve("staging"), first)
    plan = build_plan(Target.resolve("staging"))
    assert plan.current == (first,)
    assert [r.revision for r in plan.revisions] == [second]
    sql = plan.revisions[0].sql
    assert "SET lock_timeout = '3s';" in sql
    assert "ALTER TABLE users ADD COLUMN bio TEXT;" in sql
    assert f"UPDATE alembic_version SET version_num='{second}'" in sql
    assert position(stages.staging) == [first]
    cli = run_invoke("db.plan", "--env", "staging", "--json", env=stages.env())
    assert cli.code == 0
    assert json.loads(cli.stdout)["revisions"][0]["revision"] == second
    with pytest.raises(ConfigError, match="unknown revision"):
        build_plan(Target.resolve("staging"), "nope42")


def test_status_never_crashes_on_unreachable_environments(
    stages: Stages, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROD_DATABASE_URL", "postgresql://deploy:topsecret@127.0.0.1:1/prod")
    monkeypatch.delenv("STAGING_DATABASE_URL")
    migrate.upgrade(Target.resolve("dev"))
    status = collect_status()
    by_name = {e.name: e for e in status.environments}
    assert by_name["dev"].reachable
    assert not by_name["staging"].reachable
    assert "STAGING_DATABASE_URL is not set" in str(by_name["staging"].problem)
    assert not by_name["prod"].reachable
    assert "topsecret" not in json.dumps(status.as_json())
    env = {**stages.env(), "PROD_DATABASE_URL": "postgresql://deploy:topsecret@127.0.0.1:1/prod"}
    markdown = run_invoke("db.status", "--markdown", env=env)
    assert markdown.code == 0
    assert "| prod (protected) | unreachable" in markdown.stdout
    assert "```mermaid" in markdown.stdout
    assert "topsecret" not in markdown.stdout + markdown.stderr
    as_json = run_invoke("db.status", "--json", env=env)
    assert as_json.code == 0
    assert [e["name"] for e in json.loads(as_json.stdout)["environments"]] == ["dev", "staging", "prod"]
