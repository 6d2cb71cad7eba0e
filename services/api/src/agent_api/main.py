"""The app factory: ``uvicorn --factory agent_api.main:create_app``."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

import agent_api
from agent_api.app_state import AppState, app_state, store_app_state
from agent_api.boundary_errors import ShapedCORSMiddleware
from agent_api.census import open_census
from agent_api.database import check_api_url, open_database
from agent_api.error_handlers import install_error_handlers
from agent_api.errors import error_responses
from agent_api.logging_setup import apply_log_level
from agent_api.login_throttle import LoginThrottle
from agent_api.metrics import ApiMetrics, build_metrics, watch_pool
from agent_api.middleware import BodySizeLimitMiddleware
from agent_api.request_context import RequestContextMiddleware
from agent_api.routers import agents, auth, conversations, health, messages, metrics, tools, users
from agent_api.settings import ApiSettings, load_api_settings
from agent_api.signing_key import resolve_signing_key
from agent_api.warm_up import build_routes, warm_pool
from agent_db.settings import load_settings

API_PREFIX = "/api/v1"

DESCRIPTION = """
Users, agents, the tool catalogue, conversations and messages.

**Authentication**: register with `POST /api/v1/auth/register`, then exchange username (or
email) and password for a bearer token with `POST /api/v1/auth/login` (OAuth2 password flow,
form-encoded). Send it as `Authorization: Bearer <token>`. Tokens expire (`expires_in`
seconds) and stop working when the password changes or the account is deactivated.

**Ownership**: agents, conversations and messages belong to one user. Anything that is not
yours answers 404, exactly like something that does not exist.

**Errors** all have one shape: `{"error": {"code": "...", "message": "...", "details": [...]}}`.

**Lists** are paged with an opaque `cursor`: pass a page's `next_cursor` to get the next one.
"""

TAGS = [
    {"name": "auth", "description": "Registration and login (OAuth2 password flow, JWT)."},
    {"name": "users", "description": "Your account; account management for superusers."},
    {"name": "agents", "description": "Your agents and the tools attached to them."},
    {"name": "tools", "description": "The shared tool catalogue, managed by superusers."},
    {"name": "conversations", "description": "Your conversations with your agents."},
    {"name": "messages", "description": "Append and page through a conversation's messages."},
    {"name": "health", "description": "Liveness and readiness probes."},
]


class AgentApi(FastAPI):
    """FastAPI with the request context (id, access log, metrics) around everything, including
    Starlette's own 500 handler: a crash still gets its id, its log line and its count."""

    def __init__(self, *, metrics: ApiMetrics, **kwargs: Any) -> None:
        self.metrics = metrics
        # Route object (by id) -> its full template, for routes included under a prefix.
        self.route_templates: dict[int, str] = {}
        super().__init__(**kwargs)

    def include_router(self, router: APIRouter, *args: Any, prefix: str = "", **kwargs: Any) -> None:
        super().include_router(router, *args, prefix=prefix, **kwargs)
        for route in router.routes:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                self.route_templates[id(route)] = prefix + path

    def build_middleware_stack(self) -> ASGIApp:
        inner = super().build_middleware_stack()
        return RequestContextMiddleware(inner, self.metrics, self.route_templates)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or load_api_settings()
    apply_log_level(settings.log_level, settings.log_format)
    api_metrics = build_metrics()
    database_settings = load_settings(settings.environment)
    # A URL parameter the driver cannot honour stops the process now, not every request later.
    check_api_url(database_settings)
    # Resolved now, not on first request: a missing or weak key stops the process at startup.
    signing_key = resolve_signing_key(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = open_database(database_settings, settings.pool_size)
        watch_pool(api_metrics, database.engine, settings.pool_size)
        await warm_pool(database.engine, min(settings.warm_connections, settings.pool_size))
        build_routes(app)
        census = open_census(database_settings, settings.consumer_heartbeat_seconds)
        await census.start()
        store_app_state(app, app_state(app).with_database(database).with_census(census))
        # What exists now (modules, routes, schemas, the engine) lives as long as the process:
        # move it out of the collector's sight. Otherwise every full collection walks all of it
        # and stops the worker for ~90 ms (it was the p99 of bench.api; bench/RESULTS.md).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            store_app_state(app, app_state(app).with_database(None).with_census(None))
            await census.stop()
            await database.engine.dispose()

    app = AgentApi(
        metrics=api_metrics,
        title="AI Agent Platform API",
        version=agent_api.__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        # Not Starlette's debug mode: it would answer 500s with an HTML traceback instead of
        # the API's error shape. settings.debug adds the exception's type to 500 bodies.
        debug=False,
        lifespan=lifespan,
    )
    throttle = LoginThrottle(
        free_failures=settings.login_free_failures,
        base_delay=settings.login_base_delay_seconds,
        max_delay=settings.login_max_delay_seconds,
    )
    store_app_state(
        app,
        AppState(settings=settings, signing_key=signing_key, login_throttle=throttle, metrics=api_metrics),
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            ShapedCORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    # Each domain router straight onto the app: FastAPI matches included routers level by
    # level on every request, so an intermediate /api/v1 router would cost a level of matching.
    for module in (auth, users, agents, tools, conversations, messages):
        app.include_router(module.router, prefix=API_PREFIX, responses=error_responses(400, 413, 422, 503))
    # Routers are tried in order: the probes' and the scrape's routes after the API's, so an API
    # request does not first try /health, /ready and /metrics.
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app
