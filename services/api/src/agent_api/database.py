"""The API's database: an async engine built in the lifespan, one session per request."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from agent_api.app_state import Database, app_state
from agent_api.database_url import AsyncpgConnection, asyncpg_connection
from agent_api.schema_state import build_schema
from agent_db.database.target import resolve_url
from agent_db.settings import DatabaseSettings


def api_connection(settings: DatabaseSettings) -> AsyncpgConnection:
    """The environment's URL as asyncpg takes it; a parameter it cannot honour is a
    ConfigError naming the variable (called at startup, before any request)."""
    return asyncpg_connection(resolve_url(settings, api=True), source=settings.url_source)


def check_api_url(settings: DatabaseSettings) -> None:
    """Refuse, at startup, a configured URL the API could not connect with; nothing connects
    (and dev's embedded fallback is not started: it has no parameters to check)."""
    url = settings.configured_url()
    if url is not None:
        asyncpg_connection(url, source=settings.url_source)


def build_engine(settings: DatabaseSettings, pool_size: int) -> AsyncEngine:
    """A fixed-size pool: overflow connections are closed on return, which churns under load.

    A pooled connection whose server went away (a restart ends every session) is replaced
    before it serves a request: see :func:`_replace_closed_connections`. Behind a pooler in
    transaction mode, see :func:`transaction_pooler_arguments`."""
    connection = api_connection(settings)
    connect_args = dict(connection.connect_args)
    if settings.pooler_mode == "transaction":
        connect_args.update(transaction_pooler_arguments())
    engine = create_async_engine(
        connection.url,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        connect_args=connect_args,
    )
    event.listen(engine.sync_engine.pool, "checkout", _replace_closed_connections)
    return engine


def transaction_pooler_arguments() -> dict[str, Any]:
    """asyncpg behind PgBouncer (or any pooler) in transaction mode.

    Each transaction may run on another server connection, shared with other clients: a
    prepared statement kept from an earlier transaction is missing there ("prepared statement
    does not exist") or, under asyncpg's sequential names, already taken by another client
    ("already exists"). So no statement outlives its transaction: no cache in asyncpg or in
    SQLAlchemy, and a unique name for each (a pooler may still hand the server connection to a
    client that prepares the same name). The price is one more round trip per statement
    (prepare, then execute); reads then also run in a transaction (see :func:`open_database`).
    PgBouncer 1.21+ with ``max_prepared_statements`` could keep them, but not 1.18 (Debian 12).
    """
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: f"__asyncpg_{uuid.uuid4().hex}__",
    }


def _replace_closed_connections(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Discard a pooled connection the server has closed, at checkout, so the pool opens a new
    one (``DisconnectionError`` makes it retry) instead of failing the request with it.

    When PostgreSQL restarts or ends a session it sends a FATAL message and closes the socket;
    the event loop sees that while the connection sits idle in the pool, so asyncpg already
    knows it is closed: asking costs nothing. ``pool_pre_ping`` would also catch a connection
    that died silently (a network partition) but costs a round trip on every request; such a
    connection fails its request with a 503 and the pool is invalidated as a whole."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def read_only_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for safe methods (GET, HEAD): the connection runs in autocommit, so a read is one
    round trip instead of three (BEGIN, the query, COMMIT). Handlers of safe methods never
    write; a read that needs one snapshot across several queries must not rely on this."""
    return async_sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


def open_database(settings: DatabaseSettings, pool_size: int) -> Database:
    """What the lifespan keeps: the engine, both session factories, the revisions this code ships."""
    engine = build_engine(settings, pool_size)
    # Autocommit reads would prepare a statement in one round trip and run it in another: behind
    # a transaction-mode pooler those may reach different server connections.
    pooled = settings.pooler_mode == "transaction"
    return Database(
        engine=engine,
        sessions=session_factory(engine),
        read_sessions=session_factory(engine) if pooled else read_only_session_factory(engine),
        build=build_schema(),
    )


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: committed when the handler succeeds, rolled back otherwise.
    Safe methods get an autocommit session (see :func:`read_only_session_factory`).

    Used with ``scope="function"`` (see ``SessionDep``): the commit happens when the handler
    returns and *before* the response is sent, so a failed commit becomes an error response
    instead of a 2xx for data that was never saved, and the connection goes back to the pool
    without waiting for the client to read the response.
    """
    database = app_state(request.app).database
    if request.method in SAFE_METHODS:
        async with database.read_sessions() as session:
            # Autocommit: there is nothing to commit; closing returns the connection.
            yield session
        return
    async with database.sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
