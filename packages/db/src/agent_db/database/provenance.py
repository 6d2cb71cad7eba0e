"""Who ran a ledger step, from which commit, with which tool, in which CI run: the provenance
recorded on every ``schema_ledger`` row (and in manifests and the census)."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from functools import cache
from pathlib import Path

import agent_db


@cache
def actor() -> str:
    """Who runs this: the CI actor in GitHub Actions, else the OS user at the host."""
    if os.environ.get("GITHUB_ACTOR"):
        workflow = os.environ.get("GITHUB_WORKFLOW", "workflow")
        return f"{os.environ['GITHUB_ACTOR']} (GitHub Actions: {workflow})"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


@cache
def git_commit() -> str | None:
    """The commit the revision files come from, when known."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=Path(agent_db.__file__).parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


def tool_version() -> str:
    import alembic

    return f"agent-db {agent_db.__version__} (alembic {alembic.__version__})"


def ci_run() -> str | None:
    """The CI run (a deploy workflow's run, attempt included) this process belongs to: the
    address of the GitHub Actions run, or ``AGENT_DB_CI_RUN`` as another CI system sets it."""
    if os.environ.get("AGENT_DB_CI_RUN"):
        return os.environ["AGENT_DB_CI_RUN"][:500]
    run_id = os.environ.get("GITHUB_RUN_ID")
    if not run_id:
        return None
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    attempt = os.environ.get("GITHUB_RUN_ATTEMPT", "1")
    return f"{server}/{repository}/actions/runs/{run_id}/attempts/{attempt}"


def provenance() -> dict[str, str | None]:
    """Who ran a step, from which commit, with which tool, in which CI run: recorded on every
    ledger row."""
    return {"actor": actor(), "git_commit": git_commit(), "tool_version": tool_version(), "ci_run": ci_run()}
