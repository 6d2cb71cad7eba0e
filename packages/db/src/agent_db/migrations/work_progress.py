"""Progress of long work inside a revision (a batched backfill, a concurrent index build).

Three readers, one source:

- a person at a terminal sees a Rich progress bar (done of the estimated total, rate, ETA);
- a CI log (stderr not a terminal, or ``CI`` set) gets a line after the first update, then one
  every ``AGENT_PROGRESS_SECONDS`` seconds (default 10), and one at the end (also when the work
  fails: how far it got);
- ``db.status`` on another machine reads it from the server: the step's session carries it in
  its ``application_name`` (``agent-db | backfill conversations 42% eta 12s``, at most 63
  bytes: PostgreSQL's limit), which :mod:`agent_db.database.in_flight` reads from
  ``pg_stat_activity``; the session's own name comes back when the work ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from agent_db.database.in_flight import PUBLISHED_PREFIX

PROGRESS_SECONDS_ENV = "AGENT_PROGRESS_SECONDS"
DEFAULT_LINE_SECONDS = 10.0
_PUBLISH_SECONDS = 1.0
_NAME_LIMIT = 63  # PostgreSQL truncates application_name to NAMEDATALEN - 1 bytes
_SET_NAME = text("SELECT set_config('application_name', :name, false)")


def line_interval() -> float:
    """Seconds between two progress lines when not at a terminal."""
    raw = os.environ.get(PROGRESS_SECONDS_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_LINE_SECONDS
    except ValueError:
        return DEFAULT_LINE_SECONDS
    return value if value > 0 else DEFAULT_LINE_SECONDS


def wants_bar(stream: TextIO) -> bool:
    """A bar only for a person: a terminal, and not a CI runner."""
    return stream.isatty() and not os.environ.get("CI")


def describe(done: int, total: int | None, unit: str, seconds: float) -> str:
    """``120,000 rows of ~1,000,000 (12%), 45,000/s, ETA 20s`` (what the lines say)."""
    rate = done / seconds if seconds > 0 else 0.0
    if not total:
        return f"{done:,} {unit}, {rate:,.0f}/s"
    share = min(done / total, 1.0)
    eta = f", ETA {eta_seconds(done, total, rate):.0f}s" if done < total and rate > 0 else ""
    return f"{done:,} {unit} of ~{total:,} ({share:.0%}), {rate:,.0f}/s{eta}"


def eta_seconds(done: int, total: int, rate: float) -> float:
    return max(total - done, 0) / rate if rate > 0 else 0.0


class WorkProgress:
    """``with WorkProgress(label, total, connection=...) as progress: progress.update(done)``.

    ``total`` is an estimate (None when unknown; the work may pass it). ``connection`` is the
    session doing the work: its ``application_name`` carries the progress for ``db.status``
    (set at most once a second, restored at the end)."""

    def __init__(
        self,
        label: str,
        total: int | None,
        *,
        unit: str = "rows",
        connection: Connection | None = None,
        stream: TextIO | None = None,
        quiet_when_idle: bool = False,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.detail = ""
        self._connection = connection
        self._stream = stream or sys.stderr
        self._started = time.monotonic()
        self._last_line: float | None = None
        self._last_publish = 0.0
        self._own_name: str | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._quiet_when_idle = quiet_when_idle
        self._updated = False

    def __enter__(self) -> WorkProgress:
        if wants_bar(self._stream):
            self._bar = Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
        self._own_name = self._application_name()
        return self

    def update(self, done: int, *, total: int | None = None, detail: str | None = None) -> None:
        """The work done so far (absolute), optionally a better total and what it is doing."""
        self.done = done
        self._updated = True
        if total is not None:
            self.total = total
        if detail is not None:
            self.detail = detail
        now = time.monotonic()
        if self._bar is not None and self._task is not None:
            rate = done / max(now - self._started, 1e-6)
            description = f"{self.label} ({self.detail})" if self.detail else self.label
            self._bar.update(
                self._task, completed=done, total=self.total, description=description, rate=f"{rate:,.0f}/s"
            )
        elif self._last_line is None or now - self._last_line >= line_interval():
            self._last_line = now
            self._line()
        if now - self._last_publish >= _PUBLISH_SECONDS:
            self._last_publish = now
            self._publish(self.summary(compact=True))

    def summary(self, *, compact: bool = False) -> str:
        seconds = time.monotonic() - self._started
        if compact:
            share = f" {min(self.done / self.total, 1.0):.0%}" if self.total else f" {self.done:,}"
            rate = self.done / seconds if seconds > 0 else 0.0
            eta = (
                f" eta {eta_seconds(self.done, self.total, rate):.0f}s"
                if self.total and rate > 0 and self.done < self.total
                else ""
            )
            detail = f" [{self.detail}]" if self.detail else ""
            return f"{self.label}{detail}{share}{eta}"
        detail = f" [{self.detail}]" if self.detail else ""
        return f"{self.label}{detail}: {describe(self.done, self.total, self.unit, seconds)}"

    def _line(self, suffix: str = "") -> None:
        print(f"  {self.summary()}{suffix}", file=self._stream, flush=True)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        if self._updated or not self._quiet_when_idle:
            self._line("" if kind is None else "; stopped here")
        if self._own_name is not None:
            self._set_application_name(self._own_name)

    def _application_name(self) -> str | None:
        if self._connection is None:
            return None
        try:
            name = self._connection.execute(text("SHOW application_name")).scalar_one()
        except DBAPIError:
            return None
        return str(name)

    def _publish(self, progress: str) -> None:
        if self._own_name is None:
            return
        name = f"{PUBLISHED_PREFIX}{progress}"
        self._set_application_name(name.encode()[:_NAME_LIMIT].decode(errors="ignore"))

    def _set_application_name(self, name: str) -> None:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            return
        try:
            self._connection.execute(
                text("SELECT set_config('application_name', :name, false)"), {"name": name}
            )
        except DBAPIError:
            return  # the session is failing: the work's own error says why


def estimated_rows(connection: Connection, query: str) -> int | None:
    """The planner's estimate of the rows ``query`` returns (no scan: fresh statistics make it
    close); None when it cannot say."""
    try:
        plan = connection.execute(text(f"EXPLAIN (FORMAT JSON) {query}")).scalar_one()
    except DBAPIError:
        return None
    try:
        rows = int(plan[0]["Plan"]["Plan Rows"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return rows if rows > 1 else None  # the planner never says 0: 1 may mean none


_INDEX_PROGRESS = text(
    "SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total "
    "FROM pg_stat_progress_create_index WHERE pid = :pid"
)


class IndexBuildWatch:
    """While ``connection`` builds an index (it cannot answer meanwhile), a thread on a second
    session reads ``pg_stat_progress_create_index`` every ``interval`` seconds and reports the
    phase and the blocks (or tuples) done through :class:`WorkProgress`; the second session
    carries the step's progress in its ``application_name`` for ``db.status``."""

    def __init__(self, connection: Connection, index: str, *, interval: float = 1.0) -> None:
        self._connection = connection
        self._index = index
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher: Connection | None = None
        self._progress: WorkProgress | None = None

    def __enter__(self) -> IndexBuildWatch:
        try:
            pid, name = self._connection.execute(
                text("SELECT pg_backend_pid(), current_setting('application_name')")
            ).one()
            watcher = self._connection.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            watcher.execute(_SET_NAME, {"name": f"{name}:index-watch"[:_NAME_LIMIT]})
        except DBAPIError:
            return self  # no progress, the build itself goes on
        self._watcher = watcher
        self._progress = WorkProgress(
            f"index {self._index}", None, unit="blocks", connection=watcher, quiet_when_idle=True
        )
        self._progress.__enter__()
        self._thread = threading.Thread(target=self._run, args=(int(pid),), name="index-watch", daemon=True)
        self._thread.start()
        return self

    def _run(self, pid: int) -> None:
        watcher, progress = self._watcher, self._progress
        if watcher is None or progress is None:
            return
        while not self._stop.wait(self._interval):
            try:
                row = watcher.execute(_INDEX_PROGRESS, {"pid": pid}).first()
            except DBAPIError:
                return
            if row is None:
                continue
            phase, blocks_done, blocks_total, tuples_done, tuples_total = row
            if blocks_total:
                progress.unit = "blocks"
                progress.update(int(blocks_done), total=int(blocks_total), detail=str(phase))
            else:
                progress.unit = "tuples"
                progress.update(
                    int(tuples_done or 0), total=int(tuples_total or 0) or None, detail=str(phase)
                )

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._progress is not None:
            self._progress.__exit__(kind, error, trace)
        if self._watcher is not None:
            with contextlib.suppress(DBAPIError):
                self._watcher.close()
