"""Running the invoke tasks in-process, and fingerprints that prove a database did not change.

In-process because the hostile-input matrix has hundreds of cases (a CLI start costs about a
second) and because some values cannot cross ``execve`` at all (a NUL byte in an argument): the
task functions are exactly what the command line calls, after invoke has parsed the flags.
A few cases also run through the real command line (``tests.support.run_invoke``).
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from typing import Any

import psycopg
from invoke.context import Context
from invoke.exceptions import Exit
from sqlalchemy.engine import URL

import tasks
from tests.support import conninfo


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def call_task(name: str, **flags: Any) -> Outcome:
    """Run task ``name`` (``upgrade``, ``lint_migrations``...) as ``invoke db.<name>`` would."""
    task = getattr(tasks, name)
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


_FINGERPRINT = """
SELECT md5(concat_ws(' | ',
    (SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version),
    (SELECT md5(string_agg(l::text, ',' ORDER BY l.id)) FROM schema_ledger l),
    (SELECT md5(string_agg(c.relname || ':' || c.relkind::text || ':' || a.attname || ':'
                           || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull::text,
                           ',' ORDER BY c.relname, a.attnum))
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
       WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped),
    (SELECT md5(string_agg(conname || ':' || convalidated::text, ',' ORDER BY conname))
       FROM pg_constraint WHERE connamespace = 'public'::regnamespace),
    (SELECT md5(string_agg(indexrelid::regclass::text || ':' || indisvalid::text, ','
                           ORDER BY indexrelid::regclass::text))
       FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class
                                        WHERE relnamespace = 'public'::regnamespace))
))
"""


def fingerprint(url: URL | psycopg.Connection[tuple[object, ...]]) -> str:
    """One hash of the database's revision, ledger rows, tables, columns, constraints and
    indexes: equal before and after means the command changed nothing that matters.
    Pass an open autocommit connection when fingerprinting often."""
    if isinstance(url, psycopg.Connection):
        row = url.execute(_FINGERPRINT).fetchone()
    else:
        with psycopg.connect(conninfo(url), autocommit=True) as connection:
            row = connection.execute(_FINGERPRINT).fetchone()
    assert row is not None
    return str(row[0])


def ledger_rows(url: URL) -> list[dict[str, object]]:
    with psycopg.connect(conninfo(url), autocommit=True) as connection:
        cursor = connection.execute("SELECT * FROM schema_ledger ORDER BY id")
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
