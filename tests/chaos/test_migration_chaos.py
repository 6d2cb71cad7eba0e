"""Slow fault scenarios, run by ``uv run invoke chaos`` (deselected from the default suite)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.pipeline import runner
from tests.conftest import target_for
from tests.reliability.helpers import position, query, spawn, wait_for
from tests.revisions import add_revision, project_head
from tests.support import conninfo, run_invoke, url_text

pytestmark = pytest.mark.chaos


def test_sigkill_during_a_concurrent_index_build_is_detected_then_rebuilt(
    empty_url: URL, versions: Path, server_url: URL
) -> None:
    """CREATE INDEX CONCURRENTLY waits for transactions older than its snapshot; killed while it
    waits, it leaves an INVALID index. verify and status report it; the rerun rebuilds it."""
    head = project_head()
    runner.upgrade(target_for("staging", empty_url), head)
    add_revision(
        versions,
        "fa05",
        head,
        "from agent_db.migrations import safe\n"
        "safe.create_index_concurrently('ix_users_username_email', 'users', ['username', 'email'])",
        "from agent_db.migrations import safe\nsafe.drop_index_concurrently('ix_users_username_email', 'users')",
    )
    env = {
        "STAGING_DATABASE_URL": url_text(empty_url),
        "AGENT_DB_VERSIONS_DIR": str(versions),
        "AGENT_DB_REFERENCE_URL": url_text(server_url),
        "AGENT_DB_CACHE_DIR": os.environ["AGENT_DB_CACHE_DIR"],
    }
    snapshot = psycopg.connect(conninfo(empty_url), application_name="long-snapshot")
    snapshot.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    snapshot.execute("SELECT count(*) FROM agents")  # holds a snapshot the build must outwait
    index = (
        "SELECT x.indisvalid FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
        "WHERE c.relname = 'ix_users_username_email'"
    )
    process = spawn(["db.upgrade", "--env", "staging"], env)
    try:
        wait_for(lambda: query(empty_url, index) == [(False,)], what="the build to wait on the snapshot")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        builder = "SELECT 1 FROM pg_stat_activity WHERE query ILIKE 'CREATE INDEX CONCURRENTLY%'"
        wait_for(lambda: not query(empty_url, builder), seconds=10, what="the orphaned build to stop")
    finally:
        snapshot.rollback()
        snapshot.close()
    assert query(empty_url, index) == [(False,)]  # the INVALID leftover
    assert position(empty_url) == [head]

    verify = run_invoke("db.verify", "--env", "staging", "--json", env=env)
    assert verify.returncode == 3, verify.stderr
    drift = json.loads(verify.stdout)["drift"]
    assert [(d["kind"], d["name"]) for d in drift] == [("index", "ix_users_username_email")]
    assert "[INVALID]" in drift[0]["live"]
    status = run_invoke("db.status", "--json", env=env)
    staging = next(e for e in json.loads(status.stdout)["environments"] if e["name"] == "staging")
    assert "[INVALID]" in json.dumps(staging["drift"])

    rerun = run_invoke("db.upgrade", "--env", "staging", env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert query(empty_url, index) == [(True,)]
    assert position(empty_url) == ["fa05"]
    assert run_invoke("db.verify", "--env", "staging", env=env).returncode == 0
