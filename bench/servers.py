"""Processes the load benchmarks start: uvicorn (the API or the bare app), wrk and pgbench.

Every process is started in a session of its own and stopped by its process-group id, so a
benchmark never leaves a server behind and never touches processes it did not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.background import stop_group
from bench.common import ROOT
from tests.support.ports import free_port

WRK_SCRIPT = ROOT / "bench" / "wrk" / "api.lua"

WRK_MISSING = (
    "wrk is not installed: the load benchmarks need it (a C load generator; a Python one would "
    "take the CPU the API needs on a 2-core machine). Install it with `sudo apt-get install wrk` "
    "(Debian/Ubuntu), `brew install wrk` (macOS), or build it from https://github.com/wg/wrk; "
    "set BENCH_WRK to its path if it is not on PATH."
)
PGBENCH_MISSING = (
    "pgbench not found: the database ceiling is skipped. It ships with PostgreSQL "
    "(`apt-get install postgresql-contrib` or the postgresql-client package); set BENCH_PGBENCH to its path."
)


class ToolMissing(RuntimeError):
    pass


def wrk_path() -> str:
    found = os.environ.get("BENCH_WRK") or shutil.which("wrk")
    if not found:
        raise ToolMissing(WRK_MISSING)
    return found


def pgbench_path() -> str | None:
    return os.environ.get("BENCH_PGBENCH") or shutil.which("pgbench")


def signing_key() -> str:
    return secrets.token_urlsafe(48)


@dataclass
class Server:
    """A uvicorn serving ``app`` (an app factory) on loopback."""

    app: str
    workers: int
    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    cwd: Path = ROOT  # where it runs (a build's worktree, for the release benchmark)
    log: Path | None = None  # its stderr (the API's log lines), else inherited
    nice: int = 0  # start at this niceness (see bench/release.py: startup off the serving CPU)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self.port = self.port or free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            self.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if self.nice:
            command = ["nice", "-n", str(self.nice), *command]
        stderr = self.log.open("ab") if self.log is not None else None
        self.process = subprocess.Popen(
            command,
            cwd=self.cwd,
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        if stderr is not None:
            stderr.close()  # the child has its own copy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited with {self.process.returncode} while starting")
            try:
                health = f"{self.base_url}/health"  # http on loopback, built here
                with urllib.request.urlopen(health, timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        # Every worker must be up: uvicorn answers as soon as the first one is.
                        time.sleep(0.5 * self.workers)
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.app} did not answer /health within {timeout:.0f} s")

    def pids(self) -> list[int]:
        """The uvicorn process and its workers."""
        if self.process is None:
            return []
        import psutil

        parent = psutil.Process(self.process.pid)
        return [parent.pid, *(child.pid for child in parent.children(recursive=True))]

    def stop(self) -> None:
        stop_group(self.process, timeout=15)


@contextlib.contextmanager
def serving(app: str, workers: int, env: dict[str, str], log: Path | None = None) -> Iterator[Server]:
    server = Server(app, workers, env, log=log)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors_status: int
    errors_socket: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.errors_status + self.errors_socket


def wrk_command(
    base_url: str,
    scenario: str,
    users_file: Path,
    *,
    seconds: float,
    connections: int = 32,
    threads: int = 2,
) -> list[str]:
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(WRK_SCRIPT),
    ]
    return [*command, base_url, "--", scenario, str(users_file)]


def parse_wrk(output: str) -> WrkResult:
    match = re.search(r"^BENCH_JSON (\{.*\})$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
    data = json.loads(match.group(1))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors_status=data["status"],
        errors_socket=data["connect"] + data["read"] + data["write"] + data["timeout"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


def run_wrk(
    base_url: str,
    scenario: str,
    users_file: Path,
    *,
    seconds: float,
    connections: int = 32,
    threads: int = 2,
) -> WrkResult:
    command = wrk_command(
        base_url, scenario, users_file, seconds=seconds, connections=connections, threads=threads
    )
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr[-2000:]}")
    return parse_wrk(result.stdout)


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_ms: float


def pgbench_init(pgbench: str, url: str, scale: int = 10) -> None:
    subprocess.run(
        [pgbench, "-i", "-q", "-s", str(scale), url], capture_output=True, text=True, check=True, timeout=600
    )


def run_pgbench(
    pgbench: str, url: str, *, seconds: float, clients: int = 32, threads: int = 2
) -> PgbenchResult:
    """``pgbench -S``: primary-key reads, the database's own ceiling on this machine."""
    result = subprocess.run(
        [pgbench, "-S", "-n", "-c", str(clients), "-j", str(threads), "-T", str(max(1, round(seconds))), url],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds + 120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed ({result.returncode}): {result.stderr[-2000:]}")
    tps = re.search(r"^tps = ([\d.]+)", result.stdout, re.MULTILINE)
    latency = re.search(r"^latency average = ([\d.]+) ms", result.stdout, re.MULTILINE)
    if tps is None or latency is None:
        raise RuntimeError(f"cannot read pgbench's output:\n{result.stdout[-2000:]}")
    return PgbenchResult(float(tps.group(1)), float(latency.group(1)))
