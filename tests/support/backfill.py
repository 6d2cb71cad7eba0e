"""The project's backfill revision, ``ece12879f6e3``, caught in the middle: a database one
revision before it holding conversations and messages, and a fault (a trigger) that acts when
the backfill reaches the 1,500th conversation, in its second batch of 1,000, after the first
has committed, whatever the timing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.commands.drift import REFERENCE_URL_VARIABLE
from agent_db.errors import MigrationFailed
from tests.support.databases import conninfo, target_for, url_text
from tests.support.inspection import position

INDEX_REVISION = "65b5f9d89277"  # the revision before the backfill
BACKFILL_REVISION = "ece12879f6e3"
DEV_RESUME = f"partial step {BACKFILL_REVISION}: resume with 'uv run invoke db.upgrade --env dev'"


def seed_before_backfill(url: URL, conversations: int) -> None:
    """``url`` (empty) upgraded to just before the backfill, with one user and agent, and
    ``conversations`` conversations, conversation n holding n % 4 messages at distinct times."""
    migrate.upgrade(target_for("dev", url), INDEX_REVISION)
    insert_conversations(url, conversations)


def insert_conversations(url: URL, conversations: int) -> None:
    """One user and agent, and ``conversations`` conversations, conversation n holding n % 4
    messages at distinct times (the tables as the release before the backfill has them)."""
    with psycopg.connect(conninfo(url)) as connection:
        connection.execute(
            "INSERT INTO users (email, username, hashed_password) VALUES ('s@e.com', 's', 'x')"
        )
        connection.execute("INSERT INTO agents (owner_id, name, model) SELECT id, 'a', 'm' FROM users")
        connection.execute(
            "INSERT INTO conversations (agent_id, user_id) "
            "SELECT a.id, a.owner_id FROM agents a, generate_series(1, %s)",
            (conversations,),
        )
        connection.execute(
            "INSERT INTO messages (conversation_id, role, content, created_at) "
            "SELECT c.id, 'user', 'hi', now() - make_interval(secs => c.id * 10 + g) "
            "FROM conversations c, generate_series(1, 3) g WHERE g <= c.id % 4"
        )


def fault(url: URL, action: str) -> None:
    """Run ``action`` (plpgsql) when the backfill counts the 1,500th conversation."""
    with psycopg.connect(conninfo(url)) as connection:
        (victim,) = connection.execute("SELECT min(id) + 1500 FROM conversations").fetchone() or (0,)
        connection.execute(
            "CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.id = {int(victim)} AND (to_jsonb(NEW) ->> 'message_count') IS NOT NULL THEN "
            f"{action}; END IF; RETURN NEW; END $$"
        )
        connection.execute(
            "CREATE TRIGGER fault BEFORE UPDATE ON conversations FOR EACH ROW EXECUTE FUNCTION fault()"
        )


def clear_fault(url: URL) -> None:
    with psycopg.connect(conninfo(url)) as connection:
        connection.execute("DROP TRIGGER fault ON conversations")
        connection.execute("DROP FUNCTION fault()")


def stop_backfill_partway(url: URL) -> URL:
    """``url`` (empty) with the backfill's first batch committed and its second failed: the
    step is ``partial``, ``alembic_version`` still at the revision before it."""
    seed_before_backfill(url, 1_600)
    fault(url, "RAISE EXCEPTION 'injected fault in a batch'")
    with pytest.raises(MigrationFailed, match="partly applied"):
        migrate.upgrade(target_for("dev", url))
    clear_fault(url)
    assert position(url) == [INDEX_REVISION]
    return url


def dev_cli_env(dev: URL, reference: URL, tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI run against ``dev``, drift built on ``reference``."""
    return {
        "DEV_DATABASE_URL": url_text(dev),
        REFERENCE_URL_VARIABLE: url_text(reference),
        "AGENT_DB_CACHE_DIR": str(tmp_path / "cache"),
    }
