"""Render one revision offline and record the Alembic operations it invokes.

The SQL says what runs; the operations say what the author asked for (``op.create_index`` on
which table, ``postgresql_concurrently``, inside ``autocommit_block()`` or not) and where in the
revision file they asked. While :func:`render_with_operations` renders, it wraps
``invoke`` (on the operations base class, so ``batch_alter_table`` operations count too) and
``MigrationContext.autocommit_block`` to note, for every operation, the span of SQL it wrote and
the line of the revision file that called it. Both are restored after. (A batch operation writes
its SQL when the batch block ends: each is given the whole batch's SQL.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from alembic.operations.base import AbstractOperations, BatchOperations
from alembic.operations.batch import BatchOperationsImpl
from alembic.operations.ops import MigrateOperation
from alembic.runtime.migration import MigrationContext

from agent_db.revisions.graph import Revision, RevisionGraph
from agent_db.revisions.render import render_upgrade


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


@contextmanager
def _recording(path: Path) -> Iterator[list[CapturedOperation]]:
    captured: list[CapturedOperation] = []
    depth = 0
    original_invoke = AbstractOperations.invoke
    original_block = MigrationContext.autocommit_block
    original_flush = BatchOperationsImpl.flush

    def invoke(self: AbstractOperations, operation: MigrateOperation) -> Any:
        buffer = self.migration_context.output_buffer
        entry = CapturedOperation(
            operation,
            depth > 0,
            _caller_line(path, sys._getframe(1)),
            buffer.tell(),
            batch=isinstance(self, BatchOperations),
        )
        captured.append(entry)
        try:
            return original_invoke(self, operation)
        finally:
            entry.end = buffer.tell()

    def flush(self: BatchOperationsImpl) -> None:
        buffer = self.operations.migration_context.output_buffer
        start = buffer.tell()
        original_flush(self)
        for entry in captured:
            if entry.batch and entry.start == entry.end:
                entry.start, entry.end = start, buffer.tell()

    @contextmanager
    def autocommit_block(self: MigrationContext) -> Iterator[None]:
        nonlocal depth
        with original_block(self):
            depth += 1
            try:
                yield
            finally:
                depth -= 1

    AbstractOperations.invoke = invoke  # type: ignore[method-assign]
    MigrationContext.autocommit_block = autocommit_block  # type: ignore[method-assign]
    BatchOperationsImpl.flush = flush  # type: ignore[method-assign]
    try:
        yield captured
    finally:
        AbstractOperations.invoke = original_invoke  # type: ignore[method-assign]
        MigrationContext.autocommit_block = original_block  # type: ignore[method-assign]
        BatchOperationsImpl.flush = original_flush  # type: ignore[method-assign]


def render_with_operations(graph: RevisionGraph, revision: Revision, *, environment: str) -> RenderedRevision:
    """The revision's upgrade SQL (from its parents, alone) and the operations behind it."""
    path = revision.path.resolve()
    with _recording(path) as captured:
        sql = render_upgrade(graph, revision, environment=environment)
    return RenderedRevision(revision, sql, captured)
