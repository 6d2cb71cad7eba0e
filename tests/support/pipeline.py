"""The deploy pipeline the workflow tests run deploy.yml through: staging and prod databases that
keep their data between runs, a copy of the history with one new revision, rollout commands
that record where they ran, and the manifest key in both deploy environments."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from tests.support.databases import DatabaseFactory, url_text
from tests.support.manifests import MANIFEST_KEY
from tests.support.workflow_runner import WorkflowRun

DEPLOY = "deploy.yml"
NEW_REVISION = "c0ffee000101"


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
    """An API_ROLLOUT_COMMAND that touches ``record`` + the environment's name. With
    ``fail_first``, its first run in each environment fails (exit 1), as a platform outage would,
    after leaving ``fail_first`` + the environment's name behind; later runs succeed."""
    if fail_first is not None:
        script = (
            "import os, pathlib, sys\n"
            "env = os.environ['AGENT_ENV']\n"
            f"failed = pathlib.Path({str(fail_first)!r} + env)\n"
            "if not failed.exists():\n"
            "    failed.touch()\n"
            "    sys.exit('the platform refused the rollout')\n"
            f"pathlib.Path({str(record)!r} + env).touch()\n"
        )
        return shlex.join([sys.executable, "-c", script])
    script = "import os, pathlib; pathlib.Path(os.environ['RECORD'] + os.environ['AGENT_ENV']).touch()"
    return shlex.join([sys.executable, "-c", script.replace("os.environ['RECORD']", repr(str(record)))])
