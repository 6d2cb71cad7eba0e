"""Two users: neither can read, change or delete the other's agents, conversations or
messages, and the answer is always 404 (a 403 would confirm that the thing exists)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import MakeUser, error_code, unique

pytestmark = pytest.mark.anyio


async def test_another_users_data_is_404_everywhere(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    alice, mallory = await make_user(), await make_user()
    agent = (
        await client.post("/api/v1/agents", headers=alice.headers, json={"name": unique("a"), "model": "m"})
    ).json()
    conversation = (
        await client.post(f"/api/v1/agents/{agent['id']}/conversations", headers=alice.headers, json={})
    ).json()
    message = {"role": "user", "content": "secret"}
    cid = conversation["id"]
    await client.post(f"/api/v1/conversations/{cid}/messages", headers=alice.headers, json=message)

    def attempts(aid: int, cid: int) -> list[tuple[str, str, dict[str, str] | None]]:
        return [
            ("GET", f"/api/v1/agents/{aid}", None),
            ("PATCH", f"/api/v1/agents/{aid}", {"name": "pwned"}),
            ("DELETE", f"/api/v1/agents/{aid}", None),
            ("GET", f"/api/v1/agents/{aid}/conversations", None),
            ("POST", f"/api/v1/agents/{aid}/conversations", {"title": "x"}),
            ("GET", f"/api/v1/conversations/{cid}", None),
            ("PATCH", f"/api/v1/conversations/{cid}", {"title": "pwned"}),
            ("DELETE", f"/api/v1/conversations/{cid}", None),
            ("GET", f"/api/v1/conversations/{cid}/messages", None),
            ("POST", f"/api/v1/conversations/{cid}/messages", message),
        ]

    real = attempts(agent["id"], cid)
    nonexistent = attempts(2**62, 2**62 + 1)
    for (method, path, body), (_, absent_path, _) in zip(real, nonexistent, strict=True):
        response = await client.request(method, path, headers=mallory.headers, json=body)
        assert response.status_code == 404, (method, path, response.text)
        absent = await client.request(method, absent_path, headers=mallory.headers, json=body)
        # Indistinguishable from something that does not exist.
        assert absent.status_code == 404
        assert error_code(absent) == error_code(response) == "not_found"
        assert absent.json()["error"]["message"] == response.json()["error"]["message"]

    listed = await client.get("/api/v1/agents", headers=mallory.headers)
    assert listed.json()["items"] == []
    # Alice's data is untouched.
    mine = await client.get(f"/api/v1/agents/{agent['id']}", headers=alice.headers)
    assert mine.json()["name"] == agent["name"]
    page = await client.get(f"/api/v1/conversations/{cid}/messages", headers=alice.headers)
    assert [m["content"] for m in page.json()["items"]] == ["secret"]
    read = await client.get(f"/api/v1/conversations/{cid}", headers=alice.headers)
    assert read.json()["title"] is None
    assert read.json()["message_count"] == 1
