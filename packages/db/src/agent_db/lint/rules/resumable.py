"""A revision that leaves its transaction must resume: what it runs before an autocommit block
is committed when the block starts, so a rerun after an interruption runs it again.

The runner resumes a ``partial`` step by skipping an ``add_column`` already there with the same
type and a constraint already added (the ``safe`` constraint helpers); ``alter_column`` is
idempotent (:mod:`agent_db.revisions.resume`). Any other operation
that runs in a transaction before the revision's last autocommit block (a ``create_table``, a
constraint, an index built inside the transaction, raw SQL) would fail or act twice on the
rerun: the finding asks to move it into a transactional revision of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_db.lint.rules.base import SAFE, RevisionRule
from agent_db.revisions.resume import describe, resumes

if TYPE_CHECKING:
    from agent_db.lint.capture import CapturedOperation, RenderedRevision
    from agent_db.lint.prepare import PreparedRevision


def _before_last_block(rendered: RenderedRevision) -> list[CapturedOperation]:
    """The operations that run in a transaction an autocommit block commits."""
    operations = rendered.operations
    blocks = [index for index, captured in enumerate(operations) if captured.in_autocommit]
    return [c for c in operations[: blocks[-1]] if not c.in_autocommit] if blocks else []


def committed_by_a_block(rendered: RenderedRevision, captured: CapturedOperation) -> bool:
    """Whether ``captured`` runs in a transaction that a later autocommit block commits."""
    return any(c is captured for c in _before_last_block(rendered))


def _not_resumable(prepared: PreparedRevision) -> tuple[str, str] | None:
    for captured in _before_last_block(prepared.rendered):
        if resumes(captured.operation):
            continue
        where = f" (line {captured.line})" if captured.line else ""
        return describe([captured.operation]) + where, prepared.rendered.sql_of(captured)
    return None


DDL_BEFORE_AUTOCOMMIT = RevisionRule(
    name="ddl-before-autocommit",
    summary="runs before an autocommit block, which commits it: interrupted after that, the "
    "rerun of the revision runs it again and fails (or acts twice), and the database stays "
    "stuck until repaired by hand",
    safe_alternative="move it into a transactional revision of its own before this one; before "
    "an autocommit block keep only op.add_column, op.alter_column and the constraint helpers of "
    f"{SAFE} (a resumed step skips what it already added)",
    squawk_equivalents=("prefer-robust-stmts",),
    check=_not_resumable,
)

REVISION_RULES = (DDL_BEFORE_AUTOCOMMIT,)
