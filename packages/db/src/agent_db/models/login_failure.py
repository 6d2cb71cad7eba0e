"""The ``login_failures`` table: failed logins per budget, shared by every API process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from agent_db.models.base import Base


class LoginFailure(Base):
    """One budget of the login throttle (``agent_api.login_throttle``): ``key`` names an account
    and an address (``account:<id>@<address>``) or an address alone (``address:<address>``)."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True, nullable=False)

    def __repr__(self) -> str:
        return f"LoginFailure(key={self.key!r}, failures={self.failures!r})"
