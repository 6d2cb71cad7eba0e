"""A PgBouncer of the test's own (Debian's ``pgbouncer``), in front of the test server.

Installed with apt-get when absent and the tests run as root with apt (as CI does); started on a
free port in the pool mode a test asks for, with its own configuration in a temporary folder,
and stopped by the test that started it. Never the machine's service.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL

from agent_db.urls import hosts_of
from tests.support.ports import free_port


def _run_as() -> str:
    """PgBouncer refuses to run as root; -u switches to this user: the embedded server's when it
    exists (it may reach that server's unix socket), else nobody."""
    import pwd

    try:
        pwd.getpwnam("embedded_postgres")
    except KeyError:
        return "nobody"
    return "embedded_postgres"


def find_or_install() -> tuple[str | None, str]:
    """The pgbouncer binary (installing Debian's package if need be), or None and why not."""
    for candidate in (shutil.which("pgbouncer"), "/usr/sbin/pgbouncer"):
        if candidate and Path(candidate).exists():
            return candidate, ""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return (
            None,
            "pgbouncer is not installed and cannot be (needs root and apt-get): apt-get install pgbouncer",
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "pgbouncer"]
    result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600, check=False)
    if result.returncode != 0:  # a fresh image has no package lists yet
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600, check=False)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600, check=False)
    if result.returncode != 0 or not Path("/usr/sbin/pgbouncer").exists():
        return None, f"apt-get install pgbouncer failed: {result.stderr.strip()[-300:]}"
    return "/usr/sbin/pgbouncer", ""


@dataclass
class PgBouncer:
    binary: str
    folder: Path
    port: int
    mode: str
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, binary: str, upstream: URL, *, mode: str, pool_size: int = 2) -> PgBouncer:
        """PgBouncer on a free port passing every database to ``upstream``'s server."""
        folder = Path(tempfile.mkdtemp(prefix="agbouncer", dir="/tmp"))
        folder.chmod(0o755)
        host, port = hosts_of(upstream)[0]
        (folder / "userlist.txt").write_text(f'"{upstream.username or "postgres"}" ""\n')
        bouncer = cls(binary, folder, free_port(), mode)
        (folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={host} port={port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {bouncer.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\n"
            f"pool_mode = {mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
            "ignore_startup_parameters = extra_float_digits\n"
        )
        for path in folder.iterdir():
            path.chmod(0o644)
        command = [binary, *(["-u", _run_as()] if os.geteuid() == 0 else []), str(folder / "pgbouncer.ini")]
        with (folder / "pgbouncer.log").open("wb") as log:
            bouncer.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        bouncer._wait_ready(upstream)
        return bouncer

    def url(self, database: str, username: str = "postgres") -> URL:
        return URL.create(
            "postgresql+psycopg", username=username, host="127.0.0.1", port=self.port, database=database
        )

    def _wait_ready(self, upstream: URL) -> None:
        deadline = time.monotonic() + 20
        conninfo = f"host=127.0.0.1 port={self.port} user={upstream.username or 'postgres'} dbname=postgres"
        while True:
            try:
                with psycopg.connect(conninfo, connect_timeout=2) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if (
                    self.process is not None and self.process.poll() is not None
                ) or time.monotonic() > deadline:
                    log = (self.folder / "pgbouncer.log").read_text(errors="replace")
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start: {log[-500:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
