"""Engines and sessions. Nothing connects at import time: callers build what they need."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import NullPool

from agent_db.errors import ConfigError, DatabaseUnavailable
from agent_db.settings import DatabaseSettings
from agent_db.urls import describe_location, sync_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

CONNECT_TIMEOUT_SECONDS = 5


def resolve_url(settings: DatabaseSettings, *, start_embedded: bool = True) -> URL:
    """The environment's URL (toolkit driver); dev falls back to the embedded PostgreSQL.

    With ``start_embedded=False`` (status, history) the embedded server is only joined when it
    already runs; otherwise the error says how to start it.
    """
    url = settings.configured_url()
    if url is None:
        if not settings.embedded_fallback:
            raise settings.missing_url_error()
        from agent_db.embedded import embedded_database_url, running_database_url

        if start_embedded:
            url = embedded_database_url()
        else:
            url = running_database_url()
            if url is None:
                raise ConfigError(
                    f"{settings.database_url_env} is not set and the embedded PostgreSQL is not "
                    "running; start it with 'uv run invoke dev'"
                )
    return sync_url(url)


def create_sync_engine(
    url: URL, *, application_name: str = "agent-db", pooled: bool = False, **kwargs: Any
) -> Engine:
    """A psycopg engine; unpooled by default, as the toolkit's runs are short."""
    connect_args = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": application_name,
    }
    connect_args.update(kwargs.pop("connect_args", {}))
    if not pooled:
        kwargs.setdefault("poolclass", NullPool)
    return create_engine(sync_url(url), connect_args=connect_args, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(engine, expire_on_commit=False)


def unreachable(error: DBAPIError, url: URL, variable: str | None) -> DatabaseUnavailable:
    """A one-paragraph message for a failed connection: where, why, and what to check."""
    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
    check = f"check {variable} and that the server is up" if variable else "check the server"
    if "too many clients" in reason or "too many connections" in reason:
        check = (
            "every connection slot is taken (max_connections, or the database's or role's "
            "CONNECTION LIMIT): wait for other sessions to end, or raise the limit"
        )
    elif "starting up" in reason or "shutting down" in reason or "recovery" in reason:
        check = "the server is starting or stopping: run the command again in a moment"
    return DatabaseUnavailable(f"cannot reach PostgreSQL at {describe_location(url)}: {reason}; {check}")


@contextmanager
def translate_connection_errors(url: URL, variable: str | None) -> Iterator[None]:
    """Turn connection failures into :class:`DatabaseUnavailable` without a traceback wall."""
    try:
        yield
    except DBAPIError as error:
        if is_connection_lost(error):
            raise unreachable(error, url, variable) from None
        raise


# SQLSTATEs that mean "this session cannot go on", not "this statement failed": too many
# connections (53300), administrator/crash shutdown and "starting up" (57P01-57P03), and the
# whole connection-exception class (08).
_SESSION_ENDING_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})


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
    return state is None or state in _SESSION_ENDING_STATES or str(state).startswith("08")
