"""Each API process in the census: registered at startup, refreshed off the request path,
surviving a lost connection and a missing table, removed on a clean shutdown."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from agent_api.app_state import app_state
from agent_api.census import Census, open_census
from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.revisions.graph import default_graph
from agent_db.settings import load_settings
from tests.support.api_server import serving
from tests.support.databases import DatabaseFactory, url_text
from tests.support.inspection import query

pytestmark = pytest.mark.anyio


def rows(url: URL) -> list[tuple[object, ...]]:
    return query(url, "SELECT id::text, environment, pid, build_revisions, last_seen FROM schema_consumers")


def census_of(app: FastAPI) -> Census:
    census = app_state(app).census
    assert census is not None
    return census


async def test_the_running_app_is_in_the_census_with_its_build(app: FastAPI, api_database: URL) -> None:
    census = census_of(app)
    [row] = [r for r in rows(api_database) if r[0] == str(census.identity.id)]
    assert row[1] == "dev"
    assert row[2] == os.getpid()
    assert sorted(str(r) for r in row[3]) == sorted(default_graph().linear_order())  # type: ignore[attr-defined]


def test_a_served_app_registers_at_startup_and_leaves_on_shutdown(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.create("census_api")
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(url))
    app = create_app(load_api_settings("dev", consumer_heartbeat_seconds=30))
    with serving(app) as base:
        assert httpx.get(f"{base}/health").status_code == 200
        [row] = rows(url)  # the table did not exist: the process created it
        assert row[0] == str(census_of(app).identity.id)
    assert rows(url) == []


async def test_heartbeats_refresh_the_row_in_the_background(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.create("census_beat")
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(url))
    app = create_app(load_api_settings("dev", consumer_heartbeat_seconds=0.1))
    async with app.router.lifespan_context(app):
        query(url, "UPDATE schema_consumers SET last_seen = now() - interval '1 hour'")
        deadline = time.monotonic() + 20
        while query(url, "SELECT last_seen < now() - interval '1 minute' FROM schema_consumers") != [
            (False,)
        ]:
            assert time.monotonic() < deadline, "the heartbeat never refreshed the row"
            await asyncio.sleep(0.05)
    assert rows(url) == []


async def test_a_lost_connection_or_a_dropped_table_only_fails_one_heartbeat(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = databases.create("census_outage")
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(url))
    census = open_census(load_settings("dev"), heartbeat_seconds=3600)  # beats only when told
    assert await census.beat()
    query(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    # The pooled connection is dead: at most one heartbeat fails, none raises.
    results = [await census.beat(), await census.beat()]
    assert results[-1] is True
    assert not census.failing
    query(url, "DROP TABLE schema_consumers")
    assert await census.beat() is False  # a plain heartbeat finds no table...
    assert census.failing
    assert await census.beat() is True  # ...the next one registers again, table and row
    assert [r[0] for r in rows(url)] == [str(census.identity.id)]
    await census.stop()
    assert rows(url) == []


async def test_an_unreachable_database_neither_stops_the_app_nor_its_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unreachable = URL.create("postgresql+psycopg", "nobody", host="127.0.0.1", port=1, database="x")
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(unreachable))
    app = create_app(load_api_settings("dev", consumer_heartbeat_seconds=0.05))
    async with app.router.lifespan_context(app):
        census = census_of(app)
        assert census.failing
        assert census.last_success is None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(5):
                assert (await client.get("/health")).status_code == 200
                await asyncio.sleep(0.05)
        assert census.running
