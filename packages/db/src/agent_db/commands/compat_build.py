"""The previous release as a running program: a git worktree of its commit, its API served by
uvicorn from that folder (its code first on the import path, ahead of this checkout's editable
installs; the dependencies are this environment's), and its own API flows run against it.

Nothing is installed and nothing outside a temporary folder changes; the worktree is removed
on exit (``git worktree prune`` cleans up after a killed run).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from agent_db.errors import AgentDbError, ConfigError
from agent_db.paths import project_root

VERSIONS = Path("packages/db/src/agent_db/migrations/versions")
FLOWS_FILE = Path("packages/db/src/agent_db/cli/compat_flows.py")
FLOWS_MODULE = "agent_db.cli.compat_flows"
START_SECONDS = 90.0
FLOWS_SECONDS = 300.0


class CompatSetupFailed(AgentDbError):
    """The previous release could not be checked out or started (exit 1)."""

    exit_code = 1


def git(*args: str, cwd: Path | None = None) -> str:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd or project_root(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise CompatSetupFailed(f"git {args[0]} failed: {error}") from None
    if result.returncode != 0:
        raise CompatSetupFailed(f"git {' '.join(args)}: {result.stderr.strip() or 'failed'}")
    return result.stdout.strip()


def resolve_commit(reference: str) -> str:
    """The full commit id of ``reference`` (a branch, tag or sha) in this checkout's repository."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{reference}^{{commit}}")
    except CompatSetupFailed:
        raise ConfigError(
            f"--base {reference!r} is not a commit of this repository; fetch it first "
            "(git fetch origin <branch>, or check out with fetch-depth: 0 in CI)"
        ) from None


@contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` in a temporary folder, removed on exit."""
    with tempfile.TemporaryDirectory(prefix="agent-compat-") as folder:
        path = Path(folder) / commit[:12]
        git("worktree", "add", "--detach", "--quiet", str(path), commit)
        try:
            yield path
        finally:
            try:
                git("worktree", "remove", "--force", str(path))
            except CompatSetupFailed:
                git("worktree", "prune")


@dataclass(frozen=True)
class Build:
    folder: Path
    commit: str

    @property
    def has_own_flows(self) -> bool:
        return (self.folder / FLOWS_FILE).is_file()

    def env(self, database_url: URL) -> dict[str, str]:
        """This process's environment with the build's code first on the import path, pointed
        at ``database_url`` as its dev database, with its own environments/ and versions/."""
        drop = ("_DATABASE_URL", "_JWT_SECRET")
        env = {k: v for k, v in os.environ.items() if not k.endswith(drop) and not k.startswith("AGENT_")}
        env.update(
            PYTHONPATH=os.pathsep.join(
                [str(self.folder / "services/api/src"), str(self.folder / "packages/db/src")]
            ),
            AGENT_ENV="dev",
            AGENT_ENVIRONMENTS_DIR=str(self.folder / "environments"),
            AGENT_DB_VERSIONS_DIR=str(self.folder / VERSIONS),
            AGENT_BUILD_COMMIT=self.commit,
            DEV_DATABASE_URL=database_url.render_as_string(hide_password=False),
            DEV_JWT_SECRET=secrets.token_urlsafe(48),
            NO_COLOR="1",
        )
        return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_status(url: str, timeout: float = 10.0) -> int | None:
    """The HTTP status ``url`` answers, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (our own URL)
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)
    except (urllib.error.URLError, OSError):
        return None


@contextmanager
def serving(build: Build, database_url: URL, log_folder: Path) -> Iterator[str]:
    """The build's API on a free port of 127.0.0.1; yields its base URL once /health answers."""
    port = _free_port()
    log = log_folder / f"api-{build.commit[:12]}.log"
    command = [sys.executable, "-m", "uvicorn", "agent_api.main:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=build.folder, env=build.env(database_url), stdout=output, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while http_status(base_url + "/health", timeout=2) != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise CompatSetupFailed(
                    f"the previous release ({build.commit[:12]}) did not start its API: {tail.strip()}"
                )
            time.sleep(0.25)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_build_flows(build: Build, base_url: str, database_url: URL) -> dict[str, Any]:
    """The build's own API flows (this checkout's when the build has none) against ``base_url``."""
    env = build.env(database_url) if build.has_own_flows else dict(os.environ)
    try:
        result = subprocess.run(
            [sys.executable, "-m", FLOWS_MODULE, base_url], cwd=build.folder if build.has_own_flows else None,
            env=env, capture_output=True, text=True, timeout=FLOWS_SECONDS, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"ok": False, "steps": [{"name": "flows", "ok": False, "detail": "timed out"}]}
    try:
        document: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        return document
    except (ValueError, IndexError):
        detail = (result.stderr or result.stdout).strip()[-1500:]
        return {"ok": False, "steps": [{"name": "flows", "ok": False, "detail": f"crashed: {detail}"}]}
