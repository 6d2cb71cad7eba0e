"""deploy.yml's image job: it builds and pushes the Dockerfile's two targets to GHCR, tagged with
the commit, and hands the digest-pinned references to the stages' rollout steps. Played by the
workflow emulator, which checks what docker would refuse (a target the Dockerfile lacks, a
capital in a name, a push without a login) and refuses what it does not emulate."""

from __future__ import annotations

import copy
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from agent_db.commands.rollout import rollout
from agent_db.errors import ConfigError
from tasks import image as image_tasks
from tests.support import dockerfile
from tests.support.pipeline import DEPLOY, REPOSITORY, head_commit
from tests.support.workflow_runner import EmulationError, WorkflowRun
from tests.support.workflow_scripts import outputs
from tests.support.workflows import load_workflow, needs, steps

BUILD_PUSH = "docker/build-push-action@"
LOGIN = "docker/login-action@"
PUSH_TO_MAIN = {"sha": "0" * 40, "ref": "refs/heads/main", "repository": REPOSITORY, "actor": "octocat"}


def build_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(workflow["jobs"]["image"]) if str(s.get("uses", "")).startswith(BUILD_PUSH)]


def login_step(workflow: dict[str, Any]) -> dict[str, Any]:
    login = [s for s in steps(workflow["jobs"]["image"]) if str(s.get("uses", "")).startswith(LOGIN)]
    assert len(login) == 1
    return login[0]


def image_run(tmp_path: Path, workflow: dict[str, Any] | None = None, **github: str) -> WorkflowRun:
    run = WorkflowRun(DEPLOY, tmp_path / "run", github={**PUSH_TO_MAIN, **github})
    if workflow is not None:
        run.workflow = workflow
    run.run_job("ci")
    return run


# --------------------------------------------------------------------------- the YAML


def test_the_pushed_targets_are_the_dockerfiles_and_the_stages_roll_them_out() -> None:
    workflow = load_workflow(DEPLOY)
    job = workflow["jobs"]["image"]
    stage_names = {stage.name for stage in dockerfile.stages()}
    targets = [s["with"]["target"] for s in build_steps(workflow)]
    assert sorted(targets) == sorted(image_tasks.TARGETS), "both images of image.build, once each"
    for target in targets:
        assert target in stage_names, f"deploy.yml builds {target!r}, a stage the Dockerfile lacks"
    for step in build_steps(workflow):
        assert step["with"]["push"] is True
        assert (
            step["with"]["tags"]
            == f"${{{{ steps.names.outputs.{step['with']['target']} }}}}:${{{{ github.sha }}}}"
        )
        assert step["with"]["build-args"] == "AGENT_BUILD_COMMIT=${{ github.sha }}"
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert needs(job) == ["ci"]
    others = [j for job_id, j in workflow["jobs"].items() if job_id != "image"]
    assert all("packages" not in (j.get("permissions") or {}) for j in others), "only the image job writes"
    for stage in ("staging", "prod"):
        assert "image" in needs(workflow["jobs"][stage])
        rollout = next(s for s in steps(workflow["jobs"][stage]) if s.get("name") == "Roll out the API")
        assert rollout["env"]["API_IMAGE"] == "${{ needs.image.outputs.api-image }}"
        assert rollout["env"]["MIGRATE_IMAGE"] == "${{ needs.image.outputs.migrate-image }}"


# --------------------------------------------------------------------------- the job, emulated


def test_the_image_job_pushes_both_targets_tagged_with_the_commit(tmp_path: Path) -> None:
    commit = head_commit()
    run = image_run(tmp_path, sha=commit)
    job = run.run_job("image")
    assert job.outcome == "success", job.output
    assert job.step("Name the images").outputs == {
        target: f"ghcr.io/{REPOSITORY.lower()}/{name}" for target, name in image_tasks.TARGETS.items()
    }
    assert [(b.target, b.tags, b.push, b.build_args) for b in job.builds] == [
        (target, (f"ghcr.io/{REPOSITORY.lower()}/{name}:{commit}",), True, {"AGENT_BUILD_COMMIT": commit})
        for target, name in image_tasks.TARGETS.items()
    ]
    digests = [build.digest for build in job.builds]
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", d) for d in digests)
    assert len(set(digests)) == 2
    assert job.outputs["api-image"] == f"ghcr.io/{REPOSITORY.lower()}/agent-api@{digests[0]}"
    assert job.outputs["migrate-image"] == f"ghcr.io/{REPOSITORY.lower()}/agent-api-migrate@{digests[1]}"
    assert run.run_job("image").outputs == job.outputs, "the same inputs, the same digests"
    other = image_run(tmp_path / "other", sha="1" * 40).run_job("image")
    assert other.outputs["api-image"] != job.outputs["api-image"], "another commit, another digest"


def test_a_target_the_dockerfile_lacks_fails_the_build_and_nothing_is_rolled_out(tmp_path: Path) -> None:
    workflow = copy.deepcopy(load_workflow(DEPLOY))
    build_steps(workflow)[0]["with"]["target"] = "no-such-stage"
    run = image_run(tmp_path, workflow)
    job = run.run_job("image")
    assert job.outcome == "failure"
    assert 'target stage "no-such-stage" could not be found' in job.step("runtime image").stderr
    assert job.step("migrate image").outcome == "skipped"
    assert job.builds == []
    run.run_job("dev")  # not needed by what follows: staging also needs the image job
    assert run.run_job("staging").outcome == "skipped"


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (
            lambda w: build_steps(w)[0]["with"].update(tags="ghcr.io/Example-Org/x/agent-api:1"),
            "must be lowercase",
        ),
        (lambda w: build_steps(w)[0]["with"].pop("push"), "push must be true or false"),
        (lambda w: build_steps(w)[0]["with"].update(tags=""), "no tags"),
        (
            lambda w: build_steps(w)[0]["with"].update({"build-args": "NO_SUCH_ARG=1"}),
            "NO_SUCH_ARG is not an ARG",
        ),
        (lambda w: w["jobs"]["image"]["steps"].pop(4), "unauthenticated"),  # the login
        (
            lambda w: w["jobs"]["image"]["steps"][4]["with"].update(password=""),
            "Username and password required",
        ),
    ],
)
def test_what_docker_would_refuse_fails_the_step(tmp_path: Path, change: Any, refusal: str) -> None:
    workflow = copy.deepcopy(load_workflow(DEPLOY))
    change(workflow)
    job = image_run(tmp_path, workflow).run_job("image")
    assert job.outcome == "failure"
    assert refusal in next(s for s in job.steps if s.outcome == "failure").stderr


def test_a_dispatch_from_another_branch_pushes_and_deploys_nothing(tmp_path: Path) -> None:
    run = image_run(tmp_path, ref="refs/heads/feature")
    assert run.run_job("image").outcome == "skipped"
    assert run.run_job("prod").outcome == "skipped"
    with pytest.raises(EmulationError, match="github context"):
        WorkflowRun(DEPLOY, tmp_path / "bare").run_job("image")


def test_the_emulator_refuses_what_it_does_not_emulate(tmp_path: Path) -> None:
    workflow = copy.deepcopy(load_workflow(DEPLOY))
    build_steps(workflow)[0]["with"]["cache-from"] = "type=gha"
    with pytest.raises(EmulationError, match="input cache-from of docker/build-push-action is not emulated"):
        image_run(tmp_path, workflow).run_job("image")
    run = image_run(tmp_path / "again")
    with pytest.raises(EmulationError, match="dev is not a job this job needs"):
        run._expand("${{ needs.dev.outputs.x }}", None, run._contexts(None, {"needs": "ci"}))
    with pytest.raises(EmulationError, match="declares no output 'digest'"):
        run._expand("${{ needs.ci.outputs.digest }}", None, run._contexts(None, {"needs": "ci"}))
    with pytest.raises(EmulationError, match="no earlier step of this job has id 'names'"):
        run._expand("${{ steps.names.outputs.runtime }}", None)
    workflow["jobs"]["image"]["if"] = "github.event_name == 'push' && always()"
    third = image_run(tmp_path / "third", workflow)
    with pytest.raises(EmulationError, match="unsupported job condition"):
        third.run_job("image")
    with pytest.raises(EmulationError, match=r"unsupported \$GITHUB_OUTPUT line"):
        outputs("names<<EOF\nruntime=x\nEOF\n")


# --------------------------------------------------------------------------- api.rollout


def test_rollout_command_may_name_the_images_the_step_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "argv.json"
    script = "import json, sys; open(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"
    command = shlex.join([sys.executable, "-c", script, str(out)]) + " --image $API_IMAGE ${MIGRATE_IMAGE}"
    monkeypatch.delenv("API_IMAGE", raising=False)
    monkeypatch.setenv("MIGRATE_IMAGE", "ghcr.io/o/r/agent-api-migrate@sha256:2")
    with pytest.raises(ConfigError, match=r"names \$API_IMAGE, but this step has no API_IMAGE"):
        rollout("staging", command=command)
    assert not out.exists(), "nothing was run"
    monkeypatch.setenv("API_IMAGE", "ghcr.io/o/r/agent-api@sha256:1")
    rollout("staging", command=command)
    assert json.loads(out.read_text()) == [
        "--image",
        "ghcr.io/o/r/agent-api@sha256:1",
        "ghcr.io/o/r/agent-api-migrate@sha256:2",
    ]


# --------------------------------------------------------------------------- image.names


def test_image_names_are_lowercased_and_written_for_the_next_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    github_output = tmp_path / "output"
    github_output.write_text("earlier=kept\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    monkeypatch.setenv("GITHUB_REPOSITORY", "Example-Org/Agent.Platform")
    image_tasks.names(Context())
    expected = (
        "runtime=ghcr.io/example-org/agent.platform/agent-api\n"
        "migrate=ghcr.io/example-org/agent.platform/agent-api-migrate\n"
    )
    assert github_output.read_text() == "earlier=kept\n" + expected
    assert capsys.readouterr().out == expected


@pytest.mark.parametrize(
    ("registry", "repository", "message"),
    [
        ("ghcr.io", "", "pass --repository OWNER/NAME or set GITHUB_REPOSITORY"),
        ("ghcr.io", "owner-only", "cannot name an image"),
        ("ghcr.io", "owner/name-", "cannot name an image"),
        ("https://ghcr.io", "a/b", "is not a host name"),
    ],
)
def test_image_names_refuse_what_cannot_name_an_image(
    registry: str, repository: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    github_output = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(github_output))
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    with pytest.raises(Exit) as refused:
        image_tasks.names(Context(), registry=registry, repository=repository)
    assert refused.value.code == 2
    assert message in str(refused.value.message)
    assert not github_output.exists(), "nothing written"
