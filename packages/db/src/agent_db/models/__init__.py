"""Every model, imported so that ``Base.metadata`` knows every table (Alembic reads it)."""

from agent_db.models.base import Base, TimestampMixin
from agent_db.models.user import User

__all__ = ["Base", "TimestampMixin", "User"]
