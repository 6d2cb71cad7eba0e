"""index messages by conversation concurrently

``ix_messages_conversation_id_id`` on ``(conversation_id, id)``: the API lists a
conversation's messages with ``WHERE conversation_id = :c AND id > :cursor ORDER BY id LIMIT n``
(keyset pagination), and the same index serves the ``ON DELETE CASCADE`` from conversations
and the ``count(*)`` of the backfill that follows.

``messages`` is the hottest table, so the index is built with ``CREATE INDEX CONCURRENTLY``
through ``agent_db.migrations.safe.create_index_concurrently``: writes continue while it builds
(a plain ``CREATE INDEX`` blocks every insert for the whole build: 0.7 s at 1M rows, see
MEASURED.md). It runs in an autocommit block, outside this revision's transaction; if a build
is interrupted the INVALID leftover is dropped and rebuilt on the next run. The downgrade drops
it ``CONCURRENTLY`` as well.

Revision ID: 65b5f9d89277
Revises: cd2a2c0e3f6b
Create Date: 2026-11-25 04:18:13.330597+00:00

"""

from collections.abc import Sequence

from agent_db.migrations import safe

revision: str = "65b5f9d89277"
down_revision: str | Sequence[str] | None = "cd2a2c0e3f6b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_messages_conversation_id_id"


def upgrade() -> None:
    safe.create_index_concurrently(INDEX, "messages", ["conversation_id", "id"])


def downgrade() -> None:
    safe.drop_index_concurrently(INDEX, "messages")
