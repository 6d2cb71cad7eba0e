"""The rules db.lint applies on top of squawk's, one module per family, and the walk that
applies them to a revision's operations.

Ours exist where the SQL alone cannot tell: whether the models still map a dropped column,
whether a table existed before the revision, whether a ``CONCURRENTLY`` runs inside an
autocommit block. Each rule (:mod:`.base`) holds its name, its text, its check and its safe
alternative together; squawk's names and alternatives are in :mod:`agent_db.lint.squawk_rules`.

- :mod:`.columns`, :mod:`.tables`, :mod:`.indexes`, :mod:`.constraints`, :mod:`.data`: rules on
  one operation; :mod:`.phases`: what an expand revision must not remove, what a contract
  revision must not add;
- :mod:`.revision`: rules on the revision as a whole (its lock_timeout, its lint_accept);
  :mod:`.resumable`: what may run before an autocommit block (it must resume).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from alembic.operations import ops
from sqlalchemy import MetaData

from agent_db.lint.rules import columns, constraints, data, indexes, phases, resumable, revision, tables
from agent_db.lint.rules.base import OperationContext, OperationRule, RevisionRule, Rule, table_key
from agent_db.revisions.phases import phase_of

if TYPE_CHECKING:
    from agent_db.lint.capture import CapturedOperation, RenderedRevision

OPERATION_RULES: tuple[OperationRule, ...] = (
    *columns.RULES,
    *tables.RULES,
    *indexes.RULES,
    *constraints.RULES,
    *data.RULES,
    *phases.RULES,
)
REVISION_RULES: tuple[RevisionRule, ...] = (*revision.REVISION_RULES, *resumable.REVISION_RULES)
LINT_ACCEPT = revision.LINT_ACCEPT

OUR_RULES: dict[str, Rule] = {rule.name: rule for rule in (*OPERATION_RULES, *REVISION_RULES, LINT_ACCEPT)}


@dataclass(frozen=True)
class OperationFinding:
    rule: OperationRule
    captured: CapturedOperation
    detail: str
    suggestion: str | None = None  # the safe call for this very statement, when we can write it


@dataclass
class OperationReview:
    """Our findings, in the order the operations ran, and the operations that only touch
    tables this revision created (nobody else can be waiting on those)."""

    findings: list[OperationFinding]
    on_new_tables: set[int]  # ids of CapturedOperation objects

    def touches_new_table(self, captured: CapturedOperation) -> bool:
        return id(captured) in self.on_new_tables


def check_operations(rendered: RenderedRevision, metadata: MetaData) -> OperationReview:
    """Apply every operation rule to each operation of one revision, in the order they ran."""
    created: set[str] = set()
    review = OperationReview([], set())
    phase = phase_of(rendered.revision)
    for captured in rendered.operations:
        operation = captured.operation
        seen = OperationContext(captured, frozenset(created), metadata, phase)
        if seen.subject_table is not None and seen.is_new(seen.subject_table):
            review.on_new_tables.add(id(captured))
        for rule in OPERATION_RULES:
            detail = rule.check(seen)
            if detail is not None:
                suggestion = rule.suggest(operation) if rule.suggest else None
                review.findings.append(OperationFinding(rule, captured, detail, suggestion))
        if isinstance(operation, ops.CreateTableOp):
            created.add(table_key(operation.table_name))
        elif isinstance(operation, ops.RenameTableOp) and operation.table_name in created:
            created.add(table_key(operation.new_table_name))
    return review


__all__ = [
    "LINT_ACCEPT",
    "OPERATION_RULES",
    "OUR_RULES",
    "REVISION_RULES",
    "OperationFinding",
    "OperationReview",
    "Rule",
    "check_operations",
]
