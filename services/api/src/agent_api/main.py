"""The app factory: ``uvicorn --factory agent_api.main:create_app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import agent_api
from agent_api.database import build_engine, session_factory
from agent_api.routers import health
from agent_api.schema_state import expected_heads
from agent_api.settings import ApiSettings, load_api_settings
from agent_db.settings import load_settings


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or load_api_settings()
    database_settings = load_settings(settings.environment)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = build_engine(database_settings, settings.pool_size)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        app.state.expected_heads = expected_heads()
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="AI Agent Platform API",
        version=agent_api.__version__,
        debug=settings.debug,
        lifespan=lifespan,
    )
    app.state.settings = settings
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.include_router(health.router)
    return app
