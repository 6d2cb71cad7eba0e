"""Output piped into a reader that stops early (``| head``) ends quietly: no traceback, exit 141
(agent_db/cli/pipes.py), for every task and the plain
Alembic CLI's offline SQL (env.py)."""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from invoke.collection import Collection
from invoke.tasks import Task
from sqlalchemy.engine import URL

import tasks
from agent_db.cli.pipes import CLOSED_STDOUT_EXIT, PipeAwareConsole
from agent_db.versions import VERSIONS_DIR_VARIABLE
from tests.support.cli import PLAIN_OUTPUT
from tests.support.databases import url_text
from tests.support.paths import ROOT
from tests.support.revisions import copy_history, package_head, write_revision

PIPE_BYTES = 4096  # the smallest pipe Linux allows: any output longer than this must wait for us
READ_BYTES = 200


def run_into_a_reader_that_stops_early(
    *args: str, env: dict[str, str] | None = None, program: str = "invoke"
) -> tuple[int, bytes, str]:
    """``invoke ARGS | head -c 200``: read the first bytes, close the pipe, let the command go on."""
    # A person's shell: buffered stdout (PYTHONUNBUFFERED, set on some CI machines, makes Python
    # drop what a partial write to a closing pipe did not take, without any error).
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    process = subprocess.Popen(
        [sys.executable, "-m", program, *args],
        cwd=ROOT,
        env={**environment, **(env or {}), **PLAIN_OUTPUT},
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    try:
        first = os.read(read_end, READ_BYTES)
    finally:
        os.close(read_end)
    _, stderr = process.communicate(timeout=180)
    return process.returncode, first, stderr


def assert_quiet(stderr: str) -> None:
    for noise in ("Traceback", "BrokenPipeError", "Exception ignored", "Broken pipe"):
        assert noise not in stderr, stderr


def test_history_verbose_into_head_ends_quietly() -> None:
    code, first, stderr = run_into_a_reader_that_stops_early("db.history", "--verbose")
    assert first.startswith(b"Rev: "), first
    assert_quiet(stderr)
    assert code == CLOSED_STDOUT_EXIT, stderr


def test_history_of_a_long_history_into_head_ends_quietly(tmp_path: Path) -> None:
    """One line per revision, printed as it goes: 150 more revisions make it longer than the pipe."""
    versions = copy_history(tmp_path)
    parent = package_head()
    for number in range(150):
        write_revision(versions, f"c0ffee{number:06d}", parent, "pass", message=f"step {number}")
        parent = f"c0ffee{number:06d}"
    code, first, stderr = run_into_a_reader_that_stops_early(
        "db.history", env={VERSIONS_DIR_VARIABLE: str(versions)}
    )
    assert first.startswith(f"c0ffee{148:06d} -> {parent} (head)".encode()), first
    assert_quiet(stderr)
    assert code == CLOSED_STDOUT_EXIT, stderr


def test_plan_into_head_ends_with_the_closed_pipe_exit(empty_url: URL) -> None:
    """The plan of a whole history (about 10 kB of SQL) in one print: the rest meets the closed
    pipe in the flush at exit, which used to print "Exception ignored ... BrokenPipeError"."""
    code, first, stderr = run_into_a_reader_that_stops_early(
        "db.plan", "--env", "staging", env={"STAGING_DATABASE_URL": url_text(empty_url)}
    )
    assert first.startswith(b"-- upgrade plan for staging"), first
    assert_quiet(stderr)
    assert code == CLOSED_STDOUT_EXIT, stderr


def test_plain_alembic_sql_into_head_ends_quietly() -> None:
    """``alembic upgrade head --sql | head`` from the repository root: env.py holds the recipe."""
    code, first, stderr = run_into_a_reader_that_stops_early("upgrade", "head", "--sql", program="alembic")
    assert first.startswith(b"BEGIN;"), first
    assert_quiet(stderr)
    assert code == CLOSED_STDOUT_EXIT, stderr


def test_a_rich_console_hands_a_closed_pipe_to_the_task() -> None:
    """Rich's own reaction (exit 1 from inside the console) would bypass the task's recipe."""

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    console = PipeAwareConsole(file=ClosedPipe())
    with pytest.raises(BrokenPipeError):
        console.print("a table row")
    assert console.quiet


def _every_task(collection: Collection) -> list[tuple[str, Task[Any]]]:
    found = [(name, collection.tasks[name]) for name in collection.tasks]
    for name, sub in collection.collections.items():
        found += [(f"{name}.{task_name}", task) for task_name, task in _every_task(sub)]
    return found


def test_every_task_ends_quietly_on_a_closed_stdout() -> None:
    """Each task's body goes through tasks._shared.reports_errors, which holds the recipe."""
    bare = [name for name, task in _every_task(tasks.ns) if not getattr(task.body, "reports_errors", False)]
    assert not bare, f"tasks without @reports_errors: {bare}"
