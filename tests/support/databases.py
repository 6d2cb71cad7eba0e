"""Helpers the tests share: databases on the test server, the CLI, schema inspection."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE_PREFIX = "agent_test_"


def conninfo(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class DatabaseFactory:
    """Creates databases on the test server and drops them all at the end of the session."""

    server: URL
    created: list[str] = field(default_factory=list)

    def create(self, label: str = "db") -> URL:
        name = f"{TEST_DATABASE_PREFIX}{label}_{secrets.token_hex(4)}"
        with psycopg.connect(conninfo(self.server.set(database="postgres")), autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return self.server.set(database=name)

    def drop_all(self) -> None:
        """Drop in parallel: each DROP DATABASE waits for a checkpoint, and concurrent requests
        share one, so this takes about one checkpoint instead of one per database."""
        from concurrent.futures import ThreadPoolExecutor

        def drop(name: str) -> None:
            with psycopg.connect(conninfo(self.server.set(database="postgres")), autocommit=True) as c:
                c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(drop, self.created))
        self.created.clear()


def run_invoke(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``invoke`` as a person would, from the project root; output captured as text."""
    full_env = {**os.environ, **(env or {}), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)
