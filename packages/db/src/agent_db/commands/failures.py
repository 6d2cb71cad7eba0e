"""What a failed or interrupted step tells the person: what happened, where things stand, and
what to do next, in one message (never a wall of chained tracebacks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError, PendingRollbackError

from agent_db.database.pg_errors import is_connection_lost, is_lock_timeout, is_out_of_resources
from agent_db.errors import DatabaseUnavailable, MigrationFailed

if TYPE_CHECKING:
    from agent_db.database.target import Target


def describe_failure(error: BaseException) -> str:
    """The first line of what the server (or driver) said. SQLAlchemy's "rollback first"
    (raised while an autocommit block cleans up after the lost connection) hides the error
    that ended the session: that one is told."""
    for _ in range(8):
        earlier = error.__cause__ or error.__context__
        if not isinstance(error, PendingRollbackError) or earlier is None:
            break
        error = earlier
    original = getattr(error, "orig", None) or error
    message = str(original).strip()
    return message.splitlines()[0] if message else type(original).__name__


def next_step_hint(error: BaseException) -> str:
    """What to do next, by the kind of failure."""
    if is_lock_timeout(error):
        return " after retries; find and end the blocking session, or run again later"
    if is_out_of_resources(error):
        # The revision may be fine; the server is not.
        return (
            "; the server ran out of a resource (disk space, memory or a limit such as "
            "temp_file_limit): free it or raise the limit, then run again"
        )
    return "; fix the revision and run again"


def lost_during_step(target: Target, where: str, error: BaseException) -> MigrationFailed:
    """The server went away while a step ran (restart, crash, terminated session).

    PostgreSQL rolls back the step's open transaction when its session ends, so nothing of the
    revision stays applied beyond what an autocommit block (a concurrent index build) had
    finished; its ledger row stays ``running`` and the next run closes it as failed. The lock
    connection is gone too, so the position cannot be read now: the message says where to look.
    """
    return MigrationFailed(
        f"{where} was interrupted: the connection to PostgreSQL ({target.location}) was lost "
        f"({describe_failure(error)}), because the server restarted, stopped or ended the "
        "session. PostgreSQL rolled back the revision's transaction, so the revision is not "
        f"applied; run the command again once the server is back (it closes this step's ledger "
        f"row as failed and applies the revision from the start). "
        f"'uv run invoke db.current --env {target.name}' shows where {target.name} stands"
    )


@contextmanager
def connection_loss_is_one_message(target: Target) -> Iterator[None]:
    """The server going away between steps (restart, crash, terminated session) is one clear
    message and exit 1, not a traceback."""
    try:
        yield
    except DBAPIError as error:
        if not is_connection_lost(error):
            raise
        raise DatabaseUnavailable(
            f"lost the connection to PostgreSQL ({target.location}) during the run on "
            f"{target.name}: {describe_failure(error)}. Every step that finished was committed; "
            "run the command again once the server is back"
        ) from None


def resume_command(target: Target, direction: str) -> str:
    """The command that resumes a partly applied step on ``target``."""
    if direction == "downgrade":
        return f"the same 'uv run invoke db.downgrade --env {target.name} --to ...' again"
    if target.settings.protected:
        return f"'uv run invoke db.promote --to {target.name}'"
    return f"'uv run invoke db.upgrade --env {target.name}'"


def partly_applied(where: str, committed: str, cause: str, resume: str) -> str:
    """A step that had left its transaction (an autocommit block) and stopped: never "nothing
    was applied", but what committed and the command that resumes it."""
    return (
        f"{where} stopped after it left its transaction (an autocommit block): {cause}. "
        f"Committed and kept: {committed}, and the work the block finished (each batch of a "
        "backfill, a finished index build); the revision is partly applied (ledger outcome "
        f"'partial') and {resume} resumes it from there"
    )


def lost_after_commit(target: Target, where: str, error: BaseException, committed: str, resume: str) -> str:
    """The server went away while a step that had left its transaction ran."""
    cause = (
        f"the connection to PostgreSQL ({target.location}) was lost ({describe_failure(error)}), "
        "because the server restarted, stopped or ended the session"
    )
    return (
        f"{partly_applied(where, committed, cause, resume)} once the server is back. "
        f"'uv run invoke db.current --env {target.name}' shows where {target.name} stands"
    )
