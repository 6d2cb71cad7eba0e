"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}
# "expand": only adds; the release already running keeps working (deployed before the new API).
# "contract": drops, renames, retypes, or tightens (NOT NULL, dropped default or constraint) what
# older code reads; it runs after every running API knows it. Never both in one revision.
phase: str = "expand"

# Keep the API serving (docs/zero-downtime-migrations.md); `uv run invoke db.lint` checks this file.
# On a table that already has rows, prefer `from agent_db.migrations import safe`:
#   safe.create_index_concurrently("ix_messages_conversation_id_id", "messages", ["conversation_id", "id"])
#   safe.add_foreign_key_not_valid("messages_agent_id_fkey", "messages", "agents", ["agent_id"], ["id"])
#   safe.validate_constraint("messages", "messages_agent_id_fkey")  # in the NEXT revision
#   safe.backfill_in_batches("conversations", set_clause="message_count = 0", pending="message_count IS NULL")
# A finding that is safe here is accepted with a reason a reviewer can check:
#   lint_accept = {"create-index-blocking": "users holds 40 rows in prod: the build takes milliseconds"}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
