"""add message_count and last_message_at to conversations

A data migration: two derived columns on the existing ``conversations`` table, filled for the
rows already there by ``agent_db.migrations.safe.backfill_in_batches``. From this release on,
the API keeps both current in the transaction that appends a message.

How it stays safe on a live table:

1. ``ADD COLUMN`` without a default, then ``SET DEFAULT 0``: both are catalog-only (no table
   rewrite). Existing rows read NULL, which means "not counted yet"; rows inserted from now on
   start at 0, which is right for a new conversation.
2. The backfill counts each conversation's messages (an index-only count on
   ``ix_messages_conversation_id_id``, built by the previous revision) in batches of 1,000 rows,
   each its own short transaction, skipping rows that live traffic holds locked. Its
   ``pending`` condition, ``message_count IS NULL``, stops matching a row once it is done, so an
   interrupted backfill resumes where it stopped.
3. Races with the API are harmless: the API appends with ``message_count = message_count + 1``,
   which leaves a NULL (not yet counted) row NULL for the backfill to count, and a counted row
   correct, because the append and the batch serialise on the conversation's row lock.

``message_count`` becomes NOT NULL two revisions later, through a CHECK added NOT VALID and
validated separately, so that no step scans the table under an exclusive lock.

Revision ID: ece12879f6e3
Revises: 65b5f9d89277
Create Date: 2026-11-25 04:18:47.549792+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agent_db.migrations import safe

revision: str = "ece12879f6e3"
down_revision: str | Sequence[str] | None = "65b5f9d89277"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNT_AND_LAST = (
    "message_count = (SELECT count(*) FROM messages"
    " WHERE messages.conversation_id = conversations.id),"
    " last_message_at = (SELECT max(messages.created_at) FROM messages"
    " WHERE messages.conversation_id = conversations.id)"
)


def upgrade() -> None:
    op.add_column("conversations", sa.Column("message_count", sa.Integer(), nullable=True))
    op.alter_column("conversations", "message_count", server_default=sa.text("0"))
    op.add_column(
        "conversations", sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True)
    )
    safe.backfill_in_batches(
        "conversations",
        set_clause=COUNT_AND_LAST,
        pending="message_count IS NULL",
        batch_size=1_000,
        label="count messages per conversation",
    )


def downgrade() -> None:
    op.drop_column("conversations", "last_message_at")
    op.drop_column("conversations", "message_count")
