"""What a PostgreSQL error means for the caller: the server is gone, or a statement failed.

One classification for the toolkit (which turns a lost server into one message and exit 1) and
the API (which answers 503 instead of 500).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

# SQLSTATEs that mean "this session cannot go on", not "this statement failed": too many
# connections (53300), administrator/crash shutdown and "starting up" (57P01-57P03), and the
# whole connection-exception class (08).
SESSION_ENDING_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE behind a driver or SQLAlchemy error, when the server sent one."""
    original = getattr(error, "orig", None) or error
    state = getattr(original, "sqlstate", None)
    return str(state) if state else None


def is_connection_lost(error: BaseException) -> bool:
    """Whether ``error`` means the server is gone or refuses the session (restart, crash,
    connection limit, network), rather than a statement failing on a live connection.

    psycopg reports a connection that could not be made or broke mid-query without a SQLSTATE.
    """
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, (OperationalError, InterfaceError)):
        return False
    state = getattr(error.orig, "sqlstate", None)
    return state is None or state in SESSION_ENDING_STATES or str(state).startswith("08")


def is_lock_timeout(error: BaseException) -> bool:
    """``lock_timeout`` expired (55P03 lock_not_available)."""
    return sqlstate(error) == "55P03"


def is_out_of_resources(error: BaseException) -> bool:
    """Class 53, insufficient resources: disk full (53100), out of memory (53200), too many
    connections (53300), temp_file_limit or another configured limit (53400)."""
    return (sqlstate(error) or "").startswith("53")
