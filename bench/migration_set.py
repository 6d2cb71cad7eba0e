"""The revision set of the migration benchmark, written safely and naively.

Both sets make the same change on top of the project's history: conversations get an
``archived`` flag (a column with a constant default) and a ``last_message_id`` that points at
their newest message (backfilled from ``messages``, then enforced by a foreign key), and
``messages`` gets an index on ``(conversation_id, created_at)``.

- safe: ``ADD COLUMN`` with a constant default; ``safe.create_index_concurrently``;
  ``safe.add_foreign_key_not_valid``; ``safe.backfill_in_batches``; ``safe.validate_constraint``
  in its own revision.
- naive: the same column; a plain ``op.create_index``; one ``UPDATE`` for the backfill; the
  foreign key added (and so validated) at once.

Each change is a revision of its own (one transaction each, as the runner runs them).
"""

from __future__ import annotations

from pathlib import Path

from tests.support.revisions import copy_history, package_head, write_revision

ADD_COLUMNS = """
op.add_column("conversations", sa.Column("archived", sa.Boolean(), server_default=sa.false(), nullable=False))
op.add_column("conversations", sa.Column("last_message_id", sa.BigInteger(), nullable=True))
"""
DROP_COLUMNS = """
op.drop_column("conversations", "last_message_id")
op.drop_column("conversations", "archived")
"""
INDEX = "ix_messages_conversation_id_created_at"
FOREIGN_KEY = "conversations_last_message_id_fkey"
LAST_MESSAGE = "(SELECT max(m.id) FROM messages m WHERE m.conversation_id = conversations.id)"

# (revision id, message, upgrade body, downgrade body)
SAFE = [
    ("b5a1e0000001", "add archived and last_message_id to conversations", ADD_COLUMNS, DROP_COLUMNS),
    (
        "b5a1e0000002",
        "index messages by conversation and time",
        f'safe.create_index_concurrently("{INDEX}", "messages", ["conversation_id", "created_at"])',
        f'safe.drop_index_concurrently("{INDEX}", "messages")',
    ),
    (
        "b5a1e0000003",
        "foreign key from last_message_id, not valid",
        f'safe.add_foreign_key_not_valid("{FOREIGN_KEY}", "conversations", "messages", '
        '["last_message_id"], ["id"], ondelete="SET NULL")',
        f'op.drop_constraint("{FOREIGN_KEY}", "conversations", type_="foreignkey")',
    ),
    (
        "b5a1e0000004",
        "backfill last_message_id in batches",
        f'safe.backfill_in_batches("conversations", set_clause="last_message_id = {LAST_MESSAGE}", '
        'pending="last_message_id IS NULL AND EXISTS (SELECT 1 FROM messages m '
        'WHERE m.conversation_id = conversations.id)", batch_size=1000)',
        "pass",
    ),
    (
        "b5a1e0000005",
        "validate the last_message_id foreign key",
        f'safe.validate_constraint("conversations", "{FOREIGN_KEY}")',
        "pass",
    ),
]
NAIVE = [
    ("ba1e00000001", "add archived and last_message_id to conversations", ADD_COLUMNS, DROP_COLUMNS),
    (
        "ba1e00000002",
        "index messages by conversation and time",
        f'op.create_index("{INDEX}", "messages", ["conversation_id", "created_at"])',
        f'op.drop_index("{INDEX}", table_name="messages")',
    ),
    (
        "ba1e00000003",
        "backfill last_message_id",
        f'op.execute("UPDATE conversations SET last_message_id = {LAST_MESSAGE}")',
        "pass",
    ),
    (
        "ba1e00000004",
        "foreign key from last_message_id",
        f'op.create_foreign_key("{FOREIGN_KEY}", "conversations", "messages", ["last_message_id"], '
        '["id"], ondelete="SET NULL")',
        f'op.drop_constraint("{FOREIGN_KEY}", "conversations", type_="foreignkey")',
    ),
]
SETS = {"safe": SAFE, "naive": NAIVE}


def write(kind: str, folder: Path) -> tuple[Path, list[str]]:
    """A copy of the project's versions folder with the ``kind`` set on top; its revision ids."""
    versions, parent = copy_history(folder, f"versions-{kind}"), package_head()
    ids = []
    for revision, message, upgrade, downgrade in SETS[kind]:
        write_revision(versions, revision, parent, upgrade, downgrade, message=message)
        ids.append(revision)
        parent = revision
    return versions, ids
