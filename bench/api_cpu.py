"""CPU per request of the API, in-process: the app called through ASGI, no sockets, no server.

    uv run python -m bench.api_cpu [--baseline REV] [--rounds 5] [--requests 2000]

Throughput on this machine moves with whatever else runs on it; the CPU a request costs the
worker moves much less, and it is what the worker's ceiling is made of (a worker that spends
750 us of CPU per request cannot serve more than ~1,300 req/s). Each measurement is a fresh
process that builds the app with its lifespan (staging settings), warms up, then runs the
requests 16 at a time and reports CPU microseconds per request. With ``--baseline REV`` the
API as it was at REV is measured in the same rounds, alternating, and the table gives both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from bench import dataset
from bench.api import api_env, extract_revision, write_users_file
from bench.common import create_database, drop_database, machine, server_url, with_database
from bench.servers import signing_key

SCENARIOS = ("me", "agent", "messages", "post")


async def _measure(scenario: str, users_file: Path, requests: int, concurrency: int) -> dict[str, Any]:
    from agent_api.main import create_app

    token, agent, conversation = users_file.read_text().split()[:3]
    method = "POST" if scenario == "post" else "GET"
    path = {
        "me": "/api/v1/users/me",
        "agent": f"/api/v1/agents/{agent}",
        "messages": f"/api/v1/conversations/{conversation}/messages",
        "post": f"/api/v1/conversations/{conversation}/messages",
    }[scenario]
    query = b"limit=50" if scenario == "messages" else b""
    body = b'{"role": "user", "content": "where is my refund?"}' if method == "POST" else b""
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    statuses: dict[int, int] = {}
    app = create_app()

    async def call() -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        }  # fmt: skip
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(scope, receive, send)

    async def batch(count: int) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                await call()

        await asyncio.gather(*(one() for _ in range(count)))

    async with app.router.lifespan_context(app):
        await batch(300)
        cpu, wall = time.process_time(), time.perf_counter()
        await batch(requests)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_us": cpu / requests * 1e6, "rps": requests / wall, "statuses": statuses}


def child(arguments: argparse.Namespace) -> None:
    import uvloop

    result = uvloop.run(_measure(arguments.scenario, arguments.users_file, arguments.requests, 16))
    print(json.dumps(result))


def measure(env: dict[str, str], scenario: str, users_file: Path, requests: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.api_cpu", "--child", scenario, "--users-file", str(users_file)]
    done = subprocess.run(
        [*command, "--requests", str(requests)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"measurement failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", metavar="REV")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--database", metavar="NAME", help="reuse a dataset database (bench.api --keep)")
    parser.add_argument("--child", metavar="SCENARIO", dest="scenario", help=argparse.SUPPRESS)
    parser.add_argument("--users-file", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.scenario:
        child(arguments)
        return 0
    scenarios = [s for s in arguments.scenarios.split(",") if s]
    created = None
    with tempfile.TemporaryDirectory(prefix="bench-api-cpu-") as folder:
        try:
            if arguments.database:
                url = with_database(server_url(), arguments.database)
            else:
                created = create_database("apicpu")
                url = with_database(server_url(), created)
                dataset.build(url, dataset.Shape(users=10_000, conversations=20_000, messages=200_000))
            key = signing_key()  # random: staging refuses a guessable key
            users_file = write_users_file(url, key, 1, Path(folder) / "user.txt")
            versions: list[tuple[str, dict[str, str]]] = [("this checkout", api_env(url, key))]
            if arguments.baseline:
                source = extract_revision(arguments.baseline, Path(folder) / "baseline")
                versions.append((arguments.baseline, api_env(url, key, source)))
            cpu: dict[tuple[str, str], list[float]] = {}
            loads = []
            for round_number in range(arguments.rounds):
                loads.append("/".join(f"{x:.2f}" for x in os.getloadavg()))
                for scenario in scenarios:
                    order = versions if round_number % 2 == 0 else versions[::-1]
                    for label, env in order:
                        result = measure(env, scenario, users_file, arguments.requests)
                        cpu.setdefault((scenario, label), []).append(result["cpu_us"])
                        print(
                            f"  {scenario} ({label}): {result['cpu_us']:.0f} us", file=sys.stderr, flush=True
                        )
        finally:
            if created:
                drop_database(created)
    print(f"Machine: {machine()}\nLoad average at each round: {', '.join(loads)}\n")
    header = "| endpoint | CPU us per request (median, min-max) |"
    if arguments.baseline:
        header += f" at {arguments.baseline} | now / then |"
    print(header)
    print("| --- | --- |" + (" --- | --- |" if arguments.baseline else ""))
    for scenario in scenarios:
        now = cpu[scenario, "this checkout"]
        row = f"| {scenario} | {statistics.median(now):.0f} ({min(now):.0f}-{max(now):.0f}) |"
        if arguments.baseline:
            then = cpu[scenario, arguments.baseline]
            ratios = [a / b for a, b in zip(now, then, strict=True)]
            row += (
                f" {statistics.median(then):.0f} ({min(then):.0f}-{max(then):.0f}) | "
                f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |"
            )
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
