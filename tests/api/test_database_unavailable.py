"""503, never 500, whatever way the database is unavailable: starting up or in recovery
(SQLSTATE 57P03, which asyncpg's adapter reports as a plain ``DBAPIError``), every connection
slot taken (53300), the server restarted under the pool. And a pooled connection the server
closed is replaced before it serves a request. Each case on a PostgreSQL server of the test's
own (``tests/support/own_server.py``): none of this may happen to the shared one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.commands import migrate
from tests.support.api import SIGNING_KEY, error_code, unique
from tests.support.databases import conninfo, target_for, url_text
from tests.support.own_server import OwnServer

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(url: URL, pool_size: int = 2, warm: int = 0) -> AsyncIterator[httpx.AsyncClient]:
    """The app on ``url``; ``warm`` connections opened at startup (none by default: these tests
    are about the connections a request has to open)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEV_DATABASE_URL", url_text(url))
        patch.setenv("DEV_JWT_SECRET", SIGNING_KEY)
        app: FastAPI = create_app(load_api_settings("dev", pool_size=pool_size, warm_connections=warm))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client


async def register(client: httpx.AsyncClient) -> httpx.Response:
    name = unique("u")
    body = {"email": f"{name}@example.com", "username": name, "password": "correct horse 42"}
    return await client.post("/api/v1/auth/register", json=body)


@pytest.fixture(scope="module")
def server() -> Iterator[OwnServer]:
    own = OwnServer.create(settings={"max_connections": "6", "superuser_reserved_connections": "0"})
    own.start()
    try:
        own.create_database("app")
        migrate.upgrade(target_for("dev", own.tcp_url("app")))
        yield own
    finally:
        own.destroy()


async def test_a_server_that_cannot_accept_connections_yet_is_503(server: OwnServer) -> None:
    """A standby with hot_standby off refuses every session with 57P03, exactly like a server
    that is starting up after a restart (where the window is too short to aim at)."""
    standby = OwnServer.create(settings={"hot_standby": "off"})
    (standby.data / "standby.signal").write_text("")
    standby.start()
    try:
        async with serving(standby.tcp_url("postgres")) as client:
            response = await register(client)
            ready = await client.get("/ready")
    finally:
        standby.destroy()
    assert response.status_code == 503, response.text
    assert error_code(response) == "database_unavailable"
    assert response.headers["retry-after"]
    assert ready.status_code == 503


async def test_every_connection_slot_taken_is_503(server: OwnServer) -> None:
    hogs: list[psycopg.Connection[tuple[object, ...]]] = []
    try:
        async with serving(server.tcp_url("app")) as client:
            while True:
                try:
                    hogs.append(psycopg.connect(conninfo(server.socket_url()), autocommit=True))
                except psycopg.OperationalError:
                    break
            response = await register(client)
            for hog in hogs:
                hog.close()
            hogs.clear()
            after = await register(client)
    finally:
        for hog in hogs:
            hog.close()
    assert response.status_code == 503, response.text
    assert error_code(response) == "database_unavailable"
    assert after.status_code == 201, after.text


async def test_pooled_connections_closed_by_a_restart_are_replaced_before_serving(
    server: OwnServer,
) -> None:
    """Both pooled connections die with the restart; the requests after it are served on new
    ones (without the checkout check the first of them got a 503, or a 500 before that)."""
    async with serving(server.tcp_url("app"), pool_size=2) as client:
        warm = await asyncio.gather(register(client), register(client))
        assert [r.status_code for r in warm] == [201, 201]
        await asyncio.to_thread(server.restart)
        await asyncio.sleep(0.2)  # the event loop reads the FATAL and the closed sockets
        after = [await register(client) for _ in range(4)]
    assert [r.status_code for r in after] == [201] * 4, [r.text for r in after]
