"""Is there a connection pooler between the toolkit and PostgreSQL, and does it keep sessions?

The migration lock is a session-level advisory lock (see ``lock.py``). Behind a pooler in
transaction (or statement) mode the server session changes between transactions: the lock
would stay on a server connection that other clients then use (orphaned, or shared with
whoever gets it next), and a run holding it would not be alone. So the runner refuses such a
URL before it takes the lock, and says to set the direct URL.

How it tells, with no access to the pooler's admin console:

- A pooler answers the startup itself: the process id in its BackendKeyData (what libpq's
  ``PQbackendPID`` reports) is its own invention, not the server's ``pg_backend_pid()``. Equal
  means a direct connection (PostgreSQL, or a proxy that passes the session through).
- Then whether sessions are kept: while a second client connection holds a transaction, the
  first asks for its server process again. In session mode each client keeps its own server
  connection, so nothing moves; in transaction mode the second client got the server
  connection the first had just released (PgBouncer reuses the most recent one), or the first
  had to move to another.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, text

from agent_db.errors import ConfigError
from agent_db.settings import DatabaseSettings

PoolerMode = Literal["none", "session", "transaction"]
PROBE_ROUNDS = 3


@dataclass(frozen=True)
class PoolerProbe:
    mode: PoolerMode
    detail: str


def _server_pid(connection: Connection) -> int:
    return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def announced_pid(connection: Connection) -> int | None:
    """The process id the startup answer announced (psycopg: ``info.backend_pid``)."""
    info = getattr(connection.connection.dbapi_connection, "info", None)
    pid = getattr(info, "backend_pid", None)
    return int(pid) if isinstance(pid, int) else None


def probe(
    connection: Connection, open_other: Callable[[], AbstractContextManager[Connection]]
) -> PoolerProbe:
    """What is between ``connection`` (autocommit) and the server; ``open_other`` opens a
    second connection by the same URL (not autocommit) for the session test."""
    announced, actual = announced_pid(connection), _server_pid(connection)
    if announced is None or announced == actual:
        return PoolerProbe("none", "the server's own process answered the connection")
    with open_other() as other:
        for _ in range(PROBE_ROUNDS):
            first = _server_pid(connection)
            held = _server_pid(other)  # begins a transaction: that server connection is pinned
            again = _server_pid(connection)
            other.rollback()
            if held == first:
                detail = f"server process {first} served two of the toolkit's connections in turn"
                return PoolerProbe("transaction", detail)
            if again != first:
                detail = f"a connection moved from server process {first} to {again} between transactions"
                return PoolerProbe("transaction", detail)
    return PoolerProbe("session", "a pooler answered the connection, and kept one server session per client")


def refuse_lock_through_pooler(
    connection: Connection,
    open_other: Callable[[], AbstractContextManager[Connection]],
    settings: DatabaseSettings,
) -> None:
    """Raise :class:`ConfigError` (nothing has run yet) when the toolkit's URL reaches
    PostgreSQL through a pooler that does not keep sessions, or is declared to be one."""
    variable = settings.toolkit_url_variable
    direct_is_set = variable == settings.direct_url_env
    if not direct_is_set and settings.pooler_mode == "transaction":
        why = f"environments/{settings.name}.toml says {variable} goes through a transaction-mode pooler"
    else:
        found = probe(connection, open_other)
        if found.mode != "transaction":
            return
        why = (
            f"{variable} reaches PostgreSQL through a connection pooler in transaction mode ({found.detail})"
        )
    if direct_is_set:
        fix = f"point {variable} at PostgreSQL itself (its host and port, not the pooler's)"
    elif settings.direct_url_env:
        fix = f"export {settings.direct_url_env} with a URL that reaches PostgreSQL itself"
    else:
        suggested = settings.database_url_env.removesuffix("_DATABASE_URL") + "_DIRECT_DATABASE_URL"
        fix = (
            f'add direct_url_env = "{suggested}" to environments/{settings.name}.toml and export '
            f"{suggested} with a URL that reaches PostgreSQL itself"
        )
    raise ConfigError(
        f"{why}: the migration lock is a session-level advisory lock, and there the server "
        "session changes under it (the lock would be orphaned, or shared with other clients). "
        f"Nothing was run. To migrate, {fix}; the API keeps using {settings.database_url_env}"
    )
