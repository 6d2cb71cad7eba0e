"""What the fault and chaos tests share: reading a database's state, waiting for it, running
the command line in the background, and checking that an error is one clear message."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.revisions import copy_history
from tests.support import ROOT, conninfo

SECRET = "pw-Faults-7c1e9"


def query(url: URL, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        cursor = connection.execute(sql)
        return cursor.fetchall() if cursor.description else []


def position(url: URL) -> list[str]:
    return [str(row[0]) for row in query(url, "SELECT version_num FROM alembic_version")]


def columns(url: URL, table: str) -> set[str]:
    sql = f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'"
    return {str(row[0]) for row in query(url, sql)}


def wait_for(check: Callable[[], object], seconds: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = copy_history(tmp_path)
    monkeypatch.setenv("AGENT_DB_VERSIONS_DIR", str(folder))
    monkeypatch.setenv("AGENT_DB_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    full = {**os.environ, **env, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_one_clear_message(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.count("error:") == 1, stderr
    assert len(stderr) < 2000, stderr
    assert SECRET not in stderr
