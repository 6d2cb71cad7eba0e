"""create messages table

The messages table, append-only. ``role`` is restricted by ``messages_role_check`` (a CHECK,
not a PostgreSQL enum: adding a role later is a constraint swap, not an ``ALTER TYPE``); token
counts default to 0 and ``messages_token_counts_nonnegative_check`` refuses negative ones (the
table is new and empty, so the checks are created valid at once). ``conversation_id``
cascades: deleting a conversation deletes its messages. The index that lists a conversation's
messages in order, which also serves that cascade, comes in the next revision, built
``CONCURRENTLY``: it is the project's example of an index added to a live table.

Revision ID: cd2a2c0e3f6b
Revises: ee9b4d20224b
Create Date: 2026-11-25 04:18:10.191725+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cd2a2c0e3f6b"
down_revision: str | Sequence[str] | None = "ee9b4d20224b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('system', 'user', 'assistant', 'tool')", name=op.f("messages_role_check")
        ),
        sa.CheckConstraint(
            "prompt_tokens >= 0 AND completion_tokens >= 0",
            name=op.f("messages_token_counts_nonnegative_check"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("messages_conversation_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("messages_pkey")),
    )


def downgrade() -> None:
    op.drop_table("messages")
