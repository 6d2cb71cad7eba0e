"""API fixtures: one migrated database for the API tests, the real app in-process (httpx over
ASGI, lifespan and all), and users created without paying Argon2 for each of them.

Tests are isolated by ownership rather than by rollback: the app commits through its own pool,
so each test creates its own users (unique names) and only ever sees their data. The shared
tool catalogue is the one exception; tests there use unique tool names.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash
from sqlalchemy.engine import URL

from agent_api.app_state import app_state
from agent_api.main import create_app
from agent_api.security import create_access_token
from agent_api.settings import load_api_settings
from agent_db.commands import migrate
from agent_db.models import User
from tests.conftest import target_for
from tests.support import DatabaseFactory, url_text

SIGNING_KEY = "test-signing-key-" + "k" * 32
PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Session-wide: lets async fixtures outlive one test (one event loop for the session)."""
    return "asyncio"


@pytest.fixture(scope="session")
def api_database(databases: DatabaseFactory) -> URL:
    """A database for the API tests, built by the real migrations."""
    url = databases.create("api")
    migrate.upgrade(target_for("dev", url))
    return url


@pytest.fixture(scope="session")
async def app(api_database: URL) -> AsyncIterator[FastAPI]:
    """The real app with its lifespan (engine, pool) running for the whole session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEV_DATABASE_URL", url_text(api_database))
        patch.setenv("DEV_JWT_SECRET", SIGNING_KEY)
        application = create_app(load_api_settings("dev", pool_size=5))
        async with application.router.lifespan_context(application):
            yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@cache
def password_hash() -> str:
    """One Argon2 hash of PASSWORD for every user the fixtures create (~0.1 s, once)."""
    return PasswordHash.recommended().hash(PASSWORD)


@dataclass(frozen=True)
class ApiUser:
    id: int
    username: str
    email: str
    headers: dict[str, str]


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


MakeUser = Callable[..., Coroutine[Any, Any, ApiUser]]


@pytest.fixture
def make_user(app: FastAPI) -> MakeUser:
    """Insert a user straight into the database and mint their token with the app's key."""

    async def make(*, superuser: bool = False, active: bool = True) -> ApiUser:
        username = unique("user")
        email = f"{username}@example.com"
        async with app_state(app).database.sessions() as session:
            user = User(
                email=email,
                username=username,
                hashed_password=password_hash(),
                is_superuser=superuser,
                is_active=active,
            )
            session.add(user)
            await session.commit()
            user_id = user.id
        token = create_access_token(user_id, password_hash(), key=app_state(app).signing_key, minutes=5).token
        return ApiUser(user_id, username, email, {"Authorization": f"Bearer {token}"})

    return make


def error_code(response: httpx.Response) -> str:
    """The ``code`` of an error response, checking the shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    assert isinstance(body["error"]["details"], list)
    return str(body["error"]["code"])
