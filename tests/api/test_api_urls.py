"""libpq URL parameters for the API (asyncpg), against the tests' own TLS PostgreSQL
(tests/support/tls_server.py): the same URL the toolkit takes serves the API, with the same
meaning; what asyncpg cannot honour stops the app at startup, naming the parameter."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_api.app_state import app_state
from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.commands import migrate
from agent_db.errors import ConfigError
from agent_db.urls import parse_url
from tests.support.api import PASSWORD, SIGNING_KEY
from tests.support.cli import run_invoke
from tests.support.databases import target_for, url_text
from tests.support.tls_server import CLIENT_CERT_DATABASE, TlsServer

pytestmark = pytest.mark.anyio
APPS: dict[int, FastAPI] = {}  # the app behind each open client


@asynccontextmanager
async def _api(
    raw: str, monkeypatch: pytest.MonkeyPatch, environment: str = "dev"
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv(f"{environment.upper()}_DATABASE_URL", raw)
    monkeypatch.setenv(f"{environment.upper()}_JWT_SECRET", SIGNING_KEY)
    app = create_app(load_api_settings(environment, pool_size=2))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
    ):
        APPS[id(client)] = app
        try:
            yield client
        finally:
            del APPS[id(client)]


def _engine(client: httpx.AsyncClient) -> AsyncEngine:
    """The engine of the app behind ``client`` (its lifespan is running)."""
    return app_state(APPS[id(client)]).database.engine


def _migrated(tls: TlsServer) -> str:
    name = f"tlsapi_{secrets.token_hex(4)}"
    tls.server.create_database(name)
    migrate.upgrade(target_for("dev", tls.url(name, sslmode="require")))
    return name


async def test_verify_full_serves_with_the_urls_own_settings(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _migrated(tls_server)
    url = tls_server.url(
        name,
        sslmode="verify-full",
        sslrootcert=str(tls_server.ca),
        connect_timeout="10",
        application_name="agent-api-blue",
        options="-c work_mem=7MB",
    )
    async with _api(url_text(url), monkeypatch) as client:
        assert (await client.get("/ready")).status_code == 200
        engine = _engine(client)
        async with engine.connect() as connection:
            ssl = await connection.scalar(text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))
            assert ssl is True
            assert await connection.scalar(text("SHOW application_name")) == "agent-api-blue"
            assert await connection.scalar(text("SHOW work_mem")) == "7MB"


async def test_a_hosted_url_serves_and_migrates_over_tls(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's done-when: ``?sslmode=require&connect_timeout=10`` as a hosted service hands it
    out, the same command as today to migrate, then the API's own flows on it."""
    name = f"hosted_{secrets.token_hex(4)}"
    tls_server.server.create_database(name)
    raw = (
        f"postgresql://postgres@localhost:{tls_server.server.port}/{name}?sslmode=require&connect_timeout=10"
    )
    migrated = run_invoke("db.upgrade", "--env", "staging", env={"STAGING_DATABASE_URL": raw})
    assert migrated.code == 0, migrated.output
    async with _api(raw, monkeypatch, "staging") as client:
        assert (await client.get("/ready")).status_code == 200
        user = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
        assert (await client.post("/api/v1/auth/register", json=user)).status_code == 201
        login = await client.post("/api/v1/auth/login", data={"username": name, "password": PASSWORD})
        assert login.status_code == 200
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        agent = await client.post("/api/v1/agents", json={"name": "helper", "model": "m"}, headers=headers)
        assert agent.status_code == 201, agent.text


async def test_a_certificate_for_another_name_is_503_never_500(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _migrated(tls_server)
    url = tls_server.url(name, host="127.0.0.1", sslmode="verify-full", sslrootcert=str(tls_server.ca))
    async with _api(url_text(url), monkeypatch) as client:
        assert (await client.get("/ready")).status_code == 503
        user = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
        response = await client.post("/api/v1/auth/register", json=user)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "database_unavailable"
    trusted = tls_server.url(name, host="127.0.0.1", sslmode="verify-ca", sslrootcert=str(tls_server.ca))
    async with _api(url_text(trusted), monkeypatch) as client:
        assert (await client.get("/ready")).status_code == 200  # verify-ca checks the authority, not the name


async def test_client_certificate_and_several_hosts(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = tls_server.certificates
    port = tls_server.server.port
    raw = (
        f"postgresql://postgres@127.0.0.1:1,localhost:{port}/{CLIENT_CERT_DATABASE}?sslmode=verify-full"
        f"&sslrootcert={tls_server.ca}&sslcert={files / 'client.crt'}&sslkey={files / 'client.key'}"
        "&target_session_attrs=read-write"
    )
    async with _api(raw, monkeypatch) as client:
        engine = _engine(client)
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT inet_server_port()")) == port
    without_certificate = raw.split("&sslcert=")[0]
    async with _api(without_certificate, monkeypatch) as client:
        assert (await client.get("/ready")).status_code == 503


async def test_no_standby_among_the_hosts_is_503(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = f"postgresql://postgres@localhost:{tls_server.server.port}/postgres?sslmode=require&target_session_attrs=standby"
    async with _api(raw, monkeypatch) as client:
        ready = await client.get("/ready")
        assert ready.status_code == 503
        assert "unreachable" in ready.json()["reason"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("keepalives_idle=30", "keepalives_idle=30"),
        ("hostaddr=10.0.0.1", "hostaddr=10.0.0.1"),
        ("channel_binding=require", "channel_binding=require"),
        ("client_encoding=latin1", "client_encoding=latin1"),
    ],
)
def test_a_parameter_asyncpg_cannot_honour_stops_the_app_at_startup(
    query: str, named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEV_DATABASE_URL", f"postgresql://u@db.example.com:5432/app?sslmode=require&{query}")
    with pytest.raises(ConfigError, match=f"DEV_DATABASE_URL sets {named}, which the API cannot honour"):
        create_app(load_api_settings("dev"))


def test_api_serve_refuses_it_before_any_worker_starts() -> None:
    env = {"DEV_DATABASE_URL": "postgresql://u@127.0.0.1:1/app?keepalives=1", "DEV_JWT_SECRET": SIGNING_KEY}
    result = run_invoke("api.serve", "--env", "dev", "--port", "1", env=env, timeout=60)
    assert result.code == 2
    assert "keepalives=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_parameter_is_refused_for_both_drivers() -> None:
    with pytest.raises(ConfigError, match="unknown query parameter 'sslmod' \\(did you mean 'sslmode'\\?\\)"):
        parse_url("postgresql://u@h/d?sslmod=require", source="DEV_DATABASE_URL")
    result = run_invoke("db.current", env={"DEV_DATABASE_URL": "postgresql://u@127.0.0.1:1/d?sslmod=require"})
    assert result.code == 2
    assert "sslmod" in result.stderr
