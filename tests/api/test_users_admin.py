"""Account management: superusers only."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.support.api import PASSWORD, MakeUser, error_code

pytestmark = pytest.mark.anyio


async def test_regular_users_get_403_on_admin_endpoints(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    other = await make_user()
    for method, path in [
        ("GET", "/api/v1/users"),
        ("GET", f"/api/v1/users/{other.id}"),
        ("PATCH", f"/api/v1/users/{other.id}"),
        ("POST", f"/api/v1/users/{other.id}/deactivate"),
    ]:
        response = await client.request(method, path, headers=user.headers, json={})
        assert response.status_code == 403, (method, path, response.text)
        assert error_code(response) == "forbidden"


async def test_superuser_lists_pages_of_users(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user(superuser=True)
    created = {(await make_user()).id for _ in range(3)}
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await client.get("/api/v1/users", headers=admin.headers, params=params)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        assert all("hashed_password" not in item for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    assert created | {admin.id} <= set(seen)


async def test_superuser_reads_updates_and_deactivates(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user(superuser=True)
    user = await make_user()
    read = await client.get(f"/api/v1/users/{user.id}", headers=admin.headers)
    assert read.status_code == 200
    assert read.json()["username"] == user.username

    promoted = await client.patch(
        f"/api/v1/users/{user.id}", headers=admin.headers, json={"is_superuser": True}
    )
    assert promoted.status_code == 200
    assert promoted.json()["is_superuser"] is True

    deactivated = await client.post(f"/api/v1/users/{user.id}/deactivate", headers=admin.headers)
    assert deactivated.status_code == 200
    assert deactivated.json()["is_active"] is False
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 403
    login = await client.post("/api/v1/auth/login", data={"username": user.username, "password": PASSWORD})
    assert login.status_code == 403

    reactivated = await client.patch(
        f"/api/v1/users/{user.id}", headers=admin.headers, json={"is_active": True}
    )
    assert reactivated.json()["is_active"] is True
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 200


async def test_superuser_cannot_lock_themselves_out(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user(superuser=True)
    for response in (
        await client.post(f"/api/v1/users/{admin.id}/deactivate", headers=admin.headers),
        await client.patch(f"/api/v1/users/{admin.id}", headers=admin.headers, json={"is_superuser": False}),
    ):
        assert response.status_code == 409
        assert error_code(response) == "self_lockout"


@pytest.mark.parametrize("user_id", ["0", "-1", "2147483648", "99999999999999999999999", "abc"])
async def test_out_of_range_user_ids_are_422(
    client: httpx.AsyncClient, make_user: MakeUser, user_id: str
) -> None:
    admin = await make_user(superuser=True)
    response = await client.get(f"/api/v1/users/{user_id}", headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"] == ["path", "user_id"]


async def test_missing_user_is_404(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user(superuser=True)
    response = await client.get(f"/api/v1/users/{2**31 - 1}", headers=admin.headers)
    assert response.status_code == 404
    assert error_code(response) == "not_found"


async def test_grant_superuser_task_promotes_a_registered_account(
    client: httpx.AsyncClient, make_user: MakeUser, api_database: URL
) -> None:
    from agent_db.commands.accounts import grant_superuser
    from agent_db.errors import ConfigError
    from tests.support.databases import target_for

    user = await make_user()
    assert (await client.get("/api/v1/users", headers=user.headers)).status_code == 403
    grant_superuser(target_for("dev", api_database), user.username)
    assert (await client.get("/api/v1/users", headers=user.headers)).status_code == 200
    with pytest.raises(ConfigError, match="no active user named 'nobody-here'"):
        grant_superuser(target_for("dev", api_database), "nobody-here")
