"""The API while the backfill of ``message_count`` has not reached every row: the upgrade is
stopped in the middle of ``ece12879f6e3`` (``partial``), so some conversations are counted and
the rest hold NULL. Reading, listing and renaming those answer 200 with the count and last
message computed from ``messages`` (never 500); an append leaves the row for the backfill, and
once the upgrade resumes every stored count is right, appends included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_api.app_state import app_state
from agent_api.main import create_app
from agent_api.security import create_access_token
from agent_api.settings import load_api_settings
from agent_db.commands import migrate
from agent_db.errors import MigrationFailed
from tests.support.api import SIGNING_KEY, password_hash
from tests.support.backfill import clear_fault, fault, seed_before_backfill
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import query

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(url: URL, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The API against ``url``, as the seeded user (whose password hash is the suite's)."""
    with psycopg.connect(conninfo(url)) as connection:
        connection.execute("UPDATE users SET hashed_password = %s", (password_hash(),))
        (user_id,) = connection.execute("SELECT id FROM users").fetchone() or (0,)
    with monkeypatch.context() as patch:
        patch.setenv("DEV_DATABASE_URL", url_text(url))
        patch.setenv("DEV_JWT_SECRET", SIGNING_KEY)
        app = create_app(load_api_settings("dev", pool_size=2))
        async with app.router.lifespan_context(app):
            key = app_state(app).signing_key
            token = create_access_token(int(user_id), password_hash(), key=key, minutes=5).token
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://test/api/v1",
                headers={"Authorization": f"Bearer {token}"},
            ) as client:
                yield client


def _truth(url: URL, conversation_id: int) -> tuple[int, datetime | None]:
    (row,) = query(
        url,
        f"SELECT count(*), max(created_at) FROM messages WHERE conversation_id = {int(conversation_id)}",
    )
    return int(str(row[0])), row[1]  # type: ignore[return-value]


async def test_conversations_not_counted_yet_answer_200_and_the_resumed_backfill_counts_appends(
    empty_url: URL, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = empty_url
    seed_before_backfill(url, 2_500)
    fault(url, "RAISE EXCEPTION 'injected fault in a batch'")
    with pytest.raises(MigrationFailed):
        migrate.upgrade(target_for("dev", url))
    uncounted = [
        int(str(r[0]))
        for r in query(url, "SELECT id FROM conversations WHERE message_count IS NULL ORDER BY id")
    ]
    assert uncounted  # the backfill stopped part way
    (agent_id,) = query(url, "SELECT id FROM agents")[0]
    # Conversation n holds n % 4 messages: one with three, not counted yet.
    busy = next(c for c in uncounted if c % 4 == 3)

    async with serving(url, monkeypatch) as api:
        read = await api.get(f"/conversations/{busy}")
        assert read.status_code == 200, read.text
        count, last = _truth(url, busy)
        assert read.json()["message_count"] == count == 3
        assert datetime.fromisoformat(read.json()["last_message_at"]) == last

        appended = await api.post(f"/conversations/{busy}/messages", json={"role": "user", "content": "x"})
        assert appended.status_code == 201, appended.text
        again = await api.get(f"/conversations/{busy}")
        assert again.json()["message_count"] == 4
        assert datetime.fromisoformat(again.json()["last_message_at"]) == _truth(url, busy)[1]

        renamed = await api.patch(f"/conversations/{busy}", json={"title": "renamed"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["message_count"] == 4

        page = await api.get(f"/agents/{agent_id}/conversations", params={"limit": 100})
        assert page.status_code == 200, page.text
        for item in page.json()["items"]:
            assert item["message_count"] == _truth(url, item["id"])[0]
        assert query(url, f"SELECT message_count FROM conversations WHERE id = {busy}") == [(None,)]

    clear_fault(url)
    migrate.upgrade(target_for("dev", url))
    assert query(url, f"SELECT message_count FROM conversations WHERE id = {busy}") == [(4,)]
