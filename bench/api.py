"""API throughput and latency, with the database's and Python's ceilings measured in the same run.

    uv run invoke bench.api [--rounds 3] [--seconds 10] [--connections 32] [--workers 1,2]

On a staging-sized database (bench/dataset.py: 100k users, 200k conversations, 1M messages),
wrk (bench/wrk/api.lua, 2 threads, 32 connections, loopback) drives the API served by uvicorn
with the staging settings, as the image serves it, with 1 and 2 workers, acting as 1,000
different users. uvicorn's own access log is off (`--no-access-log --log-level warning`, as
``api.serve`` does); the API's JSON access line, one per request at staging's ``log_level =
"info"``, is on and goes to a file, as it would to a log shipper (its line count is printed):

- `me`: `GET /api/v1/users/me` (token check + one primary-key read)
- `agent`: `GET /api/v1/agents/{id}` (the caller's agent with its tools)
- `messages`: `GET /api/v1/conversations/{id}/messages?limit=50` (a full page of 50)
- `post`: `POST /api/v1/conversations/{id}/messages` (append: counter update + insert)

and, in the same rounds, the two ceilings: `pgbench -S` (primary-key selects, the database's
own) and `bare` (bench/bare_app.py: FastAPI + one raw asyncpg `fetchrow`, the Python floor).
Rounds interleave everything, so a noisy neighbour hits all of it alike; the report gives
medians with min-max over rounds and ratios computed within each round.

`--profile SCENARIO` instead runs py-spy on a 1-worker API under that load and prints where
the time goes (and keeps the flame graph).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench import dataset
from bench.common import ROOT, create_database, drop_database, machine, server_url, with_database
from bench.servers import (
    PGBENCH_MISSING,
    PgbenchResult,
    ToolMissing,
    WrkResult,
    pgbench_init,
    pgbench_path,
    run_pgbench,
    run_wrk,
    serving,
    signing_key,
    wrk_command,
    wrk_path,
)

API_APP = "agent_api.main:create_app"
BARE_APP = "bench.bare_app:create_app"
SCENARIOS = ("me", "agent", "messages", "post")
DESCRIPTIONS = {
    "me": "`GET /users/me`",
    "agent": "`GET /agents/{id}`",
    "messages": "`GET /conversations/{id}/messages` (page of 50)",
    "post": "`POST /conversations/{id}/messages`",
    "bare": "bare: FastAPI + raw asyncpg `fetchrow` (Python ceiling)",
}


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def revision_import_path(source: Path, env: Mapping[str, str]) -> str:
    """``PYTHONPATH`` with the API and db packages extracted at ``source`` first, ahead of the
    editable installs on sys.path: a process started with it imports the old code."""
    return os.pathsep.join(
        [str(source / "services/api/src"), str(source / "packages/db/src"), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)


def api_env(url: str, key: str, source: Path | None = None) -> dict[str, str]:
    """The API as staging runs it, against ``url``; from ``source`` (an extracted older
    revision, see :func:`extract_revision`) instead of the checkout when given."""
    env = {
        **os.environ,
        "AGENT_ENV": "staging",
        "STAGING_DATABASE_URL": url,
        "STAGING_JWT_SECRET": key,
    }
    if source is not None:
        env["PYTHONPATH"] = revision_import_path(source, env)
        # Its own settings files: the checkout's may have settings the old code does not know.
        env["AGENT_ENVIRONMENTS_DIR"] = str(source / "environments")
    return env


def extract_revision(revision: str, folder: Path) -> Path:
    """The API and db packages as they were at ``revision`` (git archive), for a before/after
    comparison in the same run."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", revision, "services/api/src", "packages/db/src", "environments"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def bare_env(url: str) -> dict[str, str]:
    return {**os.environ, "BENCH_BARE_DSN": url}


def write_users_file(url: str, key: str, count: int, path: Path) -> Path:
    """Tokens of the first ``count`` users, with their agent and conversation (see dataset)."""
    from agent_api.security import create_access_token

    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT u.id, u.hashed_password, a.id, c.id FROM users u "
            "JOIN agents a ON a.owner_id = u.id JOIN conversations c ON c.id = u.id "
            "WHERE u.id <= %s ORDER BY u.id",
            (count,),
        ).fetchall()
    lines = [
        f"{create_access_token(user, hashed, key=key, minutes=240).token} {agent} {conversation}"
        for user, hashed, agent, conversation in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


CURRENT = "this checkout"


@dataclass
class Collected:
    """Every measurement of the run, by (what, workers, API version), in round order."""

    wrk: dict[tuple[str, int, str], list[WrkResult]] = field(default_factory=lambda: defaultdict(list))
    pgbench: list[PgbenchResult] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)


def measure(base_url: str, scenario: str, users: Path, seconds: float, connections: int) -> WrkResult:
    run_wrk(base_url, scenario, users, seconds=2, connections=connections)  # warm-up
    return run_wrk(base_url, scenario, users, seconds=seconds, connections=connections)


def run_rounds(
    *,
    url: str,
    pgbench_url: str | None,
    key: str,
    users: Path,
    rounds: int,
    seconds: float,
    connections: int,
    workers: Sequence[int],
    scenarios: Sequence[str],
    log: Callable[[str], None],
    baseline: tuple[str, Path] | None = None,
) -> Collected:
    collected = Collected()
    api_log = users.parent / "api.log"  # the APIs' stderr: their log lines (JSON: not a terminal)
    versions: list[tuple[str, Path | None]] = [(CURRENT, None)]
    if baseline is not None:
        versions.append(baseline)
    pgbench = pgbench_path()
    for round_number in range(1, rounds + 1):
        collected.loads.append(load_average())
        log(f"round {round_number}/{rounds}, load average {collected.loads[-1]}")
        for count in workers:
            with serving(BARE_APP, count, bare_env(url)) as bare:
                result = measure(bare.base_url, "bare", users, seconds, connections)
                collected.wrk["bare", count, CURRENT].append(result)
                log(f"  bare x{count}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms")
            order = versions if round_number % 2 else versions[::-1]
            # With a baseline, the two versions take turns scenario by scenario (a server each
            # time: two pools at once would hold too many of the shared server's connections),
            # so the runs compared follow each other within seconds, in alternating order.
            blocks = [[s] for s in scenarios] if len(versions) > 1 else [list(scenarios)]
            for block in blocks:
                for version, source in order:
                    with serving(API_APP, count, api_env(url, key, source), log=api_log) as api:
                        for scenario in block:
                            result = measure(api.base_url, scenario, users, seconds, connections)
                            collected.wrk[scenario, count, version].append(result)
                            log(
                                f"  {scenario} x{count} ({version}): {result.rps:,.0f} req/s, "
                                f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                                f"errors {result.errors}"
                            )
        if pgbench and pgbench_url:
            outcome = run_pgbench(pgbench, pgbench_url, seconds=seconds, clients=connections)
            collected.pgbench.append(outcome)
            log(f"  pgbench -S: {outcome.tps:,.0f} tps")
    collected.loads.append(load_average())
    if api_log.exists():
        with api_log.open("rb") as lines:
            log(f"the APIs wrote {sum(1 for _ in lines):,} log lines ({api_log.stat().st_size:,} bytes)")
    return collected


def spread(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(
    collected: Collected,
    workers: Sequence[int],
    scenarios: Sequence[str],
    connections: int,
    baseline: str | None = None,
) -> str:
    rounds = len(collected.loads) - 1
    lines = [
        f"wrk -t2 -c{connections}, loopback; medians over {rounds} rounds (min-max); "
        "ratios computed within each round, then the median.",
        "",
        "| endpoint | workers | req/s | p50 ms | p99 ms | errors (non-2xx + socket) | vs bare (same workers) | vs pgbench -S |"
        + (f" vs {baseline} |" if baseline else ""),
        "| --- | --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if baseline else ""),
    ]
    tps = [p.tps for p in collected.pgbench]
    versions = [CURRENT] + ([baseline] if baseline else [])
    for count in workers:
        bare = collected.wrk.get(("bare", count, CURRENT), [])
        for version in versions:
            for what in (*scenarios, "bare"):
                runs = collected.wrk.get((what, count, version), [])
                if not runs:
                    continue
                label = DESCRIPTIONS[what] + (f" @ {version}" if version != CURRENT else "")
                vs_bare = (
                    spread([r.rps / b.rps for r, b in zip(runs, bare, strict=False)], "{:.2f}")
                    if bare and what != "bare"
                    else "-"
                )
                vs_db = (
                    spread([r.rps / t for r, t in zip(runs, tps, strict=False)], "{:.3f}") if tps else "n/a"
                )
                row = (
                    f"| {label} | {count} | {spread([r.rps for r in runs])} | "
                    f"{spread([r.p50_ms for r in runs], '{:.1f}')} | {spread([r.p99_ms for r in runs], '{:.1f}')} | "
                    f"{sum(r.errors_status for r in runs)} + {sum(r.errors_socket for r in runs)} | "
                    f"{vs_bare} | {vs_db} |"
                )
                if baseline:
                    before = collected.wrk.get((what, count, baseline), [])
                    row += (
                        f" {spread([r.rps / b.rps for r, b in zip(runs, before, strict=False)], '{:.2f}x')} |"
                        if version == CURRENT and before
                        else " - |"
                    )
                lines.append(row)
    if tps:
        latency = [p.latency_ms for p in collected.pgbench]
        lines.append(
            f"| `pgbench -S -c {connections} -j 2` (database ceiling) | - | {spread(tps)} tps | "
            f"avg {spread(latency, '{:.2f}')} | - | - | - | 1 |" + (" - |" if baseline else "")
        )
    else:
        lines.append(f"| pgbench -S | - | n/a: {PGBENCH_MISSING} | | | | | |" + (" |" if baseline else ""))
    lines += [
        "",
        f"Load average (1/5/15 min) at the start of each round and at the end: {', '.join(collected.loads)}",
    ]
    return "\n".join(lines)


@contextmanager
def bench_databases(
    keep: bool, with_pgbench: bool, shape: dataset.Shape, log: Callable[[str], None], reuse: str | None = None
) -> Iterator[tuple[str, str | None]]:
    """The dataset's database (built now, or ``reuse``d as it is) and pgbench's."""
    created: list[str] = []
    try:
        if reuse:
            url = with_database(server_url(), reuse)
            log(f"dataset: reusing {reuse} ({dataset.size(url)})")
        else:
            name = create_database("api")
            created.append(name)
            url = with_database(server_url(), name)
            seconds = dataset.build(url, shape)
            log(f"dataset in {name}: {dataset.size(url)}, filled in {seconds:.1f} s")
        pgbench_url = None
        pgbench = pgbench_path()
        if with_pgbench and pgbench:
            pg_name = create_database("pgbench")
            created.append(pg_name)
            pgbench_url = with_database(server_url(), pg_name)
            pgbench_init(pgbench, pgbench_url)
        yield url, pgbench_url
    finally:
        if keep:
            log(f"kept: {', '.join(created)}")
        else:
            for name in created:
                drop_database(name)


def profile(
    url: str, key: str, users: Path, scenario: str, seconds: float, connections: int, out: Path
) -> str:
    """py-spy on a 1-worker API under wrk: where a request's time goes."""
    with serving(API_APP, 1, api_env(url, key)) as api:
        run_wrk(api.base_url, scenario, users, seconds=2, connections=connections)
        worker = api.pids()[-1]
        load = subprocess.Popen(
            wrk_command(api.base_url, scenario, users, seconds=seconds + 2, connections=connections),
            stdout=subprocess.DEVNULL,
        )
        try:
            raw = out.with_suffix(".txt")
            subprocess.run(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(worker),
                    "--duration",
                    str(int(seconds)),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--nonblocking",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
        finally:
            load.wait()
    return summarize_profile(raw.read_text())


def summarize_profile(collapsed: str, top: int = 20) -> str:
    """Self time by package and the busiest functions, from py-spy's collapsed stacks."""
    import re

    by_package: dict[str, int] = defaultdict(int)
    by_function: dict[str, int] = defaultdict(int)
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        leaf = stack.split(";")[-1]
        where = re.search(r"site-packages/([^/]+)/", leaf) or re.search(r"\(([^/:]+)[/:]", leaf)
        by_package[where.group(1) if where else leaf] += count
        by_function[leaf] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples; self time by package:"]
    lines += [
        f"  {100 * n / total:5.1f}%  {k}" for k, n in sorted(by_package.items(), key=lambda i: -i[1])[:12]
    ]
    lines.append("busiest functions (self):")
    lines += [
        f"  {100 * n / total:5.1f}%  {k}" for k, n in sorted(by_function.items(), key=lambda i: -i[1])[:top]
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--users", type=int, default=dataset.Shape.users, help="dataset size (users)")
    parser.add_argument(
        "--messages", type=int, default=dataset.Shape.messages, help="dataset size (messages)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--database", metavar="NAME", help="reuse a dataset database kept by --keep")
    parser.add_argument("--profile", metavar="SCENARIO", help="profile one scenario with py-spy instead")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also serve the API as it was at git revision REV, in the same rounds (before/after)",
    )
    arguments = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        wrk_path()
    except ToolMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    if pgbench_path() is None:
        log(f"note: {PGBENCH_MISSING}")
    workers = [int(w) for w in arguments.workers.split(",")]
    scenarios = [s for s in arguments.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    shape = dataset.Shape(
        users=arguments.users,
        conversations=2 * arguments.users,
        messages=arguments.messages,
        hot=min(1_000, arguments.users),
    )
    key = signing_key()
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="bench-api-") as folder,
        bench_databases(arguments.keep, arguments.profile is None, shape, log, arguments.database) as (
            url,
            pgbench_url,
        ),
    ):
        users = write_users_file(url, key, shape.hot, Path(folder) / "users.txt")
        baseline = None
        if arguments.baseline:
            baseline = (arguments.baseline, extract_revision(arguments.baseline, Path(folder) / "baseline"))
        if arguments.profile:
            out = ROOT / "bench" / "profiles" / f"api-{arguments.profile}"
            out.parent.mkdir(exist_ok=True)
            print(profile(url, key, users, arguments.profile, arguments.seconds, arguments.connections, out))
            return 0
        collected = run_rounds(
            url=url,
            pgbench_url=pgbench_url,
            key=key,
            users=users,
            rounds=arguments.rounds,
            seconds=arguments.seconds,
            connections=arguments.connections,
            workers=workers,
            scenarios=scenarios,
            log=log,
            baseline=baseline,
        )
    print(f"Machine: {machine()}\n")
    print(report(collected, workers, scenarios, arguments.connections, arguments.baseline))
    print(f"\n(whole run: {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
