"""The ``tools`` table: the shared catalogue of tools agents may call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Identity, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from agent_db.models.base import Base, TimestampMixin


class Tool(TimestampMixin, Base):
    """One catalogue entry (``web_search``, ``run_python``...), managed by superusers and
    attached to agents through ``agent_tools``. Names are global: an agent's tool list must mean
    the same thing to every user."""

    __tablename__ = "tools"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"), nullable=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb"), nullable=False
    )

    def __repr__(self) -> str:
        return f"Tool(id={self.id!r}, name={self.name!r})"
