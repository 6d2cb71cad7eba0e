"""The ``messages`` table: the turns of a conversation, append-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from agent_db.models.base import Base

MESSAGE_ROLES = ("system", "user", "assistant", "tool")


class Message(Base):
    """One message. Rows are only ever inserted; ``id`` order is the conversation's order (the
    API appends under the conversation's row lock, so ids follow commit order within one
    conversation) and is what cursors page on."""

    __tablename__ = "messages"
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        CheckConstraint("role IN ({})".format(", ".join(f"'{role}'" for role in MESSAGE_ROLES)), name="role"),
        CheckConstraint("prompt_tokens >= 0 AND completion_tokens >= 0", name="token_counts_nonnegative"),
        # Built CONCURRENTLY by its own revision: the messages of a conversation, in order.
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, server_default=text("0"), nullable=False)
    completion_tokens: Mapped[int] = mapped_column(Integer, server_default=text("0"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    def __repr__(self) -> str:
        return f"Message(id={self.id!r}, role={self.role!r})"
