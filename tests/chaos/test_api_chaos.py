"""The API under migration and database faults, as separate ``api.serve`` processes.

- API processes start while a migration runs: ``/ready`` answers 503 until the schema is at the
  code's head, then 200 and never 503 again; no request gets a 500 (a request that meets a
  half-migrated schema gets 503 ``schema_not_ready`` with ``Retry-After``).
- PostgreSQL restarts under traffic: requests in flight get 503 ``database_unavailable``, never
  500, and the API serves again without being restarted.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.database.lock import MIGRATION_LOCK_KEY
from tests.support.cli import spawn
from tests.support.databases import DatabaseFactory, conninfo, target_for, url_text
from tests.support.inspection import position
from tests.support.own_server import OwnServer
from tests.support.paths import ROOT
from tests.support.ports import free_port
from tests.support.revisions import configured_head, write_revision

pytestmark = pytest.mark.chaos
SIGNING_KEY = "chaos-signing-key-Hw4Tn9Qe2Ry7Ub5Io1Pa8Sd3Fg6Jk0Lz"
ALLOWED = {200, 201, 401, 409, 422, 503}
_names = itertools.count()


@dataclass
class Api:
    """One API process and what a client saw of it."""

    base: str
    log: Path
    ready: list[tuple[float, int]] = field(default_factory=list)
    requests: list[tuple[float, str, int, str]] = field(default_factory=list)

    def statuses(self) -> Counter[int]:
        return Counter(status for _, _, status, _ in self.requests)

    def unexpected(self) -> list[tuple[float, str, int, str]]:
        return [r for r in self.requests if r[2] not in ALLOWED]


@contextmanager
def api_process(env: dict[str, str], folder: Path) -> Iterator[Api]:
    port = free_port()
    log = folder / f"api-{port}.log"
    variables = {**os.environ, **env, "STAGING_JWT_SECRET": SIGNING_KEY}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "invoke", "api.serve", "--env", "staging", "--port", str(port)],
            cwd=ROOT,
            env=variables,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            yield Api(f"http://127.0.0.1:{port}", log)
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_healthy(api: Api, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=api.base, timeout=5) as http:
        while True:
            try:
                if http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, api.log.read_text()[-2000:]
            time.sleep(0.05)


def hammer(api: Api, stop: threading.Event) -> None:
    """/ready, a registration and a login, over and over: reads and writes that need the schema."""
    with httpx.Client(base_url=api.base, timeout=15) as http:
        while not stop.is_set():
            now = time.monotonic()
            ready = http.get("/ready")
            api.ready.append((now, ready.status_code))
            name = f"chaos{os.getpid()}_{next(_names)}"
            body = {"email": f"{name}@example.com", "username": name, "password": "chaos password 1"}
            for path, response in (
                ("register", http.post("/api/v1/auth/register", json=body)),
                ("login", http.post("/api/v1/auth/login", data={"username": name, "password": "wrong"})),
            ):
                code = response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""
                api.requests.append((time.monotonic(), path, response.status_code, code))
            time.sleep(0.02)


def ready_flips_once(api: Api) -> bool:
    """503 ... 503 200 ... 200: ready once, and never unready again."""
    statuses = [status for _, status in api.ready]
    first_ready = statuses.index(200)
    return set(statuses[:first_ready]) <= {503} and set(statuses[first_ready:]) == {200}


def test_api_processes_started_during_a_migration(
    databases: DatabaseFactory,
    versions: Path,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """The whole history runs from an empty database while three APIs take traffic. A session
    holds the migration lock until the APIs are up, so they start while the runner is running
    (waiting), and then serve through every intermediate schema."""
    url = databases.create("apichaos")
    head = configured_head()
    write_revision(
        versions,
        "ch10",
        head,
        "op.add_column('users', sa.Column('nickname', sa.String(40)))",
        "op.drop_column('users', 'nickname')",
    )
    write_revision(versions, "ch11", "ch10", "op.execute('SELECT pg_sleep(3)')")  # slow, locks nothing
    env = {"STAGING_DATABASE_URL": url_text(url), "AGENT_DB_VERSIONS_DIR": str(versions)}
    holder = psycopg.connect(conninfo(url), autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    migration = spawn(["db.upgrade", "--env", "staging"], env)
    stop = threading.Event()
    with ExitStack() as stack:
        apis = [stack.enter_context(api_process(env, tmp_path)) for _ in range(3)]
        threads = []
        for api in apis:
            wait_healthy(api)
            threads.append(threading.Thread(target=hammer, args=(api, stop), daemon=True))
            threads[-1].start()
        time.sleep(1)
        holder.close()  # the runner gets the lock and migrates from base under the traffic
        code = migration.wait(timeout=180)
        finished = time.monotonic()
        time.sleep(2)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    _, stderr = migration.communicate()
    assert code == 0, stderr
    assert position(url) == ["ch11"]

    total = Counter[int]()
    not_ready = Counter[str]()
    for api in apis:
        assert not api.unexpected(), (api.unexpected()[:5], api.log.read_text()[-3000:])
        assert ready_flips_once(api), api.ready
        assert api.ready[0][1] == 503, "the API should have started before the migration ended"
        assert api.ready[-1][1] == 200
        after = [status for at, path, status, _ in api.requests if path == "register" and at > finished]
        assert after, "no registration after the migration"
        assert set(after) == {201}
        total += api.statuses()
        not_ready += Counter(code for _, _, status, code in api.requests if status == 503)
    assert "Traceback" not in "".join(api.log.read_text() for api in apis)
    assert total[500] == 0
    requests = sum(total.values())
    record_property(
        "figures",
        f"3 API processes started during the migration; {requests} requests: 0 x 500, "
        f"{total[503]} x 503 ({dict(not_ready)}), {total[201]} x 201; /ready flipped 503 -> 200 once",
    )


def test_database_restart_under_traffic(
    versions: Path, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    server = OwnServer.create()
    server.start()
    try:
        server.create_database("app")
        url: URL = server.tcp_url("app")
        migrate.upgrade(target_for("staging", url))
        env = {"STAGING_DATABASE_URL": url_text(url), "AGENT_DB_VERSIONS_DIR": str(versions)}
        stop = threading.Event()
        with api_process(env, tmp_path) as api:
            wait_healthy(api)
            thread = threading.Thread(target=hammer, args=(api, stop), daemon=True)
            thread.start()
            time.sleep(1.5)
            restart_started = time.monotonic()
            server.restart()
            restarted = time.monotonic()
            time.sleep(4)
            stop.set()
            thread.join(timeout=30)
        log = api.log.read_text()
    finally:
        server.destroy()
    assert not api.unexpected(), (api.unexpected()[:5], log[-3000:])
    assert "Traceback" not in log
    after = [(at, status) for at, path, status, _ in api.requests if path == "register" and at > restarted]
    recovered = next(at for at, status in after if status == 201)
    assert all(status == 201 for at, status in after if at > recovered + 0.5)
    failures = [code for at, _, status, code in api.requests if status == 503 and at >= restart_started]
    assert set(failures) <= {"database_unavailable"}
    record_property(
        "figures",
        f"restart took {restarted - restart_started:.2f} s; {len(failures)} requests got 503 "
        f"database_unavailable, 0 x 500; serving again {recovered - restarted:.2f} s after the restart",
    )
