"""The release phases of a run (``--phase expand|contract|all``) and the contract gate.

``expand`` applies the pending revisions up to, not including, the first pending contract
revision: what the running release keeps working on, run before the new build rolls out. On an
empty database (nothing to protect, a new environment) every revision is the expand phase's, so
the new build's window is reached before it rolls out.
``contract`` runs after the rollout: it starts at a contract revision (an expand revision still
pending in front of it means the expand phase has not run: refused) and goes on to the
destination. ``all`` (the default) is both in one run.

The gate: right before each contract revision runs (under the migration lock, read fresh from
the census, :mod:`agent_db.database.consumers`), every live consumer's build must know the
revision; a build that does not know it still reads what the revision removes. Otherwise the run
stops there, with the expand revisions before it applied, and exits 3 naming each blocking
consumer. ``--allow-live-consumers --reason`` runs it anyway, recorded in the ledger's reason
of that step (and needs ``--allow-protected`` as well on a protected environment).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection

from agent_db.commands.guards import is_real_reason, require_override
from agent_db.database.consumers import MISSED_HEARTBEATS, LiveConsumer, blocking_consumers
from agent_db.database.target import Target
from agent_db.errors import ConfigError, SafetyRefusal
from agent_db.inputs import check_reason, shown
from agent_db.revisions.graph import RevisionGraph
from agent_db.revisions.phases import phase_of

PhaseSelection = Literal["expand", "contract", "all"]
PHASE_SELECTIONS: tuple[PhaseSelection, ...] = ("expand", "contract", "all")


def check_phase_selection(value: str) -> PhaseSelection:
    """``--phase`` as given on the command line; exit 2 for anything else."""
    for phase in PHASE_SELECTIONS:
        if value == phase:
            return phase
    raise ConfigError(
        f"--phase {shown(value)} is not a phase; use expand (before rolling out the new build), "
        "contract (after it), or all (both, the default)"
    )


@dataclass(frozen=True)
class ConsumerOverride:
    """``--allow-live-consumers --reason``: run contract revisions although live consumers'
    builds do not know them."""

    reason: str

    @classmethod
    def checked(
        cls, target: Target, allow: bool, reason: str | None, allow_protected: bool
    ) -> ConsumerOverride | None:
        """The override, when asked for and allowed (before anything connects)."""
        if not allow:
            if reason or allow_protected:
                raise ConfigError(
                    "--reason and --allow-protected go with --allow-live-consumers here; add it, "
                    "or leave them out"
                )
            return None
        reason = check_reason(reason)
        if not is_real_reason(reason):
            raise SafetyRefusal(
                "--allow-live-consumers needs --reason with a real explanation (at least 20 "
                'characters and 3 words, such as "INC-42: old workers are drained, rows are stale"); '
                "it is recorded in the ledger"
            )
        require_override(target, "running contract revisions past live consumers", allow_protected, reason)
        assert reason is not None
        return cls(reason)


@dataclass(frozen=True)
class PhasePlan:
    """Which pending revisions this run's phase selects, and what it leaves for later."""

    phase: PhaseSelection
    selected: list[str]
    held_back: list[str] = field(default_factory=list)

    @property
    def stopped_before(self) -> str | None:
        return self.held_back[0] if self.held_back else None


def settled_contracts(
    connection: Connection, graph: RevisionGraph, before: tuple[str, ...], pending: list[str]
) -> set[str]:
    """The pending contract revisions the expand phase may run: all of them on an empty database
    (nothing there for a running release to read), none otherwise. Which release a contract
    revision belongs to is not recorded, and a consumer that knows it may be the new build
    started early, so the census cannot settle it."""
    if before:
        return set()
    return {rev for rev in pending if phase_of(graph[rev]) == "contract"}


def select_phase(
    graph: RevisionGraph,
    pending: list[str],
    phase: PhaseSelection,
    environment: str,
    settled: set[str] | frozenset[str] = frozenset(),
    protected: bool = False,
) -> PhasePlan:
    """The revisions of ``pending`` (in order) that ``phase`` runs; the expand phase runs through
    the ``settled`` contract revisions (:func:`settled_contracts`)."""
    contracts = [index for index, rev in enumerate(pending) if phase_of(graph[rev]) == "contract"]
    if phase == "all" or not pending:
        return PhasePlan(phase, list(pending))
    if phase == "expand":
        held = [index for index in contracts if pending[index] not in settled]
        cut = held[0] if held else len(pending)
        return PhasePlan(phase, pending[:cut], pending[cut:])
    if contracts and contracts[0] == 0:
        return PhasePlan(phase, list(pending))
    waiting = pending[: contracts[0]] if contracts else pending
    raise SafetyRefusal(
        f"--phase contract on {environment} refused, nothing changed: expand revision(s) "
        f"{', '.join(waiting)} are pending"
        + (f" before contract revision {pending[contracts[0]]}" if contracts else " and no contract revision")
        + f": the expand phase has not run. Run {expand_command(environment, protected)}, roll out "
        "the build, then the same with --phase contract"
    )


def expand_command(environment: str, protected: bool) -> str:
    """The command that runs ``environment``'s expand phase: a protected environment takes
    revisions only by promotion (db.upgrade is refused there)."""
    if protected:
        return f"'uv run invoke db.promote --to {environment} --phase expand'"
    return f"'uv run invoke db.upgrade --env {environment} --phase expand' (or db.promote --phase expand)"


class ContractBlocked(SafetyRefusal):
    """A contract revision refused because live consumers' builds do not know it; what ran
    before it stays applied."""

    def __init__(
        self,
        environment: str,
        revision: str,
        file: str,
        blocking: list[LiveConsumer],
        applied: list[str],
        position: tuple[str, ...],
    ) -> None:
        self.environment = environment
        self.revision = revision
        self.blocking = blocking
        self.applied = applied
        self.position = position
        consumers = "; ".join(consumer.describe() for consumer in blocking)
        before = (
            f"the expand revision(s) before it were applied ({', '.join(applied)})"
            if applied
            else "nothing was applied in this run"
        )
        super().__init__(
            f"contract revision {revision} ({file}) not run on {environment}: {len(blocking)} live "
            f"consumer(s) run a build that does not know it and may still read what it removes: "
            f"{consumers}. {before}; {environment} stays at {', '.join(position) or 'base'}. Finish "
            f"the rollout of the build that ships {revision} and stop the old processes (a stopped "
            f"process leaves the census at once, a killed one after {MISSED_HEARTBEATS} missed "
            f"heartbeats; see 'uv run invoke db.consumers --env {environment}'), then run the same "
            'command again. To run it anyway: --allow-live-consumers --reason "why" (recorded in '
            "the ledger)"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "refused": "contract_gate",
            "revision": self.revision,
            "blocking_consumers": [consumer.as_json() for consumer in self.blocking],
            "applied": self.applied,
            "after": list(self.position),
            "message": str(self),
        }


def overridden_reason(override: ConsumerOverride, blocking: list[LiveConsumer]) -> str:
    """What the ledger records for a contract step run past live consumers."""
    named = "; ".join(consumer.describe() for consumer in blocking)
    return f"--allow-live-consumers ({len(blocking)} live consumer(s) past: {named}): {override.reason}"


def gate_contract(
    connection: Connection,
    graph: RevisionGraph,
    revision: str,
    environment: str,
    override: ConsumerOverride | None,
    applied: list[str],
    position: tuple[str, ...],
) -> str | None:
    """Check one revision about to run: ``None`` to run it as usual, the reason to record when
    the override lets it past live consumers; raises :class:`ContractBlocked` otherwise."""
    if phase_of(graph[revision]) != "contract":
        return None
    blocking = blocking_consumers(connection, revision)
    if not blocking:
        return None
    if override is None:
        raise ContractBlocked(environment, revision, graph[revision].path.name, blocking, applied, position)
    return overridden_reason(override, blocking)
