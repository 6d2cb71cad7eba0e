"""Every call into Alembic's private API, in one file: an Alembic upgrade that changes it breaks
this file and nothing else.

- :func:`scripts_for`, :func:`steps_to`, :func:`run_environment`: Alembic's public commands
  (``command.upgrade``) build a full ``ScriptDirectory``, importing every revision module, and
  walk its map; with thousands of revisions that dominates a run that applies two. The toolkit
  hands Alembic a script directory holding only the revisions a run needs and asks it for the
  steps to one destination (``Script._from_path``, ``_upgrade_revs`` / ``_downgrade_revs`` /
  ``_stamp_revs``).
- :func:`recording_operations`: watch the operations a revision invokes while it renders (the
  migration lint's capture), by wrapping ``invoke``, ``autocommit_block`` and the batch flush.
- :func:`watching_step`: the same wrapping while a step runs: the runner learns when the
  revision leaves its transaction, and a resumed step skips what was committed before.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from alembic.config import Config
from alembic.operations.base import AbstractOperations, BatchOperations
from alembic.operations.batch import BatchOperationsImpl
from alembic.operations.ops import MigrateOperation
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import Revision, RevisionMap

if TYPE_CHECKING:
    from agent_db.revisions.graph import RevisionGraph


StepDirection = Literal["upgrade", "downgrade", "stamp"]


def scripts_for(
    config: Config, graph: RevisionGraph, revisions: Iterable[str], live: Iterable[str] = ()
) -> ScriptDirectory:
    """A script directory holding ``revisions`` (executable), and as markers their parents and
    the ``live`` heads of the database (what ``alembic_version`` holds).

    Markers are bare ``Revision`` entries: Alembic walks them but never runs them. Each points
    at the nearest other entries below it in the real graph, so Alembic sees the same ancestry
    as with the whole history: a head on another branch (two heads, one already applied) is a
    known revision, and reverting a branch deletes its row instead of leaving its parent behind.
    """
    script = ScriptDirectory.from_config(config)
    chosen = list(dict.fromkeys(revisions))
    boundary = {
        parent
        for revision in chosen
        for parent in (*graph[revision].down_revisions, *graph[revision].depends_on)
        if parent not in chosen
    }
    markers = (boundary | {rev for rev in live if rev in graph}) - set(chosen)
    entries = markers | set(chosen)

    def marker_parents(marker: str) -> tuple[str, ...] | None:
        below = graph.ancestors([marker], inclusive=False) & entries
        nearest = below - {r for b in below for r in graph.ancestors([b], inclusive=False)}
        return tuple(sorted(nearest)) or None

    def load() -> Iterator[Revision]:
        for marker in sorted(markers):
            yield Revision(marker, marker_parents(marker))
        for revision in chosen:
            loaded = Script._from_path(script, graph[revision].path)
            if loaded is not None:
                yield loaded

    script.revision_map = RevisionMap(load)
    return script


def steps_to(
    script: ScriptDirectory, direction: StepDirection, destination: str, start: Sequence[str] | None = None
) -> Callable[[Any, Any], Any]:
    """The ``fn`` Alembic's environment calls for the steps from the live position (or
    ``start``, offline) to ``destination``."""

    def steps(rev: Any, context: Any) -> Any:
        # Offline, Alembic's walk accepts the parents as a tuple although it is typed as a str.
        current: Any = rev if start is None else tuple(start)
        if direction == "upgrade":
            return script._upgrade_revs(destination, current)
        if direction == "downgrade":
            return script._downgrade_revs(destination, current)
        return script._stamp_revs(destination, current)

    return steps


def run_environment(
    config: Config,
    script: ScriptDirectory,
    steps: Callable[[Any, Any], Any],
    *,
    destination: str,
    as_sql: bool = False,
    starting_rev: str | None = None,
) -> None:
    """Run ``env.py`` with ``steps``, as ``alembic upgrade`` would (``as_sql``: render only)."""
    with EnvironmentContext(
        config,
        script,
        fn=steps,
        as_sql=as_sql,
        starting_rev=starting_rev,
        destination_rev=destination,
        tag=None,
    ):
        script.run_env()


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


@contextmanager
def watching_step(
    on_leave: Callable[[list[MigrateOperation]], None],
    skip: Callable[[MigrateOperation, MigrationContext], bool] | None = None,
) -> Iterator[None]:
    """While one step runs online: ``on_leave(operations)`` once, with the operations invoked so
    far, as the revision first enters an autocommit block (before that block commits them);
    an operation for which ``skip(operation, context)`` is true is not run (a resumed step's
    work already committed). Every patched method is restored on the way out."""
    before: list[MigrateOperation] = []
    left = False
    original_invoke = AbstractOperations.invoke
    original_block = MigrationContext.autocommit_block

    def invoke(self: AbstractOperations, operation: MigrateOperation) -> Any:
        if skip is not None and skip(operation, self.migration_context):
            return None
        if not left:
            before.append(operation)
        return original_invoke(self, operation)

    @contextmanager
    def autocommit_block(self: MigrationContext) -> Iterator[None]:
        nonlocal left
        if not left and not self.as_sql:
            left = True
            on_leave(list(before))
        with original_block(self):
            yield

    AbstractOperations.invoke = invoke  # type: ignore[method-assign]
    MigrationContext.autocommit_block = autocommit_block  # type: ignore[method-assign]
    try:
        yield
    finally:
        AbstractOperations.invoke = original_invoke  # type: ignore[method-assign]
        MigrationContext.autocommit_block = original_block  # type: ignore[method-assign]
