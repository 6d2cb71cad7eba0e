"""A migration run as people see it: a progress bar for multi-revision runs, one line per
finished step, lock waits and retries (the :class:`~agent_db.commands.progress.Reporter` of
the terminal)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from agent_db.cli.console import err_console
from agent_db.database.lock import LockHolder
from agent_db.revisions.graph import Revision


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
