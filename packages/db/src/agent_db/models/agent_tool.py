"""The ``agent_tools`` table: which catalogue tools an agent may call (many-to-many)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, func
from sqlalchemy.orm import Mapped, mapped_column

from agent_db.models.base import Base


class AgentTool(Base):
    """One attachment. The primary key (agent_id, tool_id) makes attaching idempotent and
    serves "tools of this agent"; ``ix_agent_tools_tool_id`` serves the other direction and
    the cascade when a tool leaves the catalogue."""

    __tablename__ = "agent_tools"

    agent_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    tool_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tools.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    def __repr__(self) -> str:
        return f"AgentTool(agent_id={self.agent_id!r}, tool_id={self.tool_id!r})"
