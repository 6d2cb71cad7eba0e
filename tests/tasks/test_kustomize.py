"""tasks/kustomize.py renders with Kustomize's semantics (strategic merge by Kubernetes' merge
keys, the patch's items first, base-then-overlay transformers) and refuses what it does not know.
The two overlays render to the objects `kubectl kustomize` gives (checked once with kubectl 1.32,
kustomize 5.5; kubectl is not on CI's machines, so the rules themselves are tested here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tasks.kustomize import KustomizeError, merge, render


def write(folder: Path, name: str, *documents: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(yaml.safe_dump_all(list(documents)))


DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 1,
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "web",
                        "args": ["--a", "--b"],
                        "env": [{"name": "KEEP", "value": "1"}, {"name": "CHANGE", "value": "old"}],
                        "volumeMounts": [{"name": "tmp", "mountPath": "/scratch"}],
                    },
                    {"name": "sidecar", "image": "side:1"},
                ]
            },
        },
    },
}


def test_merge_follows_kubernetes_merge_keys() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "args": ["--c"],
                            "env": [{"name": "NEW", "value": "2"}, {"name": "CHANGE", "value": "new"}],
                            "volumeMounts": [{"name": "tmp2", "mountPath": "/scratch", "readOnly": True}],
                        }
                    ]
                }
            }
        }
    }
    merged = merge(DEPLOYMENT, patch)
    web, sidecar = merged["spec"]["template"]["spec"]["containers"]
    assert sidecar == {"name": "sidecar", "image": "side:1"}, "a container the patch does not name stays"
    assert web["image"] == "web"
    assert web["args"] == ["--c"], "a list without a merge key is replaced"
    assert web["env"] == [
        {"name": "NEW", "value": "2"},
        {"name": "CHANGE", "value": "new"},
        {"name": "KEEP", "value": "1"},
    ], "merged by name, the patch's items first (as kustomize orders them)"
    assert web["volumeMounts"] == [{"name": "tmp2", "mountPath": "/scratch", "readOnly": True}], (
        "keyed by mountPath"
    )
    assert DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]["args"] == ["--a", "--b"], (
        "input unchanged"
    )
    assert "replicas" not in merge(DEPLOYMENT, {"spec": {"replicas": None}})["spec"], "null deletes"


def test_an_overlay_patches_and_transforms_after_its_base(tmp_path: Path) -> None:
    base = tmp_path / "base"
    write(base, "deployment.yaml", DEPLOYMENT)
    write(
        base,
        "kustomization.yaml",
        {"resources": ["deployment.yaml"], "images": [{"name": "web", "newTag": "1"}]},
    )
    overlay = tmp_path / "overlay"
    write(
        overlay,
        "patch.yaml",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 3}},
    )
    write(
        overlay,
        "kustomization.yaml",
        {
            "resources": ["../base"],
            "namespace": "team",
            "patches": [{"path": "patch.yaml"}],
            "labels": [{"pairs": {"tier": "front"}, "includeTemplates": True}],
            "images": [{"name": "web", "newName": "registry.example/web", "newTag": "2"}],
        },
    )
    (deployment,) = render(overlay)
    assert deployment["metadata"] == {"name": "web", "namespace": "team", "labels": {"tier": "front"}}
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "web", "tier": "front"}
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    # The base already named the image web:1; the overlay's transformer matches by name and retags.
    assert images == ["registry.example/web:2", "side:1"]


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ({"resources": ["deployment.yaml"], "configMapGenerator": []}, "configMapGenerator not supported"),
        ({"resources": ["missing.yaml"]}, "resource missing.yaml does not exist"),
        ({"resources": ["deployment.yaml"], "patches": [{"path": "nobody.yaml"}]}, "matches no resource"),
        (
            {"resources": ["deployment.yaml"], "labels": [{"pairs": {"a": "b"}, "includeSelectors": True}]},
            "selectors stay as written",
        ),
    ],
)
def test_what_it_cannot_render_is_refused_by_name(
    tmp_path: Path, kustomization: dict[str, object], message: str
) -> None:
    write(tmp_path, "deployment.yaml", DEPLOYMENT)
    write(
        tmp_path,
        "nobody.yaml",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "other"}},
    )
    write(tmp_path, "kustomization.yaml", kustomization)
    with pytest.raises(KustomizeError, match=message):
        render(tmp_path)


def test_a_folder_without_a_kustomization_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KustomizeError, match=r"has no kustomization\.yaml"):
        render(tmp_path)
