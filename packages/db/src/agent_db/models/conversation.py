"""The ``conversations`` table: one chat between a user and an agent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from agent_db.models.base import Base, TimestampMixin


class Conversation(TimestampMixin, Base):
    """A conversation belongs to an agent and to the user who holds it; deleting either
    deletes the conversation and its messages."""

    __tablename__ = "conversations"
    __table_args__ = (CheckConstraint("message_count >= 0", name="message_count_nonnegative"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    agent_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("agents.id", ondelete="CASCADE"), index=True, nullable=False
    )
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Derived from messages and kept current by the API in the transaction that appends a
    # message, so listing conversations never counts messages.
    message_count: Mapped[int] = mapped_column(Integer, server_default=text("0"), nullable=False)
    last_message_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    def __repr__(self) -> str:
        return f"Conversation(id={self.id!r}, agent_id={self.agent_id!r})"
