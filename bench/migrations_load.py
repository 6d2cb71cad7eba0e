"""Migrations under live load: a promotion to staging while the API serves reads and writes.

    uv run invoke bench.migrations [--rate 100] [--before 20] [--users 100000] [--messages 1000000]

1. A staging-sized dataset (bench/dataset.py) is built once into a template database.
2. For each pass, safe then naive (bench/migration_set.py), the template is cloned
   (`CREATE DATABASE ... TEMPLATE`, so both passes start from the same bytes) as staging, and a
   fresh dev database is brought to the new head.
3. The API (2 uvicorn workers, staging settings, the code that runs *before* the change) serves
   an open-loop mix of reads and writes at a fixed rate (bench/loadgen.py); after a warm-up
   and `--before` seconds of baseline, `db.promote --to staging` runs (bench/promote_timeline.py:
   the runner with staging's lock_timeout 3s / statement_timeout 15min, retries and ledger).
4. A sampler reads `pg_locks` every 20 ms (the length of every lock wait in progress).

Reported per pass: requests and failures (non-2xx or no answer), p99 before / during the
promotion and the ratio, the longest request, the longest lock wait of the API's sessions and
of the migration's, and per revision its duration with the traffic's p99 and longest wait.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench import dataset, migration_set
from bench.api import API_APP, api_env, load_average, write_users_file
from bench.common import ROOT, create_database, drop_database, machine, server_url, with_database
from bench.locks import LockSampler, Wait
from bench.servers import serving, signing_key

API_APPLICATION = "agent-api"
MIGRATION_APPLICATION = "agent-db-migrate"


@dataclass
class Step:
    revision: str
    message: str
    started: float
    finished: float | None = None
    attempts: int = 1


@dataclass
class Pass:
    kind: str
    records: list[list[Any]]
    steps: list[Step]
    promote_started: float
    promote_finished: float
    outcome: str
    waits: LockSampler
    load: str
    events: list[dict[str, Any]] = field(default_factory=list)


def clone(template: str, label: str) -> str:
    name = create_database(label)
    drop_database(name)
    with psycopg.connect(server_url(), autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    return name


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str], **kwargs: Any) -> Iterator[subprocess.Popen[str]]:
    """A child in its own session, ended by its process-group id if still running at exit."""
    child = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, text=True, **kwargs)
    try:
        yield child
    finally:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def run_pass(
    kind: str,
    template: str,
    folder: Path,
    *,
    rate: float,
    before: float,
    after: float,
    log: Callable[[str], None],
) -> Pass:
    versions, _ = migration_set.write(kind, folder)
    staging = clone(template, f"staging_{kind}")
    dev = create_database(f"dev_{kind}")
    try:
        staging_url = with_database(server_url(), staging)
        key = signing_key()
        users = write_users_file(staging_url, key, 1_000, folder / f"users-{kind}.txt")
        records_file = folder / f"load-{kind}.jsonl"
        sampler = LockSampler(staging_url)
        sampler.start()
        with serving(API_APP, 2, api_env(staging_url, key)) as api:
            loadgen = [
                sys.executable, "-m", "bench.loadgen", "--url", api.base_url, "--users", str(users),
                "--rate", str(rate), "--out", str(records_file),
            ]  # fmt: skip
            with process(loadgen, dict(os.environ)) as load:
                time.sleep(5 + before)  # warm-up, then the baseline window
                load_now = load_average()
                log(f"{kind}: promoting (load average {load_now})")
                env = {
                    **os.environ,
                    "AGENT_DB_VERSIONS_DIR": str(versions),
                    "AGENT_DB_CACHE_DIR": str(folder / f"cache-{kind}"),
                    "DEV_DATABASE_URL": with_database(server_url(), dev),
                    "STAGING_DATABASE_URL": staging_url,
                    "NO_COLOR": "1",
                }
                command = [
                    sys.executable,
                    "-m",
                    "bench.promote_timeline",
                    str(folder / f"manifest-{kind}.json"),
                ]
                events: list[dict[str, Any]] = []
                with process(command, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as promoter:
                    stderr_lines: list[str] = []
                    drain = threading.Thread(
                        target=lambda: stderr_lines.extend(promoter.stderr or []), daemon=True
                    )
                    drain.start()
                    for line in promoter.stdout or []:
                        if line.startswith("{"):
                            event = json.loads(line)
                            events.append(event)
                            if event["event"] in ("finish", "retry", "error"):
                                log(
                                    f"  {kind}: {event['event']} {event.get('revision', '')} {event.get('seconds', event.get('message', ''))}"
                                )
                    promoter.wait()
                    drain.join(timeout=5)
                time.sleep(after)
                load.send_signal(signal.SIGTERM)
                load.wait(timeout=60)
        sampler.stop()
        records = [json.loads(line) for line in records_file.read_text().splitlines()]
        steps, started, finished, outcome = timeline(events, stderr_lines)
        return Pass(kind, records, steps, started, finished, outcome, sampler, load_now, events)
    finally:
        drop_database(staging)
        drop_database(dev)


def timeline(events: list[dict[str, Any]], stderr: list[str]) -> tuple[list[Step], float, float, str]:
    steps: list[Step] = []
    started = next((e["t"] for e in events if e["event"] == "dev-ready"), events[0]["t"] if events else 0.0)
    for event in events:
        if event["event"] == "start":
            if steps and steps[-1].revision == event["revision"] and steps[-1].finished is None:
                steps[-1].attempts += 1
            else:
                steps.append(Step(event["revision"], event["message"], event["t"]))
        elif event["event"] == "finish" and steps:
            steps[-1].finished = event["t"]
    finished = events[-1]["t"] if events else started
    last = events[-1] if events else {}
    if last.get("event") == "done":
        outcome = f"applied {len(last['applied'])} revisions"
    else:
        detail = last.get("message") or "".join(stderr)[-500:]
        outcome = f"FAILED: {detail}"
    return steps, started, finished, outcome


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def window(records: list[list[Any]], start: float, end: float) -> list[list[Any]]:
    return [r for r in records if start <= r[0] < end]


def failed(records: list[list[Any]]) -> int:
    return sum(1 for r in records if not 200 <= r[2] < 300)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds == seconds else "-"


def describe_wait(wait: Wait | None) -> str:
    if wait is None:
        return "none seen"
    on = f" on {wait.relation}" if wait.relation else ""
    return f"{ms(wait.seconds)} ({wait.application}: {wait.lock}{on}; `{wait.query[:60]}`)"


@dataclass(frozen=True)
class Summary:
    seconds: float
    failed: int
    requests: int
    p99_before: float
    p99_during: float
    slowest: float
    api_wait: Wait | None
    migration_wait: Wait | None

    @property
    def ratio(self) -> float:
        return self.p99_during / self.p99_before


def summarize(run: Pass, before: float) -> Summary:
    base = window(run.records, run.promote_started - before, run.promote_started)
    during = window(run.records, run.promote_started, run.promote_finished)
    return Summary(
        seconds=run.promote_finished - run.promote_started,
        failed=failed(run.records),
        requests=len(run.records),
        p99_before=percentile([r[1] for r in base], 0.99),
        p99_during=percentile([r[1] for r in during], 0.99),
        slowest=max((r[1] for r in during), default=float("nan")),
        api_wait=run.waits.longest(run.promote_started, run.promote_finished, API_APPLICATION),
        migration_wait=run.waits.longest(run.promote_started, run.promote_finished, MIGRATION_APPLICATION),
    )


def spread(values: list[float], fmt: Callable[[float], str]) -> str:
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def wait_seconds(wait: Wait | None) -> float:
    return wait.seconds if wait is not None else 0.0


def report(passes: list[Pass], before: float) -> str:
    summaries = [(run, summarize(run, before)) for run in passes]
    kinds = list(dict.fromkeys(run.kind for run in passes))
    lines = [
        f"Medians over {max(1, len(passes) // max(1, len(kinds)))} promotion(s) of each kind (min-max).",
        "",
        "| pass | promotion | requests / failed | p99 before | p99 during | during / before | slowest request during | longest lock wait (API) | longest lock wait (migration) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def seconds(x: float) -> str:
        return f"{x:.1f} s"

    def ratio(x: float) -> str:
        return f"{x:.1f}x"

    for kind in kinds:
        mine = [s for run, s in summaries if run.kind == kind]
        lines.append(
            f"| {kind} | {spread([s.seconds for s in mine], seconds)} | "
            f"{sum(s.requests for s in mine):,} / {sum(s.failed for s in mine)} | "
            f"{spread([s.p99_before for s in mine], ms)} | {spread([s.p99_during for s in mine], ms)} | "
            f"{spread([s.ratio for s in mine], ratio)} | {spread([s.slowest for s in mine], ms)} | "
            f"{spread([wait_seconds(s.api_wait) for s in mine], ms)} | "
            f"{spread([wait_seconds(s.migration_wait) for s in mine], ms)} |"
        )
    lines += [
        "",
        "Every promotion:",
        "",
        "| pass | promotion | requests | failed | p99 before | p99 during | during / before | slowest during | longest lock wait (API) | longest lock wait (migration) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run, summary in summaries:
        lines.append(
            f"| {run.kind} | {summary.seconds:.1f} s, {run.outcome} | {summary.requests:,} | {summary.failed} | "
            f"{ms(summary.p99_before)} | {ms(summary.p99_during)} | {summary.ratio:.1f}x | "
            f"{ms(summary.slowest)} | {describe_wait(summary.api_wait)} | {describe_wait(summary.migration_wait)} |"
        )
    shown: set[str] = set()
    for run in passes:
        if run.kind in shown:
            continue
        shown.add(run.kind)
        lines += [
            "",
            f"{run.kind}, first promotion, per revision (load average {run.load} when it started):",
            "",
            "| revision | seconds | attempts | requests | failed | p99 | slowest | longest lock wait (API) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for step in run.steps:
            end = step.finished or run.promote_finished
            inside = window(run.records, step.started, end)
            latencies = [r[1] for r in inside]
            wait = run.waits.longest(step.started, end, API_APPLICATION)
            lines.append(
                f"| {step.revision} {step.message} | {end - step.started:.2f} | {step.attempts} | "
                f"{len(inside)} | {failed(inside)} | {ms(percentile(latencies, 0.99))} | "
                f"{ms(max(latencies, default=float('nan')))} | {describe_wait(wait)} |"
            )
    errors = sorted(
        {f"{run.kind}: {r[4] or r[2]}" for run in passes for r in run.records if not 200 <= r[2] < 300}
    )
    if errors:
        lines.append("\nfailures: " + "; ".join(errors[:8]))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second of the live traffic")
    parser.add_argument("--before", type=float, default=20.0, help="seconds of baseline before the promotion")
    parser.add_argument("--after", type=float, default=5.0, help="seconds of traffic after it")
    parser.add_argument("--users", type=int, default=dataset.Shape.users)
    parser.add_argument("--messages", type=int, default=dataset.Shape.messages)
    parser.add_argument("--passes", default="safe,naive")
    parser.add_argument("--repeat", type=int, default=3, help="promotions of each kind (medians over them)")
    parser.add_argument("--template", metavar="NAME", help="reuse a dataset database kept by --keep")
    parser.add_argument("--keep", action="store_true", help="keep the dataset (template) database")
    arguments = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    shape = dataset.Shape(
        users=arguments.users, conversations=2 * arguments.users, messages=arguments.messages
    )
    template = arguments.template
    built = None
    if template is None:
        built = template = create_database("migtemplate")
        url = with_database(server_url(), template)
        seconds = dataset.build(url, shape)
        log(f"dataset in {template}: {dataset.size(url)}, filled in {seconds:.1f} s")
    passes: list[Pass] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-migrations-") as folder:
            kinds = [k for k in arguments.passes.split(",") if k]
            for repetition in range(arguments.repeat):
                # Alternate the order, so that neither kind always runs on a warmer machine.
                for kind in kinds if repetition % 2 == 0 else kinds[::-1]:
                    log(f"repetition {repetition + 1}/{arguments.repeat}: {kind}")
                    passes.append(
                        run_pass(
                            kind,
                            template,
                            Path(folder) / str(repetition),
                            rate=arguments.rate,
                            before=arguments.before,
                            after=arguments.after,
                            log=log,
                        )
                    )
    finally:
        if built and not arguments.keep:
            drop_database(built)
        elif built:
            log(f"kept: {built}")
    print(f"Machine: {machine()}\n")
    print(
        f"Dataset: {shape.users:,} users and agents, {shape.conversations:,} conversations, "
        f"{shape.messages:,} messages. Traffic: {arguments.rate:g} req/s open loop (3 in 10 `GET /users/me`, "
        "2 `GET /agents/{id}`, 3 `GET .../messages?limit=20`, 2 `POST .../messages`), 1,000 users, "
        f"API with 2 workers. p99 before: the {arguments.before:g} s before the promotion.\n"
    )
    print(report(passes, arguments.before))
    print(
        f"\n(whole run: {time.perf_counter() - started:.0f} s; median latency overall: "
        f"{ms(statistics.median([r[1] for p in passes for r in p.records] or [float('nan')]))})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
