"""An image's install replayed offline, as the Dockerfile writes it: the build stages' ENV,
WORKDIR and COPY into a folder standing for /, the `uv sync` lines of the stage whose venv the
image copies, then a new folder for the image's own / with what its stages copy (the venv from
the build's path to the image's). What runs there has no source tree, no embedded server and no
dev tools, as in the image. Bytecode is not compiled (UV_COMPILE_BYTECODE=0): the same files,
less CPU."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.dockerfile import Stage, lineage, stage, uv_syncs
from tests.support.paths import ROOT


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


@dataclass(frozen=True)
class Replayed:
    root: Path  # the image's /
    venv: Path  # where the image holds its venv
    app: Path  # the image's WORKDIR
    env: dict[str, str]  # this process's environment with the image's ENV over it, paths inside root

    @property
    def site_packages(self) -> Path:
        (site,) = self.venv.glob("lib/python*/site-packages")
        return site

    def installed(self) -> set[str]:
        return {p.name.split("-")[0].lower() for p in self.site_packages.glob("*.dist-info")}


def replay(target: str, tmp_path: Path) -> Replayed:
    """Build ``target``'s venv as its build stage does and lay out the image's filesystem."""
    ((origin, source, destination),) = [
        v.split() for v in stage(target).values("COPY") if v.startswith("--from=") and ".venv" in v
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
    image_env, image_workdir = lay_out(lineage(target), root)
    shutil.copytree(inside(build, source), inside(root, destination), symlinks=True)
    shutil.rmtree(build)
    path = [str(inside(root, d)) if d.startswith("/") else d for d in image_env["PATH"].split(":")]
    # No PYTHONPATH: what runs must import the image's installed wheels, never this checkout.
    run_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UV_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    run_env |= image_env | {
        "PATH": ":".join(path).replace("$PATH", os.environ["PATH"]),
        "AGENT_ENVIRONMENTS_DIR": str(inside(root, image_env["AGENT_ENVIRONMENTS_DIR"])),
        "AGENT_DB_CACHE_DIR": str(tmp_path / "cache"),
    }
    return Replayed(root, inside(root, destination), inside(root, image_workdir), run_env)


def on_image_path(replayed: Replayed, program: str) -> str:
    """``program`` as the image's PATH finds it; it must be the image's own (its venv's)."""
    found = shutil.which(program, path=replayed.env["PATH"])
    assert found, f"{program} is on the image's PATH"
    assert found.startswith(str(replayed.root)), found
    with Path(found).open("rb") as file:
        shebang = file.read(512).split(b"\n")[0].decode(errors="replace")
    if shebang.startswith("#!"):  # a script (bin/invoke); bin/python is the interpreter itself
        assert shebang == f"#!{replayed.venv}/bin/python", (
            f"{shebang}: the venv was built at another path than the one the image runs it from"
        )
    return found
