"""Engines for the toolkit, and connection failures as one clear message.

Nothing connects at import time: callers build what they need.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from agent_db.database.pg_errors import is_connection_lost
from agent_db.errors import DatabaseUnavailable
from agent_db.urls import describe_location, query_value, sync_url

CONNECT_TIMEOUT_SECONDS = 5


def create_sync_engine(
    url: URL, *, application_name: str = "agent-db", pooled: bool = False, **kwargs: Any
) -> Engine:
    """A psycopg engine; unpooled by default, as the toolkit's runs are short.

    The URL's own libpq parameters win: ``application_name`` names the session when the URL
    sets one (ours is the fallback, as libpq's ``fallback_application_name`` intends), and
    ``connect_timeout`` from the URL replaces the toolkit's default.
    """
    connect_args: dict[str, object] = {}
    if query_value(url, "connect_timeout") is None:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    if query_value(url, "fallback_application_name") is None:
        connect_args["fallback_application_name"] = application_name
    connect_args.update(kwargs.pop("connect_args", {}))
    if not pooled:
        kwargs.setdefault("poolclass", NullPool)
    return create_engine(sync_url(url), connect_args=connect_args, **kwargs)


def unreachable(error: Exception, url: URL, variable: str | None) -> DatabaseUnavailable:
    """A one-paragraph message for a failed connection: where, why, and what to check."""
    cause = error.orig if isinstance(error, DBAPIError) and error.orig else error
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
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
    except psycopg.OperationalError as error:  # psycopg used directly (scratch databases)
        raise unreachable(error, url, variable) from None
