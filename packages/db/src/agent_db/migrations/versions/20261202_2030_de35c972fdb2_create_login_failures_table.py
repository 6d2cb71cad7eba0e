"""create login_failures table

Failed logins, shared by every API process and replica (``agent_api.login_throttle``): one row
per budget (an account from one address, or one address for names that match no account), with
the failures counted and the time of the last one. Each attempt is one ``INSERT ... ON CONFLICT
... RETURNING``, so concurrent workers cannot exceed a budget, and a restart forgets nothing.
``ix_login_failures_last_failure_at`` serves the purge of expired rows. New empty table: no lock
anyone waits on; the running release never reads it.

Revision ID: de35c972fdb2
Revises: 5aad52061418
Create Date: 2026-12-02 20:30:07.786094+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "de35c972fdb2"
down_revision: str | Sequence[str] | None = "5aad52061418"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# "expand": only adds; the release already running keeps working (deployed before the new API).
phase: str = "expand"


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("login_failures_pkey")),
    )
    op.create_index(op.f("ix_login_failures_last_failure_at"), "login_failures", ["last_failure_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failures_last_failure_at"), table_name="login_failures")
    op.drop_table("login_failures")
