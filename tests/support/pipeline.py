"""The deploy pipeline the workflow tests run deploy.yml through: staging and prod databases that
keep their data between runs, a copy of the history with one new revision, rollout commands
that record where they ran and the release they were given, the manifest key in both deploy
environments, and the github context of a push to main of this checkout's commit."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from tests.support.databases import DatabaseFactory, url_text
from tests.support.manifests import MANIFEST_KEY
from tests.support.paths import ROOT
from tests.support.workflow_runner import WorkflowRun

DEPLOY = "deploy.yml"
NEW_REVISION = "c0ffee000101"
REPOSITORY = "Example-Org/Agent-Platform"  # capitals, as GitHub keeps them; registries refuse them
# What a rollout command records of its environment: the release it was asked to roll out.
RELEASE_VARIABLES = ("AGENT_ENV", "AGENT_RELEASE_COMMIT", "API_IMAGE", "MIGRATE_IMAGE")


def head_commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass
class Pipeline:
    staging: URL
    prod: URL
    server: URL
    versions: Path
    revision: Path
    databases: DatabaseFactory
    home: Path

    def deploy_run(self, variables: dict[str, dict[str, str]] | None = None) -> WorkflowRun:
        """A run of deploy.yml: dev is a fresh database (a service container), staging and prod
        keep their data, and each GitHub environment holds its own secrets."""
        self.home.mkdir(parents=True, exist_ok=True)
        return WorkflowRun(
            DEPLOY,
            Path(self.home / f"run-{len(list(self.home.iterdir()))}"),
            secrets={
                "staging": {
                    "STAGING_DATABASE_URL": url_text(self.staging),
                    "STAGING_JWT_SECRET": "stg-jwt-key-must-not-be-printed-0123456789",
                    "AGENT_DB_MANIFEST_KEY": MANIFEST_KEY,
                },
                "production": {
                    "PROD_DATABASE_URL": url_text(self.prod),
                    "PROD_JWT_SECRET": "prd-jwt-key-must-not-be-printed-0123456789",
                    "AGENT_DB_MANIFEST_KEY": MANIFEST_KEY,  # the same key: prod verifies staging's
                },
            },
            variables=variables or {},
            github={
                "sha": head_commit(),
                "ref": "refs/heads/main",
                "repository": REPOSITORY,
                "actor": "workflow-emulator",
            },
            service_urls={
                "DEV_DATABASE_URL": url_text(self.databases.create("dev")),
                "AGENT_DB_REFERENCE_URL": url_text(self.server.set(database="postgres")),
            },
            extra_env={
                "AGENT_DB_VERSIONS_DIR": str(self.versions),
                "AGENT_DB_CACHE_DIR": str(self.home / "cache"),
            },
        )


def rollout_command(record: Path, *, fail_first: Path | None = None) -> str:
    """An API_ROLLOUT_COMMAND that writes ``record`` + the environment's name: a JSON object of
    the RELEASE_VARIABLES it was given (read it with ``rolled_out``). With ``fail_first``, its
    first run in each environment fails (exit 1), as a platform outage would, after leaving
    ``fail_first`` + the environment's name behind; later runs succeed."""
    script = "import json, os, pathlib, sys\nenv = os.environ['AGENT_ENV']\n"
    if fail_first is not None:
        script += (
            f"failed = pathlib.Path({str(fail_first)!r} + env)\n"
            "if not failed.exists():\n"
            "    failed.touch()\n"
            "    sys.exit('the platform refused the rollout')\n"
        )
    script += (
        f"release = {{name: os.environ.get(name) for name in {RELEASE_VARIABLES!r}}}\n"
        f"pathlib.Path({str(record)!r} + env).write_text(json.dumps(release))\n"
    )
    return shlex.join([sys.executable, "-c", script])


def rolled_out(record: Path, environment: str) -> dict[str, str | None]:
    """What the rollout command of ``environment`` was given (it ran when the file exists)."""
    found: dict[str, str | None] = json.loads(Path(f"{record}{environment}").read_text())
    return found
