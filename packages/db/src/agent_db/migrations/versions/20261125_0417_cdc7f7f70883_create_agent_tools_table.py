"""create agent_tools table

The many-to-many link between agents and the tool catalogue. The composite primary key
(agent_id, tool_id) makes an attachment unique (attaching twice is a no-op for the API) and is
the index for "tools of this agent"; ``ix_agent_tools_tool_id`` serves the reverse lookup and
the cascade when a tool is deleted. Both foreign keys cascade: an attachment means nothing
without either side. The plain ``CREATE INDEX`` is fine here because the table is created in
the same transaction and is empty.

Revision ID: cdc7f7f70883
Revises: d6d7a1b4000a
Create Date: 2026-11-25 04:17:46.573603+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cdc7f7f70883"
down_revision: str | Sequence[str] | None = "d6d7a1b4000a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_tools",
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("tool_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("agent_tools_agent_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"], ["tools.id"], name=op.f("agent_tools_tool_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("agent_id", "tool_id", name=op.f("agent_tools_pkey")),
    )
    op.create_index(op.f("ix_agent_tools_tool_id"), "agent_tools", ["tool_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_tools_tool_id"), table_name="agent_tools")
    op.drop_table("agent_tools")
