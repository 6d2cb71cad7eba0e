"""A small runner that plays a GitHub workflow's jobs here, as far as the project's workflows need:
jobs in `needs:` order, one fresh workspace per job, artifacts handed between jobs only through
upload/download-artifact (tests.support.workflow_actions; they outlive attempts, as on GitHub),
*Re-run failed jobs* and *Re-run all jobs* as new attempts, environment-scoped secrets and
variables, `if: always()` steps after a failure, and each `run:` script in `bash -eo pipefail`
with `uv run invoke` running this checkout's tasks. Anything it does not understand (another action, another expression) is an
error, so the workflows cannot quietly grow past what is tested.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import workflow_actions
from tests.support.paths import ROOT
from tests.support.workflows import (
    environment_name,
    job_order,
    load_workflow,
    needs,
    step_name,
    steps,
)

_CONTEXT_VALUE = re.compile(r"\$\{\{\s*(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# `${{ github.a.b }}` or `${{ github.a.b || github.c }}`: the first non-empty one.
_GITHUB_VALUE = re.compile(r"\$\{\{\s*(github\.[\w.]+(?:\s*\|\|\s*github\.[\w.]+)*)\s*\}\}")

# `uv` inside an emulated step: `uv run invoke` runs this checkout's tasks with the test's
# interpreter (whose environment is the locked one); `uv sync --locked` has nothing left to do.
UV_SHIM = """\
uv() {
  if [ "$1" = run ] && [ "$2" = invoke ]; then
    shift 2
    "$EMULATOR_PYTHON" -m invoke --search-root "$EMULATOR_CHECKOUT" "$@"
  elif [ "$*" = "sync --locked" ]; then
    :
  else
    echo "workflow emulator: unsupported command: uv $*" >&2
    return 2
  fi
}
"""


@dataclass
class StepResult:
    job: str
    name: str
    outcome: str  # success, failure, skipped
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""


@dataclass
class JobResult:
    job: str
    outcome: str  # success, failure, skipped
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""

    def step(self, fragment: str) -> StepResult:
        """The step whose name contains ``fragment``."""
        found = [s for s in self.steps if fragment in s.name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} steps of {self.job} match {fragment!r}")
        return found[0]

    @property
    def output(self) -> str:
        return "\n".join(s.stdout + s.stderr for s in self.steps)


class EmulationError(Exception):
    """The workflow uses something this runner does not emulate: extend it, or simplify the YAML."""


@dataclass
class WorkflowRun:
    """One run of a workflow: its jobs share artifacts and nothing else.

    ``secrets`` and ``variables`` map a GitHub environment name (``""`` for the repository) to its
    values, so a job sees only its own environment's secrets, as on GitHub. ``github`` holds the
    values of the github context the workflow reads (``event.pull_request.base.sha``...). ``service_urls``
    replaces values the workflow gives to these variables (URLs of its service containers) with
    databases of the test server; each must be used by some job, so a renamed variable is noticed.
    """

    workflow_file: str
    home: Path
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    service_urls: dict[str, str] = field(default_factory=dict)
    github: dict[str, str] = field(default_factory=dict)  # the github context: "event.before" -> sha
    extra_env: dict[str, str] = field(default_factory=dict)
    step_timeout: float = 240.0
    results: dict[str, JobResult] = field(default_factory=dict)
    used_service_urls: set[str] = field(default_factory=set)
    attempt: int = 1

    def __post_init__(self) -> None:
        self.workflow = load_workflow(self.workflow_file)
        self.artifacts = self.home / "artifacts"
        self.artifacts.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ public

    def run(self) -> dict[str, JobResult]:
        """Every job, in order; a job whose needs did not all succeed is skipped, as on GitHub."""
        for job_id in job_order(self.workflow):
            self.run_job(job_id)
        return self.results

    def rerun_failed(self) -> dict[str, JobResult]:
        """GitHub's *Re-run failed jobs*: a new attempt of the failed jobs and of every job
        downstream of them; the jobs that succeeded keep their results, and every artifact of
        the run (any attempt) stays in the store."""
        self.attempt += 1
        again = {job_id for job_id, result in self.results.items() if result.outcome == "failure"}
        for job_id in job_order(self.workflow):
            if job_id in again or any(d in again for d in needs(self.workflow["jobs"][job_id])):
                again.add(job_id)
                self.run_job(job_id)
        return self.results

    def rerun_all(self) -> dict[str, JobResult]:
        """GitHub's *Re-run all jobs*: a new attempt of every job; artifacts of the earlier
        attempts are still there (an upload of the same name must overwrite them)."""
        self.attempt += 1
        self.results = {}
        return self.run()

    def run_job(self, job_id: str) -> JobResult:
        job = self.workflow["jobs"][job_id]
        if any(
            self.results.get(dependency, JobResult(dependency, "missing")).outcome != "success"
            for dependency in needs(job)
        ):
            result = JobResult(job_id, "skipped")
        elif "uses" in job:
            # A reusable workflow (ci.yml): the test suite that runs this is what it would run.
            result = JobResult(job_id, "success")
        else:
            result = self._run_steps(job_id, job)
        self.results[job_id] = result
        return result

    # ------------------------------------------------------------------ internals

    def _expand(self, value: object, environment: str | None) -> str:
        text = str(value)

        def lookup(match: re.Match[str]) -> str:
            store = self.secrets if match.group(1) == "secrets" else self.variables
            for scope in (environment or "", ""):
                values = store.get(scope, {})
                if match.group(2) in values:
                    return values[match.group(2)]
            return ""  # GitHub gives an empty string for a missing secret or variable

        def github(match: re.Match[str]) -> str:
            paths = [path.strip().removeprefix("github.") for path in match.group(1).split("||")]
            if any(path not in self.github for path in paths):
                raise EmulationError(f"unsupported expression in {text!r} (give the run its github context)")
            return next((self.github[path] for path in paths if self.github[path]), "")

        expanded = _GITHUB_VALUE.sub(github, _CONTEXT_VALUE.sub(lookup, text))
        if "${{" in expanded:
            raise EmulationError(f"unsupported expression in {text!r}")
        return expanded

    def _env(self, layers: list[Mapping[str, Any]], environment: str | None) -> dict[str, str]:
        values: dict[str, str] = {}
        for layer in layers:
            for key, value in (layer or {}).items():
                values[str(key)] = self._expand(value, environment)
        for key, url in self.service_urls.items():
            if key in values:
                values[key] = url
                self.used_service_urls.add(key)
        return values

    def _base_env(self, workspace: Path, summary: Path) -> dict[str, str]:
        """The runner's environment: this machine's, less anything that could reach a database
        or change the toolkit, plus what GitHub sets for every step."""
        prefixes = ("AGENT_", "API_", "GITHUB_", "RUNNER_")
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(prefixes) and not k.endswith(("_DATABASE_URL", "_JWT_SECRET"))
        }
        base.update(
            CI="true",
            GITHUB_ACTIONS="true",
            GITHUB_ACTOR="workflow-emulator",
            GITHUB_RUN_ATTEMPT=str(self.attempt),
            GITHUB_WORKFLOW=str(self.workflow.get("name", self.workflow_file)),
            GITHUB_WORKSPACE=str(workspace),
            GITHUB_STEP_SUMMARY=str(summary),
            EMULATOR_PYTHON=sys.executable,
            EMULATOR_CHECKOUT=str(ROOT),
            NO_COLOR="1",
            COLUMNS="200",
        )
        base.update(self.extra_env)
        return base

    def _condition(self, step: Mapping[str, Any], failed: bool) -> bool:
        condition = str(step.get("if", "success()")).strip()
        if condition.startswith("${{") and condition.endswith("}}"):
            condition = condition[3:-2].strip()
        known = {"success()": not failed, "failure()": failed, "always()": True, "!cancelled()": True}
        if condition not in known:
            raise EmulationError(f"unsupported step condition {condition!r}")
        return known[condition]

    def _run_steps(self, job_id: str, job: Mapping[str, Any]) -> JobResult:
        environment = environment_name(job)
        workspace = self.home / "jobs" / job_id
        if workspace.exists():
            shutil.rmtree(workspace)  # a re-run starts from a fresh checkout too
        workspace.mkdir(parents=True)
        summary = self.home / "summaries" / f"{job_id}.md"
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text("")
        base = self._base_env(workspace, summary)
        result = JobResult(job_id, "success")
        failed = False
        for index, step in enumerate(steps(job)):
            name = step_name(step, index)
            if not self._condition(step, failed):
                result.steps.append(StepResult(job_id, name, "skipped"))
                continue
            env = {
                **base,
                **self._env(
                    [self.workflow.get("env") or {}, job.get("env") or {}, step.get("env") or {}],
                    environment,
                ),
            }
            if "uses" in step:
                outcome = self._action(job_id, name, step, workspace, environment)
            else:
                outcome = self._script(job_id, name, str(step["run"]), workspace, env)
            result.steps.append(outcome)
            if outcome.outcome == "failure":
                failed = True
        result.outcome = "failure" if failed else "success"
        result.summary = summary.read_text()
        return result

    def _script(
        self, job_id: str, name: str, script: str, workspace: Path, env: dict[str, str]
    ) -> StepResult:
        with tempfile.NamedTemporaryFile("w", suffix=".sh", dir=self.home, delete=False) as file:
            file.write(UV_SHIM + script + "\n")
        try:
            completed = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", file.name],
                cwd=workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.step_timeout,
                check=False,
            )
        finally:
            Path(file.name).unlink()
        outcome = "success" if completed.returncode == 0 else "failure"
        return StepResult(job_id, name, outcome, completed.returncode, completed.stdout, completed.stderr)

    def _action(
        self, job_id: str, name: str, step: Mapping[str, Any], workspace: Path, environment: str | None
    ) -> StepResult:
        action = str(step["uses"]).split("@", 1)[0]
        inputs = {k: self._expand(v, environment) for k, v in (step.get("with") or {}).items()}
        try:
            succeeded, stderr = workflow_actions.play(action, inputs, workspace, self.artifacts)
        except workflow_actions.ActionError as error:
            raise EmulationError(f"{job_id}: {error}") from None
        return StepResult(job_id, name, "success" if succeeded else "failure", stderr=stderr)
