"""Slow fault scenarios, run by ``uv run invoke chaos`` (deselected from the default suite)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.revisions.graph import default_graph
from tests.support.cli import run_invoke, spawn
from tests.support.databases import DatabaseFactory, conninfo, target_for, url_text
from tests.support.inspection import columns, position, query
from tests.support.own_server import SYSTEM_USER, OwnServer
from tests.support.reliability import assert_one_clear_message, wait_for
from tests.support.revisions import configured_head, write_revision

pytestmark = pytest.mark.chaos


def test_sigkill_during_a_concurrent_index_build_is_detected_then_rebuilt(
    empty_url: URL, versions: Path, server_url: URL, record_property: Callable[[str, object], None]
) -> None:
    """CREATE INDEX CONCURRENTLY waits for transactions older than its snapshot; killed while it
    waits, it leaves an INVALID index. verify and status report it; the rerun rebuilds it."""
    head = configured_head()
    migrate.upgrade(target_for("staging", empty_url), head)
    write_revision(
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
    assert verify.code == 3, verify.stderr
    drift = json.loads(verify.stdout)["drift"]
    assert [(d["kind"], d["name"]) for d in drift] == [("index", "ix_users_username_email")]
    assert "[INVALID]" in drift[0]["live"]
    status = run_invoke("db.status", "--json", env=env)
    staging = next(e for e in json.loads(status.stdout)["environments"] if e["name"] == "staging")
    assert "[INVALID]" in json.dumps(staging["drift"])

    rerun = run_invoke("db.upgrade", "--env", "staging", env=env)
    assert rerun.code == 0, rerun.stderr
    assert query(empty_url, index) == [(True,)]
    assert position(empty_url) == ["fa05"]
    assert run_invoke("db.verify", "--env", "staging", env=env).code == 0
    record_property(
        "figures",
        "runner SIGKILLed while CREATE INDEX CONCURRENTLY waited: INVALID index left, reported by "
        "db.verify (exit 3) and db.status; rerun rebuilt it valid, verify exit 0",
    )


def test_sixteen_runners_at_once_apply_each_revision_once(
    empty_url: URL, versions: Path, record_property: Callable[[str, object], None]
) -> None:
    """16 ``db.upgrade`` processes started together on an empty database: one takes the lock
    and applies the whole history, the others wait, then find nothing to do. All exit 0."""
    head = configured_head()
    write_revision(
        versions,
        "ch01",
        head,
        "op.execute('SELECT pg_sleep(1.5)')\nop.add_column('users', sa.Column('c1', sa.Integer()))",
        "op.drop_column('users', 'c1')",
    )
    write_revision(versions, "ch02", "ch01", "op.add_column('users', sa.Column('c2', sa.Integer()))")
    env = {"STAGING_DATABASE_URL": url_text(empty_url), "AGENT_DB_VERSIONS_DIR": str(versions)}
    started = time.monotonic()
    runners = [spawn(["db.upgrade", "--env", "staging"], env) for _ in range(16)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in runners]
    elapsed = time.monotonic() - started
    assert [code for code, _, _ in results] == [0] * 16, [err for _, _, err in results if err][:2]
    applied = query(
        empty_url,
        "SELECT revision, count(*) FROM schema_ledger WHERE outcome = 'success' GROUP BY revision",
    )
    assert all(count == 1 for _, count in applied), applied
    assert {str(revision) for revision, _ in applied} == set(default_graph().linear_order())
    assert position(empty_url) == ["ch02"]
    assert sum("nothing to do" in err for _, _, err in results) == 15
    assert not query(empty_url, "SELECT 1 FROM schema_ledger WHERE outcome <> 'success'")
    record_property(
        "figures", f"16 runners, {len(applied)} revisions each applied once, 16 exit 0, {elapsed:.1f} s"
    )


def test_concurrent_promotions_to_one_environment(
    databases: DatabaseFactory, versions: Path, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """Two ``db.promote --to staging`` at once: one applies, the other waits for the lock,
    re-reads staging and finds nothing left to do. Nothing is applied twice."""
    dev, staging = databases.create("cdev"), databases.create("cstg")
    head = configured_head()
    write_revision(
        versions,
        "ch03",
        head,
        "op.execute('SELECT pg_sleep(2)')\nop.add_column('users', sa.Column('c3', sa.Integer()))",
        "op.drop_column('users', 'c3')",
    )
    migrate.upgrade(target_for("dev", dev))
    migrate.upgrade(target_for("staging", staging), head)
    env = {
        "DEV_DATABASE_URL": url_text(dev),
        "STAGING_DATABASE_URL": url_text(staging),
        "AGENT_DB_VERSIONS_DIR": str(versions),
    }
    outs = [tmp_path / f"staging-{n}.json" for n in range(3)]
    promotions = [spawn(["db.promote", "--to", "staging", "--manifest-out", str(out)], env) for out in outs]
    results = [(p.wait(timeout=120), *p.communicate()) for p in promotions]
    assert [code for code, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert sorted("applied 1" in err for _, _, err in results) == [False, False, True]
    assert sum("nothing to do" in err for _, _, err in results) == 2
    assert any("waiting for the migration lock" in err for _, _, err in results)
    ch03 = query(staging, "SELECT outcome FROM schema_ledger WHERE revision = 'ch03'")
    assert ch03 == [("success",)]
    assert position(staging) == ["ch03"]
    assert {json.loads(out.read_text())["position"][0] for out in outs} == {"ch03"}
    record_property(
        "figures", "3 promotions at once: 1 applied, 2 waited and found nothing to do, all exit 0"
    )


def _mount_small_filesystem(path: Path, size: str) -> bool:
    path.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, check=False
    )
    return result.returncode == 0


def test_disk_full_during_a_revision(
    versions: Path, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """A tablespace on a 16 MB filesystem; the revision writes 40 MB into it. The revision fails
    with the server's "No space left on device", nothing of it stays, the ledger says why; after
    the filesystem grows, the same command completes."""
    if os.geteuid() != 0:
        pytest.skip(
            "mounting a small filesystem needs root; the default suite's temp_file_limit case stands in"
        )
    server = OwnServer.create()
    mount = server.root / "small"
    if not _mount_small_filesystem(mount, "16m"):
        server.destroy()
        pytest.skip("cannot mount tmpfs here; the default suite's temp_file_limit case stands in")
    try:
        os.chown(mount, *_owner())
        server.start()
        server.create_database("app")
        server.execute(f"CREATE TABLESPACE small LOCATION '{mount}'")
        url = server.socket_url("app")
        head = configured_head()
        migrate.upgrade(target_for("staging", url), head)
        write_revision(
            versions,
            "ch04",
            head,
            "op.add_column('users', sa.Column('c4', sa.Integer()))\n"
            'op.execute("CREATE TABLE archive TABLESPACE small AS '
            "SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 200000) g\")",
            "op.drop_table('archive')\nop.drop_column('users', 'c4')",
        )
        env = {"STAGING_DATABASE_URL": url_text(url), "AGENT_DB_VERSIONS_DIR": str(versions)}
        full = run_invoke("db.upgrade", "--env", "staging", env=env)
        assert full.code == 1, full.stderr
        assert_one_clear_message(full.stderr)
        assert "No space left on device" in full.stderr
        assert "ran out of a resource" in full.stderr
        assert f"stays at {head}" in full.stderr
        assert position(url) == [head]
        assert "c4" not in columns(url, "users")
        assert not query(url, "SELECT to_regclass('archive')")[0][0]
        failed = query(url, "SELECT outcome, error FROM schema_ledger WHERE revision = 'ch04'")
        assert failed[0][0] == "failed"
        assert "No space left on device" in str(failed[0][1])

        subprocess.run(["mount", "-o", "remount,size=128m", str(mount)], check=True)
        grown = run_invoke("db.upgrade", "--env", "staging", env=env)
        assert grown.code == 0, grown.stderr
        assert position(url) == ["ch04"]
        assert query(url, "SELECT count(*) FROM archive") == [(200000,)]
    finally:
        server.stop("immediate")
        subprocess.run(["umount", "-l", str(mount)], check=False)
        server.destroy()
    record_property(
        "figures",
        "tablespace on a 16 MB tmpfs, 40 MB written: exit 1, nothing applied; rerun after growing: exit 0",
    )


def _owner() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid
