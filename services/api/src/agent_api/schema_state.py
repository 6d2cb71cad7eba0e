"""Whether this build may serve on the database's schema: inside its schema window.

The window (:mod:`agent_db.revisions.window`): every expand revision of this build's history is
applied, and every applied revision it does not know is recorded in the ledger as expand. Its
own contract revisions may be applied or not. So the previous release stays ready while a newer
one's expand revisions run, an image rolled back after an expand revision comes up ready, and a
build older than an applied contract revision is not.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_db.database.live_schema import current_revisions, ledger_records
from agent_db.database.pg_errors import sqlstate
from agent_db.revisions.graph import default_graph
from agent_db.revisions.window import BuildSchema, LiveSchema, SchemaWindow, needs_ledger, schema_window


@dataclass(frozen=True)
class SchemaState:
    ready: bool
    expected: tuple[str, ...]
    current: tuple[str, ...]
    reason: str | None = None
    window: SchemaWindow | None = None


def build_schema() -> BuildSchema:
    """The revisions shipped with this code, with their phases (read once, at startup; a bad
    phase or phase map stops the API from starting, with the file to fix)."""
    return BuildSchema.of(default_graph())


async def read_schema_state(engine: AsyncEngine, build: BuildSchema) -> SchemaState:
    reading = "position"
    try:
        async with engine.connect() as connection:
            current = tuple(sorted(await connection.run_sync(current_revisions)))
            reading = "ledger"
            records = await connection.run_sync(ledger_records) if needs_ledger(build, current) else {}
    except DBAPIError as error:
        # insufficient_privilege (42501): the API's role may not read the ledger
        if reading == "ledger" and sqlstate(error) == "42501":
            reason = (
                "the database is at a revision this build does not know, and its role may not read "
                "schema_ledger to learn that revision's phase: GRANT SELECT ON schema_ledger to it"
            )
            return SchemaState(False, build.heads, (), reason)
        return SchemaState(False, build.heads, (), f"database unreachable: {type(error).__name__}")
    except (OSError, TimeoutError) as error:
        return SchemaState(False, build.heads, (), f"database unreachable: {type(error).__name__}")
    window = schema_window(build, LiveSchema.from_rows(current, records))
    return SchemaState(window.compatible, build.heads, current, window.reason, window)
