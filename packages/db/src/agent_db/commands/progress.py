"""How a run tells the person (or CI log) what it is doing, kept apart from the runner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from agent_db.database.lock import LockHolder
    from agent_db.revisions.graph import Revision


class Reporter(Protocol):
    def waiting_for_lock(self, holder: LockHolder | None, remaining_seconds: float) -> None: ...

    def run_started(self, direction: str, revisions: list[Revision]) -> None: ...

    def step_started(self, revision: Revision, index: int, total: int, attempt: int) -> None: ...

    def step_finished(self, revision: Revision, seconds: float) -> None: ...

    def step_retrying(self, revision: Revision, message: str, delay: float) -> None: ...

    def run_finished(self) -> None: ...


class SilentReporter:
    """Says nothing: for tests and for callers that render the result themselves."""

    def waiting_for_lock(self, holder: LockHolder | None, remaining_seconds: float) -> None:
        return None

    def run_started(self, direction: str, revisions: list[Revision]) -> None:
        return None

    def step_started(self, revision: Revision, index: int, total: int, attempt: int) -> None:
        return None

    def step_finished(self, revision: Revision, seconds: float) -> None:
        return None

    def step_retrying(self, revision: Revision, message: str, delay: float) -> None:
        return None

    def run_finished(self) -> None:
        return None
