"""What a rule of db.lint is, and what a check on one operation sees.

A rule names the risk (``summary``) and the safe alternative, pointing at
``agent_db.migrations.safe``; ``squawk_equivalents`` are squawk's names for the same finding (it is
reported once, under our name, and accepting either name accepts it). An :class:`OperationRule`
also holds its check on one captured Alembic operation and, where it can write one, the safe call
for that very statement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alembic.operations.ops import MigrateOperation
from sqlalchemy import MetaData

if TYPE_CHECKING:
    from agent_db.lint.capture import CapturedOperation
    from agent_db.lint.prepare import PreparedRevision


SAFE = "agent_db.migrations.safe"

EXPAND_CONTRACT = (
    "expand/contract over several revisions and deploys: add the new column or table, write "
    f"both from the code, backfill with {SAFE}.backfill_in_batches, switch reads, and drop the "
    "old one in a later revision once no running code reads it"
)


def table_key(name: str) -> str:
    """A table name without quotes or schema, as the created-tables bookkeeping compares them."""
    return name.strip('"').split(".")[-1].strip('"')


@dataclass(frozen=True)
class OperationContext:
    """One captured operation as a check sees it. "Existing table" means a table this revision
    did not create before the operation: the only tables that can be busy while it runs."""

    captured: CapturedOperation
    created: frozenset[str]  # tables (by table_key) this revision created before the operation
    metadata: MetaData  # the models: what the running code maps
    phase: str = "expand"  # the revision's (agent_db.revisions.phases)

    @property
    def operation(self) -> MigrateOperation:
        return self.captured.operation

    @property
    def in_autocommit(self) -> bool:
        return self.captured.in_autocommit

    @property
    def subject_table(self) -> str | None:
        """The table the operation changes (a foreign key's source table), when it names one."""
        operation = self.operation
        return getattr(operation, "source_table", None) or getattr(operation, "table_name", None)

    @property
    def on_existing_table(self) -> bool:
        table = getattr(self.operation, "table_name", None)
        return table is not None and not self.is_new(table)

    def is_new(self, table: str) -> bool:
        return table_key(table) in self.created

    def option(self, name: str) -> object:
        """A dialect keyword of the operation (``postgresql_concurrently``, ...), or None."""
        kw = getattr(self.operation, "kw", None)
        return kw.get(name) if isinstance(kw, dict) else None

    def maps_table(self, table: str) -> bool:
        return table in self.metadata.tables

    def maps_column(self, table: str, column: str) -> bool:
        mapped = self.metadata.tables.get(table)
        return mapped is not None and column in mapped.columns


@dataclass(frozen=True, kw_only=True)
class Rule:
    name: str
    summary: str  # the risk, after what the finding is about ("users.email: <summary>")
    safe_alternative: str
    squawk_equivalents: tuple[str, ...] = ()
    acceptable: bool = True  # False: a lint_accept entry cannot accept it

    def describe(self, detail: str) -> str:
        return f"{detail}: {self.summary}"


OperationCheck = Callable[[OperationContext], str | None]
Suggestion = Callable[[MigrateOperation], str | None]


@dataclass(frozen=True, kw_only=True)
class OperationRule(Rule):
    """A rule on one operation: ``check`` returns what it is about (``users.email``) when it
    fires; ``suggest`` writes the safe call for that operation, when it can."""

    check: OperationCheck
    suggest: Suggestion | None = None


RevisionCheck = Callable[["PreparedRevision"], tuple[str, str] | None]


@dataclass(frozen=True, kw_only=True)
class RevisionRule(Rule):
    """A rule on the revision as a whole: ``check`` returns (what it is about, the statement)
    when it fires."""

    check: RevisionCheck
