"""Conversations and messages: appending, counting, and cursor pagination."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from agent_api.app_state import app_state
from tests.support.api import ApiUser, MakeUser, error_code, unique

pytestmark = pytest.mark.anyio


async def _conversation(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    agent = await client.post(
        "/api/v1/agents", headers=user.headers, json={"name": unique("agent"), "model": "m"}
    )
    created = await client.post(
        f"/api/v1/agents/{agent.json()['id']}/conversations",
        headers=user.headers,
        json={"title": "hello"},
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _append(
    client: httpx.AsyncClient, user: ApiUser, conversation_id: int, content: str
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        headers=user.headers,
        json={"role": "user", "content": content},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _page(
    client: httpx.AsyncClient, user: ApiUser, conversation_id: int, cursor: str | None, limit: int
) -> dict[str, Any]:
    params: dict[str, str | int] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    response = await client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=user.headers, params=params
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.smoke
async def test_conversation_lifecycle(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    conversation = await _conversation(client, user)
    assert conversation["message_count"] == 0
    assert conversation["last_message_at"] is None
    agent_id, cid = conversation["agent_id"], conversation["id"]

    listed = await client.get(f"/api/v1/agents/{agent_id}/conversations", headers=user.headers)
    assert [c["id"] for c in listed.json()["items"]] == [cid]

    appended = await client.post(
        f"/api/v1/conversations/{cid}/messages",
        headers=user.headers,
        json={"role": "assistant", "content": "hi", "prompt_tokens": 12, "completion_tokens": 3},
    )
    assert appended.status_code == 201
    message = appended.json()
    assert (message["role"], message["prompt_tokens"], message["completion_tokens"]) == (
        "assistant",
        12,
        3,
    )
    read = (await client.get(f"/api/v1/conversations/{cid}", headers=user.headers)).json()
    assert read["message_count"] == 1
    assert read["last_message_at"] == message["created_at"]

    cleared = await client.patch(f"/api/v1/conversations/{cid}", headers=user.headers, json={"title": None})
    assert cleared.json()["title"] is None
    untouched = await client.patch(f"/api/v1/conversations/{cid}", headers=user.headers, json={})
    assert untouched.json()["title"] is None

    assert (await client.delete(f"/api/v1/conversations/{cid}", headers=user.headers)).status_code == 204
    assert (await client.get(f"/api/v1/conversations/{cid}", headers=user.headers)).status_code == 404
    gone = await client.get(f"/api/v1/conversations/{cid}/messages", headers=user.headers)
    assert gone.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"role": "robot", "content": "x"},
        {"role": "user"},
        {"role": "user", "content": "nul\x00"},
        {"role": "user", "content": "x", "prompt_tokens": -1},
        {"role": "user", "content": "x", "completion_tokens": 2**31},
        {"role": "user", "content": "x", "prompt_tokens": 10**30},
    ],
)
async def test_invalid_messages_are_422(
    client: httpx.AsyncClient, make_user: MakeUser, body: dict[str, object]
) -> None:
    user = await make_user()
    conversation = await _conversation(client, user)
    response = await client.post(
        f"/api/v1/conversations/{conversation['id']}/messages", headers=user.headers, json=body
    )
    assert response.status_code == 422, response.text
    read = await client.get(f"/api/v1/conversations/{conversation['id']}", headers=user.headers)
    assert read.json()["message_count"] == 0


async def test_pagination_is_stable_while_messages_arrive(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    cid = (await _conversation(client, user))["id"]
    sent = [(await _append(client, user, cid, f"m{i}"))["id"] for i in range(5)]

    first = await _page(client, user, cid, None, 2)
    assert [m["id"] for m in first["items"]] == sent[:2]
    # New messages between pages land on later pages: nothing skipped, nothing repeated.
    sent += [(await _append(client, user, cid, f"late{i}"))["id"] for i in range(3)]
    seen = [m["id"] for m in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = await _page(client, user, cid, cursor, 2)
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
    assert seen == sent
    assert [m["content"] for m in (await _page(client, user, cid, None, 100))["items"]] == [
        *(f"m{i}" for i in range(5)),
        *(f"late{i}" for i in range(3)),
    ]


async def test_concurrent_appends_keep_order_and_count(
    client: httpx.AsyncClient, make_user: MakeUser, app: FastAPI
) -> None:
    user = await make_user()
    cid = (await _conversation(client, user))["id"]
    created = await asyncio.gather(*(_append(client, user, cid, f"c{i}") for i in range(12)))
    page = await _page(client, user, cid, None, 100)
    ids = [m["id"] for m in page["items"]]
    assert sorted(ids) == ids
    assert set(ids) == {m["id"] for m in created}
    conversation = await client.get(f"/api/v1/conversations/{cid}", headers=user.headers)
    assert conversation.json()["message_count"] == 12
    async with app_state(app).database.engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM messages WHERE conversation_id = :c"), {"c": cid}
        )
    assert count == 12


@pytest.mark.parametrize(
    "cursor", ["garbage!", "%00", "x" * 65, "YToy", "bTotMQ", "bTo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5"]
)
async def test_bad_cursors_are_422(client: httpx.AsyncClient, make_user: MakeUser, cursor: str) -> None:
    # "YToy" is an agents cursor (a:2); "bTotMQ" is m:-1; the last is m:99999999999999999999.
    user = await make_user()
    cid = (await _conversation(client, user))["id"]
    response = await client.get(f"/api/v1/conversations/{cid}/messages?cursor={cursor}", headers=user.headers)
    assert response.status_code == 422, response.text
    assert error_code(response) in {"invalid_cursor", "validation_error"}


@pytest.mark.parametrize("limit", ["0", "101", "-5", "1e3", "99999999999999999999"])
async def test_limit_is_bounded(client: httpx.AsyncClient, make_user: MakeUser, limit: str) -> None:
    user = await make_user()
    cid = (await _conversation(client, user))["id"]
    response = await client.get(f"/api/v1/conversations/{cid}/messages?limit={limit}", headers=user.headers)
    assert response.status_code == 422


async def test_deleting_an_agent_deletes_its_conversations(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    conversation = await _conversation(client, user)
    await _append(client, user, conversation["id"], "bye")
    deleted = await client.delete(f"/api/v1/agents/{conversation['agent_id']}", headers=user.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/conversations/{conversation['id']}", headers=user.headers)
    assert gone.status_code == 404


async def test_last_message_at_never_goes_backwards(
    client: httpx.AsyncClient, make_user: MakeUser, app: FastAPI
) -> None:
    """An append whose transaction began before another append committed used to write its
    older start time over the newer one (2 of 4 rounds of concurrent appends)."""
    from agent_api.routers.messages import _BUMP

    user = await make_user()
    cid = (await _conversation(client, user))["id"]
    engine = app_state(app).database.engine
    async with engine.connect() as late:
        transaction = await late.begin()
        await late.execute(text("SELECT now()"))  # its now() is fixed from here on
        await asyncio.sleep(0.05)
        await _append(client, user, cid, "committed first, started later")
        newest = await _last_message_at(client, user, cid)
        await late.execute(_BUMP, {"cid": cid, "uid": user.id})  # the late append's own statement
        await transaction.commit()
    assert await _last_message_at(client, user, cid) >= newest


async def _last_message_at(client: httpx.AsyncClient, user: ApiUser, cid: int) -> datetime:
    read = await client.get(f"/api/v1/conversations/{cid}", headers=user.headers)
    return datetime.fromisoformat(read.json()["last_message_at"])
