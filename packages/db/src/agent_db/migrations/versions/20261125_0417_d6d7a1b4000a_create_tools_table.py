"""create tools table

The shared tool catalogue. Tools are global (managed by superusers) rather than owned by a
user, so the same name means the same tool for every agent; ``tools_name_key`` makes names
unique. ``parameters`` holds the tool's JSON Schema for its arguments. Id type: bigint identity,
as for every table of the agent domain (see the agents revision). New empty table: no lock
anyone waits on.

Revision ID: d6d7a1b4000a
Revises: 8ca16ac7acc4
Create Date: 2026-11-25 04:17:32.478726+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d6d7a1b4000a"
down_revision: str | Sequence[str] | None = "8ca16ac7acc4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tools",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "parameters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("tools_pkey")),
        sa.UniqueConstraint("name", name=op.f("tools_name_key")),
    )


def downgrade() -> None:
    op.drop_table("tools")
