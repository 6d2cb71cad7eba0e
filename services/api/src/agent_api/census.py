"""This process in the census of the database's consumers (``schema_consumers``).

Registered when the app starts, refreshed every ``[api] consumer_heartbeat_seconds`` by a
background task, removed when the app stops cleanly. The toolkit's contract gate reads the
census: a contract revision runs only once every live process's build knows it.

Off the request path: the task has its own one-connection engine, so it never takes a
connection from the request pool, and each heartbeat is bounded by a timeout. A database outage
fails heartbeats (logged once, when it starts, and once when it ends), never the process or a
request; the first heartbeat after the outage puts the row back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from agent_api.database import build_engine
from agent_db.database import consumers
from agent_db.database.consumers import ConsumerIdentity
from agent_db.revisions.graph import default_graph
from agent_db.settings import DatabaseSettings

logger = logging.getLogger("agent_api.census")

MAX_BEAT_SECONDS = 5.0  # one heartbeat never waits longer than this (nor than the interval)
STOP_SECONDS = 2.0  # a clean shutdown waits at most this long to remove the row


@dataclass
class Census:
    """The heartbeat of one process; ``start`` and ``stop`` are called by the app's lifespan."""

    engine: AsyncEngine
    identity: ConsumerIdentity
    # The monotonic time of the last heartbeat the database accepted (None: none yet).
    last_success: float | None = None
    failing: bool = False
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def interval(self) -> float:
        return self.identity.heartbeat_seconds

    @property
    def running(self) -> bool:
        """The background heartbeat is alive."""
        return self._task is not None and not self._task.done()

    @property
    def beat_timeout(self) -> float:
        return min(MAX_BEAT_SECONDS, max(self.interval, 0.5))

    async def start(self) -> None:
        """Register now (bounded: an unreachable database delays startup by at most one beat's
        timeout), then keep the row fresh in the background."""
        await self.beat()
        self._task = asyncio.create_task(self._run(), name="agent-api-census")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.beat()

    async def beat(self) -> bool:
        """One heartbeat; True when the database recorded it. Never raises (but cancellation)."""
        # The first beat, and the first after a failure, registers: that also creates the table
        # on a database an older toolkit migrated, and puts back a row pruned meanwhile.
        write = consumers.register if self.last_success is None or self.failing else consumers.heartbeat
        try:
            async with asyncio.timeout(self.beat_timeout), self.engine.connect() as connection:
                await connection.run_sync(write, self.identity)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # an outage must never stop the heartbeat
            if not self.failing:
                logger.warning(
                    "census heartbeat failed (%s); this process may count as gone for the contract "
                    "gate until the database answers again",
                    type(error).__name__,
                )
            self.failing = True
            return False
        if self.failing:
            logger.info("census heartbeat recorded again")
        self.failing = False
        self.last_success = time.monotonic()
        return True

    async def stop(self) -> None:
        """Stop the heartbeat and remove the row (bounded), then close the engine."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            async with asyncio.timeout(STOP_SECONDS), self.engine.connect() as connection:
                await connection.run_sync(consumers.deregister, self.identity.id)
        except Exception as error:  # the row then expires on its own
            logger.warning(
                "could not remove this process from the census (%s); its row expires after %s "
                "missed heartbeats",
                type(error).__name__,
                consumers.MISSED_HEARTBEATS,
            )
        finally:
            await self.engine.dispose()


def open_census(settings: DatabaseSettings, heartbeat_seconds: float) -> Census:
    """This process's census entry: its build is the revision history shipped with this code."""
    graph = default_graph()
    identity = ConsumerIdentity.of_this_process(
        settings.name,
        revisions=graph.linear_order(),
        heads=graph.heads,
        heartbeat_seconds=heartbeat_seconds,
    )
    return Census(build_engine(settings, 1), identity)
