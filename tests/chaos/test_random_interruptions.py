"""An upgrade interrupted at random moments resumes, and the record tells the truth.

A database one release behind (before the concurrent index build, the batched backfill and the
contract that follow it) holds enough conversations that the backfill takes seconds. The
upgrade to head is interrupted at ``CHAOS_ROUNDS`` (default 20) random moments, by SIGKILL of
the runner and, separately, by a restart of PostgreSQL. After each interruption one rerun must
reach head; then the schema equals a clean upgrade's (``pg_dump --schema-only``), every
backfilled value is right, no INVALID index remains, and the ledger holds no step left
``running`` and a success for every revision.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.revisions.graph import default_graph
from tests.support.backfill import insert_conversations
from tests.support.cli import run_invoke, spawn
from tests.support.databases import conninfo, target_for, url_text
from tests.support.own_server import OwnServer

pytestmark = pytest.mark.chaos

INDEX_REVISION = "65b5f9d89277"
BACKFILL_REVISION = "ece12879f6e3"
CONVERSATIONS = int(os.environ.get("CHAOS_CONVERSATIONS", "60000"))
ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "20"))


@pytest.fixture(scope="module")
def server() -> Iterator[OwnServer]:
    own = OwnServer.create()
    own.start()
    try:
        yield own
    finally:
        own.destroy()


def _schema(server: OwnServer, database: str) -> str:
    dump = subprocess.run(
        [str(server.binaries / "pg_dump"), "--schema-only", "--no-owner", "-h", str(server.socket_dir),
         "-p", str(server.port), "-U", "postgres", database],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # The ledger's and the census's rows differ by design; their definitions must not.
    return "\n".join(
        line for line in dump.splitlines() if not line.startswith(("--", "\\restrict", "\\unrestrict"))
    )


def _checks(url: URL) -> dict[str, object]:
    with psycopg.connect(conninfo(url)) as connection:
        wrong = connection.execute(
            "SELECT count(*) FROM conversations c WHERE message_count IS DISTINCT FROM "
            "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) OR last_message_at "
            "IS DISTINCT FROM (SELECT max(created_at) FROM messages m WHERE m.conversation_id = c.id)"
        ).fetchone()
        invalid = connection.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
        running = connection.execute(
            "SELECT count(*) FROM schema_ledger WHERE outcome = 'running'"
        ).fetchone()
        outcomes = connection.execute(
            "SELECT revision, array_agg(outcome ORDER BY id) FROM schema_ledger "
            "WHERE direction = 'upgrade' GROUP BY revision"
        ).fetchall()
    return {
        "wrong values": wrong[0] if wrong else None,
        "invalid indexes": invalid[0] if invalid else None,
        "running steps": running[0] if running else None,
        "outcomes": {revision: list(found) for revision, found in outcomes},
    }


def _last_step(url: URL) -> tuple[int, str, bool] | None:
    """Right after the interruption: the ledger row of the step that was running (or had just
    failed), and whether the backfill's columns were already committed."""
    with psycopg.connect(conninfo(url)) as connection:
        row = connection.execute(
            "SELECT id, revision FROM schema_ledger WHERE outcome <> 'success' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        kept = connection.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'conversations' AND column_name = 'message_count'"
        ).fetchone()
    if row is None:
        return None
    return int(row[0]), str(row[1]), bool(kept and kept[0])


def _row(url: URL, row_id: int) -> tuple[str, str | None, str | None]:
    with psycopg.connect(conninfo(url)) as connection:
        found = connection.execute(
            "SELECT outcome, committed, error FROM schema_ledger WHERE id = %s", (row_id,)
        ).fetchone()
    assert found is not None
    return str(found[0]), found[1], found[2]


def _clean_run(url: URL) -> tuple[float, float]:
    """One uninterrupted upgrade: when its first step began (the process's start-up before it
    is no moment worth interrupting) and when it ended, in seconds from its start."""
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        rows = "SELECT count(*) FROM schema_ledger"
        before = connection.execute(rows).fetchone()
        started = time.monotonic()
        runner = spawn(["db.upgrade", "--env", "staging"], {"STAGING_DATABASE_URL": url_text(url)})
        startup = 0.0
        while runner.poll() is None and not startup:
            if connection.execute(rows).fetchone() != before:
                startup = time.monotonic() - started
            time.sleep(0.02)
        _, stderr = runner.communicate(timeout=300)
        duration = time.monotonic() - started
    assert runner.returncode == 0, stderr
    return startup or 0.3, duration


def _interrupt(kind: str, server: OwnServer, env: dict[str, str], after: float) -> str:
    """Start the upgrade, interrupt it ``after`` seconds in; what the runner said."""
    runner = spawn(["db.upgrade", "--env", "staging"], {**env, "PYTHONDONTWRITEBYTECODE": "1"})
    time.sleep(after)
    if kind == "sigkill":
        os.kill(runner.pid, signal.SIGKILL)
    else:
        server.restart("immediate")
    _, stderr = runner.communicate(timeout=120)
    return stderr


@pytest.mark.parametrize("kind", ["sigkill", "restart"])
def test_random_interruptions_of_an_upgrade_resume_in_one_rerun(
    kind: str, server: OwnServer, versions: Path, record_property: Callable[[str, object], None]
) -> None:
    graph = default_graph()
    before = graph[INDEX_REVISION].down_revisions[0]
    head = graph.single_head()
    server.create_database(f"reference_{kind}")
    migrate.upgrade(target_for("staging", server.tcp_url(f"reference_{kind}")))
    reference = _schema(server, f"reference_{kind}")
    server.create_database(f"seed_{kind}")
    seed_url = server.tcp_url(f"seed_{kind}")
    migrate.upgrade(target_for("staging", seed_url), before)
    insert_conversations(seed_url, CONVERSATIONS)

    def fresh(name: str) -> URL:
        server.execute(f'CREATE DATABASE "{name}" TEMPLATE "seed_{kind}"')
        return server.tcp_url(name)

    timing = fresh(f"timing_{kind}")
    startup, duration = _clean_run(timing)
    chooser = random.Random(int(os.environ.get("CHAOS_SEED", "1500")))
    stopped_in: Counter[str] = Counter()
    for round_ in range(ROUNDS):
        url = fresh(f"r{round_}_{kind}")
        env = {"STAGING_DATABASE_URL": url_text(url)}
        moment = chooser.uniform(startup, duration)
        said = _interrupt(kind, server, env, moment)
        step = _last_step(url)
        stopped_in[step[1] if step else "before any step"] += 1
        if kind == "restart":
            assert "Traceback" not in said, said
        rerun = run_invoke("db.upgrade", "--env", "staging", env=env, timeout=300)
        assert rerun.code == 0, (round_, moment, said[-2000:], rerun.stderr[-6000:])
        checks = _checks(url)
        assert checks["wrong values"] == 0, (round_, moment, checks)
        assert checks["invalid indexes"] == 0, (round_, moment, checks)
        assert checks["running steps"] == 0, (round_, moment, checks)
        outcomes = checks["outcomes"]
        assert isinstance(outcomes, dict)
        assert all(found[-1] == "success" for found in outcomes.values()), (round_, moment, outcomes)
        assert _schema(server, f"r{round_}_{kind}") == reference, (round_, moment)
        if step is not None and step[1] == BACKFILL_REVISION:
            # The ledger's story: a step interrupted after its columns committed is 'partial'
            # (what it kept is named), one interrupted before is 'failed' (rolled back).
            outcome, committed, error = _row(url, step[0])
            assert outcome == ("partial" if step[2] else "failed"), (round_, moment, outcome, error)
            assert (committed is not None) == step[2], (round_, moment, committed)
            assert "Nothing of this revision was applied" not in str(error) or not step[2]
        with psycopg.connect(conninfo(url)) as connection:
            position = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        assert position == [(head,)]
    record_property(
        "figures",
        f"{kind}: {ROUNDS} random moments within a {duration:.1f} s upgrade (steps from {startup:.1f} s) ({CONVERSATIONS:,} "
        f"conversations); each resumed in one rerun, schema equal to a clean upgrade's, values right, "
        f"no INVALID index; interrupted in: {dict(stopped_in)}",
    )
