"""The hooks a migration run calls for its telemetry (:mod:`.telemetry` picks the exporter)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent_db.revisions.revision_file import Revision


class RunTelemetry:
    """The runner's hooks; this base does nothing (no endpoint configured)."""

    # Whether the runner should read the live position before and after (one query each).
    wants_positions = False

    def positions_before(self, before: tuple[str, ...]) -> None:
        return None

    def lock_waiting(self, holder: str | None, remaining_seconds: float) -> None:
        return None

    def lock_acquired(self, waited_seconds: float) -> None:
        return None

    def run_planned(self, direction: str, revisions: list[str]) -> None:
        return None

    def step_attempt(
        self, revision: Revision, direction: str, index: int, total: int, attempt: int, ledger_row: int
    ) -> None:
        return None

    def step_retrying(self, revision: Revision, message: str, blocker: str | None, delay: float) -> None:
        return None

    def step_finished(
        self,
        revision: Revision,
        outcome: str,
        seconds: float,
        *,
        error: str | None = None,
        blocker: str | None = None,
    ) -> None:
        return None

    def run_finished(self, error: BaseException | None, after: tuple[str, ...] | None = None) -> None:
        return None
