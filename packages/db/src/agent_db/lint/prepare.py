"""One revision made ready to lint: imported on its own, rendered offline with the operations
behind its SQL, prefixed with the timeouts the runner sets; and the one constructor of the
findings about it.

A revision is linted alone (its parents to itself) because that is the unit that runs in one
step against a live database, and the unit a reviewer reads. Nothing connects to a database.
"""

from __future__ import annotations

import bisect
import importlib.util
import linecache
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agent_db.errors import ConfigError
from agent_db.lint.capture import CapturedOperation, RenderedRevision, render_with_operations
from agent_db.lint.findings import Finding
from agent_db.revisions.render import timeout_preamble
from agent_db.settings import DatabaseSettings, project_root

if TYPE_CHECKING:
    from agent_db.revisions.graph import Revision, RevisionGraph


@dataclass
class PreparedRevision:
    """One revision rendered, with the runner's preamble, and where each operation's SQL is."""

    rendered: RenderedRevision
    sql: str  # what squawk reads: the preamble, then the revision's SQL
    preamble_length: int
    lock_timeout: str
    statement_timeout: str
    file: str  # the revision file as findings name it (relative to the project when inside it)
    _newlines: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._newlines = [i for i, char in enumerate(self.sql) if char == "\n"]

    @property
    def revision(self) -> Revision:
        return self.rendered.revision

    def line_at(self, offset: int) -> int:
        """0-based line of a character offset of :attr:`sql` (squawk counts from 0 too)."""
        return bisect.bisect_left(self._newlines, offset)

    def lines_of(self, captured: CapturedOperation) -> tuple[int, int]:
        text = self.rendered.sql[captured.start : captured.end]
        lead = len(text) - len(text.lstrip())
        trail = len(text.rstrip())
        start = self.preamble_length + captured.start
        return self.line_at(start + lead), self.line_at(start + max(trail - 1, lead))

    def operations_at(self, line: int) -> list[CapturedOperation]:
        """The operations whose SQL covers ``line`` (several for a batch_alter_table block)."""
        found = []
        for captured in self.rendered.operations:
            if captured.end <= captured.start:
                continue
            first, last = self.lines_of(captured)
            if first <= line <= last:
                found.append(captured)
        return found

    def statement_at(self, line: int, line_end: int) -> str:
        return "\n".join(self.sql.splitlines()[line : line_end + 1]).strip()

    def finding(
        self,
        rule: str,
        *,
        source: str,
        message: str,
        safe_alternative: str,
        statement: str,
        line: int | None = None,
    ) -> Finding:
        """A finding about this revision, at ``line`` of its file (with that line of code)."""
        code = None
        if line:
            code = linecache.getline(str(self.revision.path), line).strip() or None
        return Finding(
            revision=self.revision.id,
            file=self.file,
            rule=rule,
            source=source,
            message=message,
            safe_alternative=safe_alternative,
            statement=statement,
            line=line,
            code=code,
        )


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(project_root().resolve()))
    except (ValueError, ConfigError):
        return str(path)


def _check_imports(revision: Revision) -> None:
    """Import the revision file on its own first, so a file that does not import is named as
    such (with its line), not reported as SQL that cannot be rendered."""
    spec = importlib.util.spec_from_file_location(f"_agent_db_lint_{revision.id}", revision.path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{display_path(revision.path)}: cannot be loaded as a Python module")
    try:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    except Exception as error:
        line = error.lineno if isinstance(error, SyntaxError) else None
        for frame in traceback.extract_tb(error.__traceback__):
            if Path(frame.filename).resolve() == revision.path.resolve():
                line = frame.lineno
        where = display_path(revision.path) + (f", line {line}" if line else "")
        raise ConfigError(
            f"{where}: the revision does not import ({type(error).__name__}: {error}); fix it "
            "and run db.lint again. Nothing was applied"
        ) from None


def _render(graph: RevisionGraph, revision: Revision, environment: str) -> RenderedRevision:
    _check_imports(revision)
    try:
        return render_with_operations(graph, revision, environment=environment)
    except ConfigError as error:
        raise ConfigError(
            f"{error}. db.lint (like db.plan) renders each revision offline; if upgrade() reads the "
            "database, note that op.get_bind() has no connection there: guard such code with "
            "`if not op.get_context().as_sql:` or use op.execute. Nothing was applied"
        ) from None


def prepare(graph: RevisionGraph, revision: Revision, settings: DatabaseSettings) -> PreparedRevision:
    """Render ``revision`` alone; ConfigError names the file when it does not import or render."""
    rendered = _render(graph, revision, settings.name)
    lock_timeout = revision.lock_timeout or settings.lock_timeout
    statement_timeout = revision.statement_timeout or settings.statement_timeout
    # What the runner sets on the migration connection before the revision's transaction.
    preamble = timeout_preamble(lock_timeout, statement_timeout)
    return PreparedRevision(
        rendered,
        preamble + rendered.sql,
        len(preamble),
        lock_timeout,
        statement_timeout,
        display_path(revision.path),
    )
