"""The Python ceiling: the same framework and server, one raw asyncpg query per request, and
nothing else (no auth, no ORM, no response model, no middleware).

    BENCH_BARE_DSN=postgresql://... uvicorn --factory bench.bare_app:create_app --workers 2

What the API reaches against this is what auth, SQLAlchemy and pydantic cost on top of the
floor that FastAPI + uvicorn + asyncpg set on this machine.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Request

QUERY = "SELECT id, email, username, is_active, is_superuser FROM users WHERE id = $1"


def create_app() -> FastAPI:
    dsn = os.environ["BENCH_BARE_DSN"]
    pool_size = int(os.environ.get("BENCH_BARE_POOL", "20"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/bare/{user_id}")
    async def bare(user_id: int, request: Request) -> dict[str, Any]:
        row = await request.app.state.pool.fetchrow(QUERY, user_id)
        return dict(row) if row is not None else {}

    return app
