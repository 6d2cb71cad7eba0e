"""What a PostgreSQL error means for the caller: the server is gone, or a statement failed, and how.

One classification for the toolkit (which turns a lost server into one message and exit 1) and
the API (which answers 409, 422 or 503 instead of 500). The codes are PostgreSQL's SQLSTATEs
(Appendix A of its manual); both drivers (psycopg, asyncpg) carry them on the original error.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError

# SQLSTATEs that mean "this session cannot go on", not "this statement failed": too many
# connections (53300), and the classes of the connection exceptions (08) and of the operator's
# intervention on the server (57P: shutdown by the administrator, crash, "starting up", "cannot
# connect now", database dropped, idle session timeout). Whatever the driver's exception class:
# asyncpg's adapter reports 57P03 as a plain ``DBAPIError``.
SESSION_ENDING_STATES = frozenset({"53300", "25P03"})  # 25P03: idle-in-transaction timeout
SESSION_ENDING_PREFIXES = ("08", "57P")

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
LOCK_NOT_AVAILABLE = "55P03"
# The statement lost to another one or to a timeout, not to its input: serialization failure
# (40001), deadlock (40P01), lock_timeout (55P03), statement_timeout or cancel (57014).
CONTENTION_STATES = frozenset({"40001", "40P01", LOCK_NOT_AVAILABLE, "57014"})
# Undefined table, column, function, object: what a statement meets on a half-migrated schema.
SCHEMA_MISSING_STATES = frozenset({"42P01", "42703", "42883", "42704"})


class Failure(StrEnum):
    """The kinds of failure callers answer differently."""

    UNIQUE_VIOLATION = "unique_violation"
    FOREIGN_KEY_VIOLATION = "foreign_key_violation"
    INVALID_VALUE = "invalid_value"  # other integrity (23) and data exceptions (22): bad input
    CONTENTION = "contention"  # retrying the same statement may succeed
    SCHEMA_MISSING = "schema_missing"
    ACCESS_REFUSED = "access_refused"  # bad credentials (28) or no such database (3D000)
    CONNECTION_LOST = "connection_lost"
    OUT_OF_RESOURCES = "out_of_resources"
    OTHER = "other"


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE behind a driver or SQLAlchemy error, when the server sent one."""
    original = getattr(error, "orig", None) or error
    state = getattr(original, "sqlstate", None)
    return str(state) if state else None


def classify(error: BaseException) -> Failure:
    """What ``error`` means, from its SQLSTATE first, then from the state of the connection."""
    state = sqlstate(error) or ""
    if state == UNIQUE_VIOLATION:
        return Failure.UNIQUE_VIOLATION
    if state == FOREIGN_KEY_VIOLATION:
        return Failure.FOREIGN_KEY_VIOLATION
    if state[:2] in ("22", "23"):
        return Failure.INVALID_VALUE
    if state in CONTENTION_STATES:
        return Failure.CONTENTION
    if state in SCHEMA_MISSING_STATES:
        return Failure.SCHEMA_MISSING
    if state[:2] == "28" or state == "3D000":
        return Failure.ACCESS_REFUSED
    if is_connection_lost(error):
        return Failure.CONNECTION_LOST
    if state[:2] == "53":
        return Failure.OUT_OF_RESOURCES
    return Failure.OTHER


def is_connection_lost(error: BaseException) -> bool:
    """Whether ``error`` means the server is gone or refuses the session (restart, crash,
    connection limit, network), rather than a statement failing on a live connection.

    psycopg reports a connection that could not be made or broke mid-query without a SQLSTATE,
    asyncpg's own connection errors ("connection is closed", "connection was closed in the
    middle of operation") carry none either. SQLAlchemy's ``PendingRollbackError`` ("Can't
    reconnect until invalid transaction is rolled back") is what a connection that was lost
    inside a transaction raises on its next use: it hides the lost connection, so it counts as
    one (and so does any error raised while handling a lost connection).
    """
    if isinstance(error, PendingRollbackError):
        return "reconnect until invalid" in str(error) or _caused_by_lost_connection(error)
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    state = sqlstate(error)
    if state is not None and (state in SESSION_ENDING_STATES or state.startswith(SESSION_ENDING_PREFIXES)):
        return True
    if not isinstance(error, (OperationalError, InterfaceError)):
        return False
    return state is None


def _caused_by_lost_connection(error: BaseException) -> bool:
    seen: set[int] = set()
    current = error.__cause__ or error.__context__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if is_connection_lost(current):
            return True
        current = current.__cause__ or current.__context__
    return False


def is_unavailable(error: BaseException) -> bool:
    """Whether the API should answer 503 ``database_unavailable``: the server is gone, starting,
    refusing sessions, or out of a resource (class 53: disk, memory, connection slots)."""
    return is_connection_lost(error) or (sqlstate(error) or "").startswith("53")


def is_lock_timeout(error: BaseException) -> bool:
    """``lock_timeout`` expired (55P03 lock_not_available)."""
    return sqlstate(error) == LOCK_NOT_AVAILABLE


def is_out_of_resources(error: BaseException) -> bool:
    """Class 53, insufficient resources: disk full (53100), out of memory (53200), too many
    connections (53300), temp_file_limit or another configured limit (53400)."""
    return (sqlstate(error) or "").startswith("53")


def constraint_name(error: BaseException) -> str | None:
    """The constraint a PostgreSQL error names: asyncpg keeps it on the original exception (or
    its cause, under SQLAlchemy's adapter), psycopg on the diagnostics."""
    current: BaseException | None = getattr(error, "orig", None) or error
    while current is not None:
        name = getattr(current, "constraint_name", None) or getattr(
            getattr(current, "diag", None), "constraint_name", None
        )
        if name:
            return str(name)
        current = current.__cause__
    return None
