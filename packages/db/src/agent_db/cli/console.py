"""Rich output for people: progress of a run and messages on stderr; data goes to stdout.

Every piece of text that comes from outside (revision messages, another session's application
name or query, ledger rows, error messages quoting a flag) is escaped before Rich sees it: Rich
reads ``[...]`` as markup, so ``[wip]`` in a message would vanish and ``[/]`` in another
session's query would stop the run with a MarkupError.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from agent_db.commands.status import Status
from agent_db.database.lock import LockHolder
from agent_db.revisions.graph import Revision

err_console = Console(stderr=True, highlight=False)


class RichReporter:
    """Progress bar for multi-revision runs, one line per finished step."""

    def __init__(self, environment: str, console: Console | None = None) -> None:
        self._environment = environment
        self._console = console or err_console
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def waiting_for_lock(self, holder: LockHolder | None, remaining_seconds: float) -> None:
        who = escape(holder.describe()) if holder else "another session"
        self._console.print(
            f"[yellow]waiting[/] for the migration lock on {escape(self._environment)}: held by {who}; "
            f"giving up in {remaining_seconds:.0f}s"
        )

    def run_started(self, direction: str, revisions: list[Revision]) -> None:
        verb = {"upgrade": "applying", "downgrade": "reverting", "stamp": "stamping"}[direction]
        self._console.print(f"{escape(self._environment)}: {verb} {len(revisions)} revision(s)")
        if len(revisions) > 1 and self._console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(direction, total=len(revisions))

    def step_started(self, revision: Revision, index: int, total: int, attempt: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=escape(f"{revision.id} {revision.message[:40]}"))

    def step_finished(self, revision: Revision, seconds: float) -> None:
        self._console.print(
            f"  [green]ok[/] {escape(f'{revision.id}  {revision.message}')}  ({seconds:.2f}s)"
        )
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)

    def step_retrying(self, revision: Revision, message: str, delay: float) -> None:
        self._console.print(f"  [yellow]retry[/] {escape(message)}; waiting {delay:g}s")

    def run_finished(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def print_status(status: Status, console: Console | None = None) -> None:
    """``db.status`` for people: one row per environment."""
    from rich.table import Table

    table = Table(title=f"head {', '.join(status.heads)} ({status.revision_count} revisions)")
    for column in (
        "environment",
        "state",
        "current",
        "pending",
        "checksums",
        "drift",
        "last deployment",
    ):
        table.add_column(column, overflow="fold")
    for env in status.environments:
        if not env.reachable:
            table.add_row(
                escape(env.name), "[red]unreachable[/]", "-", "-", "-", "-", escape(env.problem or "")
            )
            continue
        state = "[green]at head[/]" if env.at_head else "[yellow]behind[/]"
        if env.unknown:
            state = "[red]ahead of this code[/]"
        checksums = "-"
        if env.checksums is not None:
            checksums = (
                "[red]" + escape(", ".join(m.revision for m in env.checksums.mismatches)) + " edited[/]"
                if env.checksums.mismatches
                else "ok"
            )
        if env.drift_problem:
            drift = f"not checked ({escape(env.drift_problem)})"
        elif env.drift is None:
            drift = "-"
        else:
            drift = "none" if not env.drift else "[red]" + escape("; ".join(env.drift)) + "[/]"
        last = env.last_deployment
        deployment = (
            escape(
                f"{last['direction']} {last['revision'][:12]} {last['outcome']} by {last['actor']} "
                f"{(last['finished_at'] or last['started_at'])[:19].replace('T', ' ')}"
            )
            if last
            else "-"
        )
        table.add_row(
            escape(env.name) + (" (protected)" if env.protected else ""),
            state,
            escape(", ".join(c[:12] for c in env.current)) or "base",
            str(len(env.pending)),
            checksums,
            drift,
            deployment,
        )
    (console or Console(width=None if sys.stdout.isatty() else 160)).print(table)
