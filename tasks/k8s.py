"""``k8s.*``: the Kubernetes manifests of ``deploy/kubernetes/``, rendered (``tasks.kustomize``)
and validated offline against the Kubernetes schemas (kubernetes-validate, strict: an unknown or
misspelt field is an error)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from tasks._shared import ROOT, reports_errors

KUBERNETES_DIR = ROOT / "deploy" / "kubernetes"
KUSTOMIZE_BASE = KUBERNETES_DIR / "base"
# The oldest Kubernetes the manifests are meant for (podFailurePolicy is GA from 1.31) and the
# newest kubernetes-validate knows.
OLDEST_KUBERNETES = "1.31"


@dataclass(frozen=True)
class Problem:
    kustomization: str
    resource: str
    version: str
    message: str

    def __str__(self) -> str:
        return f"{self.kustomization}: {self.resource} (Kubernetes {self.version}): {self.message}"


def kustomizations() -> list[Path]:
    """The base and every overlay, base first."""
    return [KUSTOMIZE_BASE, *sorted(p for p in (KUBERNETES_DIR / "overlays").iterdir() if p.is_dir())]


def kubernetes_versions() -> tuple[str, ...]:
    from kubernetes_validate import utils

    return (OLDEST_KUBERNETES, utils.major_minor(utils.latest_version()))


def describe(resource: dict[str, Any]) -> str:
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def problems(directory: Path, versions: tuple[str, ...]) -> tuple[int, list[Problem]]:
    """How many resources ``directory`` renders to, and what the schemas say is wrong with them."""
    from kubernetes_validate import utils

    from tasks.kustomize import KustomizeError, render

    name = str(directory.relative_to(ROOT)) if directory.is_relative_to(ROOT) else str(directory)
    try:
        resources = render(directory)
    except KustomizeError as error:
        return 0, [Problem(name, "kustomization", "-", str(error))]
    found = []
    for resource in resources:
        for version in versions:
            try:
                utils.validate(resource, version, strict=True)
            except utils.ValidationError as error:
                where = ".".join(str(p) for p in error.path) or "(top)"
                found.append(Problem(name, describe(resource), version, f"{where}: {error.message}"))
            except utils.SchemaNotFoundError as error:
                found.append(Problem(name, describe(resource), version, error.message))
    return len(resources), found


@task(help={"overlay": "the overlay to render: staging or prod (deploy/kubernetes/overlays/)"})
@reports_errors
def render(c: Context, overlay: str) -> None:
    """Print an overlay's manifests as one YAML stream, as `kubectl kustomize` would render them."""
    from tasks.kustomize import KustomizeError, dump
    from tasks.kustomize import render as render_directory

    directory = KUBERNETES_DIR / "overlays" / overlay
    known = sorted(p.name for p in (KUBERNETES_DIR / "overlays").iterdir() if p.is_dir())
    if overlay not in known:
        raise Exit(f"no overlay {overlay!r}; choose one of {', '.join(known)}", code=2)
    try:
        print(dump(render_directory(directory)), end="")
    except KustomizeError as error:
        raise Exit(str(error), code=2) from None


@task
@reports_errors
def validate(c: Context) -> None:
    """Render the base and every overlay of deploy/kubernetes/ and validate each manifest against
    the Kubernetes schemas, offline (exit 1 naming each problem)."""
    versions = kubernetes_versions()
    failed: list[Problem] = []
    for directory in kustomizations():
        count, found = problems(directory, versions)
        failed += found
        verdict = f"{len(found)} problems" if found else "valid"
        print(
            f"{directory.relative_to(ROOT)}: {count} manifests, {verdict} against Kubernetes "
            f"{', '.join(versions)}",
            flush=True,
        )
    if failed:
        raise Exit("\n".join(str(p) for p in failed), code=1)


collection = Collection("k8s", render, validate)
