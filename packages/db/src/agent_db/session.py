"""Engines and sessions. Nothing connects at import time: callers build what they need."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import NullPool

from agent_db.errors import DatabaseUnavailable
from agent_db.settings import DatabaseSettings
from agent_db.urls import describe_location, sync_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

CONNECT_TIMEOUT_SECONDS = 5


def resolve_url(settings: DatabaseSettings) -> URL:
    """The environment's URL (toolkit driver); dev falls back to the embedded PostgreSQL."""
    url = settings.configured_url()
    if url is None:
        if not settings.embedded_fallback:
            raise settings.missing_url_error()
        from agent_db.embedded import embedded_database_url

        url = embedded_database_url()
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
    return DatabaseUnavailable(f"cannot reach PostgreSQL at {describe_location(url)}: {reason}; {check}")


@contextmanager
def translate_connection_errors(url: URL, variable: str | None) -> Iterator[None]:
    """Turn connection failures into :class:`DatabaseUnavailable` without a traceback wall."""
    try:
        yield
    except OperationalError as error:
        if _is_connection_failure(error):
            raise unreachable(error, url, variable) from None
        raise


def _is_connection_failure(error: OperationalError) -> bool:
    # psycopg raises OperationalError both for connection failures and for some server errors;
    # a connection failure has no SQLSTATE.
    return getattr(error.orig, "sqlstate", None) is None
