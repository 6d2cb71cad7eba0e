"""``bench.*``: benchmarks, not tests (figures and commands in bench/RESULTS.md)."""

from __future__ import annotations

import sys

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from tasks._shared import reports_errors, run_or_exit


@task(
    help={
        "sizes": "comma-separated history lengths (default 1000,5000,10000)",
        "repeat": "timed runs per command (the slow Alembic ones run at most 3 times)",
    }
)
@reports_errors
def graph(c: Context, sizes: str = "1000,5000,10000", repeat: int = 5) -> None:
    """Revision-graph scale: our commands against plain Alembic on long histories."""
    run_or_exit(
        c, [sys.executable, "-m", "bench.graph_scale", "--sizes", sizes, "--repeat", str(int(repeat))]
    )


@task(
    name="api",
    help={
        "rounds": "rounds; every configuration runs once per round, interleaved (default 3)",
        "seconds": "measured seconds per run (default 10)",
        "connections": "wrk connections (default 32)",
        "workers": "comma-separated uvicorn worker counts (default 1,2)",
        "scenarios": "comma-separated: me, agent, messages, post (default all)",
        "baseline": "also serve the API as it was at this git revision, in the same rounds",
        "profile": "instead, profile this scenario on a 1-worker API with py-spy",
    },
)
@reports_errors
def api_bench(
    c: Context,
    rounds: int = 3,
    seconds: float = 10,
    connections: int = 32,
    workers: str = "1,2",
    scenarios: str = "me,agent,messages,post",
    baseline: str = "",
    profile: str = "",
) -> None:
    """API throughput and latency (wrk) beside pgbench -S and a bare asyncpg endpoint."""
    command = [
        sys.executable, "-m", "bench.api", "--rounds", str(int(rounds)), "--seconds", str(seconds),
        "--connections", str(int(connections)), "--workers", workers, "--scenarios", scenarios,
    ]  # fmt: skip
    if baseline:
        command += ["--baseline", baseline]
    if profile:
        command += ["--profile", profile]
    run_or_exit(c, command)


@task(
    name="migrations",
    help={
        "rate": "requests per second of the live traffic (default 100)",
        "before": "seconds of baseline traffic before the promotion (default 20)",
        "passes": "comma-separated: safe, naive (default both)",
    },
)
@reports_errors
def migrations_bench(c: Context, rate: float = 100, before: float = 20, passes: str = "safe,naive") -> None:
    """A promotion to staging under live read and write load: safe revisions against naive ones."""
    command = [sys.executable, "-m", "bench.migrations_load", "--rate", str(rate), "--before", str(before)]
    run_or_exit(c, [*command, "--passes", passes])


@task(
    name="release",
    help={
        "rate": "requests per second of the live traffic (default 100)",
        "before": "seconds of baseline traffic before the release (default 20)",
        "after": "seconds of traffic after it (default 15)",
        "min-ready": "seconds a new process serves beside the old one before that drains (default 5)",
        "keep": "keep the scratch folder (the two builds, HAProxy's configuration and log)",
    },
)
@reports_errors
def release_bench(
    c: Context,
    rate: float = 100,
    before: float = 20,
    after: float = 15,
    min_ready: float = 5.0,
    keep: bool = False,
) -> None:
    """A rolling release N -> N+1 (expand, processes one at a time, contract) behind HAProxy."""
    command = [sys.executable, "-m", "bench.release", "--rate", str(rate), "--before", str(before)]
    command += ["--after", str(after), "--min-ready", str(min_ready)]
    run_or_exit(c, [*command, *(["--keep"] if keep else [])])


collection = Collection("bench", graph, api_bench, migrations_bench, release_bench)
