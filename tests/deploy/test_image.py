"""The Dockerfile's stages, targets, users and health check, parsed as Docker reads them
(tests/support/dockerfile.py), are the ones docs/deployment.md and deploy/kubernetes/ describe."""

from __future__ import annotations

import json
import re

from tests.support.dockerfile import lineage, stage, stages
from tests.support.paths import ROOT

PYTHON_TAG = re.compile(r"^python:3\.13\.(?P<patch>\d+)-slim(-\w+)?$")
TARGETS = {"runtime": "agent-api", "migrate": "agent-api-migrate"}


def test_the_targets_are_the_documented_stages() -> None:
    all_stages = stages()
    names = [s.name for s in all_stages]
    assert {"build", "build-migrate", "base", "migrate", "runtime"} <= set(names)
    assert names[-1] == "runtime", "`docker build .` builds the API"
    external = {s.base for s in all_stages if s.base not in names}
    assert all(":" in base and not base.endswith(":latest") for base in external), external
    pythons = {base for base in external if base.startswith("python:")}
    assert len(pythons) == 1, f"the venvs are built on the Python they run on: {pythons}"
    match = PYTHON_TAG.match(pythons.pop())
    assert match, "a pinned 3.13 patch, slim"
    assert int(match["patch"]) >= 18
    assert [s.name for s in lineage("runtime")] == ["base", "runtime"]
    assert [s.name for s in lineage("migrate")] == ["base", "migrate"]
    assert not [s for s in all_stages for i, _ in s.instructions if i == "ADD"], "COPY only"


def test_both_targets_run_unprivileged() -> None:
    for target in TARGETS:
        assert stage(target).values("USER") == ["10001:10001"], target  # deploy/kubernetes' runAsUser
    base = stage("base")
    (user,) = base.values("RUN")
    assert "--uid 10001" in user
    assert "--gid 10001" in user
    assert base.env()["AGENT_ENV"] == "prod", "unconfigured, both refuse instead of using dev"
    assert base.env()["AGENT_ENVIRONMENTS_DIR"] == "/app/environments"
    assert "environments/ /app/environments/" in base.values("COPY")


def test_the_api_has_a_health_check_and_the_migrate_image_runs_invoke() -> None:
    runtime, migrate = stage("runtime"), stage("migrate")
    (check,) = runtime.values("HEALTHCHECK")
    assert "http://127.0.0.1:8000/health" in check
    assert check.startswith("--interval=")
    assert runtime.values("EXPOSE") == ["8000"]
    # The API as `invoke api.serve` serves it (tests/api/test_serve_command.py runs this command).
    assert json.loads(runtime.values("CMD")[0])[:3] == ["python", "-m", "agent_api"]
    assert runtime.values("COPY") == ["--from=build /app/.venv /app/.venv"], "the API's image holds no tasks"
    assert migrate.values("ENTRYPOINT") == ['["invoke"]']
    assert "tasks/ /app/tasks/" in migrate.values("COPY")
    assert "--from=build-migrate /app/.venv /app/.venv" in migrate.values("COPY")


def test_the_kubernetes_manifests_name_the_two_targets_images() -> None:
    for overlay in ("staging", "prod"):
        text = (ROOT / "deploy" / "kubernetes" / "overlays" / overlay / "kustomization.yaml").read_text()
        for image in TARGETS.values():
            assert f"- name: {image}\n" in text, (overlay, image)
