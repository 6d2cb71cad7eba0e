"""The API behind a real PgBouncer in transaction mode (tests/support/pgbouncer.py), two server
connections for the app's pool of ten: concurrent reads and writes all succeed once the
environment says ``pooler_mode = "transaction"``; without it, asyncpg's prepared statements
break (which is why the setting exists)."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.commands import migrate
from tests.support.api import PASSWORD, SIGNING_KEY, unique
from tests.support.databases import DatabaseFactory, target_for, url_text
from tests.support.paths import ROOT
from tests.support.pgbouncer import PgBouncer

pytestmark = pytest.mark.anyio
ROUNDS = 40  # concurrent requests per kind


def _environments(tmp_path: Path, mode: str) -> Path:
    folder = tmp_path / f"environments-{mode}"
    shutil.copytree(ROOT / "environments", folder)
    dev = folder / "dev.toml"
    dev.write_text(dev.read_text().replace("protected = false", f'protected = false\npooler_mode = "{mode}"'))
    return folder


@asynccontextmanager
async def _api(
    pooled: URL, environments: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("AGENT_ENVIRONMENTS_DIR", str(environments))
    monkeypatch.setenv("DEV_DATABASE_URL", url_text(pooled))
    monkeypatch.setenv("DEV_JWT_SECRET", SIGNING_KEY)
    app = create_app(load_api_settings("dev", pool_size=10))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        yield client


async def _traffic(client: httpx.AsyncClient) -> Counter[int]:
    """One user (register, log in), then concurrent agent creations, lists, reads and
    readiness checks; the statuses of every response."""
    name = unique("pool")
    user = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    register = await client.post("/api/v1/auth/register", json=user)
    login = await client.post("/api/v1/auth/login", data={"username": name, "password": PASSWORD})
    statuses = Counter([register.status_code, login.status_code])
    if login.status_code != 200:
        return statuses
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    agent = {"model": "m"}
    requests = [
        client.post("/api/v1/agents", json={"name": f"a{i}", **agent}, headers=headers) for i in range(ROUNDS)
    ]
    requests += [client.get("/api/v1/agents", headers=headers) for _ in range(ROUNDS)]
    requests += [client.get("/api/v1/users/me", headers=headers) for _ in range(ROUNDS)]
    requests += [client.get("/ready") for _ in range(ROUNDS)]
    return statuses + Counter(response.status_code for response in await asyncio.gather(*requests))


async def test_the_api_works_through_a_transaction_pooler(
    pgbouncer: PgBouncer, databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = databases.create("apipool")
    migrate.upgrade(target_for("dev", direct))
    pooled = pgbouncer.url(direct.database or "")
    async with _api(pooled, _environments(tmp_path, "transaction"), monkeypatch) as client:
        for _ in range(3):
            statuses = await _traffic(client)
            assert statuses == Counter({201: ROUNDS + 1, 200: 3 * ROUNDS + 1}), statuses


async def test_without_the_setting_prepared_statements_break(
    pgbouncer: PgBouncer, databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = databases.create("apinopool")
    migrate.upgrade(target_for("dev", direct))
    pooled = pgbouncer.url(direct.database or "")
    async with _api(pooled, _environments(tmp_path, "none"), monkeypatch) as client:
        statuses = Counter[int]()
        for _ in range(3):
            statuses += await _traffic(client)
    assert statuses[500] + statuses[503] > 0, statuses
