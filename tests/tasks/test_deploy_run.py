"""The deploy workflow's own steps, run in order against three databases by the workflow
emulator: they promote a new revision to prod, or stop at prod when a revision file was
tampered with; staging and prod roll out the images the image job pushed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.image import TARGETS
from tests.support.inspection import ledger_rows, position
from tests.support.manifests import MANIFEST_KEY
from tests.support.pipeline import (
    DEPLOY,
    NEW_REVISION,
    REPOSITORY,
    Pipeline,
    head_commit,
    rolled_out,
    rollout_command,
)
from tests.support.revisions import package_head
from tests.support.workflow_runner import EmulationError, WorkflowRun


@pytest.mark.slow
def test_deploy_workflow_stops_a_tampered_revision_at_prod_and_promotes_the_real_one(
    pipeline: Pipeline, apis: dict[str, str], tmp_path: Path
) -> None:
    """One run of deploy.yml: dev and staging take the new revision; prod refuses it while its
    file differs from what staging ran (exit 3, nothing changed); with the file restored, the
    re-run prod job promotes it with staging's manifest, rolls the API out (the images the image
    job pushed, pinned to their digests) and smoke-checks it."""
    record = tmp_path / "rolled-out-"
    run = pipeline.deploy_run(
        variables={
            name: {"API_URL": url, "API_ROLLOUT_COMMAND": rollout_command(record)}
            for name, url in apis.items()
        }
    )
    for job_id in ("ci", "image", "dev", "staging"):
        job = run.run_job(job_id)
        assert job.outcome == "success", f"{job_id}:\n{job.output}"
    assert position(pipeline.staging) == [NEW_REVISION]
    staging_promotion = run.results["staging"].step("expand revisions").stderr
    assert "read manifests/dev.json" in staging_promotion
    assert (
        "unsigned: the dev job holds no AGENT_DB_MANIFEST_KEY; accepted because staging" in staging_promotion
    )
    assert "manifest written to manifests/staging.json (signed)" in staging_promotion

    # staging's uploaded manifest, edited in the artifact store: prod refuses it, nothing changes
    artifact = run.artifacts / "manifest-staging" / "staging.json"
    signed = artifact.read_text()
    artifact.write_text(signed.replace('"actor": "', '"actor": "forger-'))
    forged = run.run_job("prod")
    assert forged.step("expand revisions").returncode == 3
    assert "its content was changed after it was signed" in forged.step("expand revisions").stderr
    assert position(pipeline.prod) == [package_head()]
    artifact.write_text(signed)

    original = pipeline.revision.read_text()
    pipeline.revision.write_text(original.replace("sa.Text()", "sa.String(200)"))
    refused = run.run_job("prod")
    assert refused.outcome == "failure"
    promote = refused.step("expand revisions")
    assert promote.returncode == 3
    assert "promotion refused, nothing changed" in promote.stderr
    assert f"revision {NEW_REVISION} ({pipeline.revision.name}) succeeded in staging" in promote.stderr
    assert "edited after staging ran it" in promote.stderr
    assert [s.outcome for s in refused.steps if "Roll out" in s.name or "Smoke" in s.name] == ["skipped"] * 2
    assert refused.step("Status summary").outcome == "success"  # written when the job fails too
    assert "| prod (protected) | 1 pending |" in refused.summary
    assert not (run.artifacts / "manifest-prod").exists()
    assert position(pipeline.prod) == [package_head()]  # the previous release's, unchanged
    assert not Path(f"{record}prod").exists()

    pipeline.revision.write_text(original)
    results = {**run.results, "prod": run.run_job("prod")}
    for job in results.values():
        assert job.outcome == "success", f"{job.job}:\n{job.output}"
    assert run.used_service_urls == set(run.service_urls)
    assert position(pipeline.prod) == [NEW_REVISION]
    prod_manifest = json.loads((run.artifacts / "manifest-prod" / "prod.json").read_text())
    assert prod_manifest["source"] == "staging"
    assert prod_manifest["position"] == [NEW_REVISION]
    assert prod_manifest["applied"] == []  # written by the contract step, which had nothing to apply
    assert [r["phase"] for r in ledger_rows(pipeline.prod) if r["revision"] == NEW_REVISION] == ["expand"]
    assert "read manifests/staging.json" in results["prod"].step("expand revisions").stderr
    assert "source staging: signature verified" in results["prod"].step("expand revisions").stderr
    assert "signature" in prod_manifest

    for env in ("staging", "prod"):
        assert Path(f"{record}{env}").exists(), f"{env} was rolled out"
        job = results[env]
        assert "the API serves this release" in job.step("Smoke").stderr
        assert "the census shows a live process of this release" in job.step("Smoke").stderr
        assert job.step("contract revisions").outcome == "success"
        assert "## Database environments" in job.summary
        assert "not-to-be-printed" not in job.output + job.summary
        assert MANIFEST_KEY not in job.output + job.summary
    assert "## Database environments" in results["dev"].summary

    # the image job pushed both targets, tagged with the commit; both stages rolled out those
    commit = head_commit()
    image = results["image"]
    assert [build.target for build in image.builds] == list(TARGETS)
    pinned = {}
    for build in image.builds:
        name = f"ghcr.io/{REPOSITORY.lower()}/{TARGETS[build.target]}"
        assert build.tags == (f"{name}:{commit}",)
        assert build.push
        assert build.build_args == {"AGENT_BUILD_COMMIT": commit}
        pinned[build.target] = f"{name}@{build.digest}"
    assert image.outputs == {"api-image": pinned["runtime"], "migrate-image": pinned["migrate"]}
    for env in ("staging", "prod"):
        assert rolled_out(record, env) == {
            "AGENT_ENV": env,
            "AGENT_RELEASE_COMMIT": commit,
            "API_IMAGE": pinned["runtime"],
            "MIGRATE_IMAGE": pinned["migrate"],
        }


def test_emulator_refuses_what_it_does_not_understand(tmp_path: Path) -> None:
    run = WorkflowRun(DEPLOY, tmp_path)
    with pytest.raises(EmulationError, match="unsupported expression"):
        run._expand("${{ github.event.head_commit.message }}", None)
    with pytest.raises(EmulationError, match="unsupported step condition"):
        run._condition({"if": "github.ref == 'refs/heads/main'"}, failed=False)
