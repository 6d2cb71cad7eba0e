"""The fresh-machine default: with DEV_DATABASE_URL unset, dev runs on the embedded PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from agent_db.revisions.graph import default_graph
from tests.support.cli import run_invoke
from tests.support.paths import ROOT
from tests.support.ports import free_port

pytestmark = [pytest.mark.embedded, pytest.mark.smoke]


def _wait_until_stopped(data: Path) -> bool:
    deadline = time.monotonic() + 15
    while (data / "postmaster.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return not (data / "postmaster.pid").exists()


def _ready_body(port: int, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            time.sleep(0.3)
    return ""


def test_quickstart_dev_on_the_embedded_server_then_commands_reuse_it() -> None:
    """`uv run invoke dev` with no URL: embedded server, migrated, API ready; SIGTERM stops both.
    Then a db command starts the same server again, finds dev at head, and stops it on exit."""
    head = default_graph().single_head()
    # Short path under the temp dir: the server's socket path must stay under ~100 bytes.
    with tempfile.TemporaryDirectory(prefix="agent-pg-") as folder:
        data = Path(folder) / "data"
        env = {k: v for k, v in os.environ.items() if k != "DEV_DATABASE_URL"}
        env["AGENT_EMBEDDED_PGDATA"] = str(data)
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "invoke", "dev", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            body = _ready_body(port, process)
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        assert '"status":"ready"' in body, output
        assert head in body
        assert (data / "PG_VERSION").exists()
        assert _wait_until_stopped(data), "the embedded server kept running after dev stopped"

        current = run_invoke("db.current", env={"AGENT_EMBEDDED_PGDATA": str(data)}, timeout=180)
        assert current.code == 0, current.stderr
        assert current.stdout.strip() == f"{head} (head)"
        assert _wait_until_stopped(data), "the last command using the server did not stop it"
