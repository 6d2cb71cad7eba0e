"""200 concurrent clients while PostgreSQL restarts: only 200 and 503 ``database_unavailable``,
never 500, and the same API process serves them all again afterwards."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from tests.chaos.test_api_chaos import Api, api_process, wait_healthy
from tests.support.databases import target_for, url_text
from tests.support.own_server import OwnServer

pytestmark = pytest.mark.chaos


CLIENTS = 200


async def _clients_through_a_restart(
    api: Api, server: OwnServer, token: str
) -> tuple[list[tuple[float, int, str]], float, float, float]:
    """CLIENTS concurrent clients reading (GET /users/me, GET /agents: a session and a query each)
    while PostgreSQL restarts; every answer with its time, and when the restart began and ended."""
    import asyncio

    answers: list[tuple[float, int, str]] = []
    stop = asyncio.Event()
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)

    async def client(http: httpx.AsyncClient, index: int) -> None:
        path = "/api/v1/users/me" if index % 2 else "/api/v1/agents"
        while not stop.is_set():
            try:
                response = await http.get(path, headers=headers)
            except httpx.TransportError as error:
                answers.append((time.monotonic(), -1, type(error).__name__))
                await asyncio.sleep(0.05)
                continue
            code = response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""
            answers.append((time.monotonic(), response.status_code, code))
            await asyncio.sleep(0.01)

    async with httpx.AsyncClient(base_url=api.base, timeout=30, limits=limits) as http:
        tasks = [asyncio.create_task(client(http, index)) for index in range(CLIENTS)]
        await asyncio.sleep(2)
        began = time.monotonic()
        await asyncio.to_thread(server.restart)
        ended = time.monotonic()
        await asyncio.sleep(5)
        stop.set()
        await asyncio.gather(*tasks)
        last = time.monotonic()
    return answers, began, ended, last


def test_two_hundred_clients_through_a_database_restart_get_200_or_503_never_500(
    versions: Path, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """The issue's figure: 200 clients while PostgreSQL restarts get only 2xx and 503
    database_unavailable, and the same API process serves them all again afterwards."""
    import asyncio

    server = OwnServer.create(settings={"max_connections": "100"})
    server.start()
    try:
        server.create_database("app")
        url: URL = server.tcp_url("app")
        migrate.upgrade(target_for("staging", url))
        env = {"STAGING_DATABASE_URL": url_text(url), "AGENT_DB_VERSIONS_DIR": str(versions)}
        with api_process(env, tmp_path) as api:
            wait_healthy(api)
            body = {"email": "load@example.com", "username": "load", "password": "load password 42"}
            with httpx.Client(base_url=api.base, timeout=30) as http:
                assert http.post("/api/v1/auth/register", json=body).status_code == 201
                login = http.post(
                    "/api/v1/auth/login", data={"username": "load", "password": body["password"]}
                )
                token = login.json()["access_token"]
            answers, began, ended, last = asyncio.run(_clients_through_a_restart(api, server, token))
        log = api.log.read_text()
    finally:
        server.destroy()
    statuses = Counter(status for _, status, _ in answers)
    assert statuses[500] == 0, log[-3000:]
    assert set(statuses) <= {200, 503}, (statuses, log[-3000:])  # no transport error either
    assert {code for _, status, code in answers if status == 503} <= {"database_unavailable"}
    assert "Traceback" not in log
    recovered = min(at for at, status, _ in answers if status == 200 and at > ended)
    late = [status for at, status, _ in answers if at > recovered + 1]
    assert late, "no request after the recovery"
    assert set(late) == {200}, Counter(late)
    record_property(
        "figures",
        f"{CLIENTS} clients, {len(answers)} requests ({statuses[200]} x 200, {statuses[503]} x 503, "
        f"0 x 500) over {last - began + 2:.1f} s; restart took {ended - began:.2f} s; all 200 again "
        f"{recovered - ended:.2f} s after it",
    )
