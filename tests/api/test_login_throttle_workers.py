"""The done-when of the shared throttle, as an operator runs it: ``api.serve --workers 4`` (four
uvicorn processes, each with its own pool), a new connection per attempt so the kernel spreads
them over the workers, and a spoofed ``X-Forwarded-For`` on each (uvicorn no longer believes
127.0.0.1). Five failures in total, then 429 from whichever worker answers, and after a restart."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from tests.support.api import SIGNING_KEY
from tests.support.databases import DatabaseFactory, target_for, url_text
from tests.support.paths import ROOT
from tests.support.ports import free_port

LOGIN = "/api/v1/auth/login"


@pytest.fixture
def throttle_env(databases: DatabaseFactory, tmp_path: Path) -> dict[str, str]:
    """A migrated database and dev's settings with a 60 s first delay (however slowly this
    machine serves the first five attempts, the sixth comes too early)."""
    url: URL = databases.create("workers")
    migrate.upgrade(target_for("dev", url))
    environments = tmp_path / "environments"
    shutil.copytree(ROOT / "environments", environments)
    dev = environments / "dev.toml"
    dev.write_text(dev.read_text() + "login_base_delay_seconds = 60.0\n")
    return {
        "DEV_DATABASE_URL": url_text(url),
        "DEV_JWT_SECRET": SIGNING_KEY,
        "AGENT_ENVIRONMENTS_DIR": str(environments),
    }


@contextmanager
def serving(env: dict[str, str], log: Path, workers: int) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "invoke", "api.serve", "--env", "dev", "--port", str(port)]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_healthy(base, log)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_healthy(base: str, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)


def attempt(base: str, name: str, password: str) -> int:
    """One login on a connection of its own, claiming a fresh address."""
    spoofed = "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))
    headers = {"X-Forwarded-For": spoofed, "Connection": "close"}
    with httpx.Client(base_url=base, timeout=30) as http:
        response = http.post(LOGIN, data={"username": name, "password": password}, headers=headers)
    return response.status_code


def test_four_workers_give_five_failures_in_total_and_a_restart_keeps_them(
    throttle_env: dict[str, str], tmp_path: Path
) -> None:
    name = f"victim_{secrets.token_hex(4)}"
    password = "the right password 1"
    log = tmp_path / "api.log"
    with serving(throttle_env, log, workers=4) as base:
        body = {"email": f"{name}@example.com", "username": name, "password": password}
        assert httpx.post(f"{base}/api/v1/auth/register", json=body, timeout=30).status_code == 201
        names = [name, f"{name}@example.com"] * 3
        statuses = [attempt(base, login_name, "guess") for login_name in names[:5]]
        assert statuses == [401] * 5
        assert [attempt(base, login_name, "guess") for login_name in names] == [429] * 6
    with serving(throttle_env, log, workers=1) as base:
        assert attempt(base, name, "guess") == 429
