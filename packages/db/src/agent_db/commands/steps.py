"""Running revisions one step at a time: a ledger row per attempt, lock timeouts retried with
backoff, the blocker named, and every failure recorded and told once."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from agent_db.commands.failures import (
    describe_failure,
    lost_after_commit,
    lost_during_step,
    next_step_hint,
    partly_applied,
    resume_command,
)
from agent_db.database import ledger, ledger_partial
from agent_db.database.blockers import BlockerWatch
from agent_db.database.catalog import current_revisions
from agent_db.database.pg_errors import is_connection_lost, is_lock_timeout
from agent_db.errors import ConfigError, MigrationFailed
from agent_db.revisions.import_blame import import_failure
from agent_db.revisions.phases import graph_phases, phase_of
from agent_db.revisions.revision_file import Revision, file_checksum

if TYPE_CHECKING:
    from alembic.operations.ops import MigrateOperation

    from agent_db.commands.run_session import MigrationRun

# What a stamp to base runs as: no file, no checksum.
BASE = Revision(id="base", down_revisions=(), file="base", checksum="")


# Called before each step with the revision and those done so far: raises to stop the run there
# (the contract gate), or returns the reason to record for that step (None: the run's own).
BeforeStep = Callable[[str, list[str]], str | None]


def run_steps(
    run: MigrationRun,
    direction: ledger.Direction,
    revisions: list[str],
    before_step: BeforeStep | None = None,
) -> list[str]:
    """Apply (or revert) ``revisions`` in order; returns those done."""
    graph, reporter = run.graph, run.reporter
    graph_phases(graph)  # a phase map that does not fit the history stops the run before anything
    reporter.run_started(direction, [graph[r] for r in revisions])
    run.telemetry.run_planned(direction, revisions)
    run.load_scripts(revisions)
    done: list[str] = []
    for index, revision_id in enumerate(revisions, start=1):
        revision = graph[revision_id]
        destination = revision_id
        if direction == "downgrade":
            if revision.is_merge:
                raise ConfigError(
                    f"{revision_id} merges {', '.join(revision.down_revisions)}; downgrading "
                    "across a merge is not automated: name a target on one branch"
                )
            destination = revision.down_revisions[0] if revision.down_revisions else "base"
        run_reason = run.reason
        step_reason = before_step(revision_id, done) if before_step is not None else None
        run.reason = step_reason or run_reason
        try:
            run_one(run, direction, revision, destination, index, len(revisions))
        finally:
            run.reason = run_reason
        done.append(revision_id)
    reporter.run_finished()
    return done


def run_one(
    run: MigrationRun,
    direction: ledger.Direction,
    revision: Revision,
    destination: str,
    index: int,
    total: int,
) -> None:
    """One revision's step, retried while its locks time out (not for stamps)."""
    target, reporter, telemetry = run.target, run.reporter, run.telemetry
    attempts = 1 + (target.settings.lock_retries if direction != "stamp" else 0)
    for attempt in range(1, attempts + 1):
        lock_timeout, _ = run.set_timeouts(revision)
        # A step of this revision that left its transaction and stopped: this one resumes it.
        earlier = ledger_partial.interrupted_commit(run.lock, revision.id, direction)
        resuming = earlier is not None
        reporter.step_started(revision, index, total, attempt)
        row_id = ledger.start_step(
            run.lock,
            run_id=run.run_id,
            revision=revision.id,
            direction=direction,
            checksum=_checksum_of_file_run(revision),
            environment=target.name,
            reason=run.reason,
            attempt=attempt,
            phase=None if revision is BASE else phase_of(revision),
        )
        telemetry.step_attempt(revision, direction, index, total, attempt, row_id)

        def mark_success(*, ctx: Any, row_id: int = row_id, **_: Any) -> None:
            ledger.finish_step(ctx.connection, row_id, "success")

        pid = run.migration.execute(text("SELECT pg_backend_pid()")).scalar_one()
        run.migration.commit()
        started = time.monotonic()
        committed = _Committed(run, row_id, earlier)
        try:
            with BlockerWatch(run.lock, pid) as watch:
                # A downgrade reverts this revision only, whatever other heads the database has.
                start = [revision.id] if direction == "downgrade" else None
                run.run_alembic(direction, destination, mark_success, start, committed.leave, resuming)
        except Exception as error:
            where = f"revision {revision.id} ({revision.path.name})"
            outcome: ledger.Outcome = "failed" if committed.what is None else "partial"
            resume = resume_command(target, direction)
            if is_connection_lost(error):
                with suppress(SQLAlchemyError):
                    run.migration.invalidate()
                lost = (
                    lost_during_step(target, where, error)
                    if committed.what is None
                    else MigrationFailed(lost_after_commit(target, where, error, committed.what, resume))
                )
                _record_failure(run, row_id, str(lost), outcome)  # when only the step's session died
                telemetry.step_finished(revision, outcome, time.monotonic() - started, error=str(lost))
                raise lost from None
            if run.migration.in_transaction():
                run.migration.rollback()
            failure = import_failure(error)  # a model, or the file itself, that does not import
            blocker = watch.describe() if is_lock_timeout(error) else None
            if blocker is not None:
                cause = f"could not take a lock within lock_timeout={lock_timeout}: blocked by {blocker}"
                message = f"{where} {cause}. Nothing of this revision was applied"
            elif failure is not None:
                cause = failure.describe()
                message = f"{where} did not run, nothing of it was applied: {cause}"
            else:
                cause = describe_failure(error)
                message = f"{where} failed: {cause}"
            if committed.what is not None:
                message = partly_applied(where, committed.what, cause, resume)
            _record_failure(run, row_id, message, outcome)
            if blocker is not None and attempt < attempts:
                delay = target.settings.retry_backoff_seconds * 2 ** (attempt - 1)
                reporter.step_retrying(revision, f"{message}; attempt {attempt + 1} of {attempts}", delay)
                telemetry.step_retrying(revision, message, blocker, delay)
                time.sleep(delay)
                continue
            telemetry.step_finished(
                revision, outcome, time.monotonic() - started, error=message, blocker=blocker
            )
            position = ", ".join(current_revisions(run.lock)) or "base"
            if committed.what is not None:
                position += f", with {revision.id} partly applied"
            raise MigrationFailed(
                f"{message}. {target.name} stays at {position}" + ("" if failure else next_step_hint(error))
            ) from None
        seconds = time.monotonic() - started
        reporter.step_finished(revision, seconds)
        telemetry.step_finished(revision, "success", seconds)
        return


def _checksum_of_file_run(revision: Revision) -> str | None:
    """The ledger records the checksum of the bytes about to run, read now, not a cached one."""
    if revision is BASE:
        return None
    return file_checksum(revision.path.read_bytes())


def _record_failure(run: MigrationRun, row_id: int, message: str, outcome: ledger.Outcome) -> None:
    # If the database went away, the row stays 'running' and the next run closes it.
    with suppress(SQLAlchemyError):
        ledger.finish_step(run.lock, row_id, outcome, message)


class _Committed:
    """What the step committed when it left its transaction (None: it has not), recorded on its
    ledger row before the commit, so that a runner killed after it leaves a ``partial`` trace."""

    def __init__(self, run: MigrationRun, row_id: int, earlier: str | None) -> None:
        self.run, self.row_id = run, row_id
        self.earlier = earlier  # what an interrupted step of the revision committed (resuming)
        self.what: str | None = None

    def leave(self, operations: list[MigrateOperation]) -> None:
        from agent_db.revisions.resume import describe

        self.what = describe(operations)
        if self.earlier is not None:
            self.what = self.earlier + (f"; then {self.what}" if operations else "")
        ledger_partial.mark_committed(self.run.lock, self.row_id, self.what)
