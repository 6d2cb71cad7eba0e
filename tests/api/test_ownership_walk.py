"""Every route with an object id in its path, walked with another user's ids.

The walk is driven by the app's OpenAPI document, so a new route with an id fails this test until
it is given a rule here. Rules:

- ``owner``: the object belongs to one user. Anyone else, superusers included, gets the same 404
  as for an id that does not exist, and the owner's data is unchanged afterwards.
- ``superuser``: account management. A regular user gets 403 whatever the id (no oracle).
- ``catalogue``: the shared tool catalogue. Everyone may read it; only superusers change it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI

from tests.support.api import ApiUser, MakeUser, error_code, error_without_request_id, unique

pytestmark = pytest.mark.anyio

Rule = Literal["owner", "superuser", "catalogue"]
MESSAGE = {"role": "user", "content": "alice's secret"}

# (method, path template) -> rule and a valid body (so a refusal is about ownership, not input).
ROUTES: dict[tuple[str, str], tuple[Rule, dict[str, Any] | None]] = {
    ("GET", "/api/v1/agents/{agent_id}"): ("owner", None),
    ("PATCH", "/api/v1/agents/{agent_id}"): ("owner", {"name": "pwned"}),
    ("DELETE", "/api/v1/agents/{agent_id}"): ("owner", None),
    ("PUT", "/api/v1/agents/{agent_id}/tools/{tool_id}"): ("owner", None),
    ("DELETE", "/api/v1/agents/{agent_id}/tools/{tool_id}"): ("owner", None),
    ("GET", "/api/v1/agents/{agent_id}/conversations"): ("owner", None),
    ("POST", "/api/v1/agents/{agent_id}/conversations"): ("owner", {"title": "pwned"}),
    ("GET", "/api/v1/conversations/{conversation_id}"): ("owner", None),
    ("PATCH", "/api/v1/conversations/{conversation_id}"): ("owner", {"title": "pwned"}),
    ("DELETE", "/api/v1/conversations/{conversation_id}"): ("owner", None),
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): ("owner", None),
    ("POST", "/api/v1/conversations/{conversation_id}/messages"): ("owner", MESSAGE),
    ("GET", "/api/v1/users/{user_id}"): ("superuser", None),
    ("PATCH", "/api/v1/users/{user_id}"): ("superuser", {"username": "pwned_name"}),
    ("POST", "/api/v1/users/{user_id}/deactivate"): ("superuser", None),
    ("GET", "/api/v1/tools/{tool_id}"): ("catalogue", None),
    ("PATCH", "/api/v1/tools/{tool_id}"): ("catalogue", {"description": "pwned"}),
    ("DELETE", "/api/v1/tools/{tool_id}"): ("catalogue", None),
}
ABSENT = 2**62


def routes_with_ids(app: FastAPI) -> set[tuple[str, str]]:
    found = set()
    for path, operations in app.openapi()["paths"].items():
        if "{" in path:
            found |= {(method.upper(), path) for method in operations}
    return found


def fill(template: str, ids: dict[str, int]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), template)


async def snapshot(client: httpx.AsyncClient, owner: ApiUser, ids: dict[str, int]) -> list[Any]:
    """Everything the owner can see of their objects."""
    paths = [
        f"/api/v1/agents/{ids['agent_id']}",
        "/api/v1/agents",
        f"/api/v1/agents/{ids['agent_id']}/conversations",
        f"/api/v1/conversations/{ids['conversation_id']}",
        f"/api/v1/conversations/{ids['conversation_id']}/messages",
        "/api/v1/users/me",
        f"/api/v1/tools/{ids['tool_id']}",
    ]
    return [(await client.get(path, headers=owner.headers)).json() for path in paths]


async def test_every_route_with_an_id_has_a_rule(app: FastAPI) -> None:
    assert routes_with_ids(app) == set(ROUTES), "give the new route an ownership rule in ROUTES"


async def test_another_users_ids_on_every_route(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    alice, mallory, admin = await make_user(), await make_user(), await make_user(superuser=True)
    tool = await client.post(
        "/api/v1/tools", headers=admin.headers, json={"name": unique("tool"), "description": "d"}
    )
    agent = await client.post(
        "/api/v1/agents", headers=alice.headers, json={"name": unique("agent"), "model": "m"}
    )
    ids = {"agent_id": agent.json()["id"], "tool_id": tool.json()["id"], "user_id": alice.id}
    await client.put(f"/api/v1/agents/{ids['agent_id']}/tools/{ids['tool_id']}", headers=alice.headers)
    conversation = await client.post(
        f"/api/v1/agents/{ids['agent_id']}/conversations", headers=alice.headers, json={}
    )
    ids["conversation_id"] = conversation.json()["id"]
    await client.post(
        f"/api/v1/conversations/{ids['conversation_id']}/messages", headers=alice.headers, json=MESSAGE
    )
    absent = dict.fromkeys(ids, ABSENT) | {"user_id": 2**31 - 1}
    before = await snapshot(client, alice, ids)

    walked = 0
    for (method, template), (rule, body) in sorted(ROUTES.items(), key=lambda item: item[0][0] != "GET"):
        intruders = [mallory, admin] if rule == "owner" else [mallory]
        for intruder in intruders:
            theirs = await client.request(method, fill(template, ids), headers=intruder.headers, json=body)
            missing = await client.request(
                method, fill(template, absent), headers=intruder.headers, json=body
            )
            where = (method, template, intruder.username)
            if rule == "owner":
                assert theirs.status_code == 404, (*where, theirs.text)
                assert missing.status_code == 404, where
                # Indistinguishable from absent (but for the id of the request).
                assert error_without_request_id(theirs) == error_without_request_id(missing), where
            elif rule == "superuser":
                assert theirs.status_code == missing.status_code == 403, (*where, theirs.text)
                assert error_code(theirs) == "forbidden"
            elif method == "GET":
                assert theirs.status_code == 200, where  # the catalogue is public to users
            else:
                assert theirs.status_code == missing.status_code == 403, (*where, theirs.text)
            walked += 1
    assert walked == len(ROUTES) + sum(rule == "owner" for rule, _ in ROUTES.values())
    assert await snapshot(client, alice, ids) == before, "another user changed alice's data"
