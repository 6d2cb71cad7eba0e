"""What a new process prepares before it serves its first request: part of the pool
(:func:`warm_pool`) and the routes' request handling (:func:`build_routes`).

A new process (a rolling release's replacement, a restarted replica) otherwise opens its
connections under traffic: each one is a TCP and authentication handshake plus the driver's
per-connection setup (type codecs), paid by the requests that happen to need a connection first
while the balancer has just put the process in rotation. That was the slowest moment of
``bench.release`` (bench/RESULTS.md). Uvicorn starts accepting only once the lifespan's startup
has finished, so connections opened here are paid before the process is reachable.

A database that cannot be reached does not stop the process: it starts, answers ``/ready`` 503
and opens connections once the server is back, like a process that was already running.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.applications import Starlette

LOG = logging.getLogger("agent_api.warm_up")


async def warm_pool(engine: AsyncEngine, count: int, timeout: float = 10.0) -> int:
    """Open ``count`` pooled connections at once and return them to the pool; the number
    opened (0 when the database cannot be reached within ``timeout`` seconds)."""
    if count <= 0:
        return 0
    opened: list[AsyncConnection] = []

    async def open_one() -> None:
        connection = await engine.connect()
        opened.append(connection)
        await connection.execute(text("SELECT 1"))

    async def open_all() -> None:
        # A task group: when one fails, the others are cancelled and awaited, so none is
        # left holding a connection after the pool has been handed back.
        async with asyncio.TaskGroup() as group:
            for _ in range(count):
                group.create_task(open_one())

    try:
        await asyncio.wait_for(open_all(), timeout)
    except (TimeoutError, ExceptionGroup) as error:
        failures = error.exceptions if isinstance(error, ExceptionGroup) else (error,)
        unexpected = [e for e in failures if not isinstance(e, (SQLAlchemyError, OSError, TimeoutError))]
        if unexpected:
            raise
        LOG.warning(
            "could not open %d database connection(s) before serving (%s); "
            "they open on demand once the server answers",
            count - len(opened),
            type(failures[0]).__name__,
        )
    finally:
        for connection in opened:
            await connection.close()
    return len(opened)


WARM_UP_SCOPE: dict[str, Any] = {
    "type": "http",
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/__warm-up__/matches-no-route",
    "raw_path": b"/__warm-up__/matches-no-route",
    "root_path": "",
    "query_string": b"",
    "headers": [],
}


def build_routes(app: Starlette) -> None:
    """Have the router build every route's request handling now, not on its first request.

    FastAPI (0.165) prepares an included router's routes (their dependencies, the pydantic
    fields of parameters and responses) the first time a request is matched against it: 110 ms
    of CPU on this project's first request, while the requests queued behind it wait. Matching a
    path that no route has against every route (Starlette's public ``BaseRoute.matches``, what
    the router itself does per request) makes it prepare them all; nothing is called."""
    for route in app.router.routes:
        route.matches({**WARM_UP_SCOPE, "state": {}})
