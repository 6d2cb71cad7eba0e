"""Apply, revert or stamp revisions under the migration lock, with timeouts and the ledger.

Each revision runs in its own transaction (Alembic's ``transaction_per_migration``); its
``alembic_version`` update and its ledger ``success`` commit together, so a failure or a kill
leaves the database at the last good revision and the ledger saying which step did not finish.
A lock wait that times out is retried with backoff and names the blocking session.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from psycopg import errors as pg_errors
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from agent_db.commands.positions import check_known
from agent_db.commands.progress import Reporter, SilentReporter
from agent_db.database import ledger
from agent_db.database.blockers import BlockerWatch
from agent_db.database.catalog import current_revisions
from agent_db.database.lock import acquire, unlock
from agent_db.database.pg_errors import is_connection_lost
from agent_db.database.target import Target
from agent_db.errors import ConfigError, DatabaseUnavailable, MigrationFailed, SafetyRefusal
from agent_db.inputs import check_reason, shown
from agent_db.revisions.graph import Revision, RevisionGraph, default_graph, file_checksum

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

Direction = Literal["upgrade", "downgrade", "stamp"]


@dataclass
class RunResult:
    environment: str
    direction: Direction
    before: tuple[str, ...]
    after: tuple[str, ...]
    applied: list[str] = field(default_factory=list)
    run_id: str | None = None

    @property
    def nothing_to_do(self) -> bool:
        return not self.applied and self.direction != "stamp"

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "direction": self.direction,
            "before": list(self.before),
            "after": list(self.after),
            "applied": self.applied,
            "run_id": self.run_id,
        }


def require_override(target: Target, action: str, allow_protected: bool, reason: str | None) -> None:
    """Protected environments refuse downgrade and stamp without an explicit, reasoned override."""
    if not target.settings.protected:
        return
    if not allow_protected:
        raise SafetyRefusal(
            f"{action} on {target.name} refused: {target.name} is a protected environment. If it "
            f'is really needed, run again with --allow-protected --reason "why"; the reason '
            "is recorded in the ledger"
        )
    if not reason or len(reason.strip()) < 10:
        raise SafetyRefusal(
            f"{action} on {target.name} refused: --allow-protected needs --reason with a real "
            "explanation (at least 10 characters); it is recorded in the ledger"
        )


@dataclass
class _Session:
    """The connections of one run: the lock/ledger connection and the migration connection."""

    target: Target
    lock: Connection
    migration: Connection
    graph: RevisionGraph
    reporter: Reporter
    run_id: uuid.UUID
    reason: str | None
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

        self._script = scripts_for(alembic_config(self.target.name), self.graph, revisions)

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

    def run_alembic(self, direction: Direction, destination: str, on_apply: Callable[..., None]) -> None:
        from alembic.runtime.environment import EnvironmentContext

        from agent_db.revisions.alembic_config import alembic_config

        script = self.script

        def steps(rev: Any, context: Any) -> Any:
            if direction == "upgrade":
                return script._upgrade_revs(destination, rev)
            if direction == "downgrade":
                return script._downgrade_revs(destination, rev)
            return script._stamp_revs(destination, rev)

        config = alembic_config(self.target.name, connection=self.migration, on_version_apply=on_apply)
        with EnvironmentContext(
            config,
            script,
            fn=steps,
            as_sql=False,
            starting_rev=None,
            destination_rev=destination,
            tag=None,
        ):
            script.run_env()


@contextmanager
def _open_session(
    target: Target, graph: RevisionGraph, reporter: Reporter, reason: str | None
) -> Iterator[_Session]:
    purpose = f"agent-db-migrate:{target.name}"
    with _connection_loss_is_one_message(target), target.connect(purpose=purpose, autocommit=True) as lock:
        acquire(lock, wait_seconds=target.settings.lock_wait_seconds, on_wait=reporter.waiting_for_lock)
        try:
            ledger.ensure_ledger(lock)
            ledger.close_abandoned_steps(lock)
            with target.connect(purpose=f"{purpose}:step") as migration:
                yield _Session(target, lock, migration, graph, reporter, uuid.uuid4(), reason)
        finally:
            # When the session is gone, so is the lock; a broken connection may also refuse
            # with "rollback first" (not a DBAPIError).
            with suppress(SQLAlchemyError):
                unlock(lock)


@contextmanager
def _connection_loss_is_one_message(target: Target) -> Iterator[None]:
    """The server going away between steps (restart, crash, terminated session) is one clear
    message and exit 1, not a traceback."""
    try:
        yield
    except DBAPIError as error:
        if not is_connection_lost(error):
            raise
        raise DatabaseUnavailable(
            f"lost the connection to PostgreSQL ({target.location}) during the run on "
            f"{target.name}: {_describe_failure(error)}. Every step that finished was committed; "
            "run the command again once the server is back"
        ) from None


def _describe_failure(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    message = str(original).strip()
    return message.splitlines()[0] if message else type(original).__name__


def _hint(error: BaseException) -> str:
    """What to do next, by the kind of failure."""
    if _is_lock_timeout(error):
        return " after retries; find and end the blocking session, or run again later"
    if str(getattr(getattr(error, "orig", None), "sqlstate", "") or "").startswith("53"):
        # Insufficient resources: disk full (53100), out of memory (53200), temp_file_limit
        # (53400). The revision may be fine; the server is not.
        return (
            "; the server ran out of a resource (disk space, memory or a limit such as "
            "temp_file_limit): free it or raise the limit, then run again"
        )
    return "; fix the revision and run again"


def _is_lock_timeout(error: BaseException) -> bool:
    return isinstance(getattr(error, "orig", None), pg_errors.LockNotAvailable)


def _run_steps(session: _Session, direction: Direction, revisions: list[str]) -> list[str]:
    _target, graph, reporter = session.target, session.graph, session.reporter
    reporter.run_started(direction, [graph[r] for r in revisions])
    session.load_scripts(revisions)
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
        _run_one(session, direction, revision, destination, index, len(revisions))
        done.append(revision_id)
    reporter.run_finished()
    return done


def _run_one(
    session: _Session,
    direction: Direction,
    revision: Revision,
    destination: str,
    index: int,
    total: int,
) -> None:
    target, reporter = session.target, session.reporter
    attempts = 1 + (target.settings.lock_retries if direction != "stamp" else 0)
    for attempt in range(1, attempts + 1):
        lock_timeout, _ = session.set_timeouts(revision)
        reporter.step_started(revision, index, total, attempt)
        row_id = ledger.start_step(
            session.lock,
            run_id=session.run_id,
            revision=revision.id,
            direction=direction,
            checksum=_checksum_of_file_run(revision),
            environment=target.name,
            reason=session.reason,
            attempt=attempt,
        )

        def mark_success(*, ctx: Any, row_id: int = row_id, **_: Any) -> None:
            ledger.finish_step(ctx.connection, row_id, "success")

        pid = session.migration.execute(text("SELECT pg_backend_pid()")).scalar_one()
        session.migration.commit()
        started = time.monotonic()
        try:
            with BlockerWatch(session.lock, pid) as watch:
                session.run_alembic(direction, destination, mark_success)
        except Exception as error:
            where = f"revision {revision.id} ({revision.path.name})"
            if is_connection_lost(error):
                lost = _lost_during_step(session, where, error)
                _record_failure(session, row_id, str(lost))  # when only the step's session died
                raise lost from None
            if session.migration.in_transaction():
                session.migration.rollback()
            if _is_lock_timeout(error):
                message = (
                    f"{where} could not take a lock within lock_timeout={lock_timeout}: "
                    f"blocked by {watch.describe()}. Nothing of this revision was applied"
                )
            else:
                message = f"{where} failed: {_describe_failure(error)}"
            _record_failure(session, row_id, message)
            if _is_lock_timeout(error) and attempt < attempts:
                delay = target.settings.retry_backoff_seconds * 2 ** (attempt - 1)
                reporter.step_retrying(revision, f"{message}; attempt {attempt + 1} of {attempts}", delay)
                time.sleep(delay)
                continue
            now = current_revisions(session.lock)
            position = ", ".join(now) or "base"
            raise MigrationFailed(f"{message}. {target.name} stays at {position}{_hint(error)}") from None
        reporter.step_finished(revision, time.monotonic() - started)
        return


def _lost_during_step(session: _Session, where: str, error: BaseException) -> MigrationFailed:
    """The server went away while a step ran (restart, crash, terminated session).

    PostgreSQL rolls back the step's open transaction when its session ends, so nothing of the
    revision stays applied beyond what an autocommit block (a concurrent index build) had
    finished; its ledger row stays ``running`` and the next run closes it as failed. The lock
    connection is gone too, so the position cannot be read now: the message says where to look.
    """
    with suppress(SQLAlchemyError):
        session.migration.invalidate()
    target = session.target
    return MigrationFailed(
        f"{where} was interrupted: the connection to PostgreSQL ({target.location}) was lost "
        f"({_describe_failure(error)}), because the server restarted, stopped or ended the "
        "session. PostgreSQL rolled back the revision's transaction, so the revision is not "
        f"applied; run the command again once the server is back (it closes this step's ledger "
        f"row as failed and applies the revision from the start). "
        f"'uv run invoke db.current --env {target.name}' shows where {target.name} stands"
    )


def _checksum_of_file_run(revision: Revision) -> str | None:
    """The ledger records the checksum of the bytes about to run, read now, not a cached one."""
    if revision is _BASE:
        return None
    return file_checksum(revision.path.read_bytes())


def _record_failure(session: _Session, row_id: int, message: str) -> None:
    # If the database went away, the row stays 'running' and the next run closes it.
    with suppress(SQLAlchemyError):
        ledger.finish_step(session.lock, row_id, "failed", message)


Gate = Callable[[Connection, tuple[str, ...], list[str]], None]


def upgrade(
    target: Target,
    to: str = "head",
    *,
    reporter: Reporter | None = None,
    graph: RevisionGraph | None = None,
    gate: Gate | None = None,
) -> RunResult:
    """Upgrade ``target`` to ``to`` (default: head).

    ``gate`` runs under the lock with the live position and the pending revisions, before
    anything is applied; it refuses by raising (promotion checks its rules there).
    """
    graph = graph or default_graph()
    destination = graph.resolve(to)
    reporter = reporter or SilentReporter()
    with _open_session(target, graph, reporter, None) as session:
        before = current_revisions(session.lock)
        check_known(graph, before, target.name)
        pending = graph.upgrade_path(before, destination)
        if gate is not None:
            gate(session.lock, before, pending)
        if destination is not None and destination in graph.ancestors(before) and destination not in before:
            raise ConfigError(
                f"{target.name} is already past {destination}; to go back use "
                f"'uv run invoke db.downgrade --env {target.name} --to {destination}'"
            )
        applied = _run_steps(session, "upgrade", pending) if pending else []
        after = current_revisions(session.lock)
        return RunResult(target.name, "upgrade", before, after, applied, str(session.run_id))


def downgrade(
    target: Target,
    to: str,
    *,
    allow_protected: bool = False,
    reason: str | None = None,
    reporter: Reporter | None = None,
    graph: RevisionGraph | None = None,
) -> RunResult:
    """Revert ``target`` down to ``to`` (an id, ``base``, or relative like ``-1``)."""
    reason = check_reason(reason)
    require_override(target, "downgrade", allow_protected, reason)
    graph = graph or default_graph()
    relative = _relative_steps(to)
    destination = None if relative is not None else graph.resolve(to)
    reporter = reporter or SilentReporter()
    with _open_session(target, graph, reporter, reason) as session:
        before = current_revisions(session.lock)
        check_known(graph, before, target.name)
        if relative is not None:
            destination = graph.relative(before, relative)
        if destination is not None and destination not in graph.ancestors(before):
            raise ConfigError(
                f"{target.name} is at {', '.join(before) or 'base'}, which is not above "
                f"{destination}; nothing to downgrade (to go forward use db.upgrade)"
            )
        pending = graph.downgrade_path(before, destination)
        applied = _run_steps(session, "downgrade", pending) if pending else []
        after = current_revisions(session.lock)
        return RunResult(target.name, "downgrade", before, after, applied, str(session.run_id))


def stamp(
    target: Target,
    to: str,
    *,
    allow_protected: bool = False,
    reason: str | None = None,
    reporter: Reporter | None = None,
    graph: RevisionGraph | None = None,
) -> RunResult:
    """Set ``alembic_version`` to ``to`` without running anything (recorded in the ledger)."""
    reason = check_reason(reason)
    require_override(target, "stamp", allow_protected, reason)
    graph = graph or default_graph()
    destination = graph.resolve(to)
    reporter = reporter or SilentReporter()
    with _open_session(target, graph, reporter, reason) as session:
        before = current_revisions(session.lock)
        label = destination or "base"
        revision = graph[destination] if destination else _BASE
        _run_one(session, "stamp", revision, label, 1, 1)
        after = current_revisions(session.lock)
        return RunResult(target.name, "stamp", before, after, [label], str(session.run_id))


_BASE = Revision(id="base", down_revisions=(), file="base", checksum="")


_RELATIVE = re.compile(r"-([0-9]+)")
MAX_RELATIVE_STEPS = 100_000


def _relative_steps(reference: str) -> int | None:
    """``-N`` as a number of steps down. ASCII digits only (``str.isdigit`` also accepts '²',
    which ``int`` refuses), and bounded (``int`` refuses more than 4,300 digits)."""
    match = _RELATIVE.fullmatch(reference.strip())
    if match is None:
        return None
    digits = match.group(1)
    if len(digits) > 6 or not 0 < int(digits) <= MAX_RELATIVE_STEPS:
        raise ConfigError(
            f"a relative downgrade needs a number of steps between 1 and {MAX_RELATIVE_STEPS}, "
            f"such as -1 (got {shown(reference)})"
        )
    return -int(digits)
