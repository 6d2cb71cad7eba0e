"""Whether the database's schema is the one this code was written for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_db.revisions.graph import default_graph


@dataclass(frozen=True)
class SchemaState:
    ready: bool
    expected: tuple[str, ...]
    current: tuple[str, ...]
    reason: str | None = None


def expected_heads() -> tuple[str, ...]:
    """The head revision(s) shipped with this code."""
    return default_graph().heads


async def read_schema_state(engine: AsyncEngine, expected: tuple[str, ...]) -> SchemaState:
    try:
        async with engine.connect() as connection:
            table = await connection.scalar(text("SELECT to_regclass('alembic_version')"))
            rows = (
                (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
                if table
                else []
            )
    except (DBAPIError, OSError, TimeoutError) as error:
        return SchemaState(False, expected, (), f"database unreachable: {type(error).__name__}")
    current = tuple(sorted(row[0] for row in rows))
    if set(current) == set(expected):
        return SchemaState(True, expected, current)
    known = default_graph()
    if not current:
        reason = "database has no schema yet: run the migrations (db.upgrade)"
    elif any(rev not in known for rev in current):
        reason = "database is ahead of this code: deploy the newer API"
    else:
        reason = "database is behind this code: the migrations have not run yet"
    return SchemaState(False, expected, current, reason)
