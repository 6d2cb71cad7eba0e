"""The ``conversations`` table: one chat between a user and an agent."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Identity, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from agent_db.models.base import Base, TimestampMixin


class Conversation(TimestampMixin, Base):
    """A conversation belongs to an agent and to the user who holds it; deleting either
    deletes the conversation and its messages."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    agent_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("agents.id", ondelete="CASCADE"), index=True, nullable=False
    )
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)

    def __repr__(self) -> str:
        return f"Conversation(id={self.id!r}, agent_id={self.agent_id!r})"
