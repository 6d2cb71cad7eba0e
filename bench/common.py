"""What the benchmarks share: timing whole commands, medians with spread, scratch databases."""

from __future__ import annotations

import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from agent_db.database import scratch

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER)


def with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


def create_database(label: str) -> str:
    """A new empty database on the benchmark server (the toolkit's throwaway-database
    primitive); its name."""
    name = f"bench_{label}_{secrets.token_hex(3)}"
    scratch.create_database(make_url(server_url()), name)
    return name


def drop_database(name: str) -> None:
    scratch.drop_database(make_url(server_url()), name)


@dataclass(frozen=True)
class Timing:
    label: str
    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    def cell(self) -> str:
        if len(self.runs) == 1:
            return f"{self.runs[0]:.2f} s"
        return f"{self.median:.2f} s ({min(self.runs):.2f}-{max(self.runs):.2f})"


def time_command(command: Sequence[str], env: dict[str, str], repeat: int, label: str) -> Timing:
    """Wall time of a whole command (process start included), ``repeat`` times."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        runs.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(f"{label} failed ({result.returncode}): {result.stderr[-2000:]}")
    return Timing(label, runs)


def invoke(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


def alembic(*args: str, ini: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "alembic", "-c", str(ini or ROOT / "packages/db/alembic.ini"), *args]


def alembic_ini_for(versions: Path, folder: Path) -> Path:
    """The project's alembic.ini pointing at another versions folder (plain Alembic reads
    ``version_locations`` from the file, not from our environment variable)."""
    text = (ROOT / "packages/db/alembic.ini").read_text()
    text = text.replace("[alembic]\n", f"[alembic]\nversion_locations = {versions}\n", 1)
    path = folder / "alembic.ini"
    path.write_text(text)
    return path


def machine() -> str:
    cpus = os.cpu_count()
    with psycopg.connect(server_url()) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    version = row[0] if row else "?"
    bytecode = "off (PYTHONDONTWRITEBYTECODE set)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    return (
        f"{platform.node()}: {cpus} CPUs, Python {platform.python_version()}, PostgreSQL {version}; "
        f"writing bytecode: {bytecode} (site-packages precompiled by `uv sync --compile-bytecode`)"
    )
