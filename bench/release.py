"""A rolling release behind HAProxy, under open-loop live traffic.

    uv run invoke bench.release [--rate 100] [--before 20] [--after 15] [--users 50000]

1. Two real builds (bench/release_builds.py): release N (this checkout's HEAD) and N+1 (a
   commit on a temporary branch of a scratch clone: an expand revision that adds and backfills
   ``users.role`` in batches, code that reads it, and a contract revision that drops
   ``users.is_superuser``, which N reads on every authenticated request).
2. A staging-sized database migrated by N's toolkit and filled (bench/dataset.py); two API
   processes of N (uvicorn, 1 worker each, staging settings) behind a real HAProxy
   (bench/haproxy.py: installed with apt-get when absent; ``option httpchk GET /ready``).
3. Open-loop traffic (bench/loadgen.py: a fixed arrival rate, latency counted from when each
   request was due) through HAProxy, while a sampler reads HAProxy's view of its servers
   every 50 ms. After a warm-up and ``--before`` seconds of baseline:
   - N+1's toolkit runs ``db.upgrade --env staging --phase expand`` (the backfill runs while N
     serves);
   - the first N process is replaced (surge of one: N+1 started, ready, in rotation, serving
     beside it for ``--min-ready`` seconds; then the N process drained, out of rotation,
     stopped with SIGTERM);
   - ``db.upgrade --env staging --phase contract`` while the other N process is registered in
     the census: the gate must refuse it (exit 3, naming that process);
   - the second N process is replaced the same way;
   - ``db.upgrade --env staging --phase contract`` again: it runs;
   - ``--after`` seconds more traffic.

Reported: requests and failures (non-2xx or no answer), the fewest servers HAProxy had in
rotation and the longest time with none, p99 before / during / after the release, the gate's
two answers, and whether the "done when" of the release holds (exit 1 when it does not).
The release's own work (the toolkit's runs, each new API process until it is ready) runs at
``--deploy-nice`` (default 10; the processes are put back to 0 once they serve): on a real
deployment it runs on other machines than the serving replicas, while here everything shares
2 cores. The database work of the migration (DDL, the backfill's batches) runs in PostgreSQL at
normal priority, so its cost to the traffic is measured in full. ``--deploy-nice 0`` turns this
off.

Builds without the ``--phase`` flag (before the gate existed) run the expand revision with
``--to`` and the contract only after the last N process is gone, and say so.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench import dataset, release_builds
from bench.api import load_average, write_users_file
from bench.common import create_database, drop_database, machine, server_url, with_database
from bench.haproxy import HAProxy, ReadySampler, haproxy_path, version
from bench.locks import LockSampler
from bench.migrations_load import process
from bench.release_builds import Build, Builds
from bench.release_report import Outcome, Report, ToolRun, render
from bench.servers import Server, signing_key

API_APP = "agent_api.main:create_app"
SLOTS = ("s1", "s2", "s3")
LOG: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731


@dataclass
class ApiProcess:
    build: Build
    slot: str
    server: Server

    @property
    def pid(self) -> int:
        return self.server.process.pid if self.server.process else 0


@dataclass
class Release:
    """One run: the builds, the fleet, the proxy and what happened when."""

    builds: Builds
    env: dict[str, str]
    proxy: HAProxy
    fleet: list[ApiProcess] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    tools: list[ToolRun] = field(default_factory=list)
    readiness: list[tuple[str, int, str]] = field(default_factory=list)
    nice: int = 0  # niceness of the release's own work: toolkit runs, processes starting
    min_ready: float = 0.0  # seconds a new process serves beside the old before the old drains
    unreniced: int = 0  # processes that could not be put back to niceness 0 (not root)

    def mark(self, label: str) -> float:
        now = time.time()
        self.events.append((now, label))
        LOG(f"{time.strftime('%H:%M:%S')} {label}")
        return now

    def start_api(self, build: Build, slot: str, timeout: float = 60) -> ApiProcess:
        log = self.proxy.folder / f"api-{build.name}-{slot}-{len(self.events)}.log"
        server = Server(API_APP, 1, build.env(self.env), cwd=build.folder, log=log, nice=self.nice)
        server.start(timeout=timeout)
        api = ApiProcess(build, slot, server)
        status, body = wait_ready(server.base_url, timeout)
        if status != 200:
            server.stop()
            raise RuntimeError(f"{build.name} on {slot} never became ready: {status} {body}")
        if self.nice:  # serving now: back to the priority of the processes it joins
            try:
                os.setpriority(os.PRIO_PROCESS, api.pid, 0)
            except PermissionError:
                self.unreniced += 1
        self.fleet.append(api)
        return api

    def probe(self, label: str) -> None:
        """Every running process's own ``/ready``, for the report."""
        for api in self.fleet:
            status, body = get(f"{api.server.base_url}/ready", timeout=10)
            reason = json.loads(body).get("reason") if body.startswith("{") else body[:200]
            self.readiness.append((f"{label}: {api.build.name} on {api.slot}", status, reason or ""))

    def replace(self, old: ApiProcess, new_build: Build) -> None:
        """Surge of one: the new process in rotation first, then the old one drained and stopped."""
        free = next(slot for slot in SLOTS if slot not in {api.slot for api in self.fleet})
        self.mark(f"start {new_build.name} in {free}")
        new = self.start_api(new_build, free)
        self.proxy.point(free, new.server.port)
        self.proxy.wait_status(free, "UP", 30)
        self.mark(f"{new_build.name} in {free} is UP in HAProxy")
        # Kubernetes' minReadySeconds: the new process takes its (slow-started) share of the
        # traffic while the old one still serves, so it is warm before it carries a half.
        time.sleep(self.min_ready)
        self.mark(f"draining {old.build.name} in {old.slot}")
        self.proxy.drain(old.slot)
        self.proxy.wait_idle(old.slot, 30)
        self.proxy.maintenance(old.slot)
        old.server.stop()  # SIGTERM: uvicorn finishes, the lifespan leaves the census
        self.fleet.remove(old)
        self.mark(f"{old.build.name} in {old.slot} stopped (pid {old.pid})")

    def toolkit(self, label: str, build: Build, *args: str) -> ToolRun:
        """``invoke db.upgrade --env staging --json ARGS`` with ``build``'s toolkit."""
        command = [sys.executable, "-m", "invoke", "db.upgrade", "--env", "staging", "--json", *args]
        if self.nice:
            command = ["nice", "-n", str(self.nice), *command]
        started = self.mark(f"{label}: db.upgrade {' '.join(args)} ({build.name}'s toolkit)")
        result = subprocess.run(
            command, cwd=build.folder, env=build.env(self.env), capture_output=True, text=True, check=False
        )
        run = ToolRun(
            label, build.name, args, result.returncode, result.stdout, result.stderr, started, time.time()
        )
        self.tools.append(run)
        self.mark(f"{label}: exit {result.returncode} after {run.seconds:.1f} s")
        return run


def compile_bytecode(builds: Builds) -> float:
    """Both builds' code and the environment's packages compiled, as the image does
    (``UV_COMPILE_BYTECODE=1``): otherwise every process started during the release compiles
    them from source first (3.4 s of CPU instead of 1.3 s to import the app here, where
    ``PYTHONDONTWRITEBYTECODE`` may be set), on the cores that serve the traffic."""
    started = time.perf_counter()
    folders = [str(build.folder / part) for build in (builds.old, builds.new)
               for part in ("services/api/src", "packages/db/src")]  # fmt: skip
    packages = [path for path in sys.path if path.endswith("site-packages")]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j0", *folders, *packages],
        env=env, capture_output=True, check=False,
    )  # fmt: skip
    return time.perf_counter() - started


def get(url: str, timeout: float = 2) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError as error:
        return 0, str(error)


def wait_ready(base_url: str, timeout: float) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    status, body = 0, ""
    while time.monotonic() < deadline:
        status, body = get(f"{base_url}/ready")
        if status == 200:
            break
        time.sleep(0.2)
    return status, body


def supports(build: Build, env: dict[str, str], flag: str, task: str = "db.upgrade") -> bool:
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "--help", task],
        cwd=build.folder,
        env=build.env(env),
        capture_output=True,
        text=True,
        check=False,
    )
    return flag in result.stdout


def prepare_database(url: str, builds: Builds, env: dict[str, str], shape: dataset.Shape) -> float:
    """Migrated by N's toolkit, filled, one user in ten a superuser; seconds it took."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "db.upgrade", "--env", "staging"],
        cwd=builds.old.folder,
        env=builds.old.env(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"N's db.upgrade failed ({result.returncode}): {result.stderr[-2000:]}")
    dataset.fill(url, shape, dataset.password_hash())
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("UPDATE users SET is_superuser = true WHERE id % 10 = 0")
        connection.execute("VACUUM (ANALYZE) users")
    return time.perf_counter() - started


def data_checks(url: str, records: list[list[object]], shape: dataset.Shape) -> list[tuple[str, bool, str]]:
    """What the release must not have lost: every role backfilled and the admins kept (the
    dataset makes every tenth user a superuser), the dropped column gone, every message the
    traffic was told was stored (2xx) in the table."""
    admins = shape.users // 10
    stored = sum(1 for r in records if r[3] == "post" and 200 <= int(str(r[2])) < 300)
    unanswered = sum(1 for r in records if r[3] == "post" and not 200 <= int(str(r[2])) < 300)
    with psycopg.connect(url) as connection:
        columns = {
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
            )
        }
        role = (
            connection.execute(
                "SELECT count(*), count(*) FILTER (WHERE role IS NULL), "
                "count(*) FILTER (WHERE role = 'admin') FROM users"
            ).fetchone()
            if "role" in columns
            else None
        )
        row = connection.execute(
            "SELECT count(*) FROM messages WHERE content LIKE 'load message %'"
        ).fetchone()
    messages = int(row[0]) if row else 0
    checks = []
    if role is None:
        checks.append(("data: users.role backfilled, admins kept", False, "users has no role column"))
    else:
        total, missing, admin = role
        checks.append(
            (
                "data: users.role backfilled, admins kept",
                missing == 0 and admin == admins,
                f"{total:,} users, {missing} without a role, {admin:,} admins (expected {admins:,})",
            )
        )
    checks.append(
        (
            "data: users.is_superuser dropped by the contract",
            "is_superuser" not in columns,
            "gone" if "is_superuser" not in columns else "still there",
        )
    )
    checks.append(
        (
            "data: every message answered 2xx is stored",
            messages >= stored and messages <= stored + unanswered,
            f"{stored:,} answered 2xx, {messages:,} rows ({unanswered} posts without a 2xx answer)",
        )
    )
    return checks


def roll(release: Release, arguments: argparse.Namespace, gate: bool) -> None:
    """Everything between the baseline and the after window."""
    old, new = release.builds.old, release.builds.new
    expand = ("--phase", "expand") if gate else ("--to", release_builds.ROLE_EXPAND)
    release.mark("release starts")
    if release.toolkit("expand", new, *expand).exit_code != 0:
        raise RuntimeError("the expand step failed: see the report")
    time.sleep(arguments.settle)
    release.probe("after expand")
    first, second = [api for api in release.fleet if api.build is old]
    release.replace(first, new)
    time.sleep(arguments.settle)
    if gate:
        release.toolkit("contract, an N process still registered", new, "--phase", "contract")
        time.sleep(arguments.settle)
    release.replace(second, new)
    time.sleep(arguments.settle)
    contract = ("--phase", "contract") if gate else ()
    if release.toolkit("contract, no N process left", new, *contract).exit_code != 0:
        raise RuntimeError("the contract step failed: see the report")
    release.probe("after contract")
    release.mark("release done")


def run(arguments: argparse.Namespace, folder: Path) -> Report:
    binary = haproxy_path()
    LOG(f"haproxy: {version(binary)}")
    builds = release_builds.make(
        folder,
        release=arguments.release,
        batch_size=arguments.batch_size,
        pause_seconds=arguments.batch_pause,
    )
    LOG(f"builds: N {builds.old.short}, N+1 {builds.new.short} in {folder}")
    LOG(f"bytecode compiled in {compile_bytecode(builds):.1f} s (as the image does)")
    name = create_database("release")
    url = with_database(server_url(), name)
    key = signing_key()
    env = {
        **os.environ,
        "AGENT_ENV": "staging",
        "STAGING_DATABASE_URL": url,
        "STAGING_JWT_SECRET": key,
        "AGENT_DB_CACHE_DIR": str(folder / "cache"),
        "NO_COLOR": "1",
    }
    shape = dataset.Shape(
        users=arguments.users, conversations=2 * arguments.users, messages=arguments.messages
    )
    try:
        filled = prepare_database(url, builds, env, shape)
        LOG(f"database {name}: {dataset.size(url)} in {filled:.1f} s")
        users = write_users_file(url, key, 1_000, folder / "users.txt")
        gate = supports(builds.new, env, "--phase")
        proxy = HAProxy(binary, folder, SLOTS, {})
        release = Release(builds, env, proxy, nice=arguments.deploy_nice, min_ready=arguments.min_ready)
        records_file = folder / "load.jsonl"
        loads = [load_average()]
        failure = None
        try:
            for slot in SLOTS[:2]:
                release.start_api(builds.old, slot)
            proxy.initial = {api.slot: api.server.port for api in release.fleet}
            proxy.start()
            for slot in proxy.initial:  # HAProxy starts its servers DOWN until their checks pass
                proxy.wait_status(slot, "UP", 30)
            downtime_at_start = int(proxy.backend().get("downtime") or 0)
            sampler = ReadySampler(proxy)
            sampler.start()
            locks = LockSampler(url, interval=0.05)
            locks.start()
            loadgen = [
                sys.executable, "-m", "bench.loadgen", "--url", proxy.base_url, "--users", str(users),
                "--rate", str(arguments.rate), "--out", str(records_file), "--client", "aiohttp",
            ]  # fmt: skip
            try:
                with process(loadgen, dict(os.environ)) as load:
                    release.mark("traffic starts")
                    time.sleep(arguments.warmup)
                    release.mark("baseline starts")
                    time.sleep(arguments.before)
                    loads.append(load_average())
                    try:
                        roll(release, arguments, gate)
                    except RuntimeError as error:
                        failure = str(error)
                        release.mark(f"release stopped: {failure}")
                    loads.append(load_average())
                    time.sleep(arguments.after)
                    release.mark("traffic stops")
                    load.send_signal(signal.SIGTERM)
                    load.wait(timeout=arguments.drain)
            finally:
                sampler.stop()
                locks.stop()
                counters = {"backend": proxy.backend(), **proxy.servers()}
                # What HAProxy counted before the traffic started is not the release's.
                backend = counters["backend"]
                backend["downtime"] = str(int(backend.get("downtime") or 0) - downtime_at_start)
        finally:
            proxy.stop()
            for api in release.fleet:
                api.server.stop()
        records = [json.loads(line) for line in records_file.read_text().splitlines()]
        return Report(
            checks=data_checks(url, records, shape),
            outcome=Outcome(
                records, release.events, release.tools, release.readiness, sampler, counters, locks
            ),
            builds=builds,
            haproxy=version(binary),
            gate=gate,
            failure=failure,
            loads=loads,
            shape=shape,
            arguments=vars(arguments),
            unreniced=release.unreniced,
        )
    finally:
        drop_database(name)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second of the live traffic")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of traffic before the baseline")
    parser.add_argument("--before", type=float, default=20.0, help="seconds of baseline before the release")
    parser.add_argument("--after", type=float, default=15.0, help="seconds of traffic after it")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between the release's steps")
    parser.add_argument("--users", type=int, default=50_000, help="users (and agents) in the dataset")
    parser.add_argument("--messages", type=int, default=300_000, help="messages in the dataset")
    parser.add_argument("--batch-size", type=int, default=1_000, help="rows per batch of the backfill")
    parser.add_argument("--batch-pause", type=float, default=0.05, help="seconds between batches")
    parser.add_argument(
        "--drain", type=float, default=180.0, help="seconds the load generator may take to finish"
    )
    parser.add_argument(
        "--deploy-nice",
        type=int,
        default=10,
        help="niceness of the release's own work (toolkit runs, new processes until ready); 0: none",
    )
    parser.add_argument(
        "--min-ready",
        type=float,
        default=5.0,
        help="seconds a new process serves beside the old one before the old one drains "
        "(Kubernetes' minReadySeconds)",
    )
    parser.add_argument("--release", default="HEAD", help="the commit release N is built from")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (builds, logs)")
    arguments = parser.parse_args()
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="bench-release-"))
    try:
        report = run(arguments, folder)
    finally:
        if arguments.keep:
            LOG(f"kept: {folder}")
        else:
            subprocess.run(["rm", "-rf", str(folder)], check=False)
    text, met = render(report)
    print(f"Machine: {machine()}\n")
    print(text)
    print(f"\n(whole run: {time.perf_counter() - started:.0f} s)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
