"""Render one revision offline and record the Alembic operations it invokes.

The SQL says what runs; the operations say what the author asked for (``op.create_index`` on
which table, ``postgresql_concurrently``, inside ``autocommit_block()`` or not) and where in the
revision file they asked. While :func:`render_with_operations` renders, the Alembic bridge
(:func:`agent_db.revisions.alembic_bridge.recording_operations`) reports every operation; this
module notes, for each, the span of SQL it wrote and the line of the revision file that called
it. (A batch operation writes its SQL when the batch block ends: each is given the whole batch's
SQL.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from alembic.operations.ops import MigrateOperation

from agent_db.revisions.alembic_bridge import Invocation, recording_operations
from agent_db.revisions.render import render_upgrade

if TYPE_CHECKING:
    from agent_db.revisions.graph import Revision, RevisionGraph


@dataclass
class CapturedOperation:
    """One operation as the revision invoked it."""

    operation: MigrateOperation
    in_autocommit: bool
    line: int | None  # line of the revision file that called it (None: not found on the stack)
    start: int  # offsets of the SQL it wrote, in the rendered text
    end: int = -1
    batch: bool = False  # inside batch_alter_table: its SQL is the whole batch's, written at the end


@dataclass
class RenderedRevision:
    revision: Revision
    sql: str
    operations: list[CapturedOperation] = field(default_factory=list)

    def sql_of(self, captured: CapturedOperation) -> str:
        return self.sql[captured.start : captured.end].strip()


def _caller_line(path: Path, frame: FrameType | None) -> int | None:
    target = str(path)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == target or (filename.endswith(path.name) and Path(filename) == path):
            return frame.f_lineno
        frame = frame.f_back
    return None


def render_with_operations(graph: RevisionGraph, revision: Revision, *, environment: str) -> RenderedRevision:
    """The revision's upgrade SQL (from its parents, alone) and the operations behind it."""
    path = revision.path.resolve()
    captured: list[CapturedOperation] = []

    def on_invoke(invocation: Invocation, caller: FrameType | None) -> CapturedOperation:
        entry = CapturedOperation(
            invocation.operation,
            invocation.in_autocommit,
            _caller_line(path, caller),
            invocation.start,
            batch=invocation.batch,
        )
        captured.append(entry)
        return entry

    def on_flush(start: int, end: int) -> None:
        for entry in captured:
            if entry.batch and entry.start == entry.end:
                entry.start, entry.end = start, end

    with recording_operations(on_invoke, on_flush):
        sql = render_upgrade(graph, revision, environment=environment)
    return RenderedRevision(revision, sql, captured)
