"""The schema window of a build: the database positions its code works on.

A build (the revisions its code ships, each with a phase) is compatible with a live database
when

- every **expand** revision of its own history is applied (the code may read what they add);
- every applied revision it does **not** know is recorded in the ledger as **expand** (a newer
  release only added things; a contract revision of a newer release may have removed what this
  code reads);
- its own **contract** revisions may be applied or not (it was written to work both ways: the
  contract runs after the release that stopped reading what it removes is out).

So one build stays ready while the schema moves forward through expand revisions of newer
releases, and a rollback of the image after an expand revision comes up ready; after a contract
revision it predates, it does not. The computation is pure (no database): the caller reads the
live position and the ledger (:mod:`agent_db.database.live_schema`) and passes them in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from agent_db.revisions.graph import RevisionGraph
from agent_db.revisions.phases import Phase, graph_phases


class LedgerRecord(NamedTuple):
    """What the ledger says of one revision: whether its latest successful step applied it
    (upgrade) or reverted it (downgrade), and the phase the upgrade was recorded with."""

    applied: bool
    phase: str | None


@dataclass(frozen=True)
class LiveSchema:
    """A live database as the window needs it: ``alembic_version`` and the ledger's records.

    ``ledger`` may be empty when every current revision is known to the build: then the
    position alone says what is applied."""

    current: tuple[str, ...]
    ledger: Mapping[str, LedgerRecord] = field(default_factory=dict)

    @classmethod
    def from_rows(
        cls, current: Iterable[str], records: Mapping[str, tuple[bool, str | None]] | None = None
    ) -> LiveSchema:
        """From what :mod:`agent_db.database.live_schema` reads."""
        ledger = {rev: LedgerRecord(*record) for rev, record in (records or {}).items()}
        return cls(tuple(sorted(current)), ledger)


@dataclass
class BuildSchema:
    """What a build ships: its revisions and their phases (computed once, at startup)."""

    graph: RevisionGraph
    phases: dict[str, Phase]
    _windows: dict[tuple[str, ...], SchemaWindow] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, graph: RevisionGraph) -> BuildSchema:
        return cls(graph, graph_phases(graph))

    @property
    def heads(self) -> tuple[str, ...]:
        return self.graph.heads

    @cached_property
    def expand(self) -> frozenset[str]:
        return frozenset(rev for rev, phase in self.phases.items() if phase == "expand")

    @cached_property
    def oldest(self) -> tuple[str, ...]:
        """The newest expand revisions: once they are applied (with their ancestors), every
        expand revision of the build is. The oldest end of the window."""
        below = self.graph.ancestors(self.expand, inclusive=False)
        return tuple(sorted(self.expand - below))

    @cached_property
    def order(self) -> dict[str, int]:
        """Each revision's place in the history (parents first)."""
        return {rev: index for index, rev in enumerate(self.graph.linear_order())}

    @cached_property
    def contract(self) -> tuple[str, ...]:
        return tuple(
            sorted((r for r, p in self.phases.items() if p == "contract"), key=self.order.__getitem__)
        )

    def remembered(self, current: tuple[str, ...], compute: Callable[[], SchemaWindow]) -> SchemaWindow:
        """The window of ``current`` computed once (for positions of known revisions only)."""
        window = self._windows.get(current)
        if window is None:
            if len(self._windows) >= 64:
                self._windows.clear()
            window = self._windows[current] = compute()
        return window

    def knows(self, revision: str) -> bool:
        return revision in self.graph


@dataclass(frozen=True)
class SchemaWindow:
    """The verdict for one build on one database, with what it rests on."""

    compatible: bool
    current: tuple[str, ...]
    oldest: tuple[str, ...]
    newest: tuple[str, ...]
    missing_expand: tuple[str, ...] = ()
    newer_contract: tuple[str, ...] = ()
    newer_unrecorded: tuple[str, ...] = ()
    newer_expand: tuple[str, ...] = ()
    pending_contract: tuple[str, ...] = ()

    @property
    def reason(self) -> str | None:
        """Why the build is outside the window (None inside it)."""
        if self.compatible:
            return None
        if not self.current:
            return "database has no schema yet: run the migrations (db.upgrade --phase expand)"
        if self.newer_contract:
            return (
                f"contract revision {_names(self.newer_contract)} from a newer release is applied: "
                "it may have removed what this code reads; deploy the newer API"
            )
        if self.newer_unrecorded:
            return (
                f"revision {_names(self.newer_unrecorded)} from a newer release is applied and the "
                "ledger records no phase for it, so it may have removed what this code reads; "
                "deploy the newer API"
            )
        return (
            f"missing expand revision {_names(self.missing_expand)}: the database is behind this "
            "code; run db.upgrade --phase expand (db.promote --phase expand on a protected one)"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "compatible": self.compatible,
            "oldest": list(self.oldest),
            "newest": list(self.newest),
            "missing_expand": list(self.missing_expand),
            "newer_contract": list(self.newer_contract + self.newer_unrecorded),
            "newer_expand": list(self.newer_expand),
            "pending_contract": list(self.pending_contract),
        }


def _names(revisions: tuple[str, ...], shown: int = 3) -> str:
    names = ", ".join(revisions[:shown])
    more = len(revisions) - shown
    return f"{names} (and {more} more)" if more > 0 else names


def needs_ledger(build: BuildSchema, current: tuple[str, ...]) -> bool:
    """Whether the window of ``current`` depends on the ledger: only when the database is at a
    revision the build does not know (a newer release's)."""
    return any(not build.knows(rev) for rev in current)


def schema_window(build: BuildSchema, live: LiveSchema) -> SchemaWindow:
    """Whether ``build`` may serve on ``live`` (see the module's docstring)."""
    if needs_ledger(build, live.current):
        return _window(build, live)
    # A position of known revisions alone decides: remember the verdict (readiness probes ask
    # every few seconds, and the walk is linear in the history's length).
    return build.remembered(live.current, lambda: _window(build, live))


def _window(build: BuildSchema, live: LiveSchema) -> SchemaWindow:
    graph = build.graph
    known_current = [rev for rev in live.current if build.knows(rev)]
    unknown_current = [rev for rev in live.current if not build.knows(rev)]
    applied = graph.ancestors(known_current)
    newer: set[str] = set(unknown_current)
    if unknown_current:
        # A newer release's head: what of this build lies below it is not in this build's
        # graph, so the ledger says which revisions were applied (and not reverted since).
        ledger_applied = {rev for rev, record in live.ledger.items() if record.applied}
        applied |= graph.ancestors(rev for rev in ledger_applied if build.knows(rev))
        newer |= {rev for rev in ledger_applied if not build.knows(rev)}
    missing = tuple(sorted(build.expand - applied, key=build.order.__getitem__))
    newer_expand: list[str] = []
    newer_contract: list[str] = []
    unrecorded: list[str] = []
    for revision in sorted(newer):
        record = live.ledger.get(revision)
        phase = record.phase if record is not None else None
        if phase == "expand":
            newer_expand.append(revision)
        elif phase == "contract":
            newer_contract.append(revision)
        else:
            unrecorded.append(revision)
    pending_contract = tuple(rev for rev in build.contract if rev not in applied)
    return SchemaWindow(
        compatible=bool(live.current) and not missing and not newer_contract and not unrecorded,
        current=tuple(live.current),
        oldest=build.oldest,
        newest=build.heads,
        missing_expand=missing,
        newer_contract=tuple(newer_contract),
        newer_unrecorded=tuple(unrecorded),
        newer_expand=tuple(newer_expand),
        pending_contract=pending_contract,
    )
