"""A new process opens part of its pool before it serves (agent_api.warm_up): the first requests
after a balancer puts it in rotation do not pay the connection handshakes. A database that
cannot be reached does not stop it from starting."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import fastapi.routing
import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.commands import migrate
from agent_db.errors import ConfigError
from tests.support.api import SIGNING_KEY
from tests.support.databases import DatabaseFactory, conninfo, target_for, url_text

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def started(url: URL, **settings: int) -> AsyncIterator[httpx.AsyncClient]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEV_DATABASE_URL", url_text(url))
        patch.setenv("DEV_JWT_SECRET", SIGNING_KEY)
        app: FastAPI = create_app(load_api_settings("dev", **settings))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client


def sessions_on(url: URL) -> int:
    """Client sessions on ``url``'s database other than this one's."""
    with psycopg.connect(conninfo(url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()
    return int(row[0]) if row else 0


async def test_connections_are_open_before_the_first_request(databases: DatabaseFactory) -> None:
    url = databases.create("warm")
    migrate.upgrade(target_for("dev", url))
    census = 1  # the census's heartbeat holds its own connection while the process runs
    assert sessions_on(url) == 0
    async with started(url, pool_size=6, warm_connections=3):
        assert sessions_on(url) == 3 + census
    async with started(url, pool_size=2, warm_connections=5):  # never more than the pool
        assert sessions_on(url) == 2 + census
    async with started(url, pool_size=6, warm_connections=0):
        assert sessions_on(url) == census


async def test_an_unreachable_database_does_not_stop_the_process(caplog: pytest.LogCaptureFixture) -> None:
    nowhere = URL.create("postgresql+asyncpg", username="postgres", host="127.0.0.1", port=1, database="x")
    async with started(nowhere, pool_size=4, warm_connections=4) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/ready")).status_code == 503
    assert "could not open 4 database connection(s) before serving" in caplog.text


def test_warm_connections_is_checked() -> None:
    with pytest.raises(ConfigError, match="warm_connections"):
        load_api_settings("dev", warm_connections=-1)


async def test_routes_are_prepared_before_the_first_request(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI prepares an included router's routes on the first request matched against it
    (fastapi.routing._populate_api_route_state, ~110 ms here); the lifespan does it instead.
    When FastAPI renames or drops that function, this test fails: check that first requests are
    still not paying for it (agent_api.warm_up.build_routes)."""
    prepared: list[str] = []
    original = fastapi.routing._populate_api_route_state

    def spy(*args: object, **kwargs: object) -> object:
        prepared.append("route")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fastapi.routing, "_populate_api_route_state", spy)
    url = databases.create("warmroutes")
    migrate.upgrade(target_for("dev", url))
    async with started(url, pool_size=2, warm_connections=0) as client:
        assert len(prepared) > 10  # every route of every router, at startup
        prepared.clear()
        for path in ("/api/v1/users/me", "/api/v1/agents", "/api/v1/conversations", "/ready"):
            await client.get(path)
        assert prepared == []
