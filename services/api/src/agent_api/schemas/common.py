"""Types every domain's schemas share: text PostgreSQL can store, JSON objects, pages, ids.

PostgreSQL ``text`` cannot hold NUL (``\\u0000``) and JSONB cannot hold it either, so every
string the API stores is checked here: a request with one gets a 422 instead of a database
error. Pydantic already refuses strings that are not valid Unicode (lone surrogates).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    JsonValue,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

MAX_BIGINT = 2**63 - 1
MAX_INT = 2**31 - 1
MAX_JSON_DEPTH = 16


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class PatchModel(InputModel):
    """PATCH bodies: an omitted field stays as it is. ``null`` means "leave it" too, because
    most columns may not be NULL; the fields named in ``null_clears`` are cleared by it instead.
    Applied by ``agent_api.patching.apply_patch``."""

    null_clears: ClassVar[frozenset[str]] = frozenset()


class OutputModel(BaseModel):
    """Response bodies, built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


def _reject_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


class _NoNul:
    """Refuse NUL characters, and say so in the OpenAPI document.

    A validator rather than a JSON Schema ``pattern``: the check is a substring search instead
    of a regex, and schema-driven generators (schemathesis) stall on patterns with long max
    lengths. The document carries it as ``x-forbidden-characters``."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(_reject_nul, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["x-forbidden-characters"] = ["\u0000"]
        return json_schema


NoNul = _NoNul()


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("strings must not contain NUL (\\u0000)")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("strings must be valid Unicode (no lone surrogates)") from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_json(key, depth + 1)
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)


def _storable_json(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    _check_json(value)
    return value


JsonObject = Annotated[
    dict[str, JsonValue],
    AfterValidator(_storable_json),
    Field(
        description="A JSON object (no NUL characters, finite numbers, at most 16 levels)",
        json_schema_extra={
            "x-max-depth": MAX_JSON_DEPTH,
            "x-forbidden-characters": ["\u0000"],
            "x-finite-numbers": True,
        },
    ),
]


class Page[T](BaseModel):
    """One page of a list. Pass ``next_cursor`` back as ``cursor`` for the next page; it is
    null on the last page. Cursors are opaque and only valid for the list that issued them."""

    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Cursor of the next page; null when this is the last one"
    )
