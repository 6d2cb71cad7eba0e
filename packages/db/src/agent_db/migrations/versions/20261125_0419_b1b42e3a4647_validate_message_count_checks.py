"""validate message_count checks

``VALIDATE CONSTRAINT`` for the two checks the previous revision added ``NOT VALID``, with
``agent_db.migrations.safe.validate_constraint``. Validation scans ``conversations`` under
``SHARE UPDATE EXCLUSIVE``, which lets reads and writes go on; it is a revision of its own so
that the short exclusive lock of adding a constraint and the long scan never share a
transaction (and a lock-timeout retry of one does not repeat the other).

Downgrade has nothing to undo: a validated constraint cannot be marked not valid again, and the
previous revision's downgrade drops both constraints anyway.

Revision ID: b1b42e3a4647
Revises: 20b023491a9b
Create Date: 2026-11-25 04:19:13.981390+00:00

"""

from collections.abc import Sequence

from agent_db.migrations import safe

revision: str = "b1b42e3a4647"
down_revision: str | Sequence[str] | None = "20b023491a9b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    safe.validate_constraint("conversations", "conversations_message_count_nonnegative_check")
    safe.validate_constraint("conversations", "conversations_message_count_not_null_check")


def downgrade() -> None:
    # Validation changes no definition; the checks stay until 20b023491a9b is downgraded.
    pass
