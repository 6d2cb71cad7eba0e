"""A small runner that plays a GitHub workflow's jobs here, as far as the project's workflows need:
jobs in `needs:` order, one fresh workspace per job, artifacts handed between jobs only through
upload/download-artifact (tests.support.workflow_actions; they outlive attempts, as on GitHub),
*Re-run failed jobs* and *Re-run all jobs* as new attempts, environment-scoped secrets and
variables, `if: always()` steps after a failure, job conditions, step `id:`s and their outputs
(`$GITHUB_OUTPUT`, an action's), job `outputs:` read through `needs.<job>.outputs`, and each
`run:` script in `bash -eo pipefail` with `uv run invoke` running this checkout's tasks. Anything
it does not understand (another action, another expression: tests.support.workflow_expressions)
is an error, so the workflows cannot quietly grow past what is tested.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import workflow_actions
from tests.support.paths import ROOT
from tests.support.workflow_expressions import (
    Contexts,
    EmulationError,
    expand,
    job_condition,
    step_condition,
)
from tests.support.workflow_results import JobResult, StepResult
from tests.support.workflow_scripts import run_script
from tests.support.workflows import (
    environment_name,
    job_order,
    load_workflow,
    needs,
    step_name,
    steps,
)

__all__ = ["EmulationError", "JobResult", "StepResult", "WorkflowRun"]

# What GitHub sets for every step from the github context, when the run's context holds it.
GITHUB_VARIABLES = {
    "sha": "GITHUB_SHA",
    "ref": "GITHUB_REF",
    "repository": "GITHUB_REPOSITORY",
    "actor": "GITHUB_ACTOR",
}
# The token GitHub gives every run as secrets.GITHUB_TOKEN (here a stand-in).
EMULATED_TOKEN = "ghs_workflow-emulator-token"


@dataclass
class WorkflowRun:
    """One run of a workflow: its jobs share artifacts and nothing else.

    ``secrets`` and ``variables`` map a GitHub environment name (``""`` for the repository) to its
    values, so a job sees only its own environment's secrets, as on GitHub. ``github`` holds the
    values of the github context the workflow reads (``event.pull_request.base.sha``, ``sha``...;
    ``sha``, ``ref``, ``repository`` and ``actor`` also become GITHUB_SHA... in each step). ``service_urls``
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
        self.secrets = {**self.secrets, "": {"GITHUB_TOKEN": EMULATED_TOKEN, **self.secrets.get("", {})}}

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
        succeeded = all(
            self.results.get(dependency, JobResult(dependency, "missing")).outcome == "success"
            for dependency in needs(job)
        )
        if not job_condition(job.get("if", "success()"), succeeded, self.github):
            result = JobResult(job_id, "skipped")
        elif "uses" in job:
            # A reusable workflow (ci.yml): the test suite that runs this is what it would run.
            result = JobResult(job_id, "success")
        else:
            result = self._run_steps(job_id, job)
        self.results[job_id] = result
        return result

    # ------------------------------------------------------------------ internals

    def _contexts(
        self,
        environment: str | None,
        job: Mapping[str, Any] | None = None,
        step_outputs: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Contexts:
        """What expressions read in a job of ``environment``: its secrets and variables over the
        repository's, the github context, the outputs of the jobs it needs and of its steps."""
        scopes = ("", *([environment] if environment else []))
        return Contexts(
            secrets={k: v for scope in scopes for k, v in self.secrets.get(scope, {}).items()},
            variables={k: v for scope in scopes for k, v in self.variables.get(scope, {}).items()},
            github=self.github,
            needs={
                dependency: self.results[dependency].outputs
                for dependency in needs(job or {})
                if dependency in self.results
            },
            steps=step_outputs or {},
        )

    def _expand(self, value: object, environment: str | None, contexts: Contexts | None = None) -> str:
        return expand(value, contexts or self._contexts(environment))

    def _env(self, layers: list[Mapping[str, Any]], contexts: Contexts) -> dict[str, str]:
        values: dict[str, str] = {}
        for layer in layers:
            for key, value in (layer or {}).items():
                values[str(key)] = expand(value, contexts)
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
        base.update(
            {variable: self.github[key] for key, variable in GITHUB_VARIABLES.items() if key in self.github}
        )
        base.update(self.extra_env)
        return base

    def _condition(self, step: Mapping[str, Any], failed: bool) -> bool:
        return step_condition(step.get("if", "success()"), failed)

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
        step_outputs: dict[str, dict[str, str]] = {}
        logins: set[str] = set()
        failed = False
        for index, step in enumerate(steps(job)):
            name = step_name(step, index)
            step_id = step.get("id")
            if step_id is not None and (str(step_id) in step_outputs or not str(step_id).strip()):
                raise EmulationError(f"{job_id}: step id {step_id!r} is empty or not unique")
            contexts = self._contexts(environment, job, step_outputs)
            if not self._condition(step, failed):
                outcome = StepResult(job_id, name, "skipped")
            elif "uses" in step:
                outcome = self._action(job_id, name, step, workspace, contexts, logins, result)
            else:
                env = {
                    **base,
                    **self._env(
                        [self.workflow.get("env") or {}, job.get("env") or {}, step.get("env") or {}],
                        contexts,
                    ),
                }
                outcome = run_script(job_id, name, str(step["run"]), workspace, env, self.step_timeout)
            result.steps.append(outcome)
            if step_id is not None:
                step_outputs[str(step_id)] = outcome.outputs
            if outcome.outcome == "failure":
                failed = True
        result.outcome = "failure" if failed else "success"
        result.summary = summary.read_text()
        contexts = self._contexts(environment, job, step_outputs)
        result.outputs = {str(k): expand(v, contexts) for k, v in (job.get("outputs") or {}).items()}
        return result

    def _action(
        self,
        job_id: str,
        name: str,
        step: Mapping[str, Any],
        workspace: Path,
        contexts: Contexts,
        logins: set[str],
        result: JobResult,
    ) -> StepResult:
        action = str(step["uses"]).split("@", 1)[0]
        inputs = {str(k): expand(v, contexts) for k, v in (step.get("with") or {}).items()}
        try:
            played = workflow_actions.play(
                action,
                inputs,
                step=name,
                workspace=workspace,
                artifacts=self.artifacts,
                logins=frozenset(logins),
            )
        except workflow_actions.ActionError as error:
            raise EmulationError(f"{job_id}: {error}") from None
        if played.succeeded and played.login:
            logins.add(played.login)
        if played.succeeded and played.build:
            result.builds.append(played.build)
        outcome = "success" if played.succeeded else "failure"
        return StepResult(job_id, name, outcome, stderr=played.stderr, outputs=dict(played.outputs))
