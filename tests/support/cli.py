"""Running the invoke tasks, and ``Outcome``: what a command did (exit code, stdout, stderr).

Three ways in, one result type. ``run_invoke`` starts the real command line in a process of its
own (what a person or CI runs). ``run_cli`` and ``call_task`` run in-process, because the
hostile-input matrix has hundreds of cases (a CLI start costs about a second) and because some
values cannot cross ``execve`` at all (a NUL byte in an argument): the task functions are
exactly what the command line calls, after invoke has parsed the flags. ``spawn`` starts the
command line in the background, for tests that act while it runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from invoke.context import Context
from invoke.exceptions import Exit

import tasks
from tests.support.paths import ROOT

PLAIN_OUTPUT = {"NO_COLOR": "1", "COLUMNS": "200"}


@dataclass(frozen=True)
class Outcome:
    """What a command did: its exit code and what it wrote."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_invoke(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Outcome:
    """Run ``invoke ARGS`` as a person would, from the project root, in a process of its own."""
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {}), **PLAIN_OUTPUT},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``invoke ARGS`` in the background; the caller waits for it (``communicate``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env={**os.environ, **env, **PLAIN_OUTPUT},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def call_task(name: str, **flags: Any) -> Outcome:
    """Run task ``name`` (``upgrade``, ``lint_migrations``...) as ``invoke db.<name>`` would
    (the ``db`` family first, then ``api``)."""
    task = getattr(tasks.db, name, None) or getattr(tasks.db_inspect, name, None) or getattr(tasks.api, name)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            task(Context(), **flags)
        except Exit as exit_:
            code = exit_.code
    return Outcome(code, out.getvalue(), err.getvalue())


def run_cli(*argv: str, env: dict[str, str] | None = None) -> Outcome:
    """``invoke ARGV`` in-process: invoke's own parsing of the flags, the tasks, the exit code,
    with ``env`` added to the environment for the duration (about 50 ms instead of a second)."""
    from invoke.program import Program

    saved = dict(os.environ)
    os.environ.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                Program(namespace=tasks.ns).run(["invoke", *argv])
            except SystemExit as exit_:
                code = int(exit_.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Outcome(code, out.getvalue(), err.getvalue())
