"""The GitHub workflows: every task they call exists, the deploy chain follows `promote_from`, the
hygiene rules hold, and the docs show every deploy step (test_deploy_run.py runs them)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.exceptions import ParseError
from invoke.parser import Parser
from invoke.parser.context import ParserContext

import tasks
from agent_db.settings import environment_names, load_settings
from tests.support.paths import ROOT
from tests.support.workflows import (
    WORKFLOWS_DIR,
    InvokeCall,
    environment_name,
    invoke_calls,
    job_order,
    load_workflow,
    needs,
    script_lines,
    steps,
    workflow_names,
)

DEPLOY = "deploy.yml"
SETUP_UV = ROOT / ".github" / "actions" / "setup-uv"
UV_PIN = re.compile(r"^uv==(?P<version>\d+\.\d+\.\d+) \\\n\s+--hash=sha256:(?P<sha>[0-9a-f]{64})$", re.M)
# The GitHub environment each toolkit environment's job runs in (its secrets and reviewers).
GITHUB_ENVIRONMENTS = {"staging": "staging", "prod": "production"}
PINNED_USES = re.compile(r"^\s*-?\s*uses:\s*(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)(?P<rest>.*)$")
SHA = re.compile(r"^[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+# v\d+\.\d+\.\d+\b")
ALLOWED_SECRETS = re.compile(
    r"^([A-Z]+_DATABASE_URL|[A-Z]+_JWT_SECRET|API_ROLLOUT_TOKEN|AGENT_DB_MANIFEST_KEY)$"
)


def all_invoke_calls() -> list[InvokeCall]:
    return [call for name in workflow_names() for call in invoke_calls(name)]


def parse_task_call(argv: tuple[str, ...]) -> ParserContext:
    """Parse one invoke command line with the real collection, as `invoke` would."""
    contexts = Parser(contexts=tasks.ns.to_contexts()).parse_argv(list(argv))
    assert len(contexts) == 1, f"one task per line: {shlex.join(argv)}"
    context: ParserContext = contexts[0]
    missing = [arg.name for arg in context.positional_args if arg.value is None]
    assert not missing, f"invoke {shlex.join(argv)}: missing {missing}"
    return context


def arg(context: ParserContext, name: str) -> Any:
    return context.args[name.replace("_", "-")].value


# --------------------------------------------------------------------------- what they call


def test_workflows_call_real_tasks_with_flags_they_accept() -> None:
    calls = all_invoke_calls()
    assert {"lint", "test", "db.check", "db.promote", "db.manifest", "api.rollout", "api.smoke"} <= {
        c.task for c in calls
    }
    for call in calls:
        if call.task == "db.lint":
            continue  # added on another branch; checked once it is merged (see the skip below)
        try:
            parse_task_call(call.argv)
        except ParseError as error:
            pytest.fail(f"{call}: {error}")


def test_db_lint_is_a_task_once_merged() -> None:
    calls = [c for c in all_invoke_calls() if c.task == "db.lint"]
    assert calls, "CI runs the migration safety lint"
    if "db.lint" not in tasks.ns.task_names:
        pytest.skip("db.lint comes from the lint branch; this checks its flags after the merge")
    for call in calls:
        parse_task_call(call.argv)


def test_a_bad_flag_would_be_caught() -> None:
    with pytest.raises(ParseError):
        parse_task_call(("db.promote", "--to", "prod", "--manifesto", "x.json"))
    with pytest.raises(ParseError):
        parse_task_call(("db.promot", "--to", "prod"))


def test_steps_hold_no_logic_but_invoke() -> None:
    """A step runs `uv sync --locked` or `uv run invoke ...` (the CI gate's `exit 1` aside)."""
    for name in workflow_names():
        workflow = load_workflow(name)
        for job_id, job in workflow["jobs"].items():
            for step in steps(job):
                for words in script_lines(str(step.get("run") or "")):
                    if name == "ci.yml" and job_id == "gate":
                        continue
                    assert words == ["uv", "sync", "--locked"] or words[:3] == ["uv", "run", "invoke"], (
                        f"{name} / {job_id}: {shlex.join(words)}"
                    )


# --------------------------------------------------------------------------- the deploy chain


def deploy_stages() -> dict[str, str]:
    """Toolkit environment -> the deploy job that moves it (db.upgrade for dev, db.promote after)."""
    stages: dict[str, str] = {}
    for call in invoke_calls(DEPLOY):
        context = parse_task_call(call.argv)
        if call.task == "db.upgrade":
            stages[arg(context, "env")] = call.job
        elif call.task == "db.promote":
            stages[arg(context, "to")] = call.job
    return stages


def upstream(workflow: dict[str, Any], job_id: str) -> set[str]:
    found: set[str] = set()
    for dependency in needs(workflow["jobs"][job_id]):
        found |= {dependency, *upstream(workflow, dependency)}
    return found


def uploads(job: dict[str, Any]) -> dict[str, str]:
    """artifact name -> uploaded file name."""
    return {
        s["with"]["name"]: Path(s["with"]["path"]).name
        for s in steps(job)
        if str(s.get("uses", "")).startswith("actions/upload-artifact@")
    }


def downloads(job: dict[str, Any]) -> dict[str, str]:
    """artifact name -> folder it lands in."""
    return {
        s["with"]["name"]: s["with"].get("path", ".")
        for s in steps(job)
        if str(s.get("uses", "")).startswith("actions/download-artifact@")
    }


def test_deploy_stages_follow_promote_from() -> None:
    workflow = load_workflow(DEPLOY)
    stages = deploy_stages()
    assert list(stages) == environment_names(), "one deploy job per environment, in promotion order"
    order = job_order(workflow)
    indices = [order.index(stages[env]) for env in environment_names()]
    assert indices == sorted(indices)
    assert "ci" in upstream(workflow, stages[environment_names()[0]]), "nothing migrates before CI passed"

    for env, job_id in stages.items():
        job = workflow["jobs"][job_id]
        source = load_settings(env).promote_from
        if source is None:
            assert environment_name(job) is None, f"{env} is a throwaway database, not a GitHub environment"
            continue
        assert stages[source] in upstream(workflow, job_id), f"{env} runs after {source}"
        assert environment_name(job) == GITHUB_ENVIRONMENTS[env]
        assert job["concurrency"] == {"group": f"migrate-{env}", "cancel-in-progress": False}

        promote = next(c for c in invoke_calls(DEPLOY) if c.job == job_id and c.task == "db.promote")
        context = parse_task_call(promote.argv)
        manifest = Path(arg(context, "manifest"))
        source_uploads = uploads(workflow["jobs"][stages[source]])
        matching = [name for name, file in source_uploads.items() if file == manifest.name]
        assert matching, f"{env} promotes from {manifest}, which the {source} job does not upload"
        assert downloads(job).get(matching[0]) == str(manifest.parent), (
            f"{env} downloads {matching[0]} where --manifest looks for it"
        )
        assert Path(arg(context, "manifest_out")).name in uploads(job).values()


# --------------------------------------------------------------------------- hygiene


def test_actions_are_pinned_to_commits_with_a_version_comment() -> None:
    seen = 0
    files = [WORKFLOWS_DIR / name for name in workflow_names()] + [SETUP_UV / "action.yml"]
    for path in files:
        name = path.name
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "uses:" not in line or "uses: ./" in line:
                continue
            match = PINNED_USES.match(line)
            assert match, f"{name}:{number}: {line.strip()}"
            assert SHA.match(match["ref"]), f"{name}:{number}: {match['action']} is not pinned to a SHA"
            assert VERSION_COMMENT.match(match["rest"]), f"{name}:{number}: no '# vX.Y.Z' comment"
            seen += 1
    assert seen >= 10


def test_jobs_are_locked_down() -> None:
    for name in workflow_names():
        workflow = load_workflow(name)
        assert workflow["permissions"] == {"contents": "read"}, name
        assert workflow["defaults"] == {"run": {"shell": "bash"}}, name
        for job_id, job in workflow["jobs"].items():
            where = f"{name} / {job_id}"
            if "uses" in job:
                assert job.get("permissions") == {"contents": "read"}, where
                continue
            assert isinstance(job.get("timeout-minutes"), int), f"{where}: timeout-minutes"
            for step in steps(job):
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, where
                assert "${{" not in str(step.get("run", "")), f"{where}: expression in a run script"
            for service in (job.get("services") or {}).values():
                assert re.fullmatch(r"postgres:(\d+\.\d+|\$\{\{ matrix\.postgres \}\})", service["image"]), (
                    where
                )
                assert "pg_isready" in service["options"], where
            for matrix_tag in (job.get("strategy") or {}).get("matrix", {}).get("postgres", []):
                assert re.fullmatch(r"\d+\.\d+", matrix_tag), f"{where}: pinned PostgreSQL tag"


def test_uv_is_installed_only_after_its_checksum_is_checked() -> None:
    """Every job that runs uv installs it with the local setup-uv action first: pip installs the
    pinned release only if its sha256 is the one in requirements.txt (astral-sh/setup-uv has no
    checksum for the pinned version and would install it unverified). The Dockerfile's uv image
    is the same version."""
    pin = UV_PIN.search((SETUP_UV / "requirements.txt").read_text())
    assert pin, "requirements.txt pins uv==X.Y.Z with --hash=sha256:..."
    assert f"astral-sh/uv:{pin['version']} " in (ROOT / "Dockerfile").read_text()
    action = yaml.safe_load((SETUP_UV / "action.yml").read_text())
    scripts = [str(step["run"]) for step in action["runs"]["steps"] if "run" in step]
    assert len(scripts) == 1
    words = shlex.split(scripts[0])
    assert {"--require-hashes", "--no-deps", "--only-binary"} <= set(words)
    assert words[words.index("--requirement") + 1] == "$REQUIREMENTS"
    for name in workflow_names():
        for job_id, job in load_workflow(name)["jobs"].items():
            uses = [str(step.get("uses", "")) for step in steps(job)]
            assert not any(u.startswith("astral-sh/setup-uv@") for u in uses), f"{name} / {job_id}"
            runs_uv = [i for i, step in enumerate(steps(job)) if str(step.get("run", "")).startswith("uv ")]
            if runs_uv:
                assert "./.github/actions/setup-uv" in uses[: runs_uv[0]], f"{name} / {job_id}: uv unverified"


def test_secrets_reach_only_the_steps_that_need_them() -> None:
    for name in workflow_names():
        workflow = load_workflow(name)
        assert "secrets." not in json.dumps(workflow.get("env", {})), name
        for job_id, job in workflow["jobs"].items():
            assert "secrets." not in json.dumps(job.get("env", {})), f"{name} / {job_id}: job-level secret"
            for step in steps(job):
                for key, value in (step.get("env") or {}).items():
                    if "secrets." in str(value):
                        assert value == f"${{{{ secrets.{key} }}}}", f"{name} / {job_id}: {key}"
                        assert ALLOWED_SECRETS.match(key), f"{name} / {job_id}: {key}"
                        assert environment_name(job), f"{name} / {job_id}: secrets outside an environment"


def test_ci_matrix_and_gate() -> None:
    workflow = load_workflow("ci.yml")
    assert {"pull_request", "push", "workflow_call"} <= set(workflow["on"])
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]
    assert matrix["python"] == ["3.12", "3.13"]
    assert [tag.split(".")[0] for tag in matrix["postgres"]] == ["14", "17"]
    gate = workflow["jobs"]["gate"]
    assert gate["if"] == "always()"
    assert set(gate["needs"]) == set(workflow["jobs"]) - {"gate"}


def test_docs_list_every_deploy_step() -> None:
    """docs/deployment.md shows how to run each stage by hand: it names every task the deploy
    workflow runs, with the same flags."""
    docs = (ROOT / "docs" / "deployment.md").read_text()
    for call in invoke_calls(DEPLOY):
        words = list(call.argv)
        for index, word in enumerate(words):
            if word.startswith("$"):  # a value from the job's environment: the docs spell it out
                words = words[: index - 1]
                break
        assert f"uv run invoke {shlex.join(words)}" in docs, str(call)
