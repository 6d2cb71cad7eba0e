"""Messages: appended to a conversation, listed in order with a cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from agent_api.schemas.common import MAX_INT, InputModel, NoNul, OutputModel, Page

Role = Literal["system", "user", "assistant", "tool"]
Content = Annotated[str, StringConstraints(max_length=200_000), NoNul]
TokenCount = Annotated[int, Field(ge=0, le=MAX_INT)]


class MessageCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"role": "user", "content": "Where is my refund?"},
                {
                    "role": "assistant",
                    "content": "It was issued today.",
                    "prompt_tokens": 152,
                    "completion_tokens": 9,
                },
            ]
        }
    )

    role: Role
    content: Content
    prompt_tokens: TokenCount = 0
    completion_tokens: TokenCount = 0


class MessageRead(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "conversation_id": 7,
                    "role": "user",
                    "content": "Where is my refund?",
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "created_at": "2026-11-25T04:05:00Z",
                }
            ]
        },
    )

    id: int
    conversation_id: int
    role: Role
    content: str
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime


class MessagePage(Page[MessageRead]):
    pass
