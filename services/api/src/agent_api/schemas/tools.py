"""The tool catalogue (shared by every user; superusers manage it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, JsonValue, StringConstraints

from agent_api.schemas.common import InputModel, JsonObject, NoNul, OutputModel, Page, PatchModel

ToolName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$"),
    Field(description="Identifier the model calls the tool by; unique in the catalogue"),
]
Description = Annotated[str, StringConstraints(max_length=10_000), NoNul]

_EXAMPLE_PARAMETERS: dict[str, JsonValue] = {
    "type": "object",
    "properties": {"query": {"type": "string"}},
    "required": ["query"],
}


class ToolCreate(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "web_search",
                    "description": "Search the web and return the top results",
                    "parameters": _EXAMPLE_PARAMETERS,
                }
            ]
        }
    )

    name: ToolName
    description: Description = ""
    parameters: JsonObject = Field(default_factory=dict, description="JSON Schema of the tool's arguments")


class ToolUpdate(PatchModel):
    """Omitted (or null) fields stay as they are."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"description": "Search the web"}]})

    name: ToolName | None = None
    description: Description | None = None
    parameters: JsonObject | None = None


class ToolSummary(OutputModel):
    id: int
    name: str


class ToolRead(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "name": "web_search",
                    "description": "Search the web and return the top results",
                    "parameters": _EXAMPLE_PARAMETERS,
                    "created_at": "2026-11-25T04:00:00Z",
                    "updated_at": "2026-11-25T04:00:00Z",
                }
            ]
        }
    )

    id: int
    name: str
    description: str
    parameters: dict[str, JsonValue]
    created_at: datetime
    updated_at: datetime


class ToolPage(Page[ToolRead]):
    pass
