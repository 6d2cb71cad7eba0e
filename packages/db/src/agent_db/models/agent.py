"""The ``agents`` table: an LLM agent configuration owned by one user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agent_db.models.base import Base, TimestampMixin

if TYPE_CHECKING:
    from agent_db.models.tool import Tool


class Agent(TimestampMixin, Base):
    """An agent belongs to its owner; deleting the owner deletes the agent (and, through the
    cascades below it, its conversations and messages)."""

    __tablename__ = "agents"
    # The unique index on (owner_id, name) also serves "agents of this owner" and the cascade
    # from users, so owner_id needs no index of its own.
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    owner_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    model: Mapped[str] = mapped_column(String(100), nullable=False)
    system_prompt: Mapped[str] = mapped_column(Text, server_default=text("''"), nullable=False)
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), nullable=False
    )
    # lazy="raise": an async session cannot lazy-load, and a silent per-agent query would be
    # an N+1; callers load tools explicitly with selectinload().
    tools: Mapped[list[Tool]] = relationship(
        secondary="agent_tools", order_by="Tool.id", lazy="raise", viewonly=True
    )

    def __repr__(self) -> str:
        return f"Agent(id={self.id!r}, owner_id={self.owner_id!r}, name={self.name!r})"
