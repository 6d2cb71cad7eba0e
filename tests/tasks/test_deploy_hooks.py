"""The deploy workflow's own steps: db.manifest, api.rollout and api.smoke."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from sqlalchemy.engine import URL

import tasks
from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.cli.github import annotation
from agent_db.commands import migrate
from agent_db.commands.manifest import write_environment_manifest
from agent_db.commands.promote import promote
from agent_db.commands.rollout import RolloutFailed, rollout
from agent_db.commands.signing import KEY_VARIABLE
from agent_db.commands.smoke import (
    Expectation,
    Readiness,
    SmokeCheckFailed,
    Unreachable,
    parse_readiness,
    ready_url,
    smoke_check,
)
from agent_db.database import ledger
from agent_db.database.target import Target
from agent_db.errors import ConfigError, SafetyRefusal
from agent_db.revisions.graph import default_graph
from tests.support.api_server import serving
from tests.support.cli import run_invoke
from tests.support.databases import DatabaseFactory, url_text
from tests.support.manifests import MANIFEST_KEY
from tests.support.revisions import configured_head, copy_history, write_revision

FIRST = "3f1a2b9c4d5e"


# --------------------------------------------------------------------------- db.manifest


def test_dev_manifest_is_what_staging_promotes_from(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev, staging = databases.create("dev"), databases.create("staging")
    env = {
        "DEV_DATABASE_URL": url_text(dev),
        "STAGING_DATABASE_URL": url_text(staging),
        KEY_VARIABLE: MANIFEST_KEY,  # as staging's deploy job: without it the file is not trusted
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    head = configured_head()
    migrate.upgrade(Target.resolve("dev"))

    out = tmp_path / "manifests" / "dev.json"
    cli = run_invoke("db.manifest", "--env", "dev", "--out", str(out), env=env)
    assert cli.code == 0, cli.stderr
    assert f"{out} (signed)" in cli.stderr
    written = json.loads(out.read_text())
    assert written["target"] == "dev"
    assert written["position"] == [head]
    assert {r["revision"] for r in written["revisions"]} == set(default_graph().linear_order())
    assert written["applied"] == []

    promoted = promote("staging", manifest=out, manifest_out=tmp_path / "manifests" / "staging.json")
    assert promoted.source.origin == str(out)
    assert promoted.run.after == (head,)


def test_no_manifest_for_an_environment_whose_files_were_edited(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(databases.create("dev")))
    versions = copy_history(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(versions))
    path = write_revision(
        versions, "c0ffee000002", configured_head(), "op.add_column('users', sa.Column('bio', sa.Text()))"
    )
    migrate.upgrade(Target.resolve("dev"))
    path.write_text(path.read_text().replace("sa.Text()", "sa.String(100)"))
    with pytest.raises(SafetyRefusal, match=r"no manifest written for dev.*c0ffee000002.*edited"):
        write_environment_manifest("dev", tmp_path / "dev.json")
    assert not (tmp_path / "dev.json").exists()


def test_manifest_of_an_environment_without_url_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(Exit) as raised:
        tasks.db.manifest(Context(), env="staging", out=str(tmp_path / "s.json"))
    assert raised.value.code == 2
    assert "STAGING_DATABASE_URL" in capsys.readouterr().err


# --------------------------------------------------------------------------- api.rollout


def test_rollout_without_a_command_says_so_and_succeeds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("API_ROLLOUT_COMMAND", "")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    tasks.api.rollout(Context(), env="staging")
    out, err = capsys.readouterr()
    assert "no API rollout configured for staging" in err
    assert "API_ROLLOUT_COMMAND" in err
    assert out.startswith("::warning title=staging%3A no API rollout::")


def test_rollout_runs_the_command_with_the_release_coordinates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rolled-out.txt"
    script = (
        "import os, pathlib; pathlib.Path(os.environ['OUT']).write_text("
        "os.environ['AGENT_ENV'] + ' ' + os.environ['AGENT_SCHEMA_HEAD'])"
    )
    monkeypatch.setenv("API_ROLLOUT_COMMAND", shlex.join([sys.executable, "-c", script]))
    monkeypatch.setenv("OUT", str(out))
    tasks.api.rollout(Context(), env="prod")
    assert out.read_text() == f"prod {configured_head()}"
    printed = capsys.readouterr()
    assert "prod: rollout with" in printed.err
    assert script not in printed.err + printed.out  # only the program is named: commands may hold tokens


def test_rollout_command_may_name_the_release_without_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "argv.json"
    script = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"
    command = shlex.join([sys.executable, "-c", script, str(out)])
    command += " --image 'registry/api:${AGENT_RELEASE_COMMIT}' --env=$AGENT_ENV '$HOME' $AGENT_ENVX"
    rollout("staging", command=command)
    commit = ledger.git_commit()
    assert json.loads(out.read_text()) == [
        "--image",
        f"registry/api:{commit}",
        "--env=staging",
        "$HOME",
        "$AGENT_ENVX",
    ]


def test_failing_rollout_exits_1_and_explains() -> None:
    with pytest.raises(RolloutFailed, match=r"rollout of staging failed: python.* exited with 7"):
        rollout("staging", command=shlex.join([sys.executable, "-c", "raise SystemExit(7)"]))


def test_rollout_timeout_and_bad_commands() -> None:
    with pytest.raises(RolloutFailed, match="did not finish within 1s"):
        rollout(
            "staging", command=shlex.join([sys.executable, "-c", "import time; time.sleep(30)"]), timeout=1
        )
    with pytest.raises(ConfigError, match="'no-such-deployer' was not found"):
        rollout("staging", command="no-such-deployer --now")
    with pytest.raises(ConfigError, match="cannot be split"):
        rollout("staging", command="deploy 'unclosed")
    with pytest.raises(ConfigError, match="unknown environment"):
        rollout("qa", command="true")


def test_annotation_cannot_break_out_of_its_command() -> None:
    text = annotation("warning", "a: b, c", "line one\n::error::forged 100%")
    assert text == "::warning title=a%3A b%2C c::line one%0A::error::forged 100%25"
    assert "\n" not in text


# --------------------------------------------------------------------------- api.smoke


@pytest.fixture
def staging_api(databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, URL]]:
    """The API of staging, served by a real uvicorn, against a fresh staging database."""
    url = databases.create("smoke")
    monkeypatch.setenv("STAGING_DATABASE_URL", url_text(url))
    monkeypatch.setenv("STAGING_JWT_SECRET", "stg-signing-key-for-the-smoke-tests-0123456789")
    with serving(create_app(load_api_settings("staging"))) as base_url:
        yield base_url, url


def test_smoke_passes_when_the_api_serves_this_release(
    staging_api: tuple[str, URL], capsys: pytest.CaptureFixture[str]
) -> None:
    base_url, _ = staging_api
    migrate.upgrade(Target.resolve("staging"))
    tasks.api.smoke(Context(), env="staging", url=base_url + "/", timeout=10)
    assert (
        f"the API serves this release (code and database at {configured_head()})" in capsys.readouterr().err
    )


def test_smoke_fails_with_the_apis_reason_when_the_schema_is_behind(staging_api: tuple[str, URL]) -> None:
    base_url, url = staging_api
    migrate.upgrade(Target.resolve("staging"), FIRST)
    cli = run_invoke(
        "api.smoke", "--env", "staging", "--url", base_url, "--timeout", "1", "--interval", "0.2",
        env={"STAGING_DATABASE_URL": url_text(url)},
    )  # fmt: skip
    assert cli.code == 1
    assert "smoke check of staging failed after 1s" in cli.stderr
    assert "not ready (HTTP 503)" in cli.stderr
    assert "behind this code" in cli.stderr
    assert cli.stderr.count("waiting:") == 1  # one line per new problem, not per attempt


def test_smoke_sees_an_old_release_and_a_wrong_database(staging_api: tuple[str, URL]) -> None:
    base_url, _ = staging_api
    migrate.upgrade(Target.resolve("staging"))
    heads = default_graph().heads
    with pytest.raises(SmokeCheckFailed, match=r"expects revision .* but this release's head is f00d"):
        smoke_check(base_url, Expectation(("f00d",), heads), environment="staging", timeout=0)
    with pytest.raises(SmokeCheckFailed, match=f"database is at {FIRST}: is the API connected to another"):
        smoke_check(base_url, Expectation(heads, (FIRST,)), environment="staging", timeout=0)


def test_smoke_retries_until_the_release_serves() -> None:
    ready = Readiness(200, "ready", ("b",), ("b",))
    answers: list[Readiness | Exception] = [
        Unreachable("did not answer (connection refused)"),
        Unreachable("did not answer (connection refused)"),
        Readiness(200, "ready", ("a",), ("a",)),
        ready,
    ]
    now = [0.0]
    waits: list[str] = []

    def fetch(url: str, timeout: float) -> Readiness:
        assert url == "https://api.example.com/v1/ready"
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sleep(seconds: float) -> None:
        now[0] += seconds

    result = smoke_check(
        "https://api.example.com/v1",
        Expectation(("b",), ("b",)),
        environment="prod",
        timeout=60,
        interval=5,
        fetch=fetch,
        clock=lambda: now[0],
        sleep=sleep,
        on_wait=waits.append,
    )
    assert result == ready
    assert now[0] == 15
    assert len(waits) == 2
    assert "connection refused" in waits[0]
    assert "the new release is not serving" in waits[1]


def test_smoke_without_url_skips_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    tasks.api.smoke(Context(), env="prod", url=" ")
    out, err = capsys.readouterr()
    assert "no API URL for prod" in err
    assert out.startswith("::warning title=prod%3A no smoke check::")


@pytest.mark.parametrize(
    "url", ["ftp://api.example.com", "api.example.com", "https://user:pw@api.example.com"]
)
def test_smoke_refuses_urls_it_should_not_call(url: str) -> None:
    with pytest.raises(ConfigError):
        ready_url(url)


def test_a_proxy_error_page_is_not_a_readiness_answer() -> None:
    with pytest.raises(Unreachable, match="HTTP 502 with something other than"):
        parse_readiness(502, b"<html>Bad gateway</html>")
    with pytest.raises(Unreachable):
        parse_readiness(200, json.dumps({"status": "ready", "schema_revision": "a"}).encode())
