"""ci.yml's compatibility job, played by the workflow emulator: on a pull request whose base is
this checkout's HEAD, an expand revision that breaks the previous release fails the job (exit 3,
naming the revision), and the CI gate requires the job."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.support.databases import url_text
from tests.support.paths import ROOT
from tests.support.revisions import copy_history, package_head, write_revision
from tests.support.workflow_runner import EmulationError, WorkflowRun
from tests.support.workflows import load_workflow

BREAKING = "c0ffee00c0b1"


@pytest.mark.slow
def test_the_compat_job_fails_naming_the_revision_that_breaks_the_previous_release(
    server_url: URL, tmp_path: Path
) -> None:
    versions = copy_history(tmp_path)
    write_revision(
        versions, BREAKING, package_head(), "op.drop_column('conversations', 'title')",
        message="drop title, an expand revision by mistake",
    )  # fmt: skip
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    run = WorkflowRun(
        "ci.yml",
        tmp_path / "run",
        service_urls={"AGENT_DB_REFERENCE_URL": url_text(server_url.set(database="postgres"))},
        github={"event.pull_request.base.sha": head.stdout.strip(), "event.before": ""},
        extra_env={"AGENT_DB_VERSIONS_DIR": str(versions)},
        step_timeout=600,
    )
    job = run.run_job("compat")
    assert job.outcome == "failure"
    check = job.step("keeps working")
    assert check.returncode == 3, job.output
    assert f"revision {BREAKING} breaks the previous release" in check.stderr
    assert run.used_service_urls == {"AGENT_DB_REFERENCE_URL"}
    assert "compat" in load_workflow("ci.yml")["jobs"]["gate"]["needs"]


def test_the_base_comes_from_the_pull_request_or_the_push(tmp_path: Path) -> None:
    step_env = load_workflow("ci.yml")["jobs"]["compat"]["steps"][-1]["env"]
    run = WorkflowRun(
        "ci.yml", tmp_path, github={"event.pull_request.base.sha": "", "event.before": "abc123"}
    )
    assert run._expand(step_env["BASE_SHA"], None) == "abc123"  # a push: the commit before it
    run.github["event.pull_request.base.sha"] = "def456"
    assert run._expand(step_env["BASE_SHA"], None) == "def456"  # a pull request: its base
    with pytest.raises(EmulationError, match="github context"):
        WorkflowRun("ci.yml", tmp_path / "other")._expand(step_env["BASE_SHA"], None)
