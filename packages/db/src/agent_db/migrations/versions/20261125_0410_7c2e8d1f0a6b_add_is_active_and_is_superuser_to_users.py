"""add is_active and is_superuser to users

Revision ID: 7c2e8d1f0a6b
Revises: 3f1a2b9c4d5e
Create Date: 2026-11-25 04:10:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c2e8d1f0a6b"
down_revision: str | Sequence[str] | None = "3f1a2b9c4d5e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default on a new column is metadata-only on PostgreSQL 11+: no table rewrite.
    op.add_column("users", sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column(
        "users",
        sa.Column("is_superuser", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("users", "is_superuser")
    op.drop_column("users", "is_active")
