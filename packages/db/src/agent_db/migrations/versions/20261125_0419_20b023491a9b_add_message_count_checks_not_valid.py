"""add message_count checks not valid

Two CHECK constraints on the existing, live ``conversations`` table, added ``NOT VALID`` with
``agent_db.migrations.safe.add_check_not_valid``: PostgreSQL enforces them on every insert and
update from now on but does not scan the existing rows, so the ``ACCESS EXCLUSIVE`` lock lasts
only as long as the catalog change. The next revision validates them (a scan under a lock that
lets reads and writes continue).

- ``conversations_message_count_nonnegative_check``: a count is never negative. It stays.
- ``conversations_message_count_not_null_check``: the backfill is done, so no row may be NULL
  any more. Once validated, it lets ``ALTER COLUMN ... SET NOT NULL`` skip its full-table scan
  (PostgreSQL 12+), after which it is dropped as redundant.

Revision ID: 20b023491a9b
Revises: ece12879f6e3
Create Date: 2026-11-25 04:19:12.319772+00:00

"""

from collections.abc import Sequence

from alembic import op

from agent_db.migrations import safe

revision: str = "20b023491a9b"
down_revision: str | Sequence[str] | None = "ece12879f6e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NONNEGATIVE = "conversations_message_count_nonnegative_check"
NOT_NULL = "conversations_message_count_not_null_check"


def upgrade() -> None:
    safe.add_check_not_valid(NONNEGATIVE, "conversations", "message_count >= 0")
    safe.add_check_not_valid(NOT_NULL, "conversations", "message_count IS NOT NULL")


def downgrade() -> None:
    op.drop_constraint(op.f(NOT_NULL), "conversations", type_="check")
    op.drop_constraint(op.f(NONNEGATIVE), "conversations", type_="check")
