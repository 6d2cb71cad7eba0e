"""Deploys can be re-run: after a rollout fails, *Re-run failed jobs* (the documented remedy)
retries the stage and goes on to prod; *Re-run all jobs* of a finished run succeeds again and
changes nothing. The workflow emulator keeps artifacts across attempts, as GitHub does, so a job
that uploads its manifest without ``overwrite`` fails its second attempt."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.support.inspection import ledger_rows, position
from tests.support.pipeline import NEW_REVISION, Pipeline, rolled_out, rollout_command
from tests.support.workflow_actions import upload


def applied_rows(url: URL, revision: str) -> list[dict[str, object]]:
    return [
        row
        for row in ledger_rows(url)
        if row["revision"] == revision and row["direction"] == "upgrade" and row["outcome"] == "success"
    ]


@pytest.mark.slow
def test_rerun_failed_jobs_after_a_failed_rollout_finishes_the_deploy(
    pipeline: Pipeline, apis: dict[str, str], tmp_path: Path
) -> None:
    record, failed = tmp_path / "rolled-out-", tmp_path / "refused-"
    commands = {"staging": rollout_command(record, fail_first=failed), "production": rollout_command(record)}
    run = pipeline.deploy_run(
        variables={
            name: {"API_URL": url, "API_ROLLOUT_COMMAND": commands[name]} for name, url in apis.items()
        }
    )
    first = run.run()
    assert first["dev"].outcome == "success", first["dev"].output
    staging = first["staging"]
    assert staging.outcome == "failure"
    assert staging.step("Roll out").returncode == 1
    assert "the platform refused the rollout" in staging.step("Roll out").stderr
    assert staging.step("Smoke").outcome == "skipped"
    assert first["prod"].outcome == "skipped"
    assert not (run.artifacts / "manifest-staging").exists()  # uploaded once the stage is done
    assert position(pipeline.staging) == [NEW_REVISION]

    image = first["image"]
    again = run.rerun_failed()
    assert run.attempt == 2
    for job_id in ("staging", "prod"):
        assert again[job_id].outcome == "success", f"{job_id}:\n{again[job_id].output}"
        assert "the API serves this release" in again[job_id].step("Smoke").stderr
    assert again["staging"].step("contract revisions").outcome == "success"
    # the image job succeeded, so it is not re-run: its first attempt's outputs reach the stages
    assert again["image"] is image
    for env in ("staging", "prod"):
        assert rolled_out(record, env)["API_IMAGE"] == image.outputs["api-image"] != ""
    assert position(pipeline.prod) == [NEW_REVISION]
    assert len(applied_rows(pipeline.staging, NEW_REVISION)) == 1, "the re-run applied nothing twice"
    assert len(applied_rows(pipeline.prod, NEW_REVISION)) == 1


@pytest.mark.slow
def test_rerun_all_jobs_of_a_finished_deploy_succeeds_and_changes_nothing(
    pipeline: Pipeline, apis: dict[str, str], tmp_path: Path
) -> None:
    record = tmp_path / "rolled-out-"
    run = pipeline.deploy_run(
        variables={
            name: {"API_URL": url, "API_ROLLOUT_COMMAND": rollout_command(record)}
            for name, url in apis.items()
        }
    )
    for job in run.run().values():
        assert job.outcome == "success", f"{job.job}:\n{job.output}"
    ledgers = {env: ledger_rows(url) for env, url in (("staging", pipeline.staging), ("prod", pipeline.prod))}

    for job in run.rerun_all().values():
        assert job.outcome == "success", f"attempt 2, {job.job}:\n{job.output}"
    assert run.attempt == 2
    for env, url in (("staging", pipeline.staging), ("prod", pipeline.prod)):
        assert position(url) == [NEW_REVISION]
        assert len(applied_rows(url, NEW_REVISION)) == 1, env
        assert len(ledger_rows(url)) == len(ledgers[env]), f"{env}: the second attempt ran no step"


def test_a_second_upload_of_one_name_fails_unless_it_overwrites(tmp_path: Path) -> None:
    """What made re-runs fail: artifacts belong to the run, not to one attempt."""
    workspace, artifacts = tmp_path / "job", tmp_path / "artifacts"
    (workspace / "manifests").mkdir(parents=True)
    (workspace / "manifests" / "staging.json").write_text("{}")
    inputs = {"name": "manifest-staging", "path": "manifests/staging.json", "if-no-files-found": "error"}
    assert upload(inputs, workspace, artifacts) == (True, "")
    succeeded, message = upload(inputs, workspace, artifacts)
    assert not succeeded
    assert "an artifact with this name already exists" in message
    (workspace / "manifests" / "staging.json").write_text('{"attempt": 2}')
    assert upload({**inputs, "overwrite": "true"}, workspace, artifacts) == (True, "")
    assert (artifacts / "manifest-staging" / "staging.json").read_text() == '{"attempt": 2}'
