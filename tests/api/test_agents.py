"""Agents: CRUD, owner-scoped."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import MakeUser, error_code, unique

pytestmark = pytest.mark.anyio


@pytest.mark.smoke
async def test_agent_crud(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    body = {
        "name": unique("agent"),
        "model": "gpt-4o",
        "system_prompt": "Be brief. ✓ ünïcode 🤖",
        "settings": {"temperature": 0.2, "stop": ["\n"], "nested": {"a": [1, None, True]}},
    }
    created = await client.post("/api/v1/agents", headers=user.headers, json=body)
    assert created.status_code == 201, created.text
    agent = created.json()
    assert {k: agent[k] for k in body} == body
    assert agent["owner_id"] == user.id
    assert agent["tools"] == []

    read = await client.get(f"/api/v1/agents/{agent['id']}", headers=user.headers)
    assert read.json() == agent

    patched = await client.patch(
        f"/api/v1/agents/{agent['id']}",
        headers=user.headers,
        json={"model": "gpt-4o-mini", "settings": {}, "name": None},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["model"] == "gpt-4o-mini"
    assert patched.json()["settings"] == {}
    assert patched.json()["name"] == body["name"]
    assert patched.json()["updated_at"] > agent["updated_at"]

    deleted = await client.delete(f"/api/v1/agents/{agent['id']}", headers=user.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/agents/{agent['id']}", headers=user.headers)
    assert gone.status_code == 404
    assert error_code(gone) == "not_found"
    again = await client.delete(f"/api/v1/agents/{agent['id']}", headers=user.headers)
    assert again.status_code == 404


async def test_names_are_unique_per_owner_only(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    first, second = await make_user(), await make_user()
    body = {"name": "support-bot", "model": "m"}
    assert (await client.post("/api/v1/agents", headers=first.headers, json=body)).status_code == 201
    assert (await client.post("/api/v1/agents", headers=second.headers, json=body)).status_code == 201
    clash = await client.post("/api/v1/agents", headers=first.headers, json=body)
    assert clash.status_code == 409
    assert error_code(clash) == "agent_name_taken"

    other = await client.post("/api/v1/agents", headers=first.headers, json={"name": "other", "model": "m"})
    renamed = await client.patch(
        f"/api/v1/agents/{other.json()['id']}", headers=first.headers, json={"name": "support-bot"}
    )
    assert renamed.status_code == 409


async def test_list_agents_pages_only_your_own(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user, other = await make_user(), await make_user()
    await client.post("/api/v1/agents", headers=other.headers, json={"name": "x", "model": "m"})
    ids = []
    for index in range(5):
        response = await client.post(
            "/api/v1/agents", headers=user.headers, json={"name": f"a{index}", "model": "m"}
        )
        ids.append(response.json()["id"])
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/agents", headers=user.headers, params=params)).json()
        seen += [agent["id"] for agent in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m"},
        {"name": "", "model": "m"},
        {"name": "x" * 101, "model": "m"},
        {"name": "nul\x00", "model": "m"},
        {"name": "ok", "model": "m", "settings": "not an object"},
        {"name": "ok", "model": "m", "settings": {"k\x00": 1}},
        {"name": "ok", "model": "m", "settings": {"v": "nul\x00"}},
        {"name": "ok", "model": "m", "system_prompt": None},
        {"name": "ok", "model": "m", "owner_id": 1},
    ],
)
async def test_invalid_agents_are_422(
    client: httpx.AsyncClient, make_user: MakeUser, body: dict[str, object]
) -> None:
    user = await make_user()
    response = await client.post("/api/v1/agents", headers=user.headers, json=body)
    assert response.status_code == 422, response.text
    assert error_code(response) == "validation_error"
