"""Conversations between the caller and one of their agents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, StringConstraints

from agent_api.schemas.common import InputModel, NoNul, OutputModel, Page, PatchModel

Title = Annotated[str, StringConstraints(max_length=200), NoNul]


class ConversationCreate(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Refund for order 1042"}]})

    title: Title | None = None


class ConversationUpdate(PatchModel):
    """``title`` null clears it; omitted leaves it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Refund (resolved)"}]})
    null_clears = frozenset({"title"})

    title: Title | None = None


class ConversationRead(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "agent_id": 1,
                    "user_id": 1,
                    "title": "Refund for order 1042",
                    "message_count": 2,
                    "last_message_at": "2026-11-25T04:05:00Z",
                    "created_at": "2026-11-25T04:00:00Z",
                    "updated_at": "2026-11-25T04:05:00Z",
                }
            ]
        },
    )

    id: int
    agent_id: int
    user_id: int
    title: str | None
    message_count: int
    last_message_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ConversationPage(Page[ConversationRead]):
    pass
