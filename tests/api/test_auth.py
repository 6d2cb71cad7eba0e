"""Registration, login, tokens, and the caller's own account."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from fastapi import FastAPI

from agent_api.app_state import app_state
from agent_api.security import InvalidToken, create_access_token, decode_access_token
from tests.support.api import PASSWORD, MakeUser, error_code, error_without_request_id, password_hash, unique

pytestmark = pytest.mark.anyio


def _registration(**overrides: str) -> dict[str, str]:
    name = unique("reg")
    return {
        "email": f"{name}@Example.com",
        "username": name,
        "password": "s3cret-enough",
    } | overrides


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", data={"username": username, "password": password})


@pytest.mark.smoke
async def test_register_login_and_read_me(client: httpx.AsyncClient) -> None:
    body = _registration()
    created = await client.post("/api/v1/auth/register", json=body)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == body["email"].lower()
    assert user["is_active"] is True
    assert user["is_superuser"] is False
    assert "password" not in created.text
    assert "hashed_password" not in created.text

    logged_in = await _login(client, body["username"], body["password"])
    assert logged_in.status_code == 200, logged_in.text
    token = logged_in.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 60 * 60  # dev.toml: access_token_minutes = 60
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == token["expires_in"]

    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 200
    assert me.json() == user
    assert "hashed_password" not in me.text


async def test_login_by_email_is_case_insensitive(client: httpx.AsyncClient) -> None:
    body = _registration()
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
    response = await _login(client, body["email"].upper(), body["password"])
    assert response.status_code == 200, response.text


async def test_duplicate_email_or_username_is_409(client: httpx.AsyncClient) -> None:
    body = _registration()
    assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
    same_email = _registration(email=body["email"].upper())
    taken = await client.post("/api/v1/auth/register", json=same_email)
    assert taken.status_code == 409
    assert error_code(taken) == "email_taken"
    same_name = _registration(username=body["username"])
    taken = await client.post("/api/v1/auth/register", json=same_name)
    assert taken.status_code == 409
    assert error_code(taken) == "username_taken"


@pytest.mark.parametrize(
    "overrides",
    [
        {"email": "not-an-email"},
        {"email": "a\x00b@example.com"},
        {"username": "no spaces"},
        {"username": "ab"},
        {"password": "short"},
        {"password": "x" * 129},
        {"password": "nul\x00in-password"},
    ],
)
async def test_invalid_registration_is_422(client: httpx.AsyncClient, overrides: dict[str, str]) -> None:
    response = await client.post("/api/v1/auth/register", json=_registration(**overrides))
    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert response.json()["error"]["details"][0]["loc"][0] == "body"


async def test_unknown_fields_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/register", json=_registration() | {"is_superuser": True})
    assert response.status_code == 422


async def test_wrong_password_and_unknown_user_look_the_same(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user()
    wrong = await _login(client, user.username, "not the password")
    unknown = await _login(client, unique("ghost"), "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert error_without_request_id(wrong) == error_without_request_id(unknown)
    assert error_code(wrong) == "invalid_credentials"
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_inactive_user_cannot_log_in_nor_use_old_tokens(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user = await make_user(active=False)
    refused = await _login(client, user.username, PASSWORD)
    assert refused.status_code == 403
    assert error_code(refused) == "inactive_user"
    me = await client.get("/api/v1/users/me", headers=user.headers)
    assert me.status_code == 403


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer " + "a" * 5000],
)
async def test_missing_or_malformed_token_is_401(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_code(response) in {"not_authenticated", "invalid_token"}


async def test_expired_forged_and_orphan_tokens_are_401(
    client: httpx.AsyncClient, app: FastAPI, make_user: MakeUser
) -> None:
    user = await make_user()
    key = app_state(app).signing_key
    expired = create_access_token(user.id, password_hash(), key=key, minutes=1, now=time.time() - 120)
    forged = create_access_token(user.id, password_hash(), key="f" * 40, minutes=5)
    orphan = create_access_token(2**31 - 1, password_hash(), key=key, minutes=5)
    for token in (expired, forged, orphan):
        response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token.token}"})
        assert response.status_code == 401, response.text
        assert error_code(response) == "invalid_token"


def test_a_remembered_token_still_expires_and_stays_bound_to_its_key() -> None:
    """Verified tokens are remembered for speed; that must not extend their life or let
    another key accept them."""
    key = "remembered-key-" + "r" * 32
    token = create_access_token(7, "hash", key=key, minutes=1).token
    claims = decode_access_token(token, key=key)
    assert claims.user_id == 7
    assert decode_access_token(token, key=key, now=claims.expires_at - 1) == claims
    with pytest.raises(InvalidToken, match="expired"):
        decode_access_token(token, key=key, now=claims.expires_at)
    with pytest.raises(InvalidToken):
        decode_access_token(token, key="another-key-" + "a" * 32)
    head, _, signature = token.rpartition(".")
    tampered = f"{head}.{signature[:10]}{'B' if signature[10] == 'A' else 'A'}{signature[11:]}"
    with pytest.raises(InvalidToken):
        decode_access_token(tampered, key=key)


async def test_update_me(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    other = await make_user()
    new_name = unique("renamed")
    updated = await client.patch(
        "/api/v1/users/me", headers=user.headers, json={"username": new_name, "email": None}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["username"] == new_name
    assert updated.json()["email"] == user.email  # null leaves it as it was
    assert updated.json()["updated_at"] >= updated.json()["created_at"]
    clash = await client.patch("/api/v1/users/me", headers=user.headers, json={"email": other.email})
    assert clash.status_code == 409
    assert error_code(clash) == "email_taken"


async def test_change_password_revokes_older_tokens(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    wrong = await client.post(
        "/api/v1/users/me/password",
        headers=user.headers,
        json={"current_password": "nope nope", "new_password": "a new password"},
    )
    assert wrong.status_code == 400
    assert error_code(wrong) == "incorrect_password"

    changed = await client.post(
        "/api/v1/users/me/password",
        headers=user.headers,
        json={"current_password": PASSWORD, "new_password": "a new password"},
    )
    assert changed.status_code == 200, changed.text
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert (await client.get("/api/v1/users/me", headers=user.headers)).status_code == 401
    assert (await client.get("/api/v1/users/me", headers=fresh)).status_code == 200
    assert (await _login(client, user.username, PASSWORD)).status_code == 401
    assert (await _login(client, user.username, "a new password")).status_code == 200
