"""The connections of one migration run: the lock/ledger connection and the step connection.

The migration lock is a session-level advisory lock on a connection of its own (see
:mod:`agent_db.database.lock`); it also records the ledger, so ledger rows survive a step's
rollback. Each revision runs on the second connection, with the environment's (or the
revision's) timeouts set before it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from agent_db.commands.failures import connection_loss_is_one_message
from agent_db.commands.progress import Reporter
from agent_db.commands.telemetry import RunTelemetry, start_telemetry
from agent_db.database import ledger
from agent_db.database.catalog import current_revisions
from agent_db.database.consumers import ensure_consumers_table
from agent_db.database.lock import LockHolder, acquire, unlock
from agent_db.database.pooler import refuse_lock_through_pooler
from agent_db.database.target import Target
from agent_db.revisions.graph import Revision, RevisionGraph

if TYPE_CHECKING:
    from alembic.operations.ops import MigrateOperation
    from alembic.script import ScriptDirectory


@dataclass
class MigrationRun:
    """One run against one environment: its two connections, the graph, who hears about it."""

    target: Target
    lock: Connection
    migration: Connection
    graph: RevisionGraph
    reporter: Reporter
    run_id: uuid.UUID
    reason: str | None
    telemetry: RunTelemetry = field(default_factory=RunTelemetry)
    _script: ScriptDirectory | None = None

    # Alembic is imported only when a step runs: a no-op run stays fast.
    @property
    def script(self) -> ScriptDirectory:
        if self._script is None:
            from alembic.script import ScriptDirectory

            from agent_db.revisions.alembic_config import alembic_config

            self._script = ScriptDirectory.from_config(alembic_config(self.target.name))
        return self._script

    def load_scripts(self, revisions: list[str]) -> None:
        """Load only the revision modules this run touches (and their parents)."""
        from agent_db.revisions.alembic_bridge import scripts_for
        from agent_db.revisions.alembic_config import alembic_config

        live = current_revisions(self.lock)
        self._script = scripts_for(alembic_config(self.target.name), self.graph, revisions, live)

    def set_timeouts(self, revision: Revision) -> tuple[str, str]:
        """Session settings of the migration connection for this revision's step.

        ``client_connection_check_interval`` (PostgreSQL 14+) makes the server notice a runner
        that was killed mid-statement and roll its step back within a second, instead of
        letting the orphaned statement run to its end while holding its locks.
        """
        lock_timeout = revision.lock_timeout or self.target.settings.lock_timeout
        statement_timeout = revision.statement_timeout or self.target.settings.statement_timeout
        self.migration.execute(
            text(
                "SELECT set_config('lock_timeout', :l, false), "
                "set_config('statement_timeout', :s, false), "
                "CASE WHEN current_setting('server_version_num')::int >= 140000 "
                "THEN set_config('client_connection_check_interval', '1s', false) END"
            ),
            {"l": lock_timeout, "s": statement_timeout},
        )
        self.migration.commit()
        return lock_timeout, statement_timeout

    def run_alembic(
        self,
        direction: ledger.Direction,
        destination: str,
        on_apply: Callable[..., None],
        start: Sequence[str] | None = None,
        on_leave: Callable[[list[MigrateOperation]], None] | None = None,
        resuming: bool = False,
    ) -> None:
        """One step to ``destination``; ``start`` names where it starts when not all the live
        heads move (reverting one branch of two). ``on_leave`` hears when the revision leaves
        its transaction; ``resuming`` runs it as the resume of a partly applied step
        (:mod:`agent_db.revisions.resume`)."""
        from agent_db.revisions.alembic_bridge import run_environment, steps_to, watching_step
        from agent_db.revisions.alembic_config import alembic_config
        from agent_db.revisions.resume import skip_committed

        script = self.script
        config = alembic_config(self.target.name, connection=self.migration, on_version_apply=on_apply)
        with watching_step(on_leave or (lambda _: None), skip_committed if resuming else None):
            run_environment(
                config, script, steps_to(script, direction, destination, start=start), destination=destination
            )


@contextmanager
def open_run(
    target: Target, graph: RevisionGraph, reporter: Reporter, reason: str | None
) -> Iterator[MigrationRun]:
    """Connect, take the migration lock, make sure the ledger and the census exist and close the
    steps a dead runner left open; release the lock however the run ends."""
    purpose = f"agent-db-migrate:{target.name}"
    run_id = uuid.uuid4()
    telemetry = start_telemetry(target, run_id)

    def on_wait(holder: LockHolder | None, remaining_seconds: float) -> None:
        reporter.waiting_for_lock(holder, remaining_seconds)
        telemetry.lock_waiting(holder.describe() if holder else None, remaining_seconds)

    error: BaseException | None = None
    after: tuple[str, ...] | None = None
    try:
        with (
            connection_loss_is_one_message(target),
            target.connect(purpose=purpose, autocommit=True) as lock,
        ):
            probe = f"{purpose}:probe"
            refuse_lock_through_pooler(lock, lambda: target.connect(purpose=probe), target.settings)
            waiting = time.monotonic()
            acquire(lock, wait_seconds=target.settings.lock_wait_seconds, on_wait=on_wait)
            telemetry.lock_acquired(time.monotonic() - waiting)
            try:
                ledger.ensure_ledger(lock)
                ensure_consumers_table(lock)
                ledger.close_abandoned_steps(lock)
                if telemetry.wants_positions:
                    telemetry.positions_before(current_revisions(lock))
                with target.connect(purpose=f"{purpose}:step") as migration:
                    yield MigrationRun(target, lock, migration, graph, reporter, run_id, reason, telemetry)
                if telemetry.wants_positions:
                    with suppress(SQLAlchemyError):
                        after = current_revisions(lock)
            finally:
                # When the session is gone, so is the lock; a broken connection may also refuse
                # with "rollback first" (not a DBAPIError).
                with suppress(SQLAlchemyError):
                    unlock(lock)
    except BaseException as failure:
        error = failure
        raise
    finally:
        telemetry.run_finished(error, after)
