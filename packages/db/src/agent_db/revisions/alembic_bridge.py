"""Every call into Alembic's private API, in one file, so an Alembic upgrade is checked here.

- :func:`scripts_for`: script directories that load only the revision files a run needs.
  ``ScriptDirectory`` imports every revision module to build its map; with thousands of revisions
  that dominates a run that applies two of them. A run only executes the revisions on its path,
  so the map holds those (loaded from their files) and, for their parents already applied, bare
  ``Revision`` entries with no parent: Alembic walks from them but never runs them.
- :func:`recording_operations`: watch the operations a revision invokes while it renders (the
  migration lint's capture), by wrapping ``invoke``, ``autocommit_block`` and the batch flush.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from alembic.config import Config
from alembic.operations.base import AbstractOperations, BatchOperations
from alembic.operations.batch import BatchOperationsImpl
from alembic.operations.ops import MigrateOperation
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import Revision, RevisionMap

from agent_db.revisions.graph import RevisionGraph


def scripts_for(config: Config, graph: RevisionGraph, revisions: Iterable[str]) -> ScriptDirectory:
    """A script directory holding ``revisions`` (executable) and their parents (as markers)."""
    script = ScriptDirectory.from_config(config)
    chosen = list(dict.fromkeys(revisions))
    boundary = {
        parent
        for revision in chosen
        for parent in (*graph[revision].down_revisions, *graph[revision].depends_on)
        if parent not in chosen
    }

    def load() -> Iterator[Revision]:
        for parent in sorted(boundary):
            yield Revision(parent, None)
        for revision in chosen:
            loaded = Script._from_path(script, graph[revision].path)
            if loaded is not None:
                yield loaded

    script.revision_map = RevisionMap(load)
    return script


@dataclass(frozen=True)
class Invocation:
    """One operation as a revision invokes it, before it runs."""

    operation: MigrateOperation
    start: int  # offset of the output buffer: where its SQL will start
    in_autocommit: bool  # inside MigrationContext.autocommit_block()
    batch: bool  # inside batch_alter_table: its SQL is written when the batch block ends


class OperationRecord(Protocol):
    """What :func:`recording_operations` hands the end of an operation's SQL to."""

    end: int


@contextmanager
def recording_operations(
    on_invoke: Callable[[Invocation, FrameType | None], OperationRecord],
    on_flush: Callable[[int, int], None],
) -> Iterator[None]:
    """Call ``on_invoke(invocation, caller)`` as each operation runs (``caller``: the frame that
    invoked it); the record it returns gets ``end``, the buffer's offset once the operation has
    written its SQL. A batch writes the SQL of all its operations when its block ends:
    ``on_flush(start, end)`` gives that span. ``invoke`` is wrapped on the operations base class,
    so batch operations count too; every patched method is restored on the way out.
    """
    depth = 0
    original_invoke = AbstractOperations.invoke
    original_block = MigrationContext.autocommit_block
    original_flush = BatchOperationsImpl.flush

    def invoke(self: AbstractOperations, operation: MigrateOperation) -> Any:
        buffer = self.migration_context.output_buffer
        invocation = Invocation(operation, buffer.tell(), depth > 0, isinstance(self, BatchOperations))
        record = on_invoke(invocation, sys._getframe(1))
        try:
            return original_invoke(self, operation)
        finally:
            record.end = buffer.tell()

    def flush(self: BatchOperationsImpl) -> None:
        buffer = self.operations.migration_context.output_buffer
        start = buffer.tell()
        original_flush(self)
        on_flush(start, buffer.tell())

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
        yield
    finally:
        AbstractOperations.invoke = original_invoke  # type: ignore[method-assign]
        MigrationContext.autocommit_block = original_block  # type: ignore[method-assign]
        BatchOperationsImpl.flush = original_flush  # type: ignore[method-assign]
