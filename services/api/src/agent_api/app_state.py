"""What the app holds for its whole life, in one typed place: built by ``create_app`` (settings,
signing key, login throttle) and its lifespan (the database), read through :func:`app_state`.

One frozen object under one ``app.state`` key instead of loose attributes: a reader sees every
field and its type, mypy checks each use, and nothing can be set by accident halfway through a
request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from agent_api.client_address import Network, trusted_networks
from agent_api.login_throttle import LoginThrottle
from agent_api.metrics import ApiMetrics
from agent_api.settings import ApiSettings
from agent_db.revisions.window import BuildSchema

if TYPE_CHECKING:
    from agent_api.census import Census

_KEY = "agent_api"


@dataclass(frozen=True, slots=True)
class Database:
    """The engine and what is made from it; exists while the lifespan runs."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Autocommit sessions for safe methods (see agent_api.database.read_only_session_factory).
    read_sessions: async_sessionmaker[AsyncSession]
    # The revisions this code ships, with their phases: what /ready checks the database against.
    build: BuildSchema

    @property
    def expected_heads(self) -> tuple[str, ...]:
        """The head revision(s) this code was written for."""
        return self.build.heads


@dataclass(frozen=True, slots=True)
class AppState:
    settings: ApiSettings
    signing_key: str
    login_throttle: LoginThrottle
    metrics: ApiMetrics
    database_or_none: Database | None = None
    # This process's heartbeat in the census of consumers (agent_api.census); lifespan only.
    census: Census | None = None

    @property
    def trusted_proxies(self) -> tuple[Network, ...]:
        """The proxies whose X-Forwarded-For is believed (agent_api.client_address)."""
        return trusted_networks(tuple(self.settings.trusted_proxies))

    @property
    def database(self) -> Database:
        database = self.database_or_none
        if database is None:
            raise RuntimeError("the app's lifespan is not running, so it has no database engine")
        return database

    def with_database(self, database: Database | None) -> AppState:
        return replace(self, database_or_none=database)

    def with_census(self, census: Census | None) -> AppState:
        return replace(self, census=census)


def app_state(app: Starlette) -> AppState:
    """The state ``create_app`` stored on ``app``."""
    state: AppState = getattr(app.state, _KEY)
    return state


def store_app_state(app: Starlette, state: AppState) -> None:
    setattr(app.state, _KEY, state)
