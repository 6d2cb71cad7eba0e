"""Liveness and readiness of the API against a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from alembic import command
from sqlalchemy.engine import URL

from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.database.engines import create_sync_engine
from agent_db.revisions.alembic_config import alembic_config
from agent_db.revisions.graph import default_graph
from tests.support.databases import url_text

pytestmark = pytest.mark.smoke


async def _client(url: URL, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(url))
    app = create_app(load_api_settings("dev"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _migrate(url: URL, revision: str) -> None:
    engine = create_sync_engine(url)
    with engine.connect() as connection:
        command.upgrade(alembic_config("dev", connection=connection), revision)
        connection.commit()
    engine.dispose()


@pytest.mark.anyio
async def test_health_is_ok_without_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = URL.create("postgresql+psycopg", "nobody", host="127.0.0.1", port=1, database="x")
    async for client in _client(unreachable, monkeypatch):
        response = await client.get("/health")
        assert response.status_code == 200
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert "unreachable" in ready.json()["reason"]


@pytest.mark.anyio
async def test_ready_follows_the_schema_revision(empty_url: URL, monkeypatch: pytest.MonkeyPatch) -> None:
    head = default_graph().single_head()
    async for client in _client(empty_url, monkeypatch):
        empty = await client.get("/ready")
        assert empty.status_code == 503
        assert "no schema" in empty.json()["reason"]

        _migrate(empty_url, default_graph().linear_order()[0])
        behind = await client.get("/ready")
        assert behind.status_code == 503
        assert "behind" in behind.json()["reason"]

        _migrate(empty_url, "head")
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["schema_revision"] == [head]
        assert ready.json()["expected_revision"] == [head]
