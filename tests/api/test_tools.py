"""The shared tool catalogue and attaching tools to agents."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import ApiUser, MakeUser, error_code, unique

pytestmark = pytest.mark.anyio


async def _tool(client: httpx.AsyncClient, admin: ApiUser, **extra: Any) -> dict[str, Any]:
    body = {"name": unique("tool"), "description": "does things", **extra}
    response = await client.post("/api/v1/tools", headers=admin.headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _agent(client: httpx.AsyncClient, user: ApiUser) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/agents", headers=user.headers, json={"name": unique("agent"), "model": "m"}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_superusers_manage_the_catalogue_and_everyone_reads_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(superuser=True)
    user = await make_user()
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    tool = await _tool(client, admin, parameters=schema)
    assert tool["parameters"] == schema

    refused = await client.post("/api/v1/tools", headers=user.headers, json={"name": unique("tool")})
    assert refused.status_code == 403
    assert (await client.get(f"/api/v1/tools/{tool['id']}", headers=user.headers)).json() == tool
    listed = await client.get("/api/v1/tools", headers=user.headers, params={"limit": 100})
    assert listed.status_code == 200

    duplicate = await client.post("/api/v1/tools", headers=admin.headers, json={"name": tool["name"]})
    assert duplicate.status_code == 409
    assert error_code(duplicate) == "tool_name_taken"

    renamed = await client.patch(
        f"/api/v1/tools/{tool['id']}", headers=admin.headers, json={"description": "better"}
    )
    assert renamed.json()["description"] == "better"
    assert renamed.json()["name"] == tool["name"]
    assert (
        await client.patch(f"/api/v1/tools/{tool['id']}", headers=user.headers, json={})
    ).status_code == 403

    assert (await client.delete(f"/api/v1/tools/{tool['id']}", headers=user.headers)).status_code == 403
    deleted = await client.delete(f"/api/v1/tools/{tool['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await client.get(f"/api/v1/tools/{tool['id']}", headers=user.headers)
    assert gone.status_code == 404


async def test_attach_and_detach_tools(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user(superuser=True)
    user = await make_user()
    first, second = await _tool(client, admin), await _tool(client, admin)
    agent = await _agent(client, user)
    base = f"/api/v1/agents/{agent['id']}/tools"

    attached = await client.put(f"{base}/{second['id']}", headers=user.headers)
    assert attached.status_code == 200, attached.text
    again = await client.put(f"{base}/{second['id']}", headers=user.headers)
    assert again.json()["tools"] == [{"id": second["id"], "name": second["name"]}]
    both = await client.put(f"{base}/{first['id']}", headers=user.headers)
    assert [t["id"] for t in both.json()["tools"]] == [first["id"], second["id"]]

    detached = await client.delete(f"{base}/{first['id']}", headers=user.headers)
    assert detached.status_code == 200
    assert [t["id"] for t in detached.json()["tools"]] == [second["id"]]
    not_attached = await client.delete(f"{base}/{first['id']}", headers=user.headers)
    assert not_attached.status_code == 404
    missing_tool = await client.put(f"{base}/{2**62}", headers=user.headers)
    assert missing_tool.status_code == 404

    # Removing a tool from the catalogue detaches it everywhere.
    await client.delete(f"/api/v1/tools/{second['id']}", headers=admin.headers)
    read = await client.get(f"/api/v1/agents/{agent['id']}", headers=user.headers)
    assert read.json()["tools"] == []


async def test_tools_of_someone_elses_agent_are_404(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user(superuser=True)
    owner, intruder = await make_user(), await make_user()
    tool = await _tool(client, admin)
    agent = await _agent(client, owner)
    path = f"/api/v1/agents/{agent['id']}/tools/{tool['id']}"
    assert (await client.put(path, headers=intruder.headers)).status_code == 404
    assert (await client.put(path, headers=owner.headers)).status_code == 200
    assert (await client.delete(path, headers=intruder.headers)).status_code == 404
    read = await client.get(f"/api/v1/agents/{agent['id']}", headers=owner.headers)
    assert len(read.json()["tools"]) == 1
