"""The authenticated hot path stays cheap: one connection and one query per ``/users/me``,
and list endpoints do not issue a query per item (no N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from agent_api.app_state import app_state
from tests.support.api import MakeUser, unique

pytestmark = pytest.mark.anyio

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")


@contextmanager
def recorded(app: FastAPI) -> Iterator[dict[str, list[Any]]]:
    """Statements executed and connections checked out while the block runs."""
    engine = app_state(app).database.engine.sync_engine
    seen: dict[str, list[Any]] = {"statements": [], "checkouts": []}

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            seen["statements"].append(statement)

    def on_checkout(*args: Any) -> None:
        seen["checkouts"].append(args)

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine.pool, "checkout", on_checkout)


async def test_me_costs_one_connection_and_one_primary_key_read(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()
    with recorded(app) as seen:
        response = await client.get("/api/v1/users/me", headers=user.headers)
    assert response.status_code == 200
    assert len(seen["checkouts"]) == 1
    assert len(seen["statements"]) == 1
    assert "FROM users" in seen["statements"][0]
    assert "WHERE users.id = " in seen["statements"][0]


async def test_listing_agents_with_tools_is_not_n_plus_1(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    admin, user = await make_user(superuser=True), await make_user()
    tool = (await client.post("/api/v1/tools", headers=admin.headers, json={"name": unique("t")})).json()
    for index in range(6):
        agent = (
            await client.post(
                "/api/v1/agents", headers=user.headers, json={"name": f"a{index}", "model": "m"}
            )
        ).json()
        await client.put(f"/api/v1/agents/{agent['id']}/tools/{tool['id']}", headers=user.headers)
    with recorded(app) as seen:
        response = await client.get("/api/v1/agents", headers=user.headers)
    assert len(response.json()["items"]) == 6
    assert all(len(agent["tools"]) == 1 for agent in response.json()["items"])
    # The user, the page of agents, the tools of the whole page.
    assert len(seen["statements"]) == 3


async def test_reading_an_agent_with_its_tools_is_one_query(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    admin, user = await make_user(superuser=True), await make_user()
    tools = [
        (await client.post("/api/v1/tools", headers=admin.headers, json={"name": unique("t")})).json()
        for _ in range(2)
    ]
    agent = (
        await client.post("/api/v1/agents", headers=user.headers, json={"name": "a", "model": "m"})
    ).json()
    for tool in tools:
        await client.put(f"/api/v1/agents/{agent['id']}/tools/{tool['id']}", headers=user.headers)
    with recorded(app) as seen:
        response = await client.get(f"/api/v1/agents/{agent['id']}", headers=user.headers)
    assert [t["id"] for t in response.json()["tools"]] == sorted(t["id"] for t in tools)
    # The user, then the agent joined with its tools.
    assert len(seen["statements"]) == 2


async def test_a_page_of_messages_is_one_query_and_an_append_two(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()
    agent = (
        await client.post("/api/v1/agents", headers=user.headers, json={"name": "a", "model": "m"})
    ).json()
    conversation = (
        await client.post(f"/api/v1/agents/{agent['id']}/conversations", headers=user.headers, json={})
    ).json()
    path = f"/api/v1/conversations/{conversation['id']}/messages"
    with recorded(app) as seen:
        appended = await client.post(path, headers=user.headers, json={"role": "user", "content": "hi"})
    assert appended.status_code == 201
    # The user, the conversation's counters, the insert.
    assert len(seen["statements"]) == 3
    with recorded(app) as seen:
        page = await client.get(path, headers=user.headers)
    assert [m["content"] for m in page.json()["items"]] == ["hi"]
    # The user, then the page guarded by the ownership test.
    assert len(seen["statements"]) == 2
