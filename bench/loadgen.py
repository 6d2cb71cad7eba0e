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
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

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


def request(kind: str, user: User, number: int) -> tuple[str, str, dict[str, str] | None]:
    """The method, path and JSON body of request ``number`` of the mix."""
    if kind == "me":
        return "GET", "/api/v1/users/me", None
    if kind == "agent":
        return "GET", f"/api/v1/agents/{user.agent}", None
    if kind == "messages":
        return "GET", f"/api/v1/conversations/{user.conversation}/messages?limit=20", None
    body = {"role": "user", "content": f"load message {number}"}
    return "POST", f"/api/v1/conversations/{user.conversation}/messages", body


class Sender(Protocol):
    async def __call__(self, kind: str, user: User, number: int) -> tuple[int, str]: ...


@contextlib.asynccontextmanager
async def httpx_sender(url: str, connections: int) -> AsyncIterator[Sender]:
    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:

        async def send(kind: str, user: User, number: int) -> tuple[int, str]:
            method, path, body = request(kind, user, number)
            headers = {"Authorization": f"Bearer {user.token}"}
            try:
                response = await client.request(method, path, headers=headers, json=body)
            except httpx.HTTPError as failure:
                return 0, f"{type(failure).__name__}: {failure}"[:200]
            return response.status_code, ""

        yield send


@contextlib.asynccontextmanager
async def aiohttp_sender(url: str, connections: int) -> AsyncIterator[Sender]:
    """aiohttp: about a tenth of httpx's CPU per request, which matters when the generator
    shares 2 cores with the servers it measures (a starved generator sends late, and its
    lateness is counted as latency)."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

        async def send(kind: str, user: User, number: int) -> tuple[int, str]:
            method, path, body = request(kind, user, number)
            headers = {"Authorization": f"Bearer {user.token}"}
            try:
                async with session.request(method, path, headers=headers, json=body) as response:
                    await response.read()
                    return response.status, ""
            except (aiohttp.ClientError, TimeoutError) as failure:
                return 0, f"{type(failure).__name__}: {failure}"[:200]

        yield send


SENDERS = {"httpx": httpx_sender, "aiohttp": aiohttp_sender}


async def one(
    send: Sender, kind: str, user: User, number: int, due: float, records: list[list[object]]
) -> None:
    status, error = await send(kind, user, number)
    records.append([due, time.time() - due, status, kind, error])


async def run(
    url: str, users: list[User], rate: float, seconds: float, connections: int, client: str = "httpx"
) -> list[list[object]]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    records: list[list[object]] = []
    async with SENDERS[client](url, connections) as send:
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
            task = asyncio.create_task(one(send, kind, user, number, due_wall, records))
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
    parser.add_argument("--client", choices=sorted(SENDERS), default="httpx", help="HTTP client library")
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
            arguments.client,
        )
    )
    with arguments.out.open("w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
