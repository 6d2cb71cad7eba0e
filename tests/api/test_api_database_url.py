"""The API reads the tutorial's ``DATABASE_URL`` and ``.env`` exactly as the toolkit does: they
feed dev (the real environment first, then the file), and staging never takes them for its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_api.app_state import app_state
from agent_api.main import create_app
from agent_api.settings import load_api_settings
from agent_db.errors import ConfigError
from tests.support.api import SIGNING_KEY, unique
from tests.support.databases import conninfo, url_text

STRONG = "Zx81-k2Pq9vR4tW7yB3nM6cF8hJ1sL5dG0aXe-UoIi"


@pytest.mark.anyio
async def test_dotenv_database_url_and_key_serve_the_dev_api(
    api_database: URL, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        f"DATABASE_URL={url_text(api_database)}\nDEV_JWT_SECRET={SIGNING_KEY}\n", encoding="utf-8"
    )
    monkeypatch.setenv("AGENT_DOTENV_FILE", str(dotenv))
    monkeypatch.delenv("DEV_JWT_SECRET", raising=False)
    app = create_app(load_api_settings("dev", pool_size=2))
    assert app_state(app).signing_key == SIGNING_KEY
    username = unique("dotenv")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/ready")).status_code == 200
            body = {"email": f"{username}@example.com", "username": username, "password": "correct horse 42"}
            assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
    with psycopg.connect(conninfo(api_database)) as connection:
        row = connection.execute("SELECT count(*) FROM users WHERE username = %s", (username,)).fetchone()
    assert row == (1,), "the API wrote somewhere else than DATABASE_URL's database"


@pytest.mark.anyio
async def test_database_url_alone_does_not_start_the_staging_api(
    api_database: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", url_text(api_database))
    monkeypatch.setenv("STAGING_JWT_SECRET", STRONG)
    app = create_app(load_api_settings("staging", pool_size=2))
    with pytest.raises(ConfigError) as raised:
        async with app.router.lifespan_context(app):
            pytest.fail("the staging API started on DATABASE_URL")
    assert "STAGING_DATABASE_URL is not set; DATABASE_URL is, but only dev reads DATABASE_URL" in str(
        raised.value
    )
    assert raised.value.exit_code == 2
