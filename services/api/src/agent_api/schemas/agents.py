"""Agents: an owner's model configuration, with the catalogue tools attached to it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, JsonValue, StringConstraints

from agent_api.schemas.common import InputModel, JsonObject, NoNul, OutputModel, Page, PatchModel
from agent_api.schemas.tools import ToolSummary

AgentName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100),
    NoNul,
    Field(description="Unique among the owner's agents"),
]
ModelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100),
    NoNul,
    Field(description="The LLM the agent runs on, e.g. `gpt-4o` or `claude-sonnet-4`"),
]
SystemPrompt = Annotated[str, StringConstraints(max_length=100_000), NoNul]

_EXAMPLE: dict[str, JsonValue] = {
    "name": "support-bot",
    "model": "gpt-4o",
    "system_prompt": "You answer questions about our product, briefly.",
    "settings": {"temperature": 0.2, "max_tokens": 1024},
}


class AgentCreate(InputModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    name: AgentName
    model: ModelName
    system_prompt: SystemPrompt = ""
    settings: JsonObject = Field(
        default_factory=dict, description="Model parameters (temperature, max_tokens...)"
    )


class AgentUpdate(PatchModel):
    """Omitted (or null) fields stay as they are; ``settings`` is replaced as a whole."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"model": "gpt-4o-mini", "settings": {"temperature": 0}}]}
    )

    name: AgentName | None = None
    model: ModelName | None = None
    system_prompt: SystemPrompt | None = None
    settings: JsonObject | None = None


class AgentRead(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "owner_id": 1,
                    **_EXAMPLE,
                    "tools": [{"id": 1, "name": "web_search"}],
                    "created_at": "2026-11-25T04:00:00Z",
                    "updated_at": "2026-11-25T04:00:00Z",
                }
            ]
        },
    )

    id: int
    owner_id: int
    name: str
    model: str
    system_prompt: str
    settings: dict[str, JsonValue]
    tools: list[ToolSummary]
    created_at: datetime
    updated_at: datetime


class AgentPage(Page[AgentRead]):
    pass
