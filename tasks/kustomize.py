"""Render a Kustomize directory without the kustomize binary: the subset ``deploy/kubernetes/``
uses, with Kustomize's own semantics, and a clear refusal for anything else.

Supported in a ``kustomization.yaml``: ``resources`` (files, or directories with their own
``kustomization.yaml``, rendered first), ``namespace``, ``labels`` (``pairs`` with
``includeTemplates``; selectors are left alone as with ``includeSelectors: false``), ``patches``
(strategic-merge patch files, optionally with a ``target`` of ``kind`` and ``name``),
``replicas`` and ``images``. Strategic merge follows Kubernetes' merge keys for the lists the
manifests patch (containers and env by name, volume mounts by mount path, ports by port);
other lists are replaced, ``null`` deletes a key. ``kubectl kustomize`` gives the same objects
(the order of resources aside).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION = "kustomization.yaml"
SUPPORTED = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "labels", "patches", "replicas", "images"}
)
# Kubernetes' patchMergeKey of the lists a patch may merge into (the rest are replaced).
MERGE_KEYS = {
    "containers": ("name",),
    "initContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "ports": ("containerPort", "port"),
    "imagePullSecrets": ("name",),
    "topologySpreadConstraints": ("topologyKey",),
}
POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})

Resource = dict[str, Any]


class KustomizeError(Exception):
    """A kustomization this renderer cannot render; the message names the file and the fix."""


def render(directory: Path) -> list[Resource]:
    """Every resource the kustomization in ``directory`` produces, patched and transformed."""
    path = directory / KUSTOMIZATION
    if not path.is_file():
        raise KustomizeError(f"{directory} has no {KUSTOMIZATION}; give a Kustomize base or overlay")
    spec = _load_one(path)
    unknown = sorted(set(spec) - SUPPORTED)
    if unknown:
        raise KustomizeError(
            f"{path}: {', '.join(unknown)} not supported by tasks/kustomize.py (supported: "
            f"{', '.join(sorted(SUPPORTED))}); use those, or extend the renderer and its tests"
        )
    resources: list[Resource] = []
    for entry in spec.get("resources") or []:
        resources.extend(_resource(directory, str(entry), path))
    for patch in spec.get("patches") or []:
        _apply_patch(resources, directory, patch, path)
    if spec.get("namespace"):
        for resource in resources:
            resource.setdefault("metadata", {})["namespace"] = spec["namespace"]
    for label in spec.get("labels") or []:
        _apply_labels(resources, label, path)
    for replica in spec.get("replicas") or []:
        for resource in _named(resources, replica["name"], kinds=POD_TEMPLATE_KINDS - {"Job"}):
            resource["spec"]["replicas"] = int(replica["count"])
    for image in spec.get("images") or []:
        _apply_image(resources, image)
    return resources


def _load_one(path: Path) -> Resource:
    documents = _load_all(path)
    if len(documents) != 1:
        raise KustomizeError(f"{path}: expected one YAML document, found {len(documents)}")
    return documents[0]


def _load_all(path: Path) -> list[Resource]:
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except (OSError, yaml.YAMLError) as error:
        raise KustomizeError(f"{path}: {error}") from None
    for document in documents:
        if not isinstance(document, dict):
            raise KustomizeError(f"{path}: every document must be a mapping, found {type(document).__name__}")
    return documents


def _resource(directory: Path, entry: str, where: Path) -> list[Resource]:
    location = (directory / entry).resolve()
    if location.is_dir():
        return render(location)
    if location.is_file():
        return _load_all(location)
    raise KustomizeError(f"{where}: resource {entry} does not exist (looked for {location})")


def _named(resources: Iterable[Resource], name: str | None, kinds: Iterable[str] = ()) -> list[Resource]:
    wanted = set(kinds)
    return [
        r
        for r in resources
        if (name is None or r.get("metadata", {}).get("name") == name) and (not wanted or r["kind"] in wanted)
    ]


def _apply_patch(resources: list[Resource], directory: Path, entry: Mapping[str, Any], where: Path) -> None:
    if set(entry) - {"path", "target"} or "path" not in entry:
        raise KustomizeError(f"{where}: a patch is {{path, target}} (a strategic-merge file), got {entry}")
    patch_path = directory / str(entry["path"])
    for patch in _load_all(patch_path):
        target = entry.get("target")
        if target is not None:
            if set(target) - {"kind", "name"}:
                raise KustomizeError(f"{where}: a patch target selects by kind and name only, got {target}")
            matches = [
                r
                for r in _named(resources, target.get("name"))
                if "kind" not in target or r["kind"] == target["kind"]
            ]
        else:
            matches = [
                r
                for r in _named(resources, patch.get("metadata", {}).get("name"), kinds=[patch["kind"]])
                if r.get("apiVersion") == patch.get("apiVersion")
            ]
        if not matches:
            raise KustomizeError(f"{patch_path}: the patch matches no resource")
        for resource in matches:
            body = copy.deepcopy(
                {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
            )
            merged = merge(resource, body, where=str(patch_path))
            resource.clear()
            resource.update(merged)


def merge(base: Any, patch: Any, *, key: str = "", where: str = "") -> Any:
    """Strategic merge of ``patch`` into ``base`` (a new value; neither is changed)."""
    if isinstance(patch, dict):
        if any(str(k).startswith("$") for k in patch):
            raise KustomizeError(f"{where}: patch directives ($patch, ...) are not supported")
        result = dict(base) if isinstance(base, dict) else {}
        for name, value in patch.items():
            if value is None:
                result.pop(name, None)
            else:
                result[name] = merge(result.get(name), value, key=name, where=where)
        return result
    if isinstance(patch, list) and isinstance(base, list) and key in MERGE_KEYS:
        return _merge_list(base, patch, MERGE_KEYS[key], where)
    return patch


def _merge_list(base: list[Any], patch: list[Any], keys: tuple[str, ...], where: str) -> list[Any]:
    def identity(item: Any) -> tuple[str, Any]:
        for name in keys:
            if isinstance(item, dict) and name in item:
                return name, item[name]
        raise KustomizeError(f"{where}: a list item has none of its merge keys {keys}: {item}")

    patched = {identity(item): item for item in patch}
    # Kustomize's order: the patch's items (merged into their base item), then the base's others.
    merged = [
        merge(next((b for b in base if identity(b) == k), {}), v, where=where) for k, v in patched.items()
    ]
    return merged + [item for item in base if identity(item) not in patched]


def _apply_labels(resources: list[Resource], label: Mapping[str, Any], where: Path) -> None:
    if set(label) - {"pairs", "includeTemplates", "includeSelectors"} or label.get("includeSelectors"):
        raise KustomizeError(
            f"{where}: labels take pairs and includeTemplates (selectors stay as written), got {label}"
        )
    pairs = {str(k): str(v) for k, v in (label.get("pairs") or {}).items()}
    for resource in resources:
        resource.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        if label.get("includeTemplates") and resource["kind"] in POD_TEMPLATE_KINDS:
            template = resource["spec"]["template"].setdefault("metadata", {})
            template.setdefault("labels", {}).update(pairs)


def _apply_image(resources: list[Resource], image: Mapping[str, Any]) -> None:
    for resource in resources:
        if resource["kind"] not in POD_TEMPLATE_KINDS:
            continue
        pod = resource["spec"]["template"]["spec"]
        for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
            name, tag = _split_image(container["image"])
            if name != image["name"]:
                continue
            new_name = image.get("newName", name)
            if image.get("digest"):
                container["image"] = f"{new_name}@{image['digest']}"
            else:
                new_tag = image.get("newTag", tag)
                container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _split_image(reference: str) -> tuple[str, str | None]:
    name, _, _digest = reference.partition("@")
    head, colon, tag = name.rpartition(":")
    if colon and "/" not in tag:
        return head, tag
    return name, None


def dump(resources: Iterable[Resource]) -> str:
    """The resources as one multi-document YAML stream (what ``kubectl apply -f -`` reads)."""
    return yaml.safe_dump_all(list(resources), sort_keys=True, default_flow_style=False)
