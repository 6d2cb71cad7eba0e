"""make message_count not null

``ALTER COLUMN message_count SET NOT NULL`` normally scans the whole table under an
``ACCESS EXCLUSIVE`` lock. Here the validated ``conversations_message_count_not_null_check``
already proves no row is NULL, so PostgreSQL (12+) skips the scan and the lock lasts only for
the catalog update. The helper check is then redundant and dropped.

Downgrade restores the previous state: the column nullable again and the helper check back,
``NOT VALID`` as it was first added (``agent_db.migrations.safe.add_check_not_valid``).

Revision ID: 5aad52061418
Revises: b1b42e3a4647
Create Date: 2026-11-25 04:19:30.627611+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from agent_db.migrations import safe

revision: str = "5aad52061418"
down_revision: str | Sequence[str] | None = "b1b42e3a4647"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_NULL = "conversations_message_count_not_null_check"

lint_accept = {
    "set-not-null": (
        "the validated conversations_message_count_not_null_check proves no NULL, so "
        "PostgreSQL 12+ skips the scan and holds ACCESS EXCLUSIVE only for the catalog update"
    ),
    "ban-drop-constraint": "the helper CHECK is redundant once the column is NOT NULL itself",
}


def upgrade() -> None:
    op.alter_column(
        "conversations",
        "message_count",
        existing_type=sa.Integer(),
        nullable=False,
        existing_server_default=sa.text("0"),
    )
    op.drop_constraint(op.f(NOT_NULL), "conversations", type_="check")


def downgrade() -> None:
    safe.add_check_not_valid(NOT_NULL, "conversations", "message_count IS NOT NULL")
    op.alter_column(
        "conversations",
        "message_count",
        existing_type=sa.Integer(),
        nullable=True,
        existing_server_default=sa.text("0"),
    )
