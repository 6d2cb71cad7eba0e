"""The agent-domain revisions on a database that already holds data: the backfill counts
existing messages in batches and resumes without redoing finished rows, the constraints end up
validated, and the concurrent index is valid."""

from __future__ import annotations

import importlib.util
from types import ModuleType

import psycopg
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import URL

from agent_db.commands import migrate
from agent_db.database.engines import create_sync_engine
from agent_db.migrations import safe
from agent_db.revisions.graph import default_graph
from tests.support.databases import conninfo, target_for

INDEX_REVISION = "65b5f9d89277"  # the revision before the data migration
BACKFILL_REVISION = "ece12879f6e3"
CONVERSATIONS = 2_500  # more than two backfill batches of 1,000


def _seed(url: URL) -> None:
    """Users, agents, conversations and messages, as a live database would hold them."""
    with psycopg.connect(conninfo(url)) as connection:
        connection.execute(
            "INSERT INTO users (email, username, hashed_password) VALUES ('seed@example.com', 'seed', 'x')"
        )
        connection.execute("INSERT INTO agents (owner_id, name, model) SELECT id, 'a', 'm' FROM users")
        connection.execute(
            "INSERT INTO conversations (agent_id, user_id) "
            "SELECT a.id, a.owner_id FROM agents a, generate_series(1, %s)",
            (CONVERSATIONS,),
        )
        # Conversation n gets n % 4 messages, at distinct times.
        connection.execute(
            "INSERT INTO messages (conversation_id, role, content, created_at) "
            "SELECT c.id, 'user', 'hi', now() - make_interval(secs => c.id * 10 + g) "
            "FROM conversations c, generate_series(1, 3) g WHERE g <= c.id % 4"
        )


def _counts(url: URL) -> list[tuple[int, int | None, bool]]:
    """(expected count, stored count, last_message_at correct) per conversation."""
    with psycopg.connect(conninfo(url)) as connection:
        rows = connection.execute(
            "SELECT (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id), "
            "c.message_count, c.last_message_at IS NOT DISTINCT FROM "
            "(SELECT max(created_at) FROM messages m WHERE m.conversation_id = c.id) "
            "FROM conversations c ORDER BY c.id"
        ).fetchall()
    return [(int(a), b, bool(c)) for a, b, c in rows]


def test_upgrade_backfills_existing_rows_and_validates_constraints(empty_url: URL) -> None:
    target = target_for("dev", empty_url)
    migrate.upgrade(target, INDEX_REVISION)
    _seed(empty_url)
    migrate.upgrade(target)

    counts = _counts(empty_url)
    assert len(counts) == CONVERSATIONS
    assert all(stored == expected and last_ok for expected, stored, last_ok in counts)
    assert {expected for expected, _, _ in counts} == {0, 1, 2, 3}

    with psycopg.connect(conninfo(empty_url)) as connection:
        constraints: dict[str, bool] = dict(
            connection.execute(
                "SELECT conname, convalidated FROM pg_constraint "
                "WHERE conrelid = 'conversations'::regclass AND contype = 'c'"
            ).fetchall()
        )
        nullable = connection.execute(
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'conversations' AND column_name = 'message_count'"
        ).fetchone()
        index_valid = connection.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_messages_conversation_id_id'::regclass"
        ).fetchone()
        default = connection.execute(
            "INSERT INTO conversations (agent_id, user_id) "
            "SELECT id, owner_id FROM agents LIMIT 1 RETURNING message_count"
        ).fetchone()
    assert constraints == {"conversations_message_count_nonnegative_check": True}
    assert nullable == ("NO",)
    assert index_valid == (True,)
    assert default == (0,)


def _revision_module(revision: str) -> ModuleType:
    path = default_graph()[revision].path
    spec = importlib.util.spec_from_file_location(f"revision_{revision}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_backfill_resumes_without_redoing_finished_rows(empty_url: URL) -> None:
    target = target_for("dev", empty_url)
    migrate.upgrade(target, INDEX_REVISION)
    _seed(empty_url)
    migrate.upgrade(target, BACKFILL_REVISION)
    # An interrupted run: some rows still pending (NULL), one finished row that a rerun must not
    # touch (marked with an impossible value so that recounting it would show).
    with psycopg.connect(conninfo(empty_url)) as connection:
        connection.execute("UPDATE conversations SET message_count = NULL WHERE id % 7 = 0")
        connection.execute("UPDATE conversations SET message_count = 999 WHERE id = 1")

    module = _revision_module(BACKFILL_REVISION)
    engine = create_sync_engine(empty_url)
    try:
        with (
            engine.connect() as migration_connection,
            Operations.context(MigrationContext.configure(migration_connection)),
        ):
            updated = safe.backfill_in_batches(
                "conversations",
                set_clause=module.COUNT_AND_LAST,
                pending="message_count IS NULL",
                batch_size=100,
            )
    finally:
        engine.dispose()

    assert updated == CONVERSATIONS // 7
    counts = _counts(empty_url)
    assert counts[0][1] == 999
    assert all(stored == expected for expected, stored, _ in counts[1:])
