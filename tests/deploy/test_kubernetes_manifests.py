"""deploy/kubernetes/: every manifest of the base and both overlays is valid against the Kubernetes
schemas (kubernetes-validate, strict, offline), and the properties a safe rollout rests on hold
in what each overlay renders: probes, capacity during a rollout and a drain, secrets only by
reference, non-root pods, and migration Jobs whose arguments are real task flags."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoke.parser import Parser

import tasks
from agent_db.settings import load_settings
from tasks.k8s import KUBERNETES_DIR, kubernetes_versions, kustomizations, problems
from tasks.kustomize import render
from tests.support.paths import ROOT

OVERLAYS = ("staging", "prod")
Resource = dict[str, Any]


def rendered(overlay: str) -> list[Resource]:
    return render(KUBERNETES_DIR / "overlays" / overlay)


def one(resources: list[Resource], kind: str, name: str | None = None) -> Resource:
    found = [r for r in resources if r["kind"] == kind and name in (None, r["metadata"]["name"])]
    assert len(found) == 1, f"one {kind} {name or ''}: {[r['metadata']['name'] for r in found]}"
    return found[0]


def pod_templates(resources: list[Resource]) -> list[tuple[str, Resource]]:
    return [
        (r["metadata"]["name"], r["spec"]["template"]) for r in resources if "template" in r.get("spec", {})
    ]


def test_every_manifest_is_valid_against_the_kubernetes_schemas() -> None:
    directories = kustomizations()
    assert {d.name for d in directories} >= {"base", *OVERLAYS}
    versions = kubernetes_versions()
    assert versions[0] == "1.31"
    assert versions[-1] >= "1.37", versions
    for directory in directories:
        count, found = problems(directory, versions)
        assert not found, "\n".join(map(str, found))
        assert count == 6, f"{directory}: {count} manifests"


@pytest.mark.parametrize(
    ("written", "wrong", "reported"),
    [
        ("readinessProbe:", "readynessProbe:", "readynessProbe"),  # strict: an unknown field
        ("replicas: 2", "replicas: two", "spec.replicas"),  # a wrong type
    ],
)
def test_a_misspelt_or_wrong_field_is_caught(tmp_path: Path, written: str, wrong: str, reported: str) -> None:
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES_DIR, copy)
    deployment = copy / "base" / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace(written, wrong))
    count, found = problems(copy / "overlays" / "staging", kubernetes_versions())
    assert count == 6
    assert found, "the broken manifest was reported"
    assert {p.resource for p in found} == {"Deployment/agent-api"}
    assert all(reported in p.message for p in found), [str(p) for p in found]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_is_probed_and_keeps_capacity(overlay: str) -> None:
    resources = rendered(overlay)
    deployment = one(resources, "Deployment", "agent-api")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    port = next(p for p in container["ports"] if p["containerPort"] == 8000)
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": port["name"]}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]

    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    assert strategy["rollingUpdate"]["maxSurge"] >= 1
    # a new pod serves beside the old ones before one of them is removed (bench.release)
    assert deployment["spec"]["minReadySeconds"] == 5

    replicas = deployment["spec"]["replicas"]
    budget = one(resources, "PodDisruptionBudget")
    assert 1 <= budget["spec"]["minAvailable"] < replicas, "a drain keeps pods serving and can still proceed"
    pod_labels = pod["metadata"]["labels"]
    selector = budget["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items(), "the budget covers the API's pods"
    service = one(resources, "Service", "agent-api")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    jobs = [r for r in resources if r["kind"] == "Job"]
    for job in jobs:  # the Service and the budget never select a migration pod
        assert not selector.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert replicas == {"staging": 2, "prod": 3}[overlay]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_unprivileged_on_a_read_only_root(overlay: str) -> None:
    resources = rendered(overlay)
    templates = pod_templates(resources)
    assert len(templates) == 3
    for name, template in templates:
        spec = template["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == 10001, name  # the image's user
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{name}: a writable /tmp (an emptyDir)"  # noqa: S108


def env_of(container: Resource) -> dict[str, Resource]:
    return {item["name"]: item for item in container["env"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_only_by_reference(overlay: str) -> None:
    resources = rendered(overlay)
    assert not [r for r in resources if r["kind"] == "Secret"], (
        "Secrets are made in the cluster, not kept here"
    )
    settings = load_settings(overlay)
    api = env_of(one(resources, "Deployment")["spec"]["template"]["spec"]["containers"][0])
    from agent_api.settings import load_api_settings

    wanted = {
        "agent-api": {
            settings.database_url_env: "database-url",
            load_api_settings(overlay).jwt_secret_env: "jwt-secret",
        }
    }
    for variable, key in wanted["agent-api"].items():
        assert api[variable]["valueFrom"]["secretKeyRef"] == {"name": "agent-api", "key": key}, variable
    assert api["AGENT_ENV"]["value"] == overlay
    for job in (r for r in resources if r["kind"] == "Job"):
        env = env_of(job["spec"]["template"]["spec"]["containers"][0])
        assert env["AGENT_ENV"]["value"] == overlay
        assert env[settings.database_url_env]["valueFrom"]["secretKeyRef"]["name"] == "agent-db-migrate"
        assert settings.direct_url_env, f"environments/{overlay}.toml names its direct URL variable"
        direct = env[settings.direct_url_env]["valueFrom"]["secretKeyRef"]
        assert direct == {"name": "agent-db-migrate", "key": "direct-database-url", "optional": True}
        signing = env["AGENT_DB_MANIFEST_KEY"]["valueFrom"]["secretKeyRef"]
        assert signing == {"name": "agent-db-migrate", "key": "manifest-key"}, "manifests are verified"
    for _, template in pod_templates(resources):
        for item in template["spec"]["containers"][0]["env"]:
            if item["name"].endswith(("_URL", "_SECRET", "_TOKEN", "_KEY", "PASSWORD")):
                assert "value" not in item, f"{item['name']} is written in the manifest"
    assert {r["metadata"]["namespace"] for r in resources} == {f"agent-{overlay}"}


def test_no_secret_is_kept_in_the_manifests() -> None:
    for path in KUBERNETES_DIR.rglob("*.yaml"):
        text = path.read_text()
        assert "kind: Secret" not in text, path
        assert "postgresql://" not in text, path


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_migration_jobs_promote_each_phase_with_real_task_flags(overlay: str) -> None:
    resources = rendered(overlay)
    api_image = one(resources, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    parser = Parser(contexts=tasks.ns.to_contexts())
    for phase in ("expand", "contract"):
        job = one(resources, "Job", f"agent-db-{phase}")
        assert job["metadata"]["labels"]["app.kubernetes.io/component"] == f"migrate-{phase}"
        spec = job["spec"]["template"]["spec"]
        assert spec["restartPolicy"] == "Never"
        (container,) = spec["containers"]
        name, _, tag = container["image"].rpartition(":")
        assert name.endswith("/agent-api-migrate")
        assert api_image == f"{name.removesuffix('-migrate')}:{tag}", (
            "the migration image is the release's own"
        )
        argv = [a.replace("$(AGENT_ENV)", env_of(container)["AGENT_ENV"]["value"]) for a in container["args"]]
        (context,) = parser.parse_argv(argv)
        assert context.name == "db.promote"
        assert context.args["to"].value == overlay
        assert context.args["phase"].value == phase
        manifest = Path(context.args["manifest"].value)
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert str(manifest.parent) in mounts
        assert mounts[str(manifest.parent)]["readOnly"] is True
        assert context.args["manifest-out"].value.startswith("/tmp/")  # noqa: S108 (the pod's emptyDir)
        # A safety refusal of expand is final; contract's exit 3 (a live pod of the previous
        # release) is retried until the old pods are gone.
        fail_codes = job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"]
        assert fail_codes == ([2, 3] if phase == "expand" else [2])
        assert job["spec"]["backoffLimit"] >= (1 if phase == "expand" else 5)


def test_the_task_validates_and_renders_as_people_run_it() -> None:
    command = [sys.executable, "-m", "invoke"]
    result = subprocess.run([*command, "k8s.validate"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("base", "overlays/staging", "overlays/prod"):
        assert f"deploy/kubernetes/{name}: 6 manifests, valid against Kubernetes 1.31" in result.stdout
    result = subprocess.run(
        [*command, "k8s.render", "--overlay", "prod"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert [d["kind"] for d in yaml.safe_load_all(result.stdout)] == [r["kind"] for r in rendered("prod")]
    result = subprocess.run(
        [*command, "k8s.render", "--overlay", "qa"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "no overlay 'qa'; choose one of prod, staging" in result.stderr


def test_the_docs_apply_each_part_by_a_label_the_manifests_carry() -> None:
    """docs/deployment.md applies the release in order by component label: each label it uses
    selects what it means in both overlays, and nothing is left without one."""
    docs = (ROOT / "docs" / "deployment.md").read_text()
    wanted = {
        "serviceaccount": {"ServiceAccount"},
        "migrate-expand": {"Job"},
        "api": {"Deployment", "Service", "PodDisruptionBudget"},
        "migrate-contract": {"Job"},
    }
    for overlay in OVERLAYS:
        resources = rendered(overlay)
        for component, kinds in wanted.items():
            assert f"kubectl apply -k . -l app.kubernetes.io/component={component}" in docs.replace("\n", " ")
            selected = {
                r["kind"]
                for r in resources
                if r["metadata"]["labels"]["app.kubernetes.io/component"] == component
            }
            assert selected == kinds, (overlay, component, selected)
        assert sum(len(k) for k in wanted.values()) == len(resources), "every resource has its step"
