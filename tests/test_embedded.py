"""The fresh-machine default: with DEV_DATABASE_URL unset, dev runs on the embedded PostgreSQL."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from agent_db.pipeline.graph import default_graph
from tests.support import run_invoke

pytestmark = [pytest.mark.embedded, pytest.mark.smoke]


def test_dev_without_url_migrates_the_embedded_server_and_stops_it() -> None:
    # Short path under the temp dir: the server's socket path must stay under ~100 bytes.
    with tempfile.TemporaryDirectory(prefix="agent-pg-") as folder:
        data = Path(folder) / "data"
        env = {"AGENT_EMBEDDED_PGDATA": str(data)}
        upgraded = run_invoke("db.upgrade", env=env, timeout=180)
        assert upgraded.returncode == 0, upgraded.stderr
        current = run_invoke("db.current", env=env, timeout=180)
        assert current.returncode == 0, current.stderr
        assert current.stdout.strip() == f"{default_graph().single_head()} (head)"
        assert (data / "PG_VERSION").exists()
        # The last process using the server stops it when it exits.
        deadline = time.monotonic() + 15
        while (data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not (data / "postmaster.pid").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_invoke_dev_migrates_serves_and_stops_the_embedded_server_on_sigterm() -> None:
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from tests.support import ROOT

    with tempfile.TemporaryDirectory(prefix="agent-pg-") as folder:
        data = Path(folder) / "data"
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k != "DEV_DATABASE_URL"}
        env["AGENT_EMBEDDED_PGDATA"] = str(data)
        process = subprocess.Popen(
            [sys.executable, "-m", "invoke", "dev", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            body = ""
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                        body = response.read().decode()
                        break
                except OSError:
                    time.sleep(0.3)
            assert '"status":"ready"' in body, (
                process.stdout.read() if process.poll() is not None and process.stdout else body
            )
            assert default_graph().single_head() in body
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while (data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not (data / "postmaster.pid").exists(), "the embedded server kept running after dev stopped"
