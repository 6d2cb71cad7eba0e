"""An open-loop load generator: requests leave on a fixed schedule, whatever the server does.

    python -m bench.loadgen --url http://127.0.0.1:8000 --users users.txt --rate 100 --out load.jsonl

A closed-loop generator (wrk) waits for each answer before sending the next request on that
connection, so a 3-second stall delays 32 requests and all but vanishes from the p99; here a
stall delays every request scheduled during it, and latency is measured from the time the
request was *due*, not from when it could finally be sent (no coordinated omission).

The mix acts as the users in ``--users`` (lines "TOKEN AGENT_ID CONVERSATION_ID"): 3 in 10
read the caller, 2 read an agent, 3 read a page of messages, 2 append a message. It runs until
SIGTERM/SIGINT (or ``--seconds``), lets requests in flight finish (30 s timeout), then writes
one JSON line per request: [due (unix time), latency s, status (0 = no answer), kind, error].
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

MIX = ("me", "agent", "messages", "post", "me", "messages", "agent", "post", "me", "messages")


@dataclass(frozen=True)
class User:
    token: str
    agent: str
    conversation: str


def read_users(path: Path) -> list[User]:
    users = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            users.append(User(*parts[:3]))
    if not users:
        raise SystemExit(f"no users in {path}")
    return users


async def one(
    client: httpx.AsyncClient, kind: str, user: User, number: int, due: float, records: list[list[object]]
) -> None:
    headers = {"Authorization": f"Bearer {user.token}"}
    status, error = 0, ""
    try:
        if kind == "me":
            response = await client.get("/api/v1/users/me", headers=headers)
        elif kind == "agent":
            response = await client.get(f"/api/v1/agents/{user.agent}", headers=headers)
        elif kind == "messages":
            response = await client.get(
                f"/api/v1/conversations/{user.conversation}/messages?limit=20", headers=headers
            )
        else:
            response = await client.post(
                f"/api/v1/conversations/{user.conversation}/messages",
                headers=headers,
                json={"role": "user", "content": f"load message {number}"},
            )
        status = response.status_code
    except httpx.HTTPError as failure:
        error = f"{type(failure).__name__}: {failure}"[:200]
    records.append([due, time.time() - due, status, kind, error])


async def run(
    url: str, users: list[User], rate: float, seconds: float, connections: int
) -> list[list[object]]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    records: list[list[object]] = []
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:
        tasks: set[asyncio.Task[None]] = set()
        start_wall, start_loop = time.time(), loop.time()
        interval = 1.0 / rate
        number = 0
        while not stop.is_set() and number * interval < seconds:
            due_loop = start_loop + number * interval
            delay = due_loop - loop.time()
            if delay > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            user = users[number % len(users)]
            kind = MIX[number % len(MIX)]
            due_wall = start_wall + (due_loop - start_loop)
            task = asyncio.create_task(one(client, kind, user, number, due_wall, records))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            number += 1
        if tasks:
            await asyncio.wait(tasks, timeout=35)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop after this long at the latest")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        runner = asyncio.run
    records = runner(
        run(
            arguments.url,
            read_users(arguments.users),
            arguments.rate,
            arguments.seconds,
            arguments.connections,
        )
    )
    with arguments.out.open("w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
