"""Every model, imported so that ``Base.metadata`` knows every table (Alembic reads it)."""

from agent_db.models.agent import Agent
from agent_db.models.agent_tool import AgentTool
from agent_db.models.base import Base, TimestampMixin
from agent_db.models.conversation import Conversation
from agent_db.models.login_failure import LoginFailure
from agent_db.models.message import MESSAGE_ROLES, Message
from agent_db.models.tool import Tool
from agent_db.models.user import User

__all__ = [
    "MESSAGE_ROLES",
    "Agent",
    "AgentTool",
    "Base",
    "Conversation",
    "LoginFailure",
    "Message",
    "TimestampMixin",
    "Tool",
    "User",
]
