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
