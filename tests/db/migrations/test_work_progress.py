"""Progress of long work in a revision, on real PostgreSQL: a backfill's lines in CI and its bar
at a terminal, and what db.status shows of a backfill and of a concurrent index build while
they run (read from the step's session on the server)."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.status import collect_status
from agent_db.database.engines import create_sync_engine
from agent_db.database.in_flight import work_in_flight
from agent_db.migrations.work_progress import WorkProgress
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import query
from tests.support.revisions import copy_history, package_head, write_revision

TABLE = "progress_t"
ROWS = 3_000


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A table of ROWS rows with a column to backfill, on top of the project's history."""
    directory = copy_history(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(directory))
    write_revision(
        directory,
        "beef00000001",
        package_head(),
        f"""
        op.create_table(
            "{TABLE}",
            sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
            sa.Column("v", sa.Integer(), nullable=False),
            sa.Column("doubled", sa.Integer(), nullable=True),
        )
        op.execute("INSERT INTO {TABLE} (v) SELECT g FROM generate_series(1, {ROWS}) AS g")
        """,
        downgrade=f'op.drop_table("{TABLE}")',
        message="table",
    )
    return directory


def backfill(versions: Path, *, batch_size: int, pause_seconds: float = 0.0) -> None:
    write_revision(
        versions,
        "beef00000002",
        "beef00000001",
        f"""
        safe.backfill_in_batches(
            "{TABLE}", set_clause="doubled = v * 2", pending="doubled IS NULL",
            batch_size={batch_size}, pause_seconds={pause_seconds},
        )
        """,
        message="backfill",
    )


def wait_for(check: Callable[[], str | None], seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("never seen")


def test_a_backfill_in_ci_prints_the_estimate_the_rate_and_an_eta_every_few_seconds(
    versions: Path, empty_url: URL, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_PROGRESS_SECONDS", "0.05")
    backfill(versions, batch_size=300, pause_seconds=0.06)
    migrate.upgrade(target_for("dev", empty_url))
    lines = [line.strip() for line in capfd.readouterr().err.splitlines() if f"backfill {TABLE}" in line]
    assert lines[0].startswith(f"backfill {TABLE}: 300 rows of ~{ROWS:,} (10%)"), lines
    assert re.search(r"rows of ~3,000 \(\d+%\), [\d,]+/s, ETA \d+s$", lines[1]), lines
    assert lines[-1].startswith(f"backfill {TABLE}: {ROWS:,} rows of ~{ROWS:,} (100%)"), lines
    assert "ETA" not in lines[-1]
    assert 3 <= len(lines) <= ROWS // 300 + 1  # a line per interval, not per row
    assert query(empty_url, f"SELECT count(*) FROM {TABLE} WHERE doubled = v * 2") == [(ROWS,)]


def test_a_line_every_n_seconds_not_every_batch(
    versions: Path, empty_url: URL, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_PROGRESS_SECONDS", "3600")
    backfill(versions, batch_size=100)
    migrate.upgrade(target_for("dev", empty_url))
    lines = [line.strip() for line in capfd.readouterr().err.splitlines() if f"backfill {TABLE}" in line]
    assert [line.split(" (")[0] for line in lines] == [
        f"backfill {TABLE}: 100 rows of ~{ROWS:,}",
        f"backfill {TABLE}: {ROWS:,} rows of ~{ROWS:,}",
    ]  # the first batch, then the end: 30 batches, no line between them within the hour


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_a_bar_with_an_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    screen = Terminal()
    with WorkProgress("backfill conversations", 1_000, stream=screen) as progress:
        for done in (100, 400):
            time.sleep(0.05)
            progress.update(done)
    shown = screen.getvalue()
    assert "backfill conversations" in shown
    assert "━" in shown  # Rich's bar
    assert "400/1000" in shown
    assert re.search(r"\d+:\d\d:\d\d", shown)  # the time remaining column
    plain = io.StringIO()
    monkeypatch.setenv("CI", "true")
    with WorkProgress("backfill conversations", 1_000, stream=Terminal()) as progress:
        progress.update(10)
    with WorkProgress("backfill conversations", 1_000, stream=plain) as progress:
        progress.update(10)
    assert "━" not in plain.getvalue()


def test_db_status_shows_a_backfill_in_flight_and_forgets_it_after(
    versions: Path, empty_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    backfill(versions, batch_size=200, pause_seconds=0.4)
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(empty_url))
    runner = threading.Thread(target=migrate.upgrade, args=(target_for("dev", empty_url),))
    runner.start()
    try:
        seen = wait_for(lambda: next((w for w in work_in_flight_of(empty_url) if "backfill" in w), None))
        assert re.fullmatch(rf"backfill {TABLE} \d+% eta \d+s", seen), seen
        (dev, *_) = collect_status(drift=False).environments
        assert dev.in_flight is not None
        assert any(item.startswith(f"backfill {TABLE} ") for item in dev.in_flight)
    finally:
        runner.join(timeout=120)
    assert work_in_flight_of(empty_url) == []
    (dev, *_) = collect_status(drift=False).environments
    assert dev.in_flight == []


def test_db_status_shows_the_phase_of_a_concurrent_index_build(versions: Path, empty_url: URL) -> None:
    """A session holding an old snapshot makes the build wait in one of its phases: db.status
    names it while the build runs."""
    migrate.upgrade(target_for("dev", empty_url))
    write_revision(
        versions,
        "beef00000003",
        "beef00000001",
        f'safe.create_index_concurrently("ix_{TABLE}_v", "{TABLE}", ["v"])',
        f'safe.drop_index_concurrently("ix_{TABLE}_v", "{TABLE}")',
        message="index",
    )
    with psycopg.connect(conninfo(empty_url)) as snapshot:
        snapshot.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        snapshot.execute("SELECT count(*) FROM users")  # an old snapshot the build must wait out
        runner = threading.Thread(target=migrate.upgrade, args=(target_for("dev", empty_url),))
        runner.start()
        try:
            seen = wait_for(lambda: next((w for w in work_in_flight_of(empty_url) if "index" in w), None))
            assert seen.startswith(f"index ix_{TABLE}_v [waiting for "), seen
        finally:
            snapshot.rollback()
            runner.join(timeout=120)
    assert query(empty_url, f"SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_{TABLE}_v'") == [(1,)]
    assert work_in_flight_of(empty_url) == []


def work_in_flight_of(url: URL) -> list[str]:
    engine = create_sync_engine(url)
    try:
        with engine.connect() as connection:
            return work_in_flight(connection)
    finally:
        engine.dispose()
