"""Bad input of every kind gets a 4xx in the one error shape, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.api import MakeUser, error_code

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"name": "a\\u0000b", "model": "m"}', 422),  # NUL: PostgreSQL text refuses it
        (b'{"name": "\\ud800", "model": "m"}', 422),  # lone surrogate
        (b'{"name": "ok", "model": "m", "settings": {"v": "\\udfff"}}', 422),
        (b'{"name": "ok", "model": "m", "settings": {"v": NaN}}', 422),
        (b'{"name": "ok", "model": "m", "settings": {"v": 1e999}}', 422),
        (b'{"name": "\xff\xfe", "model": "m"}', 400),  # not UTF-8
        (b'{"name": ', 422),  # truncated JSON
        (b"[" * 50_000, 400),  # deeper than the parser goes
        (b'{"name": "ok", "model": "m", "settings": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, 422),
        (b'{"name": "ok", "model": "m", "settings": {"v": ' + b"9" * 5000 + b"}}", 400),
        (b"null", 422),
        (b'"just a string"', 422),
    ],
)
async def test_malformed_bodies(
    client: httpx.AsyncClient, make_user: MakeUser, raw: bytes, status: int
) -> None:
    user = await make_user()
    response = await client.post("/api/v1/agents", headers=user.headers | JSON, content=raw)
    assert response.status_code == status, response.text
    error_code(response)


async def test_oversized_body_is_413_before_it_is_read(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/register", headers=JSON, content=b"x" * (1_048_576 + 1))
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    """No Content-Length: the middleware counts the chunks and stops at the limit."""
    user = await make_user()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "big", "model": "m", "system_prompt": "'
        for _ in range(20):
            yield b"y" * 65_536
        yield b'"}'

    response = await client.post("/api/v1/agents", headers=user.headers | JSON, content=chunks())
    assert response.status_code == 413, response.text
    assert error_code(response) == "payload_too_large"


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert error_code(missing) == "not_found"
    wrong = await client.delete("/api/v1/auth/login")
    assert wrong.status_code == 405
    assert error_code(wrong) == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/agents/9223372036854775808",
        "/api/v1/agents/99999999999999999999999999999999",
        "/api/v1/agents/-1",
        "/api/v1/agents/1.5",
        "/api/v1/conversations/0/messages",
        "/api/v1/tools/%00",
    ],
)
async def test_ids_out_of_range_are_422(client: httpx.AsyncClient, make_user: MakeUser, path: str) -> None:
    user = await make_user()
    response = await client.get(path, headers=user.headers)
    assert response.status_code == 422, response.text
    assert error_code(response) == "validation_error"


async def test_largest_id_is_a_plain_404(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    response = await client.get("/api/v1/agents/9223372036854775807", headers=user.headers)
    assert response.status_code == 404


async def test_form_login_with_odd_input(client: httpx.AsyncClient) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    for raw in (b"username=a%00b&password=x", b"username=%FF%FE&password=x", b"", b"password=x"):
        response = await client.post("/api/v1/auth/login", headers=form, content=raw)
        assert response.status_code in {401, 422}, (raw, response.text)
        error_code(response)
    wrong_grant = await client.post(
        "/api/v1/auth/login", data={"username": "a", "password": "b", "grant_type": "magic"}
    )
    assert wrong_grant.status_code == 422
