"""What the login throttle tests share: API instances of their own (each with its own engine and
pool, like a worker process or a replica) against one database, clients calling from a chosen
address, and a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import URL

from agent_api.app_state import app_state
from agent_api.main import create_app
from agent_api.settings import load_api_settings
from tests.support.api import SIGNING_KEY
from tests.support.databases import url_text

LOGIN = "/api/v1/auth/login"


class Clock:
    """Stands still until the test moves it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@asynccontextmanager
async def running_app(
    database: URL, *, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[FastAPI]:
    """One API instance with its lifespan running (its own engine), like one worker process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEV_DATABASE_URL", url_text(database))
        patch.setenv("DEV_JWT_SECRET", SIGNING_KEY)
        application = create_app(load_api_settings("dev", pool_size=2, **overrides))
        if clock is not None:
            app_state(application).login_throttle.clock = clock
        async with application.router.lifespan_context(application):
            yield application


@asynccontextmanager
async def client_from(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose TCP peer address is ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def attempt(http: httpx.AsyncClient, name: str, password: str, forwarded: str | None = None) -> int:
    """One login; ``forwarded`` is sent as X-Forwarded-For. Returns the status."""
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    response = await http.post(LOGIN, data={"username": name, "password": password}, headers=headers)
    return response.status_code
